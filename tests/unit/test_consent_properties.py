"""Property tests: independent encoders round-trip through decide; malformed values never grant.

The encoders here are written from the formats in consent-formats.md, not from the readers.
"""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.categories import OPTIONAL_CATEGORIES, State
from proxy.consent import READER_NAMES, ConsentSettings, decide, decide_from_cookies
from tests.unit.test_tcf import encode_core

EVERY = ConsentSettings(sources=READER_NAMES)
granted_sets = st.frozensets(st.sampled_from(OPTIONAL_CATEGORIES))


def granted_by(source: str, cookies: dict[str, str], s: ConsentSettings | None = None) -> frozenset[str]:
    result = decide_from_cookies(cookies, {}, s or ConsentSettings(sources=(source,)))
    assert result.decided_by == source and result.parse_failures == ()
    for cat in OPTIONAL_CATEGORIES:
        assert result.consent.decisions[cat].state in (State.GRANTED, State.DENIED)
    return result.consent.granted - {"necessary"}


# --- independent encoders ---------------------------------------------------------------


def enc_cp(granted: frozenset[str], order: list[str]) -> str:
    return "".join(["v1", *(f".{c}" for c in order if c in granted)])


# Site category → the banner fields that carry it (as the reference's tables say).
OT_GROUPS = {"functional": ["C0003"], "analytics": ["C0002"], "advertising": ["C0004", "C0005"]}


def enc_onetrust(granted: frozenset[str], extra_groups: list[str], count: int) -> str:
    groups = ["C0001:1"]
    for cat, ids in OT_GROUPS.items():
        groups += [f"{i}:{1 if cat in granted else 0}" for i in ids]
    groups += [f"{g}:0" for g in extra_groups]
    fields = [
        ("isGpcEnabled", "0"),
        ("datestamp", "Mon Oct 13 2025 16:22:35 GMT+0200 (Central European Summer Time)"),
        ("version", "202508.2.0"),
        ("interactionCount", str(count)),
        ("groups", ",".join(groups)),
        ("geolocation", "ES;CL"),
        ("AwaitingReconsent", "false"),
    ]
    return "&".join(f"{k}={quote_plus(v)}" for k, v in fields)


CB_FIELDS = {"functional": "preferences", "analytics": "statistics", "advertising": "marketing"}


def enc_cookiebot(granted: frozenset[str], stamp: str, fully_encoded: bool) -> str:
    parts = [f"stamp:'{stamp}'", "necessary:true"]
    parts += [f"{field}:{'true' if cat in granted else 'false'}" for cat, field in CB_FIELDS.items()]
    parts += ["method:'explicit'", "ver:2", "utc:1715723726358", "region:'de'"]
    literal = "{" + ",".join(parts) + "}"
    if fully_encoded:
        return quote(literal, safe="")
    return literal.replace("'", "%27").replace(",", "%2C")  # Cookiebot's own partial encoding


CY_FIELDS = {"functional": ["functional"], "analytics": ["analytics", "performance"], "advertising": ["advertisement"]}


def enc_cookieyes(granted: frozenset[str], consent_id: str) -> str:
    parts = [f"consentid:{consent_id}", "consent:yes", "action:yes", "necessary:yes"]
    for cat, keys in CY_FIELDS.items():
        parts += [f"{k}:{'yes' if cat in granted else 'no'}" for k in keys]
    return ",".join(parts + ["other:no"])


TCF_PURPOSES = {"functional": {5, 6, 11}, "analytics": {8, 9, 10}, "advertising": {2, 3, 4, 7}}


# --- round trips ------------------------------------------------------------------------


@given(granted_sets, st.permutations(list(OPTIONAL_CATEGORIES)))
def test_cp_consent_roundtrip(granted, order):
    assert granted_by("cp_consent", {"cp_consent": enc_cp(granted, order)}) == granted


@given(granted_sets, st.lists(st.from_regex(r"(C00[1-4][0-9]|V2STACK[0-9]{1,2})", fullmatch=True), max_size=4, unique=True), st.integers(1, 500))
def test_onetrust_roundtrip(granted, extra, count):
    value = enc_onetrust(granted, extra, count)
    cookies = {"OptanonConsent": value, "OptanonAlertBoxClosed": "2025-10-13T14:22:35.236Z"}
    assert granted_by("onetrust", cookies) == granted


@given(granted_sets, st.from_regex(r"[A-Za-z0-9+/]{20,60}={0,2}", fullmatch=True), st.booleans())
def test_cookiebot_roundtrip(granted, stamp, fully_encoded):
    assert granted_by("cookiebot", {"CookieConsent": enc_cookiebot(granted, stamp, fully_encoded)}) == granted


@given(granted_sets, st.from_regex(r"[A-Za-z0-9]{20,44}", fullmatch=True))
def test_cookieyes_roundtrip(granted, consent_id):
    assert granted_by("cookieyes", {"cookieyes-consent": enc_cookieyes(granted, consent_id)}) == granted


@settings(max_examples=150)
@given(granted_sets, st.sets(st.integers(12, 24)), st.sets(st.integers(1, 12)), st.sets(st.integers(1, 900), max_size=10))
def test_tcf_roundtrip(granted, unused_purposes, features, vendors):
    purposes = {1} | unused_purposes
    for cat in granted:
        purposes |= TCF_PURPOSES[cat]
    value = encode_core(purposes=purposes, special_features=features, vendors=vendors)
    assert granted_by("tcf", {"euconsent-v2": value}) == granted


@given(granted_sets, st.sampled_from(["_ga=GA1.1.1.1", "sessionid=abc", ""]))
def test_roundtrip_through_a_full_header_with_every_reader(granted, other):
    header = f"{other}; OptanonConsent={enc_onetrust(granted, [], 2)}; OptanonAlertBoxClosed=2025-10-13T14:22:35.236Z"
    result = decide(header, {}, EVERY)
    assert result.decided_by == "onetrust"
    assert result.consent.granted - {"necessary"} == granted


# --- malformed values never grant -------------------------------------------------------

READER_COOKIE = {
    "cp_consent": "cp_consent",
    "onetrust": "OptanonConsent",
    "cookiebot": "CookieConsent",
    "cookieyes": "cookieyes-consent",
    "complianz": "cmplz_statistics",
    "klaro": "klaro",
    "cookieconsent": "cc_cookie",
    "borlabs": "borlabs-cookie",
    "tarteaucitron": "tarteaucitron",
    "didomi": "didomi_token",
    "tcf": "euconsent-v2",
}
hostile_text = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), max_size=50),  # surrogateescape
    st.text(alphabet="{}[]\"':,%7B%7D;=!&+/.v1yesnotruefalse", max_size=200),
)


@settings(max_examples=300)
@given(st.sampled_from(list(READER_COOKIE)), hostile_text)
def test_arbitrary_values_never_raise_and_grant_nothing_when_malformed(reader, value):
    cookies = {READER_COOKIE[reader]: value, "OptanonAlertBoxClosed": "2025-10-13T14:22:35.236Z"}
    result = decide_from_cookies(cookies, {"Sec-GPC": "1"}, ConsentSettings(sources=(reader,)))
    if reader in result.parse_failures:
        assert result.consent.granted == {"necessary"}
        assert result.decided_by == "none"
    assert not result.consent.allows("advertising")  # GPC


# Corruptions that always make a well-formed value malformed.
@given(granted_sets, st.sampled_from(["v2", "v1.", "v1.ads", "v1.analytics;", '"v1.analytics"']))
def test_corrupted_cp_consent_grants_nothing(granted, corruption):
    value = enc_cp(granted, list(OPTIONAL_CATEGORIES)) + "." + corruption if corruption != "v2" else "v2"
    result = decide_from_cookies({"cp_consent": value}, {}, EVERY)
    assert result.parse_failures == ("cp_consent",) and result.consent.granted == {"necessary"}


@given(granted_sets, st.sampled_from(["%2CC0002%3Ayes", "%2CC0003", "%2CC0004%3A1%2CC0004%3A0"]))
def test_corrupted_onetrust_grants_nothing(granted, bad_tail):
    value = enc_onetrust(granted, [], 3).replace("&geolocation", bad_tail + "&geolocation")
    cookies = {"OptanonConsent": value, "OptanonAlertBoxClosed": "2025-10-13T14:22:35.236Z"}
    result = decide_from_cookies(cookies, {}, EVERY)
    assert result.parse_failures == ("onetrust",) and result.consent.granted == {"necessary"}


@given(granted_sets, st.integers(1, 40))
def test_truncated_cookiebot_grants_nothing(granted, cut):
    value = enc_cookiebot(granted, "bsbAh0S+8GJxApxrZ0vTRlMm4vdAjbb28/R2BJ1175X//1yp8tvPYg==", False)[:-cut]
    result = decide_from_cookies({"CookieConsent": value}, {}, EVERY)
    assert result.parse_failures == ("cookiebot",) and result.consent.granted == {"necessary"}


@given(granted_sets, st.sampled_from(["maybe", "1", "YES", "true"]))
def test_corrupted_cookieyes_grants_nothing(granted, bad):
    value = enc_cookieyes(granted, "abc").replace("necessary:yes", f"necessary:yes,analytics:{bad}")
    result = decide_from_cookies({"cookieyes-consent": value}, {}, EVERY)
    assert result.parse_failures == ("cookieyes",) and result.consent.granted == {"necessary"}


@given(granted_sets, st.data())
def test_truncated_tcf_grants_nothing(granted, data):
    purposes = {1}.union(*(TCF_PURPOSES[c] for c in granted))
    value = encode_core(purposes=purposes, vendors={755, 900})
    # The vendor bitfield ends at bit 230 + 900: any shorter prefix lacks the mandatory section.
    keep = data.draw(st.integers(0, (230 + 900) // 6))
    result = decide_from_cookies({"euconsent-v2": value[:keep]}, {}, EVERY)
    assert result.parse_failures == ("tcf",) and result.consent.granted == {"necessary"}


@given(st.sampled_from(list(READER_COOKIE)), st.integers(4097, 20000))
def test_oversized_values_are_malformed(reader, size):
    value = ("v1.analytics" if reader == "cp_consent" else "A") * size
    result = decide_from_cookies({READER_COOKIE[reader]: value[:size]}, {}, ConsentSettings(sources=(reader,)))
    assert result.consent.granted == {"necessary"}
    assert result.parse_failures == (reader,)
