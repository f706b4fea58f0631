"""Fixtures for the real-browser tests: Debian's Chromium driven by Playwright, the fake
tracker server over TLS, and the demo origin with the real proxy (bundled config) in front.

Everything runs in the test's event loop. Nothing is downloaded: Playwright launches the
system Chromium (`executable_path`); `playwright install` is never needed. Without Chromium
or Playwright the tests skip with the reason, so the rest of the suite runs anywhere.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web

from proxy.config import bundled_config_path, load_config
from proxy.demo.site import make_demo_app
from proxy.server import start, stop
from tests.e2e.fake_trackers import CHROMIUM_FLAGS, HOST_CATEGORY, FakeTrackers



def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: real-browser end-to-end tests (Chromium + Playwright); "
                                       "select with -m browser, skip with -m 'not browser'")


def find_chromium() -> str | None:
    """$CONSENT_PROXY_CHROMIUM, else `chromium` / `chromium-browser` on PATH."""
    env = os.environ.get("CONSENT_PROXY_CHROMIUM")
    if env:
        return env if os.access(env, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("Chromium not found (apt-get install chromium, or set CONSENT_PROXY_CHROMIUM)")
    return path


@pytest.fixture(scope="session")
def async_playwright() -> Any:
    try:
        from playwright.async_api import async_playwright as factory
    except ImportError:
        pytest.skip("Playwright for Python not installed (pip install -e '.[test]'; "
                    "no `playwright install` needed, the system Chromium is used)")
    return factory


@pytest.fixture
async def fake_trackers() -> AsyncIterator[FakeTrackers]:
    fake = FakeTrackers()
    await fake.start()
    yield fake
    await fake.stop()


@dataclass(frozen=True, slots=True)
class Demo:
    origin_url: str  # the demo origin, no proxy
    proxy_url: str  # the same site through consent-proxy


@pytest.fixture
async def demo(origin: Callable[[web.Application], Awaitable[str]]) -> AsyncIterator[Demo]:
    """The demo origin and consent-proxy in front of it, configured as `consent-proxy demo` is."""
    origin_url = await origin(make_demo_app())
    path = bundled_config_path()
    overrides = {("upstream", "url"): origin_url, ("listen", "address"): "127.0.0.1:0",
                 ("admin", "address"): "127.0.0.1:0", ("logging", "access_log"): False}
    app = await start(path, overrides, load_config(path, overrides, use_env=False))
    yield Demo(origin_url, f"http://127.0.0.1:{app.public_port}")
    await stop(app)


@dataclass(frozen=True, slots=True)
class SeenRequest:
    """One request as the browser reported it over the DevTools protocol."""

    url: str
    host: str
    resource_type: str
    at: float

    @property
    def category(self) -> str:
        return HOST_CATEGORY.get(self.host, "first-party" if self.host == "127.0.0.1" else "unknown")


@dataclass
class Browser:
    """One fresh Chromium profile: its context, first page and every request it made."""

    context: Any
    page: Any
    requests: list[SeenRequest] = field(default_factory=list)

    def since(self, mark: float) -> list[SeenRequest]:
        return [r for r in self.requests if r.at >= mark]

    async def cookie_names(self) -> set[str]:
        return {c["name"] for c in await self.context.cookies()}

    async def set_consent(self, url: str, value: str) -> None:
        """Store `cp_consent=value` as the banner would, before the first navigation."""
        await self.context.add_cookies([{"name": "cp_consent", "value": value, "url": url}])


@pytest.fixture
async def browser(chromium_executable: str, async_playwright: Any, fake_trackers: FakeTrackers,
                  tmp_path: Path) -> AsyncIterator[Browser]:
    """Chromium with every tracker host mapped to the fake and its certificate pinned."""
    async with async_playwright() as pw:
        context = await pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=chromium_executable, headless=True,
            args=[*CHROMIUM_FLAGS, *fake_trackers.chromium_args()],
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(10_000)
        page = context.pages[0] if context.pages else await context.new_page()
        seen = Browser(context, page)

        def on_request(request: Any) -> None:
            host = (urlsplit(request.url).hostname or "").lower()
            seen.requests.append(SeenRequest(request.url, host, request.resource_type, time.monotonic()))

        context.on("request", on_request)
        try:
            yield seen
        finally:
            await context.close()
