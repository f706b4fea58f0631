"""Names of unclassified cookies and unknown third-party hosts, summarised in the log.

They never become metric labels (unbounded cardinality); instead the top names go to one
log line every few minutes so ops can write rules for them. IDs embedded in names are
normalised (`_ga_XXXX` → `_ga_*`, `_hjSessionUser_123` → `_hjSessionUser_*`) and at most
`limit` distinct names are tracked (new names are dropped once full, counted as `overflow`).
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache

# A trailing run that looks like an ID: digits, hex, or a long mixed token after `_`, `-` or `.`.
_ID_TAIL = re.compile(r"(?<=[_.-])(?:[0-9]+|[0-9a-fA-F]{6,}|[A-Za-z0-9]*[0-9][A-Za-z0-9]*|[A-Z0-9]{4,})$")


@lru_cache(maxsize=4096)
def normalise(name: str) -> str:
    """`_ga_ABC123` → `_ga_*`; names without an ID-like tail are returned unchanged (max 100 chars)."""
    return _ID_TAIL.sub("*", name[:100])


class UnclassifiedLog:
    """Bounded counters of unclassified names, by kind ("cookie" or "host")."""

    def __init__(self, limit: int = 10_000) -> None:
        self.limit = limit
        self.counts: dict[str, Counter[str]] = {"cookie": Counter(), "host": Counter()}
        self.overflow = 0

    def add(self, kind: str, names: list[str] | tuple[str, ...], n: int = 1) -> None:
        """Count each name `n` times."""
        counter = self.counts[kind]
        tracked = sum(len(c) for c in self.counts.values())
        for name in names:
            if not name:
                continue
            key = normalise(name) if kind == "cookie" else name[:253].lower()
            if key in counter:
                counter[key] += n
            elif tracked < self.limit:
                counter[key] = n
                tracked += 1
            else:
                self.overflow += n

    def summary(self, top: int = 50) -> dict[str, object] | None:
        """The top names since the last summary (then reset), or None when nothing was seen."""
        if not any(self.counts.values()) and not self.overflow:
            return None
        out: dict[str, object] = {kind: dict(c.most_common(top)) for kind, c in self.counts.items()}
        out["overflow"] = self.overflow
        for c in self.counts.values():
            c.clear()
        self.overflow = 0
        return out
