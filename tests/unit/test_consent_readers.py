"""Each consent-banner reader: undecided, accept-all, reject-all, a real-shaped mixed value, map overrides.

Values are shaped like the real captures in shared/reference/consent-formats.md.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest

from proxy.categories import State
from proxy.consent import ConsentSettings, decide_from_cookies
from tests.unit.test_tcf import ACCEPT_ALL, REJECT_ALL, encode_core

G, D, U = State.GRANTED, State.DENIED, State.UNKNOWN


def states(source: str, cookies: dict[str, str], **overrides) -> tuple[State, State, State]:
    """(functional, analytics, advertising) with only `source` enabled; asserts necessary granted."""
    result = decide_from_cookies(cookies, {}, ConsentSettings(sources=(source,), **overrides))
    d = result.consent.decisions
    assert d["necessary"].state is G
    if result.decided_by != "none":
        assert result.decided_by == source
        assert all(d[c].source == source for c in ("functional", "analytics", "advertising"))
    return d["functional"].state, d["analytics"].state, d["advertising"].state


def failures(source: str, cookies: dict[str, str], **overrides) -> tuple[str, ...]:
    return decide_from_cookies(cookies, {}, ConsentSettings(sources=(source,), **overrides)).parse_failures


NONE = (U, U, U)
ALL = (G, G, G)
NO = (D, D, D)

# --- cp_consent --------------------------------------------------------------------------


def test_cp_consent():
    assert states("cp_consent", {}) == NONE
    assert states("cp_consent", {"cp_consent": "v1.functional.analytics.advertising"}) == ALL
    assert states("cp_consent", {"cp_consent": "v1"}) == NO
    assert states("cp_consent", {"cp_consent": "v1.analytics"}) == (D, G, D)


@pytest.mark.parametrize("bad", ["v2.analytics", "v1.marketing", "v1.", "V1", "", '"v1.analytics"', "v1.necessary"])
def test_cp_consent_malformed(bad):
    assert states("cp_consent", {"cp_consent": bad}) == NONE
    assert failures("cp_consent", {"cp_consent": bad}) == ("cp_consent",)


# --- OneTrust ----------------------------------------------------------------------------

OT_MIXED = (
    "isGpcEnabled=0&datestamp=Mon+Oct+13+2025+16%3A22%3A35+GMT%2B0200+(Central+European+Summer+Time)"
    "&version=202508.2.0&browserGpcFlag=0&isIABGlobal=false&consentId=86203427-xxxx&interactionCount=3"
    "&isAnonUser=1&hosts=&landingPath=NotLandingPage"
    "&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0%2CC0005%3A0%2CV2STACK42%3A0"
    "&geolocation=ES%3BCL&AwaitingReconsent=false&genVendors=V2%3A0%2CV1%3A0%2C"
)
CLOSED = "2025-10-13T14:22:35.236Z"


def ot(groups: str, interaction: str = "1", extra: str = "") -> str:
    return (
        f"isGpcEnabled=0&datestamp=Tue+Oct+19+2021+10%3A00%3A00+GMT%2B0200&version=6.30.0"
        f"&interactionCount={interaction}&isIABGlobal=false&hosts=&landingPath=NotLandingPage"
        f"&groups={quote(groups, safe='')}{extra}"
    )


def test_onetrust():
    all_on = "C0001:1,C0002:1,C0003:1,C0004:1,C0005:1"
    assert states("onetrust", {"OptanonConsent": ot(all_on, "0")}) == NONE
    assert states("onetrust", {"OptanonConsent": ot(all_on)}) == NONE  # no OptanonAlertBoxClosed
    assert states("onetrust", {"OptanonConsent": ot(all_on), "OptanonAlertBoxClosed": CLOSED}) == ALL
    off = "C0001:1,C0002:0,C0003:0,C0004:0,C0005:0"
    assert states("onetrust", {"OptanonConsent": ot(off), "OptanonAlertBoxClosed": CLOSED}) == NO
    assert states("onetrust", {"OptanonConsent": OT_MIXED, "OptanonAlertBoxClosed": CLOSED}) == (G, D, D)


def test_onetrust_advertising_needs_every_mapped_group():
    value = ot("C0001:1,C0002:1,C0003:1,C0004:1,C0005:0")
    result = decide_from_cookies(
        {"OptanonConsent": value, "OptanonAlertBoxClosed": CLOSED}, {}, ConsentSettings(sources=("onetrust",))
    )
    assert result.consent.decisions["advertising"].state is D
    assert result.consent.decisions["advertising"].field == "groups.C0005"
    assert result.consent.decisions["analytics"].field == "groups.C0002"


def test_onetrust_awaiting_reconsent_and_missing_interaction_are_undecided():
    c = {"OptanonConsent": ot("C0002:1", extra="&AwaitingReconsent=true"), "OptanonAlertBoxClosed": CLOSED}
    assert states("onetrust", c) == NONE
    no_count = "groups=C0001%3A1%2CC0002%3A1&isIABGlobal=false"
    assert states("onetrust", {"OptanonConsent": no_count, "OptanonAlertBoxClosed": CLOSED}) == NONE


@pytest.mark.parametrize(
    "bad",
    [ot("C0001:1,C0002:yes"), ot("C0001:1,C0002"), ot("C0002:1,C0002:0"), ot("C0002:1", "three"), "interactionCount=2"],
)
def test_onetrust_malformed(bad):
    cookies = {"OptanonConsent": bad, "OptanonAlertBoxClosed": CLOSED}
    assert states("onetrust", cookies) == NONE
    assert failures("onetrust", cookies) == ("onetrust",)


def test_onetrust_group_map_override():
    # bit.ly-style tenant: ads gated on C0007; legacy numeric groups.
    c = {"OptanonConsent": ot("C0001:1,C0002:0,C0007:1"), "OptanonAlertBoxClosed": CLOSED}
    assert states("onetrust", c) == (U, D, U)
    custom = (("C0001", "necessary"), ("C0002", "analytics"), ("C0007", "advertising"))
    assert states("onetrust", c, onetrust_groups=custom) == (U, D, G)
    legacy = {"OptanonConsent": ot("1:1,2:1,3:0,4:1"), "OptanonAlertBoxClosed": CLOSED}
    numeric = (("2", "analytics"), ("3", "functional"), ("4", "advertising"))
    assert states("onetrust", legacy, onetrust_groups=numeric) == (D, G, G)


# --- Cookiebot ---------------------------------------------------------------------------


def cb(pref: str, stat: str, mark: str, method: str = "explicit") -> str:
    return (
        "{stamp:%27bsbAh0S+8GJxApxrZ0vTRlMm4vdAjbb28/R2BJ1175X//1yp8tvPYg==%27%2Cnecessary:true"
        f"%2Cpreferences:{pref}%2Cstatistics:{stat}%2Cmarketing:{mark}%2Cmethod:%27{method}%27%2Cver:2"
        "%2Cutc:1715723726358%2Ciab2:%27%27%2Cgacm:%271~%27%2Cregion:%27de%27}"
    )


def test_cookiebot():
    assert states("cookiebot", {}) == NONE
    assert states("cookiebot", {"CookieConsent": "-1"}) == ALL
    assert states("cookiebot", {"CookieConsent": "0"}) == NO
    assert states("cookiebot", {"CookieConsent": cb("true", "true", "true")}) == ALL
    assert states("cookiebot", {"CookieConsent": cb("false", "false", "false")}) == NO
    assert states("cookiebot", {"CookieConsent": cb("false", "true", "false")}) == (D, G, D)


def test_cookiebot_fully_percent_encoded_and_implied():
    value = quote("{stamp:'-1',necessary:true,preferences:true,statistics:true,marketing:true,method:'implied'}")
    assert states("cookiebot", {"CookieConsent": value}) == ALL


@pytest.mark.parametrize(
    "bad",
    [
        cb("1", "true", "true"),
        "{stamp:%27abc%27}",
        cb("true", "true", "true")[:-1],
        "{necessary:true;statistics:true}",
        "-2",
        "{statistics:true,marketing:'true}",
    ],
)
def test_cookiebot_malformed(bad):
    assert states("cookiebot", {"CookieConsent": bad}) == NONE
    assert failures("cookiebot", {"CookieConsent": bad}) == ("cookiebot",)


def test_cookiebot_field_map_override():
    c = {"CookieConsent": cb("true", "false", "false")}
    assert states("cookiebot", c) == (G, D, D)
    assert states("cookiebot", c, cookiebot_fields=(("preferences", "analytics"),)) == (U, G, U)


# --- CookieYes ---------------------------------------------------------------------------


def cy(action: str, fn: str, an: str, perf: str, ad: str) -> str:
    return (
        f"consentid:d0owaVVvazVQeldUemZ0aVF5OGs1RVdLM3pPQlBaY24,consent:{'yes' if action else 'no'},"
        f"action:{action},necessary:yes,functional:{fn},analytics:{an},performance:{perf},advertisement:{ad},other:no"
    )


def test_cookieyes():
    assert states("cookieyes", {"cookieyes-consent": cy("", "no", "no", "no", "no")}) == NONE
    assert states("cookieyes", {"cookieyes-consent": cy("yes", "yes", "yes", "yes", "yes")}) == ALL
    assert states("cookieyes", {"cookieyes-consent": cy("yes", "no", "no", "no", "no")}) == NO
    assert states("cookieyes", {"cookieyes-consent": cy("yes", "yes", "yes", "no", "no")}) == (G, D, D)


def test_cookieyes_performance_maps_to_analytics_and_can_be_overridden():
    c = {"cookieyes-consent": cy("yes", "no", "yes", "yes", "no")}
    assert states("cookieyes", c) == (D, G, D)
    remap = (("functional", "functional"), ("analytics", "analytics"), ("advertisement", "advertising"), ("other", "advertising"))
    assert states("cookieyes", {"cookieyes-consent": cy("yes", "no", "yes", "no", "yes")}, cookieyes_fields=remap) == (D, G, D)


@pytest.mark.parametrize("bad", [cy("yes", "maybe", "no", "no", "no"), "consentid", "hello world"])
def test_cookieyes_malformed(bad):
    assert failures("cookieyes", {"cookieyes-consent": bad}) == ("cookieyes",)
    assert states("cookieyes", {"cookieyes-consent": bad}) == NONE


# --- Complianz ---------------------------------------------------------------------------


def cmplz(pref: str, stat: str, mark: str, prefix: str = "cmplz_") -> dict[str, str]:
    return {
        f"{prefix}functional": "allow",
        f"{prefix}preferences": pref,
        f"{prefix}statistics": stat,
        f"{prefix}marketing": mark,
        f"{prefix}banner-status": "dismissed",
        f"{prefix}consented_services": '{"youtube":true}',
        f"{prefix}policy_id": "33",
    }


def test_complianz():
    assert states("complianz", {"cmplz_banner-status": "dismissed"}) == NONE
    assert states("complianz", cmplz("allow", "allow", "allow")) == ALL
    assert states("complianz", cmplz("deny", "deny", "deny")) == NO
    assert states("complianz", cmplz("deny", "allow", "deny")) == (D, G, D)
    assert states("complianz", cmplz("allow", "deny", "allow", prefix="cmplz_rt_")) == (G, D, G)
    partial = {"cmplz_functional": "allow", "cmplz_statistics": "allow"}
    assert states("complianz", partial) == (U, G, U)


def test_complianz_malformed_and_override():
    assert failures("complianz", cmplz("yes", "allow", "allow")) == ("complianz",)
    remap = (("statistics", "analytics"), ("marketing", "advertising"), ("preferences", "advertising"))
    assert states("complianz", cmplz("deny", "allow", "allow"), complianz_categories=remap) == (U, G, D)


# --- Klaro -------------------------------------------------------------------------------

KLARO_MIXED = "%7B%22google-analytics%22%3Atrue%2C%22facebook-pixel%22%3Afalse%2C%22youtube%22%3Afalse%7D"


def klaro(services: dict[str, bool]) -> str:
    return quote(json.dumps(services, separators=(",", ":")), safe="")


def test_klaro():
    assert states("klaro", {}) == NONE
    both = {"google-analytics": True, "facebook-pixel": True, "youtube": True}
    assert states("klaro", {"klaro": klaro(both)}) == (U, G, G)
    assert states("klaro", {"klaro": klaro(dict.fromkeys(both, False))}) == (U, D, D)
    assert states("klaro", {"klaro": KLARO_MIXED}) == (U, G, D)


def test_klaro_service_map_and_cookie_name_override():
    services = (("youtube", "functional"), ("google-analytics", "analytics"), ("facebook-pixel", "advertising"))
    c = {"consent": KLARO_MIXED}
    assert states("klaro", c, klaro_cookie="consent", klaro_services=services) == (D, G, D)
    assert failures("klaro", {"klaro": "%7B%22google-analytics%22%3A1%7D"}) == ("klaro",)
    assert failures("klaro", {"klaro": "%5B%5D"}) == ("klaro",)


# --- cookieconsent -----------------------------------------------------------------------

CC_V3 = (
    "%7B%22categories%22%3A%5B%22necessary%22%2C%22analytics%22%5D%2C%22revision%22%3A0%2C%22data%22%3Anull"
    "%2C%22consentTimestamp%22%3A%222025-03-01T10%3A00%3A00.000Z%22%2C%22consentId%22%3A%222c9e1c4e-1111%22"
    "%2C%22services%22%3A%7B%22necessary%22%3A%5B%5D%2C%22analytics%22%3A%5B%22ga%22%5D%7D%2C%22languageCode"
    "%22%3A%22en%22%2C%22lastConsentTimestamp%22%3A%222025-03-01T10%3A00%3A00.000Z%22%2C%22expirationTime%22"
    "%3A1756461600000%7D"
)


def cc_v2(categories: list[str], revision: int = 0) -> str:
    return json.dumps(
        {"categories": categories, "level": categories, "revision": revision, "data": None, "rfc_cookie": False},
        separators=(",", ":"),
    )


def test_cookieconsent():
    assert states("cookieconsent", {}) == NONE
    assert states("cookieconsent", {"cc_cookie": cc_v2(["necessary", "functionality", "analytics", "marketing"])}) == ALL
    assert states("cookieconsent", {"cc_cookie": cc_v2(["necessary"])}) == NO
    assert states("cookieconsent", {"cc_cookie": CC_V3}) == (D, G, D)


def test_cookieconsent_revision_name_and_map_overrides():
    c = {"cc_cookie": cc_v2(["necessary", "analytics"], revision=1)}
    assert states("cookieconsent", c, cookieconsent_revision=1) == (D, G, D)
    assert states("cookieconsent", c, cookieconsent_revision=2) == NONE  # stale: undecided
    assert failures("cookieconsent", c, cookieconsent_revision=2) == ()
    renamed = {"my_cc": cc_v2(["necessary", "stats"])}
    remap = (("stats", "analytics"), ("ads", "advertising"))
    assert states("cookieconsent", renamed, cookieconsent_cookie="my_cc", cookieconsent_categories=remap) == (U, G, D)
    assert failures("cookieconsent", {"cc_cookie": '{"categories":"analytics"}'}) == ("cookieconsent",)


# --- Borlabs -----------------------------------------------------------------------------


def borlabs(consents: dict[str, list[str]]) -> str:
    body = {"consents": consents, "domainPath": "example.com/", "uid": "mnep1234-abcd", "v3": True, "version": 1}
    return quote(json.dumps(body, separators=(",", ":")), safe="")


BORLABS_ALL = {
    "essential": ["borlabs-cookie"],
    "statistics": ["google-analytics"],
    "marketing": ["facebook-pixel"],
    "external-media": ["youtube", "googlemaps"],
}


def test_borlabs():
    assert states("borlabs", {}) == NONE
    assert states("borlabs", {"borlabs-cookie": borlabs(BORLABS_ALL)}) == ALL
    assert states("borlabs", {"borlabs-cookie": borlabs({"essential": ["borlabs-cookie"]})}) == NO
    mixed = {"essential": ["borlabs-cookie"], "statistics": ["google-analytics"], "marketing": []}
    assert states("borlabs", {"borlabs-cookie": borlabs(mixed)}) == (D, G, D)


def test_borlabs_override_and_malformed():
    media_only = {"essential": ["borlabs-cookie"], "external-media": ["youtube"]}
    assert states("borlabs", {"borlabs-cookie": borlabs(media_only)}) == (G, D, D)
    strict = (("statistics", "analytics"), ("marketing", "advertising"), ("external-media", "advertising"))
    assert states("borlabs", {"borlabs-cookie": borlabs(media_only)}, borlabs_groups=strict) == (U, D, G)
    assert failures("borlabs", {"borlabs-cookie": quote('{"consents":{"statistics":"ga"}}')}) == ("borlabs",)


# --- tarteaucitron -----------------------------------------------------------------------

TAC_MIXED = "!gtag=true!facebookpixel=false!youtube=wait!gcmanalyticsstorage=true!gcmadstorage=false"


def test_tarteaucitron():
    assert states("tarteaucitron", {"tarteaucitron": "!gtag=wait!facebookpixel=wait!youtube=wait"}) == NONE
    assert states("tarteaucitron", {"tarteaucitron": "!gtag=true!facebookpixel=true!youtube=true"}) == ALL
    assert states("tarteaucitron", {"tarteaucitron": "!gtag=false!facebookpixel=false!youtube=false"}) == NO
    assert states("tarteaucitron", {"tarteaucitron": TAC_MIXED}) == (U, G, D)


def test_tarteaucitron_override_and_malformed():
    c = {"tac": "!matomocloud=true!linkedininsighttag=true"}
    remap = (("matomocloud", "analytics"), ("linkedininsighttag", "advertising"))
    assert states("tarteaucitron", c, tarteaucitron_cookie="tac", tarteaucitron_services=remap) == (U, G, G)
    assert failures("tarteaucitron", {"tarteaucitron": "!gtag=yes"}) == ("tarteaucitron",)
    assert failures("tarteaucitron", {"tarteaucitron": "gtag=true"}) == ("tarteaucitron",)


# --- Didomi ------------------------------------------------------------------------------


def didomi(enabled: list[str], disabled: list[str]) -> str:
    token = {
        "user_id": "17a8626c-0000-6e1e-a4b2-7bd1a2b3c4d5",
        "created": "2021-07-08T12:49:24.198Z",
        "updated": "2021-07-08T12:49:24.198Z",
        "version": 2,
        "vendors": {"enabled": ["google", "c:googleana-m22KTp3Y"]},
        "purposes": {"enabled": enabled, "disabled": disabled},
        "ac": "AAAA",
    }
    return base64.b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


ANALYTICS_PURPOSES = ["measure_content_performance", "market_research", "improve_products"]
AD_PURPOSES = ["select_basic_ads", "create_ads_profile", "select_personalized_ads", "measure_ad_performance"]
CONTENT_PURPOSES = ["create_content_profile", "select_personalized_content", "use_limited_data_to_select_content"]


def test_didomi():
    assert states("didomi", {}) == NONE
    everything = ["cookies", *ANALYTICS_PURPOSES, *AD_PURPOSES, *CONTENT_PURPOSES]
    assert states("didomi", {"didomi_token": didomi(everything, [])}) == ALL
    assert states("didomi", {"didomi_token": didomi([], everything)}) == NO
    assert states("didomi", {"didomi_token": didomi(["cookies", "analytics"], AD_PURPOSES)}) == (U, G, D)
    # P1-equivalent disabled denies everything, even an enabled purpose.
    assert states("didomi", {"didomi_token": didomi(["analytics"], ["cookies"])}) == NO


def test_didomi_override_and_malformed():
    token = {"didomi_token": didomi(["cookies", "geo_marketing"], [])}
    assert states("didomi", token) == NONE
    assert states("didomi", token, didomi_purposes=(("geo_marketing", "advertising"),)) == (U, U, G)
    assert states("didomi", {"didomi_token": didomi([], ["cookies"])}, didomi_prerequisite=None) == NONE
    assert failures("didomi", {"didomi_token": "not base64!"}) == ("didomi",)
    assert failures("didomi", {"didomi_token": base64.b64encode(b'{"purposes":[]}').decode()}) == ("didomi",)


# --- TCF ---------------------------------------------------------------------------------


def test_tcf():
    assert states("tcf", {}) == NONE
    assert states("tcf", {"euconsent-v2": ACCEPT_ALL}) == ALL
    assert states("tcf", {"euconsent-v2": REJECT_ALL}) == NO
    mixed = encode_core(purposes={1, 8, 9, 10}, purposes_li={2, 7})
    assert states("tcf", {"euconsent-v2": mixed}) == (D, G, D)


def test_tcf_purpose_one_denied_denies_everything():
    result = decide_from_cookies(
        {"euconsent-v2": encode_core(purposes=set(range(2, 12)))}, {}, ConsentSettings(sources=("tcf",))
    )
    assert {d.state for c, d in result.consent.decisions.items() if c != "necessary"} == {D}
    assert result.consent.decisions["analytics"].field == "purposes.1"


def test_tcf_old_policy_version_is_undecided():
    old = encode_core(purposes=set(range(1, 12)), policy_version=3)
    assert states("tcf", {"euconsent-v2": old}) == NONE
    assert states("tcf", {"euconsent-v2": old}, tcf_min_policy_version=2) == ALL


def test_tcf_purpose_map_override():
    value = encode_core(purposes={1, 8})
    assert states("tcf", {"euconsent-v2": value}) == (D, D, D)
    lenient = ((8, "analytics"), (2, "advertising"))
    assert states("tcf", {"euconsent-v2": value}, tcf_purposes=lenient) == (U, G, D)
    assert failures("tcf", {"euconsent-v2": "CQbB_cAQbB"}) == ("tcf",)
