"""Cookie enforcement on the wire: Set-Cookie filtering, Cookie filtering, purges, cache headers."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import raw_exchange, url_of

# What a real site's server sets: one cookie of every category, plus one nobody classifies.
SET_COOKIES = [
    "sessionid=abc123; Path=/; HttpOnly; SameSite=Lax",
    "lang=en; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
    "_ga=GA1.1.1234567890.1700000000; Path=/; Domain=.example.com; Max-Age=63072000",
    "_gid=GA1.1.987654321.1700000000; Path=/; Max-Age=86400",
    "_fbp=fb.1.1700000000000.1234567890; Path=/; Expires=Thu, 01 Jan 2037 00:00:00 GMT",
    "site_widget_state=open; Path=/",
    "_fbc=; Path=/; Max-Age=0",  # a deletion: always passes
]
REQUEST_COOKIES = "sessionid=abc123; lang=en; _ga=GA1.1.1234567890.1700000000; _fbp=fb.1.17.12; cp_consent={}; site_widget_state=open"


@pytest.fixture
async def cookie_site(origin, proxy):
    seen: list[web.Request] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(request)
        resp = web.Response(text="<!doctype html><title>t</title><p>hi", content_type="text/html")
        for value in SET_COOKIES:
            resp.headers.add("Set-Cookie", value)
        return resp

    async def asset(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(body=b"body{}", content_type="text/css", headers={"Cache-Control": "public, max-age=60"})

    app_o = web.Application()
    app_o.router.add_get("/", page)
    app_o.router.add_get("/site.css", asset)
    app = await proxy(await origin(app_o), "site:\n  registrable_domain: example.com\n")
    return app, seen


def _names(values: list[str]) -> list[str]:
    return [v.split("=", 1)[0] for v in values]


@pytest.mark.parametrize("consent, kept, sent", [
    (None, ["sessionid", "site_widget_state", "_fbc"], ["sessionid", "site_widget_state"]),
    ("v1", ["sessionid", "site_widget_state", "_fbc"], ["sessionid", "cp_consent", "site_widget_state"]),
    ("v1.functional", ["sessionid", "lang", "site_widget_state", "_fbc"],
     ["sessionid", "lang", "cp_consent", "site_widget_state"]),
    ("v1.analytics", ["sessionid", "_ga", "_gid", "site_widget_state", "_fbc"],
     ["sessionid", "_ga", "cp_consent", "site_widget_state"]),
    ("v1.functional.analytics.advertising", [n.split("=")[0] for n in SET_COOKIES],
     ["sessionid", "lang", "_ga", "_fbp", "cp_consent", "site_widget_state"]),
])
async def test_set_cookie_and_cookie_filtered_per_consent(cookie_site, consent, kept, sent):
    app, seen = cookie_site
    cookie = REQUEST_COOKIES.format(consent or "")
    if consent is None:
        cookie = cookie.replace("; cp_consent=", "")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": cookie, "Host": "www.example.com"}) as r:
            values = r.headers.getall("Set-Cookie", [])
    original = [v for v in values if "Max-Age=0" not in v or v.startswith("_fbc")]
    assert _names(original) == kept
    for value in original:  # kept headers pass byte-exact
        assert value in SET_COOKIES
    received = seen[-1].headers.get("Cookie", "")
    assert [p.split("=", 1)[0] for p in received.split("; ") if p] == sent
    # kept pieces are byte-exact and in order
    assert all(piece in cookie for piece in received.split("; ") if piece)


async def test_purges_expire_denied_cookies_on_navigation(cookie_site):
    app, _ = cookie_site
    cookie = "sessionid=abc; _ga=GA1.1.1.1; _fbp=fb.1.1.1; cp_consent=v1.analytics; OptanonConsent=x"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app, "/site.css"), headers={"Cookie": cookie, "Host": "www.example.com"}) as r:
            assert not any("Max-Age=0" in v for v in r.headers.getall("Set-Cookie", []))  # assets: no purge
            assert r.headers["Cache-Control"] == "public, max-age=60"  # untouched: no Set-Cookie, not HTML
        async with s.get(url_of(app), headers={"Cookie": cookie, "Host": "www.example.com",
                                               "Sec-Fetch-Mode": "navigate"}) as r:
            purges = [v for v in r.headers.getall("Set-Cookie", []) if v.startswith("_fbp=;")]
            assert "_fbp=; Max-Age=0; Path=/" in purges
            assert "_fbp=; Max-Age=0; Path=/; Domain=example.com" in purges
            all_values = r.headers.getall("Set-Cookie", [])
            assert not any(v.startswith(("sessionid=;", "_ga=;", "cp_consent=;", "OptanonConsent=;")) for v in all_values)
            assert "Cookie" in r.headers.get("Vary", "")
            assert r.headers["Cache-Control"].startswith("private")


async def test_purge_domains_for_multi_level_public_suffix_under_https(origin, proxy):
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<p>x", content_type="text/html")

    app_o = web.Application()
    app_o.router.add_get("/", page)
    app = await proxy(await origin(app_o), "trusted_proxies: ['127.0.0.1']\n")
    raw = (b"GET / HTTP/1.1\r\nHost: www.shop.example.co.uk\r\nX-Forwarded-Proto: https\r\n"
           b"Sec-Fetch-Mode: navigate\r\nCookie: _ga=GA1.2.3.4; sessionid=s; cp_consent=v1\r\nConnection: close\r\n\r\n")
    reply = (await raw_exchange(app.public_port, raw)).decode()
    purges = [line.split(": ", 1)[1] for line in reply.split("\r\n") if line.lower().startswith("set-cookie: _ga=;")]
    assert "_ga=; Max-Age=0; Path=/; Secure" in purges  # host-only
    assert "_ga=; Max-Age=0; Path=/; Domain=shop.example.co.uk; Secure" in purges
    assert "_ga=; Max-Age=0; Path=/; Domain=example.co.uk; Secure" in purges
    assert not any("Domain=co.uk" in p for p in purges)
    assert "sessionid=;" not in reply and "cp_consent=;" not in reply


async def test_bypass_paths_are_untouched(origin, proxy):
    seen: list[web.Request] = []

    async def api(request: web.Request) -> web.Response:
        seen.append(request)
        resp = web.Response(text="{}", content_type="application/json")
        resp.headers.add("Set-Cookie", "_ga=GA1.1.1.1; Path=/")
        return resp

    app_o = web.Application()
    app_o.router.add_get("/api/x", api)
    app = await proxy(await origin(app_o), "bypass_paths: [/api/]\n")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app, "/api/x"), headers={"Cookie": "_ga=1; _fbp=2"}) as r:
            assert r.headers.getall("Set-Cookie") == ["_ga=GA1.1.1.1; Path=/"]
            assert "Vary" not in r.headers
    assert seen[0].headers["Cookie"] == "_ga=1; _fbp=2"


async def test_gpc_denies_advertising_even_when_granted(cookie_site):
    app, seen = cookie_site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": "_fbp=x; _ga=y; cp_consent=v1.analytics.advertising",
                                               "Sec-GPC": "1"}) as r:
            names = _names([v for v in r.headers.getall("Set-Cookie") if "Max-Age=0" not in v])
    assert "_fbp" not in names and "_ga" in names
    assert seen[-1].headers["Cookie"] == "_ga=y; cp_consent=v1.analytics.advertising"


async def test_metrics_count_blocked_cookies_and_decisions(cookie_site):
    app, _ = cookie_site
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": "_fbp=x; cp_consent=v1"}) as r:
            await r.read()
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            text = await r.text()
    assert 'consentproxy_cookies_blocked_total{category="advertising",mode="enforce",where="set_cookie"} 1.0' in text
    assert 'consentproxy_cookies_blocked_total{category="advertising",mode="enforce",where="request_cookie"} 1.0' in text
    assert 'consentproxy_consent_decisions_total{category="analytics",source="cp_consent",state="denied"} 1.0' in text
