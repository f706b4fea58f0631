"""Split a request `Cookie` header into (name, value) pairs, tolerant of real-world values.

Pure module. Follows RFC 6265 §5.4 / RFC 6265bis semantics: pairs are separated by `;`,
surrounding whitespace is trimmed, a piece without `=` has an empty name. Unlike
`http.cookies.SimpleCookie`, a raw-JSON value (`cc_cookie={"a":1}`) or a value with spaces
never makes the other cookies disappear. Values are returned exactly as sent: no quote
stripping, no percent-decoding (each consent reader decodes its own format).
Never raises.
"""

from __future__ import annotations

from typing import NamedTuple


class CookiePair(NamedTuple):
    """One cookie of a Cookie header. `raw` is the exact piece as sent (trimmed).

    A NamedTuple rather than a frozen dataclass: ~30 are built per request, and a frozen
    dataclass's __init__ (object.__setattr__ per field) costs several times more."""

    name: str
    value: str
    raw: str


def split_cookie_header(header: str) -> list[CookiePair]:
    """All cookies of one Cookie header value, in order (duplicates kept)."""
    pairs: list[CookiePair] = []
    append = pairs.append
    make = CookiePair._make
    for piece in header.split(";"):
        raw = piece.strip()
        if not raw:
            continue
        name, eq, value = raw.partition("=")
        if eq:
            append(make((name.rstrip(), value.lstrip(), raw)))
        else:
            append(make(("", raw, raw)))
    return pairs


def cookie_dict(header: str) -> dict[str, str]:
    """Name → value; the first occurrence of a name wins (browsers send the most specific first)."""
    out: dict[str, str] = {}
    for pair in split_cookie_header(header):
        if pair.name and pair.name not in out:
            out[pair.name] = pair.value
    return out


def join_cookie_pairs(pairs: list[CookiePair]) -> str:
    """The Cookie header value for `pairs`, each piece byte-exact, joined by `; ` as browsers do."""
    return "; ".join(p.raw for p in pairs)
