"""Real consent-banner cookies sent through the proxy to an origin that sets every category."""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import url_of

SET = {
    "sessionid": "sessionid=s1; Path=/; HttpOnly",
    "lang": "lang=en; Path=/",
    "_ga": "_ga=GA1.1.111.222; Path=/; Max-Age=63072000",
    "_fbp": "_fbp=fb.1.1700000000000.42; Path=/; Max-Age=7776000",
}
SENT = "sessionid=s1; lang=en; _ga=GA1.1.111.222; _fbp=fb.1.1.42"

ONETRUST_MIXED = ("OptanonAlertBoxClosed=2025-10-13T14:22:35.236Z; OptanonConsent=isGpcEnabled=0&datestamp=Mon+Oct+13+2025"
                  "+16%3A22%3A35+GMT%2B0200+(Central+European+Summer+Time)&version=202508.2.0&browserGpcFlag=0"
                  "&isIABGlobal=false&consentId=86203427-aaaa&interactionCount=3&isAnonUser=1&hosts=&landingPath="
                  "NotLandingPage&groups=C0001%3A1%2CC0002%3A1%2CC0003%3A0%2CC0004%3A0%2CC0005%3A0&geolocation=ES%3BCL"
                  "&AwaitingReconsent=false")
ONETRUST_UNDECIDED = ONETRUST_MIXED.replace("interactionCount=3", "interactionCount=0").split("; ", 1)[1]
COOKIEBOT_MIXED = ("CookieConsent={stamp:%27bsbAh0S+8GJxApxrZ0vTRlMm4vdAjbb28/R2BJ1175X//1yp8tvPYg==%27%2Cnecessary:true"
                   "%2Cpreferences:true%2Cstatistics:false%2Cmarketing:true%2Cmethod:%27explicit%27%2Cver:2%2Cutc:"
                   "1715723726358%2Ciab2:%27%27%2Cgacm:%271~%27%2Cregion:%27de%27}")
COOKIEYES_REJECT = ("cookieyes-consent=consentid:d0owaVVvazVQeldUemZ0aVF5OGs1RVdLM3pPQlBaY24,consent:no,action:yes,"
                    "necessary:yes,functional:no,analytics:no,performance:no,advertisement:no,other:no")
CC_V2_ANALYTICS = ('cc_cookie={"categories":["necessary","analytics"],"level":["necessary","analytics"],"revision":0,'
                   '"data":null,"rfc_cookie":false,"consent_date":"2025-03-01T10:00:00.000Z","consent_uuid":"u"}')
TCF_ACCEPT = ("euconsent-v2=CQbB_cAQbB_cAAHABBENCFFsAP_gAAAAAAAAHXwCAAIAAqABaAFsAUgBZgF5gOvAAAAKSgAwABBd8pABgACC75CADAAEF3x0"
              "AGAAILvhIAMAAQXf.f_wAAAAAAAAA")
TCF_REJECT = "euconsent-v2=CQGiOUAQGiOUAAHABBENBLFgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA"


@pytest.fixture
async def site(origin, proxy):
    seen: list[web.Request] = []

    async def page(request: web.Request) -> web.Response:
        seen.append(request)
        resp = web.Response(text="<p>hello", content_type="text/html")
        for value in SET.values():
            resp.headers.add("Set-Cookie", value)
        return resp

    app_o = web.Application()
    app_o.router.add_get("/", page)
    base = await origin(app_o)

    async def make(source: str, extra: str = ""):
        return await proxy(base, f"consent:\n  sources: [{source}]\n  debug_header: true\n{extra}"), seen
    return make


@pytest.mark.parametrize("source, banner_cookie, granted", [
    ("onetrust", ONETRUST_MIXED, {"sessionid", "_ga"}),
    ("onetrust", ONETRUST_UNDECIDED, {"sessionid"}),
    ("cookiebot", COOKIEBOT_MIXED, {"sessionid", "lang", "_fbp"}),
    ("cookiebot", "CookieConsent=-1", {"sessionid", "lang", "_ga", "_fbp"}),
    ("cookiebot", "CookieConsent=0", {"sessionid"}),
    ("cookieyes", COOKIEYES_REJECT, {"sessionid"}),
    ("cookieconsent", CC_V2_ANALYTICS, {"sessionid", "_ga"}),
    ("tcf", TCF_ACCEPT, {"sessionid", "lang", "_ga", "_fbp"}),
    ("tcf", TCF_REJECT, {"sessionid"}),
    ("onetrust", "OptanonAlertBoxClosed=x; OptanonConsent=groups=C0002%3A1%2C%%%%garbage\"{", {"sessionid"}),
])
async def test_banner_cookie_decides_what_passes(site, source, banner_cookie, granted):
    app, seen = await site(source)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": f"{SENT}; {banner_cookie}"}) as r:
            assert r.status == 200
            kept = {v.split("=", 1)[0] for v in r.headers.getall("Set-Cookie") if "Max-Age=0" not in v}
            decision = r.headers["X-Consent-Decision"]
    assert kept == granted, decision
    received = {p.split("=", 1)[0] for p in seen[-1].headers["Cookie"].split("; ")}
    banner_names = {p.split("=", 1)[0] for p in banner_cookie.split("; ")}
    assert received - banner_names == granted  # the origin never sees a denied cookie
    assert banner_names <= received  # consent cookies always reach the origin


async def test_gpc_overrides_a_banner_grant(site):
    app, _ = await site("cookiebot")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": "CookieConsent=-1", "Sec-GPC": "1"}) as r:
            kept = {v.split("=", 1)[0] for v in r.headers.getall("Set-Cookie") if "Max-Age=0" not in v}
            assert "advertising=denied(gpc)" in r.headers["X-Consent-Decision"]
    assert kept == {"sessionid", "lang", "_ga"}


async def test_site_group_map_override_through_the_proxy(site):
    app, _ = await site("onetrust", "  onetrust:\n    groups: {C0001: necessary, C0002: advertising, C0003: functional, "
                                    "C0004: analytics}\n")
    cookie = ONETRUST_MIXED.replace("C0004%3A0", "C0004%3A1")  # C0002=1 now means advertising, C0004=1 analytics
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
        async with s.get(url_of(app), headers={"Cookie": cookie}) as r:
            kept = {v.split("=", 1)[0] for v in r.headers.getall("Set-Cookie") if "Max-Age=0" not in v}
    assert kept == {"sessionid", "_ga", "_fbp"}
