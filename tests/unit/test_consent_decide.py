"""proxy.consent.decide: precedence, parse failures, GPC, DNT, geo defaults, explain output, settings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.categories import State
from proxy.consent import (
    READER_COOKIE_NAMES,
    READER_NAMES,
    ConsentResult,
    ConsentSettings,
    consent_cookie_names,
    cookie_map,
    decide,
    explain_lines,
)
from proxy.cookieheader import cookie_dict
from tests.unit.test_consent_readers import OT_MIXED, cb
from tests.unit.test_tcf import ACCEPT_ALL

G, D, U = State.GRANTED, State.DENIED, State.UNKNOWN
GOLDEN = Path(__file__).parent / "golden"
EVERY = ConsentSettings(sources=READER_NAMES)
OT_HEADER = f"_ga=GA1.1.123.456; OptanonConsent={OT_MIXED}; OptanonAlertBoxClosed=2025-10-13T14:22:35.236Z"


def st3(result: ConsentResult) -> tuple[State, State, State]:
    d = result.consent.decisions
    return d["functional"].state, d["analytics"].state, d["advertising"].state


def test_default_settings_read_only_cp_consent():
    assert ConsentSettings().sources == ("cp_consent",)
    result = decide(OT_HEADER, {}, ConsentSettings())
    assert result.decided_by == "none" and st3(result) == (U, U, U)
    assert result.consent.granted == {"necessary"}
    result = decide("cp_consent=v1.functional; _ga=x", {}, ConsentSettings())
    assert result.decided_by == "cp_consent" and st3(result) == (G, D, D)


def test_first_present_well_formed_source_decides():
    header = f"CookieConsent=-1; {OT_HEADER}"
    assert decide(header, {}, EVERY).decided_by == "onetrust"
    cookiebot_first = ConsentSettings(sources=("cookiebot", "onetrust"))
    result = decide(header, {}, cookiebot_first)
    assert result.decided_by == "cookiebot" and st3(result) == (G, G, G)


def test_malformed_sources_are_skipped_and_counted():
    header = f"cp_consent=v9; CookieConsent={{broken; euconsent-v2=%%%; {OT_HEADER}"
    settings = ConsentSettings(sources=("cp_consent", "cookiebot", "tcf", "onetrust"))
    result = decide(header, {}, settings)
    assert result.parse_failures == ("cp_consent", "cookiebot", "tcf")
    assert result.decided_by == "onetrust" and st3(result) == (G, D, D)


def test_undecided_reading_still_decides_precedence():
    # A well-formed but undecided OneTrust cookie is the site's answer: a stale TCF grant does not win.
    header = f"OptanonConsent=interactionCount=0&groups=C0001%3A1; euconsent-v2={ACCEPT_ALL}"
    result = decide(header, {}, ConsentSettings(sources=("onetrust", "tcf")))
    assert result.decided_by == "onetrust" and st3(result) == (U, U, U)
    assert result.consent.decisions["analytics"].field == "interactionCount=0"


def test_gpc_overrides_a_grant_and_only_value_1_counts():
    header = "cp_consent=v1.functional.analytics.advertising"
    assert st3(decide(header, {"Sec-GPC": "1"}, EVERY)) == (G, G, D)
    ad = decide(header, {"Sec-GPC": "1"}, EVERY).consent.decisions["advertising"]
    assert (ad.source, ad.field) == ("gpc", "Sec-GPC")
    assert st3(decide(header, {"Sec-GPC": "0"}, EVERY)) == (G, G, G)
    assert st3(decide(header, {}, EVERY)) == (G, G, G)
    wider = ConsentSettings(sources=("cp_consent",), gpc_denies=frozenset({"advertising", "analytics"}))
    assert st3(decide(header, {"Sec-GPC": "1"}, wider)) == (G, D, D)
    assert st3(decide(header, {"Sec-GPC": "1"}, ConsentSettings(gpc_denies=frozenset()))) == (G, G, G)


def test_gpc_keeps_an_existing_denial_source_and_denies_unknown():
    result = decide("cp_consent=v1", {"Sec-GPC": "1"}, EVERY)
    assert result.consent.decisions["advertising"].source == "cp_consent"
    result = decide("", {"Sec-GPC": "1"}, EVERY)
    assert result.consent.decisions["advertising"] == result.consent.decisions["advertising"].__class__(
        D, "gpc", "Sec-GPC"
    )
    assert result.consent.decisions["analytics"].state is U


def test_dnt_only_when_enabled():
    header = "cp_consent=v1.functional.analytics.advertising"
    assert st3(decide(header, {"DNT": "1"}, EVERY)) == (G, G, G)
    on = ConsentSettings(dnt_enabled=True)
    assert st3(decide(header, {"DNT": "1"}, on)) == (G, G, D)
    assert decide(header, {"DNT": "1"}, on).consent.decisions["advertising"].source == "dnt"
    assert st3(decide(header, {"DNT": "0"}, on)) == (G, G, G)


def test_geo_header_sets_defaults_for_undecided_visitors_only():
    geo = ConsentSettings(
        sources=("cp_consent",),
        geo_header="CF-IPCountry",
        opt_out_regions=frozenset({"US"}),
        opt_out_grants=frozenset({"functional", "analytics"}),
    )
    result = decide("", {"CF-IPCountry": "US"}, geo)
    assert st3(result) == (G, G, D)
    assert result.consent.decisions["analytics"].source == "geo"
    assert result.consent.decisions["analytics"].field == "CF-IPCountry=US"
    assert st3(decide("", {"CF-IPCountry": "us-ca"}, geo)) == (G, G, D)
    assert st3(decide("", {"CF-IPCountry": "DE"}, geo)) == (D, D, D)
    assert st3(decide("", {}, geo)) == (U, U, U)
    assert st3(decide("cp_consent=v1", {"CF-IPCountry": "US"}, geo)) == (D, D, D)  # decided: no defaults
    assert st3(decide("", {"CF-IPCountry": "US", "Sec-GPC": "1"}, geo)) == (G, G, D)
    assert st3(decide("", {"CF-IPCountry": "US"}, ConsentSettings())) == (U, U, U)  # header not configured


def test_complianz_missing_cookie_means_consent_in_opt_out_regions():
    geo = ConsentSettings(sources=("complianz",), geo_header="X-Geo", opt_out_regions=frozenset({"US"}))
    header = "cmplz_functional=allow; cmplz_marketing=deny"
    assert st3(decide(header, {"X-Geo": "US"}, geo)) == (G, G, D)
    assert st3(decide(header, {"X-Geo": "FR"}, geo)) == (D, D, D)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        ";;;",
        "=",
        "cp_consent",
        "cp_consent=" + "v1.analytics" * 1000,
        'cc_cookie={"categories":' + "[" * 5000 + "]" * 5000 + "}",
        "klaro=" + "%7B" * 3000,
        "euconsent-v2=" + "A" * 100_000,
        "CookieConsent=\udcff\udcfe; OptanonConsent=groups=\udc80",
        "didomi_token=" + "eyJ" * 2000,
        "borlabs-cookie=%FF%FE",
    ],
)
def test_hostile_headers_never_raise_and_never_grant(header):
    for headers in ({}, None, {"Sec-GPC": "1"}):
        result = decide(header, headers, EVERY)  # type: ignore[arg-type]
        assert result.consent.granted == {"necessary"}


def test_oversized_value_is_a_parse_failure():
    result = decide("cp_consent=v1.analytics" + ".analytics" * 500, {}, EVERY)
    assert result.parse_failures == ("cp_consent",) and st3(result) == (U, U, U)
    small = ConsentSettings(sources=("cookiebot",), max_value_length=64)
    assert decide(f"CookieConsent={cb('true', 'true', 'true')}", {}, small).parse_failures == ("cookiebot",)


def test_explain_lines_golden():
    cases = {
        "onetrust_gpc": decide(OT_HEADER, {"Sec-GPC": "1"}, EVERY),
        "cookiebot_all_but_gpc": decide("_ga=GA1.1.1.1; CookieConsent=-1", {"Sec-GPC": "1"}, EVERY),
        "undecided": decide("_ga=GA1.1.1.1", {}, EVERY),
        "malformed_then_tcf": decide(f"cp_consent=v2; euconsent-v2={ACCEPT_ALL}", {}, EVERY),
    }
    got = "".join(f"## {name}\n" + "\n".join(explain_lines(r)) + "\n" for name, r in cases.items())
    assert got == (GOLDEN / "consent_explain.txt").read_text()


@given(
    st.lists(
        st.tuples(st.text(" \t=;abcAB_-\"{}", max_size=6), st.text(" \t=;,abc\"{}:%", max_size=8)), max_size=8
    ).map(lambda pairs: ";".join(f"{n}={v}" if i % 3 else n for i, (n, v) in enumerate(pairs)))
)
def test_cookie_map_matches_cookieheader_cookie_dict(header):
    assert cookie_map(header) == cookie_dict(header)


def test_settings_validation():
    with pytest.raises(ValueError, match="unknown consent source"):
        ConsentSettings(sources=("onetrust", "quantcast"))
    with pytest.raises(ValueError, match="onetrust_groups"):
        ConsentSettings(onetrust_groups=(("C0002", "marketing"),))
    with pytest.raises(ValueError, match="gpc_denies"):
        ConsentSettings(gpc_denies=frozenset({"necessary"}))
    hash(EVERY)  # frozen and hashable: usable as a cache key by the runtime


def test_reader_cookie_names_cover_every_reader_and_renames():
    assert set(READER_COOKIE_NAMES) == set(READER_NAMES)
    names = consent_cookie_names()
    for n in ("OptanonAlertBoxClosed", "euconsent-v2", "addtl_consent", "cmplz_statistics", "cmplz_rt_marketing",
              "cmplz_banner-status", "CookieConsent", "cookieyes-consent", "didomi_token", "cp_consent"):
        assert n in names
    renamed = consent_cookie_names(ConsentSettings(klaro_cookie="kc", cookieconsent_cookie="cc2"))
    assert {"kc", "cc2", "klaro"} <= renamed


def test_consent_modules_import_without_aiohttp():
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "import proxy.consent, proxy.consent_readers, proxy.tcf\n"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_deeply_nested_json_is_refused_before_json_loads():
    nested = '{"x":' + "[" * 100 + "]" * 100 + ',"google-analytics":true}'
    s = ConsentSettings(sources=("klaro",))
    result = decide(f"klaro={nested}", {}, s)
    assert result.parse_failures == ("klaro",) and result.consent.granted == {"necessary"}
    shallow = '{"x":[[1]],"google-analytics":true}'
    assert decide(f"klaro={shallow}", {}, s).consent.allows("analytics")


def test_tcf_purpose_ids_from_config_strings_are_normalised():
    s = ConsentSettings(sources=("tcf",), tcf_purposes=(("8", "analytics"),))
    assert s.tcf_purposes == ((8, "analytics"),)
    assert decide(f"euconsent-v2={ACCEPT_ALL}", {}, s).consent.allows("analytics")
    with pytest.raises(ValueError, match="tcf_purposes"):
        ConsentSettings(tcf_purposes=((25, "analytics"),))
    with pytest.raises(ValueError):
        ConsentSettings(tcf_purposes=(("two", "analytics"),))
