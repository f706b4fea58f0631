"""Screenshots of a demo page with and without consent-proxy, for the README (issue 8).

Not run in CI. Starts, in one process: the fake tracker server from the browser tests
(tests/e2e/fake_trackers.py, so the "trackers" are local stand-ins and nothing leaves the
machine), the demo origin, and consent-proxy with its bundled config in front of it; then
Debian's Chromium (through Playwright, nothing downloaded) opens the same page twice as a
first-time visitor who has not answered the banner:

    docs/img/demo-direct.png   the origin directly: the (stand-in) YouTube player is loaded
    docs/img/demo-proxy.png    through consent-proxy: the site's own placeholder instead
    docs/img/loaded-direct.png, docs/img/loaded-proxy.png
                               just the page's own "What this page loaded" panel

Usage: .venv/bin/python scripts/screenshots.py [--page /blog/consent-at-the-edge] [--out docs/img]
Needs the `playwright` package and a Chromium binary (--chromium, default: `chromium` on PATH).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from proxy.config import bundled_config_path, load_config  # noqa: E402
from proxy.demo.site import make_demo_app  # noqa: E402
from proxy.server import start, stop  # noqa: E402
from tests.e2e.fake_trackers import CHROMIUM_FLAGS, FakeTrackers  # noqa: E402

SCROLL_TO_VIDEO = ("(() => { const v = document.querySelector('.video');"
                   " if (v) { v.scrollIntoView({block: 'start'}); window.scrollBy(0, -120); } })()")
# The banner is position: fixed and would cover the panel in an element screenshot.
HIDE_BANNER = "#cp-banner { display: none !important; }"


async def shoot(page_path: str, out: Path, chromium: str) -> list[Path]:
    from playwright.async_api import async_playwright

    fake = FakeTrackers()
    await fake.start()
    origin_runner = web.AppRunner(make_demo_app(), access_log=None)
    await origin_runner.setup()
    await web.TCPSite(origin_runner, "127.0.0.1", 0).start()
    origin_url = f"http://127.0.0.1:{origin_runner.addresses[0][1]}"
    config_path = bundled_config_path()
    overrides = {("upstream", "url"): origin_url, ("listen", "address"): "127.0.0.1:0",
                 ("admin", "address"): "127.0.0.1:0", ("logging", "access_log"): False}
    app = await start(config_path, overrides, load_config(config_path, overrides, use_env=False))
    written: list[Path] = []
    try:
        async with async_playwright() as pw:
            for name, base in (("direct", origin_url), ("proxy", f"http://127.0.0.1:{app.public_port}")):
                with tempfile.TemporaryDirectory() as profile:
                    context = await pw.chromium.launch_persistent_context(
                        profile, executable_path=chromium, headless=True,
                        args=[*CHROMIUM_FLAGS, *fake.chromium_args()],
                        viewport={"width": 1280, "height": 860}, device_scale_factor=1,
                    )
                    page = context.pages[0] if context.pages else await context.new_page()
                    await page.goto(base + page_path, wait_until="networkidle")
                    await page.wait_for_timeout(600)  # app.js re-renders its panel 300 ms after load
                    # The viewport shot shows the video embed (a functional tracker) above the banner.
                    await page.evaluate(SCROLL_TO_VIDEO)
                    shot = out / f"demo-{name}.png"
                    await page.screenshot(path=str(shot))
                    written.append(shot)
                    await page.add_style_tag(content=HIDE_BANNER)
                    panel = out / f"loaded-{name}.png"
                    await page.locator("#loaded-panel").screenshot(path=str(panel))
                    written.append(panel)
                    await context.close()
    finally:
        await stop(app)
        await origin_runner.cleanup()
        await fake.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--page", default="/blog/consent-at-the-edge", help="demo page path")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="output directory")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.page, args.out, args.chromium)):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
