"""Decode a visitor's consent from the Cookie header and request headers (issue 3).

Pure module: no aiohttp, no I/O, no clock. `decide` turns the cookies of whichever consent
banner the site runs (see `proxy.consent_readers`) plus the Global Privacy Control, DNT and
an optional trusted geo header into one `Consent`: per category granted / denied / unknown,
each with the source and field that said so.

Precedence: the first enabled source (in `ConsentSettings.sources` order) whose cookie is
present and well-formed decides; a present but malformed source is skipped and reported in
`parse_failures`. Categories still unknown then take the geo defaults (when configured),
then DNT (when enabled), then GPC, which overrides any banner's grant.
`decide` never raises and never grants on bad input.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from proxy.categories import (
    ADVERTISING,
    ANALYTICS,
    CATEGORIES,
    FUNCTIONAL,
    NECESSARY,
    OPTIONAL_CATEGORIES,
    Consent,
    Decision,
    State,
)
from proxy.consent_readers import READER_COOKIE_NAMES, READER_NAMES, READERS, consent_cookie_names

__all__ = [
    "READER_COOKIE_NAMES",
    "READER_NAMES",
    "ConsentResult",
    "ConsentSettings",
    "consent_cookie_names",
    "decide",
    "decide_from_cookies",
    "explain_lines",
]

#: A per-reader map: (cookie field / group / service / purpose, category) pairs, in order.
Pairs = tuple[tuple[str, str], ...]

# Defaults below follow shared/reference/consent-formats.md; the reference's `marketing` is
# our `advertising`. Entries mapped to `necessary` are accepted and ignored (always granted).
ONETRUST_GROUPS: Pairs = (
    ("C0001", NECESSARY),
    ("C0002", ANALYTICS),
    ("C0003", FUNCTIONAL),
    ("C0004", ADVERTISING),
    ("C0005", ADVERTISING),
)
COOKIEBOT_FIELDS: Pairs = (
    ("necessary", NECESSARY),
    ("preferences", FUNCTIONAL),
    ("statistics", ANALYTICS),
    ("marketing", ADVERTISING),
)
COOKIEYES_FIELDS: Pairs = (
    ("necessary", NECESSARY),
    ("functional", FUNCTIONAL),
    ("analytics", ANALYTICS),
    ("performance", ANALYTICS),
    ("advertisement", ADVERTISING),
)
# Complianz "functional" is its always-on technical category (reference §1.4).
COMPLIANZ_CATEGORIES: Pairs = (
    ("functional", NECESSARY),
    ("preferences", FUNCTIONAL),
    ("statistics", ANALYTICS),
    ("marketing", ADVERTISING),
)
# Klaro and tarteaucitron store per-service choices; sites should configure their own map.
KLARO_SERVICES: Pairs = (
    ("google-analytics", ANALYTICS),
    ("matomo", ANALYTICS),
    ("facebook-pixel", ADVERTISING),
    ("google-ads", ADVERTISING),
)
# cookieconsent lists only accepted, site-named categories: common aliases are all mapped and a
# category is granted when any of its names is listed (reference §1.6).
COOKIECONSENT_CATEGORIES: Pairs = (
    ("necessary", NECESSARY),
    ("functionality", FUNCTIONAL),
    ("preferences", FUNCTIONAL),
    ("analytics", ANALYTICS),
    ("marketing", ADVERTISING),
    ("ads", ADVERTISING),
    ("advertisement", ADVERTISING),
    ("targeting", ADVERTISING),
)
BORLABS_GROUPS: Pairs = (
    ("essential", NECESSARY),
    ("preferences", FUNCTIONAL),
    ("external-media", FUNCTIONAL),
    ("statistics", ANALYTICS),
    ("marketing", ADVERTISING),
)
TARTEAUCITRON_SERVICES: Pairs = (
    ("gtag", ANALYTICS),
    ("analytics", ANALYTICS),
    ("matomo", ANALYTICS),
    ("hotjar", ANALYTICS),
    ("gcmanalyticsstorage", ANALYTICS),
    ("gcmadstorage", ADVERTISING),
    ("gcmadsuserdata", ADVERTISING),
    ("gcmpersonalization", ADVERTISING),
    ("gcmfunctionality", FUNCTIONAL),
    ("gcmsecurity", NECESSARY),
    ("facebookpixel", ADVERTISING),
    ("googleads", ADVERTISING),
    ("youtube", FUNCTIONAL),
)
# Didomi string ids for the IAB purposes (reference §1.9 marks the table as a guess) plus its
# common custom "analytics" purpose.
DIDOMI_PURPOSES: Pairs = (
    ("select_basic_ads", ADVERTISING),
    ("create_ads_profile", ADVERTISING),
    ("select_personalized_ads", ADVERTISING),
    ("measure_ad_performance", ADVERTISING),
    ("create_content_profile", FUNCTIONAL),
    ("select_personalized_content", FUNCTIONAL),
    ("use_limited_data_to_select_content", FUNCTIONAL),
    ("measure_content_performance", ANALYTICS),
    ("market_research", ANALYTICS),
    ("improve_products", ANALYTICS),
    ("analytics", ANALYTICS),
)
#: TCF purpose → category (reference §1.14). Purpose 1 is the prerequisite, not mapped.
TCF_PURPOSES: tuple[tuple[int, str], ...] = (
    (2, ADVERTISING),
    (3, ADVERTISING),
    (4, ADVERTISING),
    (5, FUNCTIONAL),
    (6, FUNCTIONAL),
    (7, ADVERTISING),
    (8, ANALYTICS),
    (9, ANALYTICS),
    (10, ANALYTICS),
    (11, FUNCTIONAL),
)


@dataclass(frozen=True, slots=True)
class ConsentSettings:
    """How to read consent; built by the config loader. Every field has a safe default.

    Defaults: only the proxy's own `cp_consent` cookie is read; GPC denies `advertising`; DNT is
    ignored; no geo header. Construction raises ValueError on an unknown reader or category
    name (config-load time, never at request time).
    """

    sources: tuple[str, ...] = ("cp_consent",)
    onetrust_groups: Pairs = ONETRUST_GROUPS
    cookiebot_fields: Pairs = COOKIEBOT_FIELDS
    cookieyes_fields: Pairs = COOKIEYES_FIELDS
    complianz_categories: Pairs = COMPLIANZ_CATEGORIES
    klaro_services: Pairs = KLARO_SERVICES
    klaro_cookie: str = "klaro"
    cookieconsent_categories: Pairs = COOKIECONSENT_CATEGORIES
    #: When set, a `cc_cookie` with another `revision` is stale: undecided.
    cookieconsent_revision: int | None = None
    cookieconsent_cookie: str = "cc_cookie"
    borlabs_groups: Pairs = BORLABS_GROUPS
    tarteaucitron_services: Pairs = TARTEAUCITRON_SERVICES
    tarteaucitron_cookie: str = "tarteaucitron"
    didomi_purposes: Pairs = DIDOMI_PURPOSES
    #: A Didomi purpose that, when disabled, denies every optional category (like TCF P1).
    didomi_prerequisite: str | None = "cookies"
    tcf_purposes: tuple[tuple[int, str], ...] = TCF_PURPOSES
    #: TC strings with a lower TcfPolicyVersion are undecided (TCF 2.2 requires >= 4).
    tcf_min_policy_version: int = 4
    gpc_denies: frozenset[str] = frozenset({ADVERTISING})
    dnt_enabled: bool = False
    dnt_denies: frozenset[str] = frozenset({ADVERTISING})
    #: Trusted request header holding the visitor's region (e.g. "CF-IPCountry"); None = off.
    geo_header: str | None = None
    #: Regions (ISO country, or "US-CA" style) where undecided means opt-out defaults apply.
    opt_out_regions: frozenset[str] = frozenset()
    #: What an undecided visitor in an opt-out region is granted; every other region: denied.
    opt_out_grants: frozenset[str] = frozenset(OPTIONAL_CATEGORIES)
    #: Longer cookie values are malformed (never decoded).
    max_value_length: int = 4096
    #: JSON values with more `{`/`[` than this are malformed (caps nesting before json.loads).
    max_json_containers: int = 64

    def __post_init__(self) -> None:
        # Config files may spell purpose ids as strings ("2"); readers compare ints.
        purposes = tuple((_purpose_id(n), cat) for n, cat in self.tcf_purposes)
        object.__setattr__(self, "tcf_purposes", purposes)
        unknown = [s for s in self.sources if s not in READERS]
        if unknown:
            raise ValueError(f"unknown consent source(s): {', '.join(unknown)}")
        maps: list[tuple[str, tuple[tuple[object, str], ...]]] = [
            ("onetrust_groups", self.onetrust_groups),
            ("cookiebot_fields", self.cookiebot_fields),
            ("cookieyes_fields", self.cookieyes_fields),
            ("complianz_categories", self.complianz_categories),
            ("klaro_services", self.klaro_services),
            ("cookieconsent_categories", self.cookieconsent_categories),
            ("borlabs_groups", self.borlabs_groups),
            ("tarteaucitron_services", self.tarteaucitron_services),
            ("didomi_purposes", self.didomi_purposes),
            ("tcf_purposes", self.tcf_purposes),
        ]
        for name, pairs in maps:
            for _key, category in pairs:
                if category not in CATEGORIES:
                    raise ValueError(f"{name}: unknown category {category!r}")
        for name, cats in (
            ("gpc_denies", self.gpc_denies),
            ("dnt_denies", self.dnt_denies),
            ("opt_out_grants", self.opt_out_grants),
        ):
            bad = sorted(c for c in cats if c not in OPTIONAL_CATEGORIES)
            if bad:
                raise ValueError(f"{name}: not optional categories: {', '.join(bad)}")


def _purpose_id(value: object) -> int:
    """A TCF purpose id 1..24 from an int or a decimal string; ValueError otherwise."""
    n = value if type(value) is int else int(str(value), 10)
    if not 1 <= n <= 24:
        raise ValueError(f"tcf_purposes: purpose id {value!r} outside 1..24")
    return n


@dataclass(frozen=True, slots=True)
class ConsentResult:
    """The decision for one request.

    `parse_failures` names the sources whose cookie was present but malformed (for the
    per-source parse-failure counter); `decided_by` is the deciding reader or "none".
    """

    consent: Consent
    parse_failures: tuple[str, ...] = ()
    decided_by: str = "none"


_NECESSARY = Decision(State.GRANTED, "policy", "always")
_UNKNOWN_NONE = Decision(State.UNKNOWN, "none")
_GPC = Decision(State.DENIED, "gpc", "Sec-GPC")
_DNT = Decision(State.DENIED, "dnt", "DNT")
_NO_HEADERS: Mapping[str, str] = {}


def decide(cookie_header: str | None, headers: Mapping[str, str], settings: ConsentSettings) -> ConsentResult:
    """The visitor's consent from the raw Cookie header and request headers. Never raises.

    `headers` is any mapping with `.get` (aiohttp's case-insensitive CIMultiDictProxy in
    production). On an internal error the result is fail-closed: nothing optional granted.
    """
    try:
        cookies = cookie_map(cookie_header) if isinstance(cookie_header, str) else {}
        return decide_from_cookies(cookies, headers, settings)
    except Exception:  # defence in depth; readers already catch their own errors
        return ConsentResult(_fail_closed(), (), "none")


def decide_from_cookies(
    cookies: Mapping[str, str], headers: Mapping[str, str] | None, settings: ConsentSettings
) -> ConsentResult:
    """As `decide`, from an already split name → value mapping (first occurrence wins)."""
    try:
        return _decide(cookies, headers if headers is not None else _NO_HEADERS, settings)
    except Exception:
        return ConsentResult(_fail_closed(), (), "none")


def _decide(cookies: Mapping[str, str], headers: Mapping[str, str], settings: ConsentSettings) -> ConsentResult:
    failures: list[str] = []
    decided_by = "none"
    found: Mapping[str, Decision] = {}
    for name in settings.sources:
        reading = READERS[name](cookies, settings)
        if reading is None:
            continue
        if reading.malformed:
            failures.append(name)
            continue
        decided_by, found = name, reading.decisions
        break

    decisions: dict[str, Decision] = {NECESSARY: _NECESSARY}
    undecided = _UNKNOWN_NONE if decided_by == "none" else Decision(State.UNKNOWN, decided_by)
    for cat in OPTIONAL_CATEGORIES:
        decisions[cat] = found.get(cat) or undecided

    if settings.geo_header:
        _apply_geo(decisions, headers.get(settings.geo_header), settings)
    if settings.dnt_enabled and _header_is_one(headers.get("DNT")):
        _deny(decisions, settings.dnt_denies, _DNT)
    if settings.gpc_denies and _header_is_one(headers.get("Sec-GPC")):
        _deny(decisions, settings.gpc_denies, _GPC)
    return ConsentResult(Consent(decisions), tuple(failures), decided_by)


def _header_is_one(value: object) -> bool:
    # `Sec-GPC: 0` is not an opt-out (reference §1.16); only the value 1 counts.
    return isinstance(value, str) and value.strip() == "1"


def _deny(decisions: dict[str, Decision], categories: frozenset[str], why: Decision) -> None:
    """Deny `categories` that are granted or unknown; an existing denial keeps its source."""
    for cat in categories:
        current = decisions.get(cat)
        if current is not None and current.state is not State.DENIED:
            decisions[cat] = why


def _apply_geo(decisions: dict[str, Decision], region: object, settings: ConsentSettings) -> None:
    """Fill unknown categories with the region's defaults: opt-out regions grant, others deny."""
    if not isinstance(region, str):
        return
    region = region.strip().upper()
    if not region or len(region) > 16:
        return
    opt_out = region in settings.opt_out_regions or region.split("-", 1)[0] in settings.opt_out_regions
    field_ = f"{settings.geo_header}={region}"
    for cat in OPTIONAL_CATEGORIES:
        if decisions[cat].state is State.UNKNOWN:
            granted = opt_out and cat in settings.opt_out_grants
            decisions[cat] = Decision(State.GRANTED if granted else State.DENIED, "geo", field_)


def _fail_closed() -> Consent:
    decisions = {c: _UNKNOWN_NONE for c in OPTIONAL_CATEGORIES}
    decisions[NECESSARY] = _NECESSARY
    return Consent(decisions)


def cookie_map(header: str) -> dict[str, str]:
    """Name → value of a Cookie header, first occurrence wins. Never raises.

    Same result as `proxy.cookieheader.cookie_dict` (a test checks this), without building a
    CookiePair per cookie: that costs ~3x and the whole consent decision has a budget of a
    quarter of SimpleCookie's parse time (issue 3, bench/bench_consent.py).
    """
    out: dict[str, str] = {}
    for piece in header.split(";"):
        name, eq, value = piece.partition("=")
        if eq:
            name = name.strip()
            if name and name not in out:
                out[name] = value.strip()
    return out


def explain_lines(result: ConsentResult) -> list[str]:
    """Human-readable lines: one per category (state, source, field), then the summary."""
    lines = []
    for cat in CATEGORIES:
        d = result.consent.decisions.get(cat)
        if d is None:
            d = _NECESSARY if cat == NECESSARY else _UNKNOWN_NONE
        lines.append(f"{cat:<12} {d.state.value:<8} {d.source:<14} {d.field}".rstrip())
    lines.append(f"decided by: {result.decided_by}")
    lines.append(f"parse failures: {', '.join(result.parse_failures) or 'none'}")
    return lines

