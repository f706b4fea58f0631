"""Enforce consent on cookies: filter Set-Cookie and Cookie headers, build purge headers.

Pure module (no aiohttp, no I/O). Kept header values are passed through byte-exact; a
Set-Cookie value is never split on commas (Expires dates contain them). Issue 4.

Fail-open / fail-closed choices, on purpose:
- Unclassified cookies follow the policy's `unclassified_cookies` setting: `allow` (the
  default, fail-open) keeps them and reports each name so ops can classify it; `deny` drops
  them and reports them under the pseudo-category "unclassified".
- A Set-Cookie value without a usable name (no `=` before the first `;`, an empty name, a
  control character in the name) is fail-closed: browsers still store such values (as
  nameless cookies) and we cannot tell what they are, so it is dropped unless the visitor
  granted every optional category.
- Deletions (Max-Age <= 0, or an Expires date in the past with no Max-Age) always pass:
  removing a cookie never needs consent.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass

from proxy.catalogue import is_ip_address
from proxy.catalogue import registrable_domain as psl_registrable_domain
from proxy.categories import NECESSARY, OPTIONAL_CATEGORIES, Consent
from proxy.cookieheader import CookiePair, join_cookie_pairs, split_cookie_header
from proxy.policy import Policy

UNCLASSIFIED = "unclassified"
UNPARSEABLE = "unparseable"


@dataclass(frozen=True, slots=True)
class DroppedCookie:
    """A Set-Cookie value that was removed, with its cookie name and the category that denied it."""

    name: str
    category: str
    value: str


@dataclass(frozen=True, slots=True)
class SetCookieResult:
    """Set-Cookie values to forward (byte-exact, in order), the dropped ones, unclassified names seen."""

    kept: tuple[str, ...]
    dropped: tuple[DroppedCookie, ...]
    unclassified: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CookieFilterResult:
    """The Cookie header to send upstream and what was taken out of it.

    `header` is the original string when nothing was removed, else the kept pieces
    byte-exact, in order, joined by `; `. `removed` holds (name, category) pairs: exactly
    what `purge_headers` needs. `unclassified` lists the unclassified names seen (kept or not).
    """

    header: str
    kept: tuple[CookiePair, ...]
    removed: tuple[tuple[str, str], ...]
    unclassified: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.removed)


def _grants_everything(consent: Consent) -> bool:
    return all(consent.allows(c) for c in OPTIONAL_CATEGORIES)


def set_cookie_name(value: str) -> str | None:
    """The cookie name of a Set-Cookie value, None when it has no usable name. Never raises."""
    pair = value.split(";", 1)[0]
    name, eq, _ = pair.partition("=")
    name = name.strip(" \t")
    if not eq or not name or not _is_header_safe(name, allow_space=True):
        return None
    return name


def filter_set_cookies(
    values: list[str],
    consent: Consent,
    policy: Policy,
    *,
    protected_names: frozenset[str] = frozenset(),
    now: float | None = None,
) -> SetCookieResult:
    """Keep the Set-Cookie values the visitor's consent allows; never raises.

    `protected_names` (the enabled consent readers' cookies) always pass. `now` (epoch
    seconds) decides whether an Expires date is in the past; defaults to the current time.
    """
    kept: list[str] = []
    dropped: list[DroppedCookie] = []
    unclassified: list[str] = []
    everything = _grants_everything(consent)
    for value in values:
        name = set_cookie_name(value)
        if name is None:
            if everything:
                kept.append(value)
            else:
                dropped.append(DroppedCookie("", UNPARSEABLE, value))
            continue
        if name in protected_names:
            kept.append(value)
            continue
        verdict = policy.classify_cookie(name)
        if verdict is None:
            unclassified.append(name)
            category = UNCLASSIFIED
            allowed = policy.unclassified_allowed
        else:
            category = verdict.category
            allowed = consent.allows(category)
        if allowed or is_deletion(value, time.time() if now is None else now):
            kept.append(value)
        else:
            dropped.append(DroppedCookie(name, category, value))
    return SetCookieResult(tuple(kept), tuple(dropped), tuple(unclassified))


def filter_request_cookie(
    header: str,
    consent: Consent,
    policy: Policy,
    protected_names: frozenset[str] = frozenset(),
) -> CookieFilterResult:
    """Remove non-consented cookies from a request Cookie header; never raises.

    Pieces without `=` (nameless cookies) are treated as unclassified.
    """
    pairs = split_cookie_header(header)
    kept: list[CookiePair] = []
    removed: list[tuple[str, str]] = []
    unclassified: list[str] = []
    classify = policy.classify_cookie
    for pair in pairs:
        name = pair.name
        if name in protected_names:
            kept.append(pair)
            continue
        verdict = classify(name) if name else None
        if verdict is None:
            unclassified.append(name)
            if policy.unclassified_allowed:
                kept.append(pair)
            else:
                removed.append((name, UNCLASSIFIED))
        elif consent.allows(verdict.category):
            kept.append(pair)
        else:
            removed.append((name, verdict.category))
    out = join_cookie_pairs(kept) if removed else header
    return CookieFilterResult(out, tuple(kept), tuple(removed), tuple(unclassified))


def purge_headers(
    request_cookie_names_with_categories: Iterable[tuple[str, str | None]],
    consent: Consent,
    host: str,
    registrable_domain: str | None,
    secure: bool,
    paths: tuple[str, ...],
    protected_names: frozenset[str],
    limit: int,
) -> list[str]:
    """Expiring Set-Cookie values for the request's cookies of categories not granted.

    For each such cookie: `name=; Max-Age=0; Path=P` for `/` and each of `paths`, host-only
    and with `Domain=` each domain from the host itself down to the registrable domain
    (browsers store a `Domain=` cookie apart from the host-only one of the same name), never
    a public suffix. The registrable domain comes from the config when the host is under it
    and it is not a public suffix, else from the Public Suffix List; IP hosts and single
    labels get host-only purges. `Secure` when `secure`; `__Secure-` names always get it;
    `__Host-` names get exactly one host-only `Path=/; Secure` purge. Necessary, protected,
    granted and unclassified (category None) cookies are never purged. At most `limit`
    values. Never raises.
    """
    out: list[str] = []
    if limit <= 0:
        return out
    domains = purge_domains(host, registrable_domain)
    path_list = ["/"] + [p for p in dict.fromkeys(paths) if p != "/" and _is_header_safe(p)]
    seen: set[str] = set()
    for name, category in request_cookie_names_with_categories:
        if (
            not name
            or category is None
            or category == NECESSARY
            or name in protected_names
            or name in seen
            or consent.allows(category)
            or not _is_header_safe(name)
        ):
            continue
        seen.add(name)
        low = name[:9].lower()
        if low.startswith("__host-"):
            out.append(f"{name}=; Max-Age=0; Path=/; Secure")
        else:
            flag = "; Secure" if secure or low.startswith("__secure-") else ""
            for path in path_list:
                out.append(f"{name}=; Max-Age=0; Path={path}{flag}")
                out.extend(f"{name}=; Max-Age=0; Path={path}; Domain={d}{flag}" for d in domains)
        if len(out) >= limit:
            return out[:limit]
    return out


def purge_domains(host: str, configured: str | None = None) -> list[str]:
    """`Domain=` values for a purge: host, its parents, down to the registrable domain.

    Empty for IP literals, single-label hosts and hosts that are public suffixes.
    Never raises.
    """
    host = host.strip().lower()
    host = host if host.startswith("[") else host.partition(":")[0].rstrip(".")
    if not host or "." not in host or is_ip_address(host):
        return []
    site = psl_registrable_domain(host)
    if site is None:
        return []
    reg = site
    if configured:
        configured = configured.strip().lower().lstrip(".").rstrip(".")
        # A configured domain narrower than the PSL's (or equal) is honoured; never a broader one.
        if (host == configured or host.endswith("." + configured)) and (
            configured == site or configured.endswith("." + site)
        ):
            reg = configured
    domains = [host]
    while domains[-1] != reg:
        domains.append(domains[-1].split(".", 1)[1])
    return domains


_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}
_DATE_DELIMS = re.compile(r"[\x09\x20-\x2f\x3b-\x40\x5b-\x60\x7b-\x7e]+")
_TIME_RE = re.compile(r"(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\D|$)")
_DAY_RE = re.compile(r"(\d{1,2})(?:\D|$)")
_YEAR_RE = re.compile(r"(\d{2,4})(?:\D|$)")


def parse_cookie_date(text: str) -> float | None:
    """Epoch seconds of a cookie date per the lenient algorithm of RFC 6265 §5.1.1, or None."""
    hms = day = month = year = None
    for token in _DATE_DELIMS.split(text):
        if not token:
            continue
        m = _TIME_RE.match(token) if hms is None else None
        if m:
            hms = (int(m.group(1)), int(m.group(2)), int(m.group(3)))
            continue
        m = _DAY_RE.match(token) if day is None else None
        if m:
            day = int(m.group(1))
            continue
        if month is None and token[:3].lower() in _MONTHS:
            month = _MONTHS[token[:3].lower()]
            continue
        m = _YEAR_RE.match(token) if year is None else None
        if m:
            year = int(m.group(1))
    if hms is None or day is None or month is None or year is None:
        return None
    if 70 <= year <= 99:
        year += 1900
    elif 0 <= year <= 69:
        year += 2000
    if not 1 <= day <= 31 or year < 1601 or hms[0] > 23 or hms[1] > 59 or hms[2] > 59:
        return None
    try:
        return float(calendar.timegm((year, month, day, hms[0], hms[1], hms[2], 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


_MAX_AGE_RE = re.compile(r"-?\d+")


def is_deletion(value: str, now: float) -> bool:
    """True when a Set-Cookie value expires the cookie (RFC 6265 §5.2.1-2, §5.3: Max-Age wins)."""
    max_age: int | None = None
    expires: float | None = None
    for attr in value.split(";")[1:]:
        key, _, val = attr.partition("=")
        key = key.strip(" \t").lower()
        if key == "max-age":
            val = val.strip(" \t")
            if _MAX_AGE_RE.fullmatch(val):
                max_age = int(val)
        elif key == "expires":
            parsed = parse_cookie_date(val)
            if parsed is not None:
                expires = parsed
    if max_age is not None:
        return max_age <= 0
    return expires is not None and expires <= now


def _is_header_safe(text: str, allow_space: bool = False) -> bool:
    """No control characters, no `;` (and no space unless allowed): safe inside a header value."""
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or ch == ";" or (ch == " " and not allow_space):
            return False
    return True
