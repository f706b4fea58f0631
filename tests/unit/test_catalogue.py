"""The bundled catalogue: loading, curated-table parsing and validation, the PSL lookup."""

from __future__ import annotations

import json

import pytest

from proxy.catalogue import (
    SOURCE_CURATED,
    SOURCE_OCD,
    SOURCE_TPW,
    CatalogueError,
    CookieRule,
    HostRule,
    build_catalogue,
    catalogue_dir,
    is_ip_address,
    load_catalogue,
    parse_curated,
    registrable_domain,
)

COOKIES = json.dumps({"cookies": [["_ga", "exact", "analytics", "Google Analytics"]]})
TRACKERS = json.dumps({"hosts": [["*.bing.com", "", "advertising", "Bing Ads", "ad"], ["*.clarity.ms", "", "necessary", "Clarity", "utility"]]})


@pytest.fixture(scope="module")
def bundled():
    return load_catalogue()


def test_bundled_catalogue_loads_with_the_full_open_data(bundled):
    assert len(bundled.open_cookies) > 2000
    assert len(bundled.open_hosts) > 2900
    assert len(bundled.curated_cookies) > 50 and len(bundled.curated_hosts) > 50
    assert {r.source for r in bundled.open_cookies} == {SOURCE_OCD}
    assert {r.source for r in bundled.open_hosts} == {SOURCE_TPW}
    assert {r.source for r in bundled.curated_cookies + bundled.curated_hosts} == {SOURCE_CURATED}
    assert {s["license"] for s in bundled.sources} == {"Apache-2.0", "MIT"}


def test_bing_ads_no_longer_claims_microsoft_and_bing(bundled):
    open_hosts = {r.host for r in bundled.open_hosts}
    assert "*.microsoft.com" not in open_hosts and "*.bing.com" not in open_hosts
    assert "*.msads.net" in open_hosts  # the rest of the entity stays
    assert HostRule("bat.bing.com", "advertising", "Microsoft Advertising", SOURCE_CURATED) in bundled.curated_hosts


def test_curated_table_holds_the_data_readme_fixes(bundled):
    by_name = {r.pattern: r for r in bundled.curated_cookies}
    assert by_name["cto_bundle"].category == "advertising"
    assert by_name["tt_chain_token"].category == "advertising"
    assert by_name["ajs_anonymous_id"].vendor == "Segment"
    assert by_name["test_cookie"].category == "advertising"
    assert by_name["YSC"].category == "functional"
    paths = {(r.host, r.path): r.category for r in bundled.curated_hosts}
    assert paths[("www.google.com", "/recaptcha/")] == "necessary"
    assert paths[("www.google.com", "/pagead/")] == "advertising"
    assert paths[("*.clarity.ms", "")] == "analytics"


def test_catalogue_dir_falls_back_to_the_repo():
    assert catalogue_dir().joinpath("curated.yaml").is_file()


def test_build_catalogue_applies_exclusions_and_keeps_layers_apart():
    curated = """
cookies:
  - {name: _ga_, match: prefix, category: analytics, vendor: GA}
hosts:
  - {host: "*.clarity.ms", category: analytics, vendor: Microsoft Clarity}
  - {host: www.google.com, path: /recaptcha/, category: necessary}
exclude_open_data_hosts: ["*.bing.com"]
"""
    cat = build_catalogue(COOKIES, TRACKERS, curated)
    assert [r.host for r in cat.open_hosts] == ["*.clarity.ms"]
    assert cat.curated_cookies == (CookieRule("_ga_", "prefix", "analytics", "GA", SOURCE_CURATED),)
    assert cat.curated_hosts[1] == HostRule("www.google.com", "necessary", "", SOURCE_CURATED, "/recaptcha/")


@pytest.mark.parametrize(
    "curated, problem",
    [
        ("cookies: [{name: x, category: marketing}]", "unknown category 'marketing'"),
        ("cookies: [{name: x, match: suffix, category: analytics}]", "unknown match kind"),
        ("cookies: [{name: '(', match: regex, category: analytics}]", "bad regex"),
        ("cookies: [{name: '(?P<id>x)', match: regex, category: analytics}]", "named groups"),
        ("cookies: [{name: x, category: analytics, vendr: typo}]", "unknown keys ['vendr']"),
        ("hosts: [{host: 'Www.Example.com', category: analytics}]", "not a lower-case host"),
        ("hosts: [{host: 'https://x.com/', category: analytics}]", "not a lower-case host"),
        ("hosts: [{host: x.com, path: pagead, category: analytics}]", "must start with '/'"),
        ("host: []", "unknown keys ['host']"),
        ("cookies: [unclosed", "curated.yaml"),
    ],
)
def test_curated_errors_are_reported(curated, problem):
    with pytest.raises(CatalogueError) as err:
        parse_curated(curated)
    assert problem in str(err.value)


def test_malformed_bundled_table_is_a_catalogue_error():
    with pytest.raises(CatalogueError):
        build_catalogue('{"cookies": [["_ga", "exact"]]}', TRACKERS, "")
    with pytest.raises(CatalogueError):
        build_catalogue(COOKIES, "not json", "")


@pytest.mark.parametrize(
    "host, expected",
    [
        ("www.shop.example.co.uk", "example.co.uk"),
        ("example.co.uk", "example.co.uk"),
        ("co.uk", None),
        ("WWW.Example.COM.", "example.com"),
        ("user.github.io", "user.github.io"),  # private-section suffix respected
        ("github.io", None),
        ("localhost", None),
        ("127.0.0.1", None),
        ("[::1]", None),
        ("", None),
    ],
)
def test_registrable_domain(host, expected):
    assert registrable_domain(host) == expected


def test_is_ip_address():
    assert is_ip_address("10.0.0.1") and is_ip_address("[2001:db8::1]")
    assert not is_ip_address("example.com")
