"""The fixed set of cookie-policy categories and the normalised consent value.

Pure module: no aiohttp, no I/O. Every other module speaks in these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

NECESSARY = "necessary"
FUNCTIONAL = "functional"
ANALYTICS = "analytics"
ADVERTISING = "advertising"

#: All categories, in policy order. `necessary` is always granted.
CATEGORIES: tuple[str, ...] = (NECESSARY, FUNCTIONAL, ANALYTICS, ADVERTISING)
#: The categories a visitor can grant or deny.
OPTIONAL_CATEGORIES: tuple[str, ...] = (FUNCTIONAL, ANALYTICS, ADVERTISING)


class State(enum.Enum):
    """A category's consent state. UNKNOWN is enforced exactly like DENIED."""

    GRANTED = "granted"
    DENIED = "denied"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Decision:
    """One category's state and what said so (e.g. source="onetrust", field="groups.C0002")."""

    state: State
    source: str
    field: str = ""


@dataclass(frozen=True, slots=True)
class Consent:
    """The visitor's normalised consent: one Decision per category.

    `granted` is the set of categories that may be used; everything else is blocked.
    """

    decisions: dict[str, Decision]

    @property
    def granted(self) -> frozenset[str]:
        return frozenset(c for c, d in self.decisions.items() if d.state is State.GRANTED) | {NECESSARY}

    def allows(self, category: str) -> bool:
        if category == NECESSARY:
            return True
        d = self.decisions.get(category)
        return d is not None and d.state is State.GRANTED

    @property
    def consent_class(self) -> str:
        """Short stable code of the granted optional categories, for ETags and cache keys: e.g. 'fa-' ."""
        return "".join(c[0] if self.allows(c) else "-" for c in OPTIONAL_CATEGORIES)


def undecided(source: str = "none") -> Consent:
    """Consent of a visitor who has made no decision: only `necessary`."""
    decisions = {c: Decision(State.UNKNOWN, source) for c in OPTIONAL_CATEGORIES}
    decisions[NECESSARY] = Decision(State.GRANTED, "policy", "always")
    return Consent(decisions)


def all_granted(source: str = "test") -> Consent:
    decisions = {c: Decision(State.GRANTED, source) for c in CATEGORIES}
    return Consent(decisions)


def granting(categories: set[str] | frozenset[str], source: str = "test") -> Consent:
    """A Consent that grants exactly `categories` (plus necessary) and denies the rest."""
    decisions = {
        c: Decision(State.GRANTED if c in categories else State.DENIED, source) for c in OPTIONAL_CATEGORIES
    }
    decisions[NECESSARY] = Decision(State.GRANTED, "policy", "always")
    return Consent(decisions)


def with_granted(consent: Consent, categories: frozenset[str], source: str = "report-only") -> Consent:
    """`consent` with `categories` also granted: what is enforced when they are in report-only mode."""
    if not categories:
        return consent
    decisions = dict(consent.decisions)
    for c in categories:
        if not consent.allows(c):
            decisions[c] = Decision(State.GRANTED, source)
    return Consent(decisions)
