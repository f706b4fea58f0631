"""The embedded demo origin, spoken to over HTTP on 127.0.0.1.

The proxy's integration tests rely on this site being a realistic, careless origin: every
tracker snippet as vendors document it, cookies of every category on every page, and a
first-party banner that writes `cp_consent`. These tests pin that shape.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from http.cookies import SimpleCookie

import pytest
from aiohttp import DummyCookieJar
from aiohttp.test_utils import TestClient, TestServer

from proxy.demo import PAGES, make_demo_app
from proxy.demo.site import STATIC_DIR


@pytest.fixture
async def client():
    # No client cookie jar: every test states exactly which cookies it sends.
    server = TestServer(make_demo_app(), host="127.0.0.1")
    async with TestClient(server, cookie_jar=DummyCookieJar()) as c:
        yield c


class _Refs(HTMLParser):
    """Collect script srcs, iframe srcs, stylesheet/icon hrefs and img srcs (noscript text aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str | None] = []
        self.iframes: list[str] = []
        self.links: list[str] = []
        self.imgs: list[str] = []
        self.event_handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.event_handlers += [k for k in a if k.startswith("on")]
        if tag == "script":
            self.scripts.append(a.get("src"))
        elif tag == "iframe":
            self.iframes.append(a.get("src") or "")
        elif tag == "link":
            self.links.append(a.get("href") or "")
        elif tag == "img":
            self.imgs.append(a.get("src") or "")


def refs(body: str) -> _Refs:
    r = _Refs()
    r.feed(body)
    r.close()
    return r


def cookies_of(resp) -> dict[str, tuple[str, str]]:
    """name -> (value, raw header) for each Set-Cookie header, parsed one header at a time."""
    out = {}
    for raw in resp.headers.getall("Set-Cookie"):
        name, _, rest = raw.partition("=")
        out[name] = (rest.split(";", 1)[0], raw)
    return out


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_carries_every_vendor_snippet_as_documented(client, path):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    body = await resp.text()
    r = refs(body)

    # GA4 gtag: async loader + inline config.
    assert '<script async src="https://www.googletagmanager.com/gtag/js?id=G-7K3XQ9L2PD"></script>' in body
    assert "window.dataLayer = window.dataLayer || [];" in body
    assert "gtag('config', 'G-7K3XQ9L2PD');" in body
    # GTM: head snippet, and the noscript iframe as the first thing after <body>.
    assert "'https://www.googletagmanager.com/gtm.js?id='+i+dl" in body
    after_body = body.split("<body>\n", 1)[1]
    assert after_body.startswith("<!-- Google Tag Manager (noscript) -->\n<noscript><iframe src=")
    assert "https://www.googletagmanager.com/ns.html?id=GTM-5HQ8MZK" in r.iframes
    # Meta Pixel with its noscript beacon (unescaped & exactly as Meta documents it).
    assert "!function(f,b,e,v,n,t,s)" in body
    assert "'https://connect.facebook.net/en_US/fbevents.js');\nfbq('init', '918273645501234');" in body
    assert "https://www.facebook.com/tr?id=918273645501234&ev=PageView&noscript=1" in body
    # Hotjar.
    assert "(function(h,o,t,j,a,r){" in body
    assert "})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');" in body
    # LinkedIn Insight: partner id, loader, noscript pixel.
    assert '_linkedin_partner_id = "4512345";' in body
    assert 'b.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";' in body
    assert "https://px.ads.linkedin.com/collect/?pid=4512345&fmt=gif" in body
    assert '<link rel="preconnect" href="https://www.googletagmanager.com">' in body

    # First-party pieces that must survive the proxy.
    assert "/static/banner.js" in r.scripts and "/static/app.js" in r.scripts
    assert "/static/site.css" in r.links
    assert 'id="cp-banner"' in body and 'data-cp-action="accept"' in body
    assert 'data-cp-action="reject"' in body and 'data-cp-action="choose"' in body
    for cat in ("functional", "analytics", "advertising"):
        assert f'data-cp-category="{cat}"' in body
    assert 'href="#cookie-settings" data-cp-open>Cookie settings</a>' in body
    # CSP-friendly: no inline event handlers anywhere.
    assert r.event_handlers == []


async def test_pages_carry_their_own_embeds(client):
    article = await (await client.get("/blog/consent-at-the-edge")).text()
    assert any(src.startswith("https://www.youtube.com/embed/") for src in refs(article).iframes)

    checkout = refs(await (await client.get("/shop/checkout")).text())
    assert "https://js.stripe.com/v3/" in checkout.scripts
    assert "/static/checkout.js" in checkout.scripts

    home = refs(await (await client.get("/")).text())
    assert "/static/site-analytics-dashboard.js" in home.scripts
    # No YouTube or Stripe where they do not belong: the proxy tests count on it.
    assert not any("youtube" in s for s in home.iframes)
    assert "https://js.stripe.com/v3/" not in home.scripts


async def test_cookie_policy_describes_the_four_categories(client):
    body = await (await client.get("/cookie-policy")).text()
    for section_id, words in {
        "necessary": ("Always active",),
        "functional": ("Preferences", "language"),
        "analytics": ("Performance and statistics",),
        "advertising": ("Retargeting and marketing",),
    }.items():
        section = body.split(f'id="{section_id}"', 1)[1].split("</section>", 1)[0]
        for w in words:
            assert w in section, (section_id, w)
    assert "v1.functional.analytics" in body


async def test_every_page_sets_cookies_of_every_category_as_separate_headers(client):
    resp = await client.get("/")
    raw = resp.headers.getall("Set-Cookie")
    assert len(raw) >= 10
    jar = cookies_of(resp)
    assert {"sessionid", "csrftoken", "lang", "_ga", "_gid", "_fbp", "_hjSessionUser_3456789", "_gcl_au"} <= set(jar)

    session_value, session_raw = jar["sessionid"]
    assert re.fullmatch(r"[0-9a-f]{32}", session_value)
    assert "HttpOnly" in session_raw and "Expires" not in session_raw  # a session cookie
    assert jar["lang"][0] == "en"
    assert re.fullmatch(r"GA1\.1\.\d{9}\.\d{10}", jar["_ga"][0])
    assert re.fullmatch(r"GA1\.1\.\d{9}\.\d{10}", jar["_gid"][0])
    assert re.fullmatch(r"fb\.1\.\d{13}\.\d{9}", jar["_fbp"][0])
    # Base64 with padding, unquoted, the way Hotjar writes it.
    assert re.fullmatch(r"[A-Za-z0-9+/]+=*", jar["_hjSessionUser_3456789"][0])

    # Expires dates contain a comma: each cookie must still be its own header.
    with_expires = [h for h in raw if "Expires=" in h]
    assert len(with_expires) >= 5
    for h in with_expires:
        assert re.search(r"Expires=\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT", h), h
    for h in raw:
        parsed = SimpleCookie()
        parsed.load(h)
        assert len(parsed) == 1, h


async def test_returning_visitor_keeps_identifiers(client):
    first = cookies_of(await client.get("/"))
    again = await client.get(
        "/cookie-policy",
        headers={"Cookie": f"sessionid={first['sessionid'][0]}; _ga={first['_ga'][0]}; lang=nb"},
    )
    jar = cookies_of(again)
    assert jar["sessionid"][0] == first["sessionid"][0]
    assert jar["_ga"][0] == first["_ga"][0]
    assert jar["lang"][0] == "nb"


async def test_banner_is_rendered_hidden_once_a_choice_exists(client):
    fresh = await (await client.get("/")).text()
    assert '<section id="cp-banner"' in fresh
    assert re.search(r'<section id="cp-banner"[^>]*\bhidden>', fresh) is None

    decided = await (await client.get("/", headers={"Cookie": "cp_consent=v1.analytics"})).text()
    assert re.search(r'<section id="cp-banner"[^>]*\bhidden>', decided)


async def test_every_first_party_reference_is_served(client):
    seen: set[str] = set()
    for path in PAGES:
        r = refs(await (await client.get(path)).text())
        seen |= {u for u in [*r.scripts, *r.links, *r.imgs] if u and u.startswith("/")}
    assert len(seen) >= 8
    for url in sorted(seen):
        resp = await client.get(url)
        assert resp.status == 200, url
        assert len(await resp.read()) > 0, url
    js = await client.get("/static/banner.js")
    assert js.headers["Content-Type"] in ("text/javascript", "application/javascript")
    svg = await client.get("/static/logo.svg")
    assert svg.headers["Content-Type"] == "image/svg+xml"


def test_first_party_assets_never_reach_for_the_network():
    # The site must look right offline: no @import, no url(http...), no external fetches.
    for f in STATIC_DIR.iterdir():
        text = f.read_text(encoding="utf-8")
        assert "@import" not in text, f.name
        assert not re.search(r"url\(\s*['\"]?https?:", text), f.name
        if f.suffix == ".js":
            assert "fetch(" not in text and "XMLHttpRequest" not in text, f.name


def test_banner_writes_the_documented_cookie_format():
    js = (STATIC_DIR / "banner.js").read_text(encoding="utf-8")
    assert 'var COOKIE = "cp_consent";' in js
    assert 'var OPTIONAL = ["functional", "analytics", "advertising"];' in js
    assert "var MAX_AGE = 180 * 24 * 60 * 60;" in js
    assert '"; Path=/; Max-Age=" + MAX_AGE + "; SameSite=Lax"' in js
    assert 'var value = "v1";' in js and 'value += "." + c;' in js
    assert "window.location.reload()" in js


async def test_head_has_headers_and_cookies_but_no_body(client):
    resp = await client.head("/shop/checkout")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "_fbp" in cookies_of(resp)
    assert await resp.read() == b""


async def test_unknown_path_is_a_styled_404(client):
    resp = await client.get("/no/such/page")
    assert resp.status == 404
    assert "We couldn't find that page" in await resp.text()


async def test_health(client):
    resp = await client.get("/api/health")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok", "service": "northwind-demo-origin"}
    assert "Set-Cookie" not in resp.headers


async def test_echo_reports_method_headers_and_body_length(client):
    body = bytes(range(256)) * 1024  # 256 KiB, binary
    resp = await client.put(
        "/api/echo?x=1&x=2",
        data=body,
        headers=[("X-Trace", "a"), ("X-Trace", "b"), ("Cookie", "cp_consent=v1; _ga=GA1.1.1.2")],
    )
    assert resp.status == 200
    got = await resp.json()
    assert got["method"] == "PUT"
    assert got["path"] == "/api/echo"
    assert got["query"] == "x=1&x=2"
    assert got["body_length"] == len(body)
    assert [v for k, v in got["headers"] if k == "X-Trace"] == ["a", "b"]
    assert got["cookies"] == ["_ga", "cp_consent"]

    empty = await (await client.delete("/api/echo")).json()
    assert empty["method"] == "DELETE" and empty["body_length"] == 0
