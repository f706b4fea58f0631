"""Cookie enforcement: Set-Cookie filtering, request Cookie filtering, purge headers."""

from __future__ import annotations

import calendar

import pytest

from proxy.catalogue import load_catalogue
from proxy.categories import all_granted, granting, undecided
from proxy.cookies import (
    UNCLASSIFIED,
    UNPARSEABLE,
    filter_request_cookie,
    filter_set_cookies,
    is_deletion,
    parse_cookie_date,
    purge_domains,
    purge_headers,
    set_cookie_name,
)
from proxy.policy import Policy, SiteRules

CONSENT_READERS = frozenset({"cp_consent", "OptanonConsent", "OptanonAlertBoxClosed", "CookieConsent", "euconsent-v2", "addtl_consent"})
NOW = calendar.timegm((2026, 3, 1, 12, 0, 0, 0, 0, 0))


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def policy(catalogue):
    return Policy.compile(SiteRules(), catalogue)


@pytest.fixture(scope="module")
def deny_policy(catalogue):
    return Policy.compile(SiteRules(unclassified_cookies="deny"), catalogue)


ORIGIN_SET_COOKIES = [
    "PHPSESSID=9c1f0a7e3b; path=/; secure; HttpOnly; SameSite=Lax",
    "_ga=GA1.1.1234567890.1700000000; expires=Wed, 02 Mar 2028 10:00:00 GMT; path=/; domain=.shop.example.co.uk",
    "_ga_ABCDEF1234=GS1.1.1700000000.1.0.1700000000.0.0.0; Max-Age=63072000; Path=/; Domain=shop.example.co.uk",
    "_fbp=fb.1.1700000000000.123456789; Expires=Sun, 31 Jan 2027 08:00:00 GMT; Path=/; SameSite=Lax",
    "YSC=Q2vNzK1tXyA; Domain=.youtube.com; Path=/; Secure; HttpOnly; SameSite=none",
    "cp_consent=v1.fa-.1700000000; Path=/; Max-Age=15552000; SameSite=Lax",
    "shop_theme=dark; Path=/",
]


def names(values):
    return [set_cookie_name(v) for v in values]


@pytest.mark.parametrize(
    "consent, expected",
    [
        (undecided(), ["PHPSESSID", "cp_consent", "shop_theme"]),
        (granting({"analytics"}), ["PHPSESSID", "_ga", "_ga_ABCDEF1234", "cp_consent", "shop_theme"]),
        (granting({"functional"}), ["PHPSESSID", "YSC", "cp_consent", "shop_theme"]),
        (granting({"advertising"}), ["PHPSESSID", "_fbp", "cp_consent", "shop_theme"]),
        (all_granted(), names(ORIGIN_SET_COOKIES)),
    ],
)
def test_set_cookie_survivors_per_consent_state(policy, consent, expected):
    result = filter_set_cookies(ORIGIN_SET_COOKIES, consent, policy, protected_names=CONSENT_READERS, now=NOW)
    assert names(result.kept) == expected
    # kept values are the origin's strings, byte-exact, in order
    assert [v for v in ORIGIN_SET_COOKIES if v in result.kept] == list(result.kept)
    assert {d.name for d in result.dropped} == set(names(ORIGIN_SET_COOKIES)) - set(expected)
    assert result.unclassified == ("shop_theme",)


def test_dropped_cookies_carry_their_category(policy):
    result = filter_set_cookies(ORIGIN_SET_COOKIES, undecided(), policy, now=NOW)
    assert {d.name: d.category for d in result.dropped}["_fbp"] == "advertising"
    assert {d.name: d.category for d in result.dropped}["_ga"] == "analytics"


def test_expires_commas_never_split_a_value(policy):
    value = "_ga=GA1.1.1.1; Expires=Wed, 02 Mar 2028 10:00:00 GMT, x=1; Path=/"
    result = filter_set_cookies([value], granting({"analytics"}), policy, now=NOW)
    assert result.kept == (value,)


@pytest.mark.parametrize(
    "value",
    [
        "_ga=; Max-Age=0; Path=/",
        "_ga=; max-age=-1",
        "_fbp=; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/",
        "_fbp=x; expires=Sun, 01-Feb-2026 08:00:00 GMT",  # in the past relative to NOW
        "__Secure-3PSID=; Max-Age=0; Domain=.google.com; Path=/; Secure",
    ],
)
def test_deletions_always_pass(policy, value):
    assert filter_set_cookies([value], undecided(), policy, now=NOW).kept == (value,)


def test_max_age_wins_over_a_past_expires(policy):
    value = "_fbp=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=3600"
    assert not is_deletion(value, NOW)
    assert filter_set_cookies([value], undecided(), policy, now=NOW).kept == ()
    assert not is_deletion("_fbp=x; Max-Age=soon; Expires=Sun, 31 Jan 2027 08:00:00 GMT", NOW)


def test_unparseable_set_cookie_is_fail_closed(policy):
    values = ["nameless-value; Path=/", "=value; Path=/", "", "bad\x01name=1"]
    result = filter_set_cookies(values, granting({"analytics", "functional"}), policy, now=NOW)
    assert result.kept == ()
    assert {d.category for d in result.dropped} == {UNPARSEABLE}
    assert filter_set_cookies(values, all_granted(), policy, now=NOW).kept == tuple(values)


def test_unclassified_set_cookie_deny_mode(deny_policy):
    result = filter_set_cookies(["shop_theme=dark; Path=/", "PHPSESSID=x"], all_granted(), deny_policy, now=NOW)
    assert result.kept == ("PHPSESSID=x",)
    assert result.dropped[0].category == UNCLASSIFIED and result.unclassified == ("shop_theme",)


def test_host_prefixed_set_cookie_is_classified_behind_the_prefix(policy):
    value = "__Host-_ga=GA1.1.1.1; Path=/; Secure"
    assert filter_set_cookies([value], undecided(), policy, now=NOW).dropped[0].category == "analytics"


REQUEST = 'PHPSESSID=9c1f0a7e3b;  _ga=GA1.1.1234567890.1700000000; cc_cookie={"categories":["necessary"]}; _fbp=fb.1.17.12; shop_theme=dark; OptanonConsent=isGpcEnabled=0&groups=C0001%3A1%2CC0004%3A0; _ga_ABCDEF1234=GS1.1'


def test_request_cookie_filter_keeps_the_rest_byte_exact_in_order(policy):
    result = filter_request_cookie(REQUEST, undecided(), policy, CONSENT_READERS)
    assert result.header == 'PHPSESSID=9c1f0a7e3b; cc_cookie={"categories":["necessary"]}; shop_theme=dark; OptanonConsent=isGpcEnabled=0&groups=C0001%3A1%2CC0004%3A0'
    assert result.removed == (("_ga", "analytics"), ("_fbp", "advertising"), ("_ga_ABCDEF1234", "analytics"))
    assert result.unclassified == ("shop_theme",)
    assert result.changed


def test_request_cookie_header_untouched_when_everything_is_allowed(policy):
    result = filter_request_cookie(REQUEST, all_granted(), policy, CONSENT_READERS)
    assert result.header is REQUEST and not result.changed


def test_request_cookie_deny_mode_removes_unclassified_and_nameless(deny_policy):
    result = filter_request_cookie("shop_theme=dark; orphan; PHPSESSID=1", all_granted(), deny_policy)
    assert result.header == "PHPSESSID=1"
    assert result.removed == (("shop_theme", UNCLASSIFIED), ("", UNCLASSIFIED))


def test_protected_consent_cookies_are_never_removed(catalogue):
    # even if a site rule files a consent reader's cookie under a denied category
    from proxy.catalogue import CookieRule

    site = SiteRules(cookie_rules=(CookieRule("OptanonConsent", "exact", "advertising", "Site", "site"),))
    p = Policy.compile(site, catalogue)
    assert filter_request_cookie("OptanonConsent=x", undecided(), p, CONSENT_READERS).header == "OptanonConsent=x"
    kept = filter_set_cookies(["OptanonConsent=x; Path=/"], undecided(), p, protected_names=CONSENT_READERS).kept
    assert kept == ("OptanonConsent=x; Path=/",)


def test_purge_example_from_issue_4(policy):
    seen = filter_request_cookie("_ga=GA1.1.1.1; PHPSESSID=abc; cp_consent=v1; OptanonConsent=x", undecided(), policy, CONSENT_READERS)
    purges = purge_headers(
        seen.removed + (("PHPSESSID", "necessary"), ("cp_consent", "analytics")),
        undecided(), "www.shop.example.co.uk", None, True, (), CONSENT_READERS, 50,
    )
    assert "_ga=; Max-Age=0; Path=/; Secure" in purges  # host-only
    assert "_ga=; Max-Age=0; Path=/; Domain=shop.example.co.uk; Secure" in purges
    assert "_ga=; Max-Age=0; Path=/; Domain=example.co.uk; Secure" in purges
    assert not any("Domain=co.uk" in p for p in purges)
    assert all(p.startswith("_ga=") and p.endswith("; Secure") for p in purges)  # nothing for necessary/consent


def test_purge_without_https_and_with_extra_paths(policy):
    purges = purge_headers([("_fbp", "advertising")], granting({"analytics"}), "shop.example.com:8080", None, False, ("/shop", "/", "/shop"), frozenset(), 50)
    assert purges == [
        "_fbp=; Max-Age=0; Path=/",
        "_fbp=; Max-Age=0; Path=/; Domain=shop.example.com",
        "_fbp=; Max-Age=0; Path=/; Domain=example.com",
        "_fbp=; Max-Age=0; Path=/shop",
        "_fbp=; Max-Age=0; Path=/shop; Domain=shop.example.com",
        "_fbp=; Max-Age=0; Path=/shop; Domain=example.com",
    ]


def test_purge_skips_granted_unclassified_and_unsafe_names():
    purges = purge_headers(
        [("_ga", "analytics"), ("mystery", None), ("evil;Domain=x", "advertising"), ("a b", "advertising"), ("_fbp", "advertising")],
        granting({"analytics"}), "example.com", None, True, (), frozenset(), 50,
    )
    assert {p.split("=", 1)[0] for p in purges} == {"_fbp"}


def test_purge_unclassified_in_deny_mode(deny_policy):
    seen = filter_request_cookie("shop_theme=dark", all_granted(), deny_policy)
    purges = purge_headers(seen.removed, all_granted(), "example.com", None, True, (), frozenset(), 50)
    assert purges[0] == "shop_theme=; Max-Age=0; Path=/; Secure"


def test_purge_cookie_prefix_rules():
    purges = purge_headers(
        [("__Host-_ga", "analytics"), ("__Secure-_fbp", "advertising")],
        undecided(), "www.example.com", None, False, ("/shop",), frozenset(), 50,
    )
    assert [p for p in purges if p.startswith("__Host-")] == ["__Host-_ga=; Max-Age=0; Path=/; Secure"]
    secure = [p for p in purges if p.startswith("__Secure-")]
    assert len(secure) == 6 and all(p.endswith("; Secure") for p in secure)


def test_purge_limit_is_respected():
    cookies = [(f"_ga_{i}", "analytics") for i in range(20)]
    assert len(purge_headers(cookies, undecided(), "www.example.com", None, True, (), frozenset(), 7)) == 7
    assert purge_headers(cookies, undecided(), "www.example.com", None, True, (), frozenset(), 0) == []


@pytest.mark.parametrize(
    "host, configured, expected",
    [
        ("www.shop.example.co.uk", None, ["www.shop.example.co.uk", "shop.example.co.uk", "example.co.uk"]),
        ("www.shop.example.co.uk", "shop.example.co.uk", ["www.shop.example.co.uk", "shop.example.co.uk"]),
        ("www.shop.example.co.uk", "co.uk", ["www.shop.example.co.uk", "shop.example.co.uk", "example.co.uk"]),
        ("www.shop.example.co.uk", "other.example", ["www.shop.example.co.uk", "shop.example.co.uk", "example.co.uk"]),
        ("example.com", None, ["example.com"]),
        ("alice.github.io", None, ["alice.github.io"]),
        ("co.uk", None, []),
        ("localhost:8080", None, []),
        ("192.168.1.10:8080", None, []),
        ("[::1]:8443", None, []),
    ],
)
def test_purge_domains_never_reach_a_public_suffix(host, configured, expected):
    assert purge_domains(host, configured) == expected


def test_purge_on_ip_host_is_host_only():
    assert purge_headers([("_ga", "analytics")], undecided(), "10.0.0.5:8080", None, False, (), frozenset(), 50) == [
        "_ga=; Max-Age=0; Path=/"
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", (2015, 10, 21, 7, 28, 0)),
        ("Sunday, 06-Nov-94 08:49:37 GMT", (1994, 11, 6, 8, 49, 37)),
        ("Sun Nov  6 08:49:37 1994", (1994, 11, 6, 8, 49, 37)),
        ("Thu, 01-Jan-1970 00:00:01 GMT", (1970, 1, 1, 0, 0, 1)),
        ("01 jan 30 00:00:00", (2030, 1, 1, 0, 0, 0)),
    ],
)
def test_parse_cookie_date(text, expected):
    assert parse_cookie_date(text) == calendar.timegm(expected + (0, 0, 0))


@pytest.mark.parametrize("text", ["", "tomorrow", "Wed, 32 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 1600 07:28:00", "21 Oct 2015"])
def test_parse_cookie_date_rejects(text):
    assert parse_cookie_date(text) is None
