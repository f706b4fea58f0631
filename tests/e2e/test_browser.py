"""Issue 8, real browser: Chromium visits the demo site through consent-proxy and the
trackers it is not allowed to load never load.

Every tracker host resolves to one fake TLS server (tests/e2e/fake_trackers.py) whose
stand-in scripts write the vendors' first-party cookies and send beacons. Requests are
recorded twice: by the fake server (what reached a "tracker") and by the browser over the
DevTools protocol (what the page tried, including requests that never arrived). The last
test visits the origin directly and sees every tracker fire, so the rig can see a leak.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import pytest

from tests.e2e.conftest import Browser, Demo
from tests.e2e.fake_trackers import HOST_CATEGORY, SCRIPT_COOKIES, FakeTrackers, cookie_category

pytestmark = pytest.mark.browser

OPTIONAL = ("functional", "analytics", "advertising")
BLOG = "/blog/consent-at-the-edge"  # carries every tracker, the YouTube embed included
ALL_GRANTED = "v1.functional.analytics.advertising"


def categories(items: Iterable[Any]) -> set[str]:
    """Optional categories among recorded requests (SeenRequest or Hit)."""
    return {i.category for i in items} & set(OPTIONAL)


def optional_cookies(names: Iterable[str]) -> set[str]:
    return {n for n in names if cookie_category(n) in OPTIONAL}


async def visit(b: Browser, url: str) -> None:
    """Navigate and let every async script, beacon and fetch finish."""
    await b.page.goto(url, wait_until="networkidle")


async def wait_for_hosts(fake: FakeTrackers, hosts: set[str], since: float, timeout: float = 5.0) -> None:
    """Until the fake has seen a request for each of `hosts` (beacons may trail `load`)."""
    deadline = time.monotonic() + timeout
    while hosts - {h.host for h in fake.since(since)} and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def test_without_consent_no_tracker_is_contacted_and_no_tracker_cookie_is_stored(
        browser: Browser, demo: Demo, fake_trackers: FakeTrackers) -> None:
    for path in ("/", BLOG, "/shop/checkout"):
        await visit(browser, demo.proxy_url + path)
        assert await browser.page.is_visible("#cp-banner")

    assert [r.url for r in browser.requests if r.category in OPTIONAL] == []
    assert [h for h in fake_trackers.hits if h.category in OPTIONAL] == []
    # Not even a preconnect's TLS handshake reached an optional tracker host.
    assert {n for n in fake_trackers.sni if HOST_CATEGORY.get(n) in OPTIONAL} == set()
    assert optional_cookies(await browser.cookie_names()) == set()
    # Control: the rig works in this very browser. Stripe (necessary) loaded from the fake,
    # and the origin's necessary cookies arrived.
    assert {h.host for h in fake_trackers.hits} >= {"js.stripe.com"}
    assert await browser.page.evaluate("typeof window.Stripe") == "function"
    assert {"sessionid", "csrftoken"} <= await browser.cookie_names()


EXPECTED_HOSTS = {
    "functional": {"www.youtube.com", "i.ytimg.com"},
    "analytics": {"www.googletagmanager.com", "region1.google-analytics.com", "static.hotjar.com",
                  "script.hotjar.com", "in.hotjar.com"},
    "advertising": {"connect.facebook.net", "www.facebook.com", "snap.licdn.com", "px.ads.linkedin.com"},
}


@pytest.mark.parametrize("granted", OPTIONAL)
async def test_a_single_category_grant_loads_only_that_categorys_trackers(
        browser: Browser, demo: Demo, fake_trackers: FakeTrackers, granted: str) -> None:
    await browser.set_consent(demo.proxy_url, f"v1.{granted}")
    start = time.monotonic()
    await visit(browser, demo.proxy_url + BLOG)
    await wait_for_hosts(fake_trackers, EXPECTED_HOSTS[granted], start)

    assert not await browser.page.is_visible("#cp-banner")
    assert {h.host for h in fake_trackers.hits if h.category in OPTIONAL} == EXPECTED_HOSTS[granted]
    assert {r.host for r in browser.requests if r.category in OPTIONAL} == EXPECTED_HOSTS[granted]
    names = await browser.cookie_names()
    assert {cookie_category(n) for n in optional_cookies(names)} <= {granted}
    assert set(SCRIPT_COOKIES.get(granted, ())) <= names


async def test_accept_all_in_the_banner_loads_the_trackers_and_their_cookies(
        browser: Browser, demo: Demo, fake_trackers: FakeTrackers) -> None:
    await visit(browser, demo.proxy_url + "/")
    assert await browser.page.is_visible("#cp-banner")
    assert categories(browser.requests) == set()

    clicked = time.monotonic()
    async with browser.page.expect_navigation(wait_until="networkidle"):
        await browser.page.click("#cp-banner [data-cp-action=accept]")
    await wait_for_hosts(fake_trackers, EXPECTED_HOSTS["analytics"] | EXPECTED_HOSTS["advertising"], clicked)

    assert {c["name"]: c["value"] for c in await browser.context.cookies()}["cp_consent"] == ALL_GRANTED
    assert not await browser.page.is_visible("#cp-banner")
    # The home page has no video: every analytics and advertising tracker, nothing else optional.
    assert {h.host for h in fake_trackers.since(clicked) if h.category in OPTIONAL} == (
        EXPECTED_HOSTS["analytics"] | EXPECTED_HOSTS["advertising"])
    jar = {c["name"]: c["value"] for c in await browser.context.cookies()}
    assert set(SCRIPT_COOKIES["analytics"] + SCRIPT_COOKIES["advertising"]) <= set(jar)
    # The beacons carry the ids the stand-ins read back from the cookie store.
    ga_hit = next(h for h in fake_trackers.hits if h.host == "region1.google-analytics.com")
    assert jar["_ga"].endswith("." + parse_qs(ga_hit.query)["cid"][0])
    fb_hit = next(h for h in fake_trackers.hits if h.host == "www.facebook.com")
    assert parse_qs(fb_hit.query)["fbp"] == [jar["_fbp"]]


async def test_withdrawing_consent_purges_tracker_cookies_and_stops_the_trackers(
        browser: Browser, demo: Demo, fake_trackers: FakeTrackers) -> None:
    await browser.set_consent(demo.proxy_url, ALL_GRANTED)
    start = time.monotonic()
    await visit(browser, demo.proxy_url + BLOG)
    await wait_for_hosts(fake_trackers, set().union(*EXPECTED_HOSTS.values()), start)
    before = optional_cookies(await browser.cookie_names())
    assert set(SCRIPT_COOKIES["analytics"] + SCRIPT_COOKIES["advertising"]) <= before

    page = browser.page
    await page.click("footer [data-cp-open]")
    assert await page.is_visible("#cp-banner")
    withdrawn = time.monotonic()
    reloaded = demo.proxy_url + BLOG
    async with page.expect_response(lambda r: r.url == reloaded and r.request.resource_type == "document") as info:
        await page.click("#cp-banner [data-cp-action=reject]")
    response = await info.value
    await page.wait_for_load_state("networkidle")

    # The reload carried the tracker cookies; the proxy answered with an expiry for each.
    purged = {h["value"].split("=", 1)[0] for h in await response.headers_array()
              if h["name"].lower() == "set-cookie" and "max-age=0" in h["value"].lower()}
    assert before - {"lang"} <= purged
    assert optional_cookies(await browser.cookie_names()) == set()
    assert {c["name"]: c["value"] for c in await browser.context.cookies()}["cp_consent"] == "v1"
    assert [h for h in fake_trackers.since(withdrawn) if h.category in OPTIONAL] == []
    assert [r.url for r in browser.since(withdrawn) if r.category in OPTIONAL] == []

    await visit(browser, demo.proxy_url + "/")
    assert [h for h in fake_trackers.since(withdrawn) if h.category in OPTIONAL] == []
    assert optional_cookies(await browser.cookie_names()) == set()


async def test_without_the_proxy_the_same_page_does_fire_every_tracker(
        browser: Browser, demo: Demo, fake_trackers: FakeTrackers) -> None:
    """The control: same browser, same fake, no proxy; if this passed vacuously, so would the rest."""
    start = time.monotonic()
    await visit(browser, demo.origin_url + BLOG)
    await wait_for_hosts(fake_trackers, set().union(*EXPECTED_HOSTS.values()), start)

    assert categories(fake_trackers.hits) == set(OPTIONAL)
    assert {h.host for h in fake_trackers.hits} >= set().union(*EXPECTED_HOSTS.values())
    assert {r.host for r in browser.requests} >= set().union(*EXPECTED_HOSTS.values())
    assert set(fake_trackers.sni) >= set().union(*EXPECTED_HOSTS.values())
    assert set(SCRIPT_COOKIES["analytics"] + SCRIPT_COOKIES["advertising"]) <= await browser.cookie_names()
