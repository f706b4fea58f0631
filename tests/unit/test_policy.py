"""Policy: compiled cookie-name and URL matchers, precedence site > curated > open data."""

from __future__ import annotations

import json

import pytest

from proxy.catalogue import SOURCE_SITE, CatalogueError, CookieRule, HostRule, build_catalogue, load_catalogue
from proxy.policy import PathRule, Policy, SiteRules, prefix_trie_regex, split_url, strip_cookie_prefix

OPEN_COOKIES = [
    ["_ga", "exact", "analytics", "Google Analytics"],
    ["_hjSessionUser_", "prefix", "necessary", "Hotjar"],
    ["_g", "prefix", "advertising", "G-something"],
    ["3PSID", "exact", "advertising", "Google"],
    ["sess", "exact", "necessary", "Generic"],
]
OPEN_HOSTS = [
    ["*.google-analytics.com", "", "analytics", "Google Analytics", "analytics"],
    ["www.google.com", "", "necessary", "Other Google APIs/SDKs", "utility"],
    ["*.example-cdn.net", "", "necessary", "Example CDN", "cdn"],
    ["*.hotjar.com", "", "analytics", "Hotjar", "analytics"],
]
CURATED = """
cookies:
  - {name: _hj, match: prefix, category: analytics, vendor: Hotjar}
  - {name: "mp_*_mixpanel", match: glob, category: analytics, vendor: Mixpanel}
  - {name: "AMP_[0-9a-f]{10}", match: regex, category: analytics, vendor: Amplitude}
  - {name: "(a|b)_(x)", match: regex, category: functional, vendor: Groups}
hosts:
  - {host: www.google.com, path: /recaptcha/, category: necessary, vendor: reCAPTCHA}
  - {host: www.google.com, path: /pagead/, category: advertising, vendor: Google Ads}
  - {host: www.google.com, path: /pagead/conv/, category: analytics, vendor: Longer path}
  - {host: px.example-cdn.net, category: advertising, vendor: Pixel}
"""


def small_catalogue():
    return build_catalogue(json.dumps({"cookies": OPEN_COOKIES}), json.dumps({"hosts": OPEN_HOSTS}), CURATED)


def compile_policy(**site):
    return Policy.compile(SiteRules(**site), small_catalogue())


@pytest.fixture(scope="module")
def full():
    return Policy.compile(SiteRules(), load_catalogue())


def site_cookie(pattern, match, category):
    return CookieRule(pattern, match, category, "Site", SOURCE_SITE)


def test_exact_prefix_glob_and_regex_rules():
    p = compile_policy()
    assert p.classify_cookie("_ga").pattern == "_ga"  # exact beats the `_g` prefix
    assert p.classify_cookie("_gaXYZ").pattern == "_g"
    assert p.classify_cookie("mp_0123abcd_mixpanel").vendor == "Mixpanel"
    assert p.classify_cookie("mp_0123abcd_mixpanelx") is None
    assert p.classify_cookie("AMP_0123456789").vendor == "Amplitude"
    assert p.classify_cookie("AMP_0123") is None  # a regex matches the whole name only
    assert p.classify_cookie("b_x").vendor == "Groups"  # inner groups do not confuse the lookup
    assert p.classify_cookie("PHPSESSID") is None


def test_curated_layer_beats_open_data_however_specific():
    v = compile_policy().classify_cookie("_hjSessionUser_123456")
    assert (v.category, v.source, v.pattern) == ("analytics", "curated", "_hj")


def test_site_rules_beat_curated_and_open_data():
    p = compile_policy(cookie_rules=(site_cookie("_hjSessionUser_", "prefix", "necessary"), site_cookie("_ga", "exact", "functional")))
    assert p.classify_cookie("_hjSessionUser_1").category == "necessary"
    assert p.classify_cookie("_ga").source == "site"
    assert p.classify_cookie("_hjid").source == "curated"


def test_host_and_secure_prefixes_are_matched_on_the_name_behind_them():
    p = compile_policy(cookie_rules=(site_cookie("__Host-sess", "exact", "functional"),))
    assert p.classify_cookie("__Secure-3PSID").category == "advertising"
    assert p.classify_cookie("__Host-_ga").pattern == "_ga"
    assert p.classify_cookie("__SECURE-_ga").pattern == "_ga"
    assert p.classify_cookie("__Host-sess").category == "functional"  # a site rule written with the prefix
    assert p.classify_cookie("sess").category == "functional"
    assert strip_cookie_prefix("__Hostile") == "__Hostile"


def test_longest_prefix_wins_in_the_trie():
    regex = prefix_trie_regex(["_g", "_ga_", "_gat_", "x"])
    assert regex.match("_ga_ABC").end() == 4
    assert regex.match("_gat_UA").end() == 5
    assert regex.match("_gax").end() == 2
    assert regex.match("y") is None
    assert prefix_trie_regex([]) is None


def test_patterns_that_cannot_be_merged_still_match():
    # an inline global flag is valid alone but not inside the merged alternation
    p = compile_policy(cookie_rules=(site_cookie("(?i)abc", "regex", "functional"), site_cookie("z+", "regex", "analytics")))
    assert p._cookie_layers[0].pattern_re is None and len(p._cookie_layers[0].pattern_list) == 2
    assert p.classify_cookie("ABC").category == "functional"
    assert p.classify_cookie("zzz").category == "analytics"


def test_memo_stays_bounded_and_correct():
    p = compile_policy()
    for i in range(10_000):
        p.classify_cookie(f"unknown{i}")
    assert len(p._memo) <= 4096
    assert p.classify_cookie("_ga").category == "analytics"


def test_bad_site_rules_are_reported_together():
    with pytest.raises(CatalogueError) as err:
        compile_policy(
            cookie_rules=(site_cookie("x", "exact", "ads"),),
            host_rules=(HostRule("Bad Host", "analytics", "", SOURCE_SITE),),
            path_rules=(PathRule("gtm.js", "analytics"),),
            unclassified_cookies="maybe",
        )
    assert len(err.value.problems) == 4


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://www.google.com/recaptcha/api.js", ("necessary", "reCAPTCHA")),
        ("https://www.google.com/pagead/1p-user-list/123", ("advertising", "Google Ads")),
        ("https://www.google.com/pagead/conv/123", ("analytics", "Longer path")),
        ("https://www.google.com/search?q=x", ("necessary", "Other Google APIs/SDKs")),
        ("//www.google-analytics.com/analytics.js", ("analytics", "Google Analytics")),
        ("https://google-analytics.com/g/collect", ("analytics", "Google Analytics")),  # *. includes apex
        ("https://px.example-cdn.net/p.gif", ("advertising", "Pixel")),  # curated beats open *.example-cdn.net
        ("https://static.example-cdn.net/lib.js", ("necessary", "Example CDN")),
        ("HTTPS://STATIC.HOTJAR.COM/c/hotjar-1.js", ("analytics", "Hotjar")),
        ("https:\\\\static.hotjar.com\\c\\hotjar.js", ("analytics", "Hotjar")),
        ("  https://user:pw@static.hotjar.com:443/x  ", ("analytics", "Hotjar")),
        ("https://static.hot%6Aar.com/x", ("analytics", "Hotjar")),
        ("https://static.hotjar.com./x", ("analytics", "Hotjar")),
        ("https://ww\nw.google.com/pa\tgead/x", ("advertising", "Google Ads")),
        ("https://www.google.com/recaptcha/../pagead/x", ("advertising", "Google Ads")),
        ("https://notgoogle-analytics.com/x", None),
        ("https://www.google.com.evil.net/pagead/", None),
        ("javascript:alert(1)", None),
        ("data:image/gif;base64,R0lGOD", None),
        ("mailto:a@google-analytics.com", None),
    ],
)
def test_classify_url(url, expected):
    v = compile_policy().classify_url(url, "www.shop.example")
    assert (None if v is None else (v.category, v.vendor)) == expected


def test_site_host_rules_and_first_party_path_rules():
    p = compile_policy(
        host_rules=(HostRule("*.google-analytics.com", "necessary", "Site says", SOURCE_SITE),),
        path_rules=(PathRule("/gtm.js", "analytics", "sGTM"), PathRule("/matomo/", "analytics", "Matomo")),
        first_party_hosts=("*.cdn.shop.example",),
    )
    assert p.classify_url("https://region1.google-analytics.com/g", "shop.example").vendor == "Site says"
    assert p.classify_url("/gtm.js?id=GTM-ABC", "shop.example").vendor == "sGTM"
    assert p.classify_url("https://SHOP.example:8443/gtm.js", "shop.example:8443").vendor == "sGTM"
    assert p.classify_url("//img.cdn.shop.example/matomo/matomo.js", "shop.example").vendor == "Matomo"
    assert p.classify_url("matomo.js", "shop.example", base_path="/matomo/index.html").vendor == "Matomo"
    assert p.classify_url("../matomo/m.js", "shop.example", base_path="/blog/post").vendor == "Matomo"
    assert p.classify_url("/js/gtm.js", "shop.example") is None
    assert p.classify_url("/static/app.js", "shop.example") is None
    # a third party's /gtm.js is judged by host, not by the site's path rules
    assert p.classify_url("https://other.example/gtm.js", "shop.example") is None


def test_is_third_party_distinguishes_unknown_hosts():
    p = compile_policy(first_party_hosts=("assets.shopcdn.net",))
    page = "www.shop.example.co.uk"
    assert p.is_third_party("https://cdn.unknown-vendor.io/x.js", page)
    assert p.is_third_party("https://www.google-analytics.com/x.js", page)
    assert not p.is_third_party("https://static.shop.example.co.uk/app.js", page)  # same site
    assert not p.is_third_party("https://assets.shopcdn.net/app.js", page)  # configured
    assert not p.is_third_party("/app.js", page)
    assert not p.is_third_party("data:text/plain,x", page)
    assert p.is_third_party("https://other.co.uk/x.js", page)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://Example.COM:8080/a/b?c#d", ("network", "example.com", "/a/b")),
        ("http://example.com", ("network", "example.com", "/")),
        ("//example.com?x", ("network", "example.com", "/")),
        ("https://[2001:db8::1]:443/p", ("network", "[2001:db8::1]", "/p")),
        ("/a/./b/../c", ("relative", "", "/a/c")),
        ("?q=1", ("relative", "", "/dir/page")),
        ("ftp://example.com/x", ("other", "", "")),
    ],
)
def test_split_url(url, expected):
    assert split_url(url, "/dir/page") == expected


# The open data's known errors (shared/data/README.md), as the full bundled policy sees them.
@pytest.mark.parametrize(
    "name, category, vendor",
    [
        ("_hjSessionUser_1234567", "analytics", "Hotjar"),
        ("_hjSession_1234567", "analytics", "Hotjar"),
        ("_hjFirstSeen", "analytics", "Hotjar"),
        ("ajs_anonymous_id", "analytics", "Segment"),
        ("cto_bundle", "advertising", "Criteo"),
        ("tt_chain_token", "advertising", "TikTok"),
        ("test_cookie", "advertising", "DoubleClick"),
        ("IDE", "advertising", "DoubleClick"),
        ("YSC", "functional", "YouTube"),
        ("_ga_ABCDEF1234", "analytics", "Google Analytics"),
        ("_clck", "analytics", "Microsoft Clarity"),
        ("OptanonConsent", "necessary", "OneTrust"),
        ("euconsent-v2", "necessary", "IAB TCF"),
        ("PHPSESSID", "necessary", "PHP session"),
    ],
)
def test_full_catalogue_cookie_fixes(full, name, category, vendor):
    v = full.classify_cookie(name)
    assert (v.category, v.vendor) == (category, vendor)


@pytest.mark.parametrize(
    "url, category",
    [
        ("https://www.google.com/recaptcha/api.js", "necessary"),
        ("https://www.gstatic.com/recaptcha/releases/x/recaptcha__en.js", "necessary"),
        ("https://www.google.com/pagead/1p-conversion/1/", "advertising"),
        ("https://www.youtube.com/embed/dQw4w9WgXcQ", "functional"),
        ("https://player.vimeo.com/video/1", "functional"),
        ("https://maps.google.com/maps?q=x", "functional"),
        ("https://www.google.com/maps/embed?pb=1", "functional"),
        ("https://www.googletagmanager.com/gtm.js?id=GTM-X", "analytics"),
        ("https://assets.adobedtm.com/launch-EN.min.js", "analytics"),
        ("https://connect.facebook.net/en_US/fbevents.js", "advertising"),
        ("https://www.facebook.com/tr?id=1&ev=PageView", "advertising"),
        ("https://snap.licdn.com/li.lms-analytics/insight.min.js", "advertising"),
        ("https://analytics.tiktok.com/i18n/pixel/events.js", "advertising"),
        ("https://s.pinimg.com/ct/core.js", "advertising"),
        ("https://sc-static.net/scevent.min.js", "advertising"),
        ("https://bat.bing.com/bat.js", "advertising"),
        ("https://securepubads.g.doubleclick.net/tag/js/gpt.js", "advertising"),
        ("https://pagead2.googlesyndication.com/pagead/js/adsbygoogle.js", "advertising"),
        ("https://www.clarity.ms/tag/abc", "analytics"),
        ("https://js.hs-scripts.com/123.js", "analytics"),
        ("https://widget.intercom.io/widget/abc", "functional"),
        ("https://js.stripe.com/v3/", "necessary"),
        ("https://fonts.gstatic.com/s/roboto.woff2", "necessary"),
        ("https://code.jquery.com/jquery-3.7.1.min.js", "necessary"),
        ("https://cdn.cookielaw.org/scripttemplates/otSDKStub.js", "necessary"),
    ],
)
def test_full_catalogue_hosts(full, url, category):
    assert full.classify_url(url, "www.shop.example").category == category


def test_full_catalogue_microsoft_and_bing_are_not_ad_hosts(full):
    assert full.classify_url("https://learn.microsoft.com/en-us/", "shop.example") is None
    assert full.classify_url("https://www.bing.com/maps/embed", "shop.example") is None
