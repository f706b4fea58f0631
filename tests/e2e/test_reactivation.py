"""Issue 5, real browser: a script consent-proxy neutralised is re-activated by a client-side
consent tool after the visitor accepts, and on the next page the proxy lets it through itself.

The site is what a real one looks like: Orest Bida's vanilla-cookieconsent v3 (vendored from
npm, tests/fixtures/vendor/cookieconsent/) served first-party, a first-party /init.js that runs
it with the categories necessary and analytics, and Google's documented GA4 gtag snippet. The
proxy runs in `neutralise` mode for analytics and reads the tool's own `cc_cookie`, so:

1. first visit, nothing decided: both gtag scripts arrive as `type="text/plain"
   data-category="analytics"` and nothing is fetched from www.googletagmanager.com;
2. "Accept all" in the cookieconsent modal: without a reload, cookieconsent swaps the inert
   scripts for live ones and Chromium fetches gtag/js (seen by the browser and by the fake);
3. reload: the proxy reads `cc_cookie` (analytics granted) and delivers the snippet untouched.

www.googletagmanager.com resolves to the fake TLS tracker server (tests/e2e/fake_trackers.py),
whose gtag stand-in records its run in `window.__fakeTrackers` and sends a GA4 beacon.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, unquote

import pytest
from aiohttp import web

from tests.conftest import url_of
from tests.e2e.conftest import Browser
from tests.e2e.fake_trackers import FakeTrackers

pytestmark = pytest.mark.browser

VENDOR = Path(__file__).resolve().parents[1] / "fixtures" / "vendor" / "cookieconsent"
GTM_HOST = "www.googletagmanager.com"
GTAG_TAG = '<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>'
GTAG_INLINE = """<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());

  gtag('config', 'G-TEST123');
</script>"""

PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Trailhead Outfitters</title>
<link rel="stylesheet" href="/vendor/cookieconsent.css">
<!-- Google tag (gtag.js) -->
{GTAG_TAG}
{GTAG_INLINE}
</head>
<body>
<h1>Trailhead Outfitters</h1>
<p>Tents, stoves and boots for every season.</p>
<script src="/vendor/cookieconsent.umd.js"></script>
<script src="/init.js"></script>
</body>
</html>
"""

# cookieconsent v3 configuration as its docs show it. hideFromBots is off because Playwright's
# Chromium reports navigator.webdriver, which would otherwise keep the modal hidden.
INIT_JS = """CookieConsent.run({
  hideFromBots: false,
  categories: {
    necessary: {enabled: true, readOnly: true},
    analytics: {}
  },
  onConsent: function (e) { window.__ccConsent = e.cookie.categories; },
  language: {
    default: "en",
    translations: {
      en: {
        consentModal: {
          title: "We use cookies",
          description: "Analytics cookies help us understand how the shop is used.",
          acceptAllBtn: "Accept all",
          acceptNecessaryBtn: "Reject all",
          showPreferencesBtn: "Manage preferences"
        },
        preferencesModal: {
          title: "Cookie preferences",
          acceptAllBtn: "Accept all",
          acceptNecessaryBtn: "Reject all",
          savePreferencesBtn: "Save preferences",
          closeIconLabel: "Close",
          sections: [
            {title: "Strictly necessary", description: "Needed for the shop to work.", linkedCategory: "necessary"},
            {title: "Analytics", description: "Google Analytics.", linkedCategory: "analytics"}
          ]
        }
      }
    }
  }
});
"""

# cookieconsent v3 markup: the consent modal lives in #cc-main; its buttons carry data-role.
MODAL = "#cc-main .cm"
ACCEPT_ALL = '#cc-main .cm__btn[data-role="all"]'
NEUTRALISED = 'script[type="text/plain"][data-category="analytics"]'


def site_app() -> web.Application:
    """The origin: the page, its first-party consent tool and its init script."""

    def file(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        body = (VENDOR / name).read_bytes()

        async def handler(_request: web.Request) -> web.Response:
            return web.Response(body=body, content_type=content_type)

        return handler

    async def page(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store"})

    async def init(_request: web.Request) -> web.Response:
        return web.Response(text=INIT_JS, content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/init.js", init)
    app.router.add_get("/vendor/cookieconsent.umd.js", file("cookieconsent.umd.js", "application/javascript"))
    app.router.add_get("/vendor/cookieconsent.css", file("cookieconsent.css", "text/css"))
    return app


def gtag_hits(fake: FakeTrackers, since: float) -> list[str]:
    return [f"{h.path}?{h.query}" for h in fake.since(since) if h.host == GTM_HOST]


async def wait_for_hit(fake: FakeTrackers, host: str, path: str, since: float, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not any(h.host == host and h.path == path for h in fake.since(since)):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def test_neutralised_gtag_is_reactivated_by_cookieconsent_after_accept(
        origin: Callable[[web.Application], Awaitable[str]], proxy: Callable[..., Awaitable[object]],
        browser: Browser, fake_trackers: FakeTrackers) -> None:
    app = await proxy(await origin(site_app()),
                      "trackers:\n  modes: {analytics: neutralise}\n"
                      "consent:\n  sources: [cookieconsent]\n")
    url = url_of(app)  # type: ignore[arg-type]
    page = browser.page

    # 1. First visit, nothing decided: both parts of the snippet arrive inert, nothing fetched.
    response = await page.goto(url, wait_until="networkidle")
    assert response is not None and response.status == 200
    html = await response.text()
    assert ('<script type="text/plain" data-category="analytics" async '
            'src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>') in html
    assert '<script type="text/plain" data-category="analytics">\n  window.dataLayer' in html
    assert GTAG_TAG not in html
    await page.wait_for_selector(MODAL, state="visible")
    assert await page.locator(NEUTRALISED).count() == 2
    assert await page.evaluate("typeof window.dataLayer") == "undefined"
    assert [r.url for r in browser.requests if r.host == GTM_HOST] == []
    assert gtag_hits(fake_trackers, 0.0) == [] and GTM_HOST not in fake_trackers.sni
    assert "cc_cookie" not in await browser.cookie_names()
    # Control: the first-party consent tool itself was loaded through the proxy.
    assert await page.evaluate("typeof window.CookieConsent.acceptedCategory") == "function"

    # 2. Accept all, no reload: cookieconsent turns the inert scripts into live ones.
    await page.evaluate("window.__sameDocument = true")
    documents_before = sum(r.resource_type == "document" for r in browser.requests)
    mark = time.monotonic()
    await page.click(ACCEPT_ALL)
    await page.wait_for_function("(window.__fakeTrackers || []).includes('gtag')")
    await wait_for_hit(fake_trackers, "region1.google-analytics.com", "/g/collect", mark)

    assert await page.evaluate("window.__sameDocument") is True
    assert sum(r.resource_type == "document" for r in browser.requests) == documents_before
    assert await page.evaluate("window.__ccConsent") == ["necessary", "analytics"]
    assert await page.locator(NEUTRALISED).count() == 0
    assert await page.locator('script[src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"]').count() == 1
    # The re-activated inline part ran too: gtag('js') and gtag('config') reached the dataLayer.
    assert await page.evaluate("window.dataLayer.map(a => a[0])") == ["js", "config"]
    seen = [(r.url, r.resource_type) for r in browser.since(mark) if r.host == GTM_HOST]
    assert seen == [("https://www.googletagmanager.com/gtag/js?id=G-TEST123", "script")]
    assert gtag_hits(fake_trackers, mark) == ["/gtag/js?id=G-TEST123"]
    beacons = [h for h in fake_trackers.since(mark) if h.host == "region1.google-analytics.com"]
    assert beacons and parse_qs(beacons[0].query)["tid"] == ["G-TEST123"]
    cookies = {c["name"]: c["value"] for c in await browser.context.cookies()}
    assert json.loads(unquote(cookies["cc_cookie"]))["categories"] == ["necessary", "analytics"]

    # 3. Reload: the proxy reads cc_cookie itself and delivers the snippet untouched.
    mark = time.monotonic()
    response = await page.reload(wait_until="networkidle")
    assert response is not None and response.status == 200
    html = await response.text()
    assert GTAG_TAG in html and GTAG_INLINE in html
    assert 'type="text/plain"' not in html
    await page.wait_for_function("(window.__fakeTrackers || []).includes('gtag')")
    assert await page.locator(NEUTRALISED).count() == 0
    assert not await page.is_visible(MODAL)  # cookieconsent agrees: consent is recorded
    assert [(r.url, r.resource_type) for r in browser.since(mark) if r.host == GTM_HOST] == [
        ("https://www.googletagmanager.com/gtag/js?id=G-TEST123", "script")]
    assert gtag_hits(fake_trackers, mark) == ["/gtag/js?id=G-TEST123"]
