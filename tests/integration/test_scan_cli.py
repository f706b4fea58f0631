"""`consent-proxy scan` and `explain --html` as ops run them: golden output per consent state, URL mode."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from proxy.demo.site import make_demo_app

ROOT = Path(__file__).parent.parent.parent
GOLDEN = ROOT / "tests" / "golden"
PAGE = "tests/fixtures/scan/page.html"
HOST = "shop.northwind.example"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proxy", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)


async def acli(*args: str) -> tuple[int, str, str]:
    """The CLI as a child process, without blocking the loop that serves the test's origin."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "proxy", *args, cwd=ROOT,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


@pytest.mark.parametrize("state", ["none", "v1", "v1.analytics", "all"])
def test_scan_golden(state: str) -> None:
    result = cli("scan", PAGE, "--consent", state, "--host", HOST)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout == (GOLDEN / f"scan_{state}.txt").read_text()


def test_explain_html_golden() -> None:
    result = cli("explain", "--html", PAGE, "--consent", "v1.functional", "--host", HOST)
    assert result.returncode == 0, result.stderr
    assert result.stdout == (GOLDEN / "scan_explain_v1.functional.txt").read_text()


def test_explain_html_takes_consent_from_a_cookie() -> None:
    result = cli("explain", "--html", PAGE, "--cookie", "cp_consent=v1.functional", "--host", HOST)
    assert result.returncode == 0, result.stderr
    assert "consent: from request (cp_consent) (granted: necessary, functional)" in result.stdout
    assert "line 61: iframe https://www.youtube.com/embed/dQw4w9WgXcQ -> kept: functional, YouTube" in result.stdout


def test_explain_without_html_is_unchanged() -> None:
    result = cli("explain", "--cookie", "cp_consent=v1.analytics")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("consent sources (in order): cp_consent\n")
    assert "analytics    granted  cp_consent" in result.stdout
    assert "line " not in result.stdout
    refused = cli("explain", "--consent", "all")
    assert refused.returncode == 2 and "--consent needs --html" in refused.stderr


def test_bad_input() -> None:
    bad = cli("scan", PAGE, "--consent", "v1.marketing")
    assert bad.returncode == 2 and "not none, all or a cp_consent value" in bad.stderr
    missing = cli("scan", "tests/fixtures/scan/no-such-page.html")
    assert missing.returncode == 1 and "no-such-page.html: No such file or directory" in missing.stderr
    ftp = cli("scan", "ftp://shop.northwind.example/")
    assert ftp.returncode == 1 and "only http:// and https:// URLs" in ftp.stderr
    json_out = cli("scan", PAGE, "--format", "json", "--host", HOST)
    assert json.loads(json_out.stdout)["page_host"] == HOST


async def test_scan_url_of_the_demo_origin(origin) -> None:  # type: ignore[no-untyped-def]
    base = await origin(make_demo_app())
    code, out, err = await acli("scan", base + "/", "--consent", "v1.analytics")
    assert code == 0, err
    assert "page host: 127.0.0.1\n" in out
    assert "cookies set by the page: 10\n" in out
    for line in ("  _fbp                         advertising  dropped  Meta Pixel, _fbp (exact), curated",
                 "  _ga                          analytics    kept     Google Analytics, _ga (exact), curated",
                 "  sessionid                    necessary    kept     site session, sessionid (exact), curated"):
        assert line + "\n" in out
    assert "cross-check: the proxy's rewriter agrees" in out

    code, out, err = await acli("scan", base + "/shop/checkout", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["consent"] == "none" and report["cookies_seen"] is True
    assert {c["name"]: c["action"] for c in report["cookies"]}["_gcl_au"] == "dropped"
    removed = {(e["category"], e["vendor"]) for e in report["elements"] if e["action"] == "removed"}
    assert ("advertising", "Meta Pixel") in removed and ("analytics", "Google Tag Manager") in removed
    assert report["mismatches"] == []


async def test_url_mode_keeps_no_cookie_jar_and_follows_at_most_five_redirects(origin) -> None:  # type: ignore[no-untyped-def]
    received: list[str | None] = []

    async def hop(request: web.Request) -> web.Response:
        n = int(request.match_info["n"])
        received.append(request.headers.get("Cookie"))
        resp = web.Response(status=302, headers={"Location": f"/hop/{n - 1}" if n else "/page"})
        resp.headers.add("Set-Cookie", f"_gcl_au=1.1.{n}.1718000000; Max-Age=7776000; Path=/")
        return resp

    async def page(request: web.Request) -> web.Response:
        received.append(request.headers.get("Cookie"))
        return web.Response(text='<script src="https://connect.facebook.net/en_US/fbevents.js"></script>',
                            content_type="text/html", headers={"Set-Cookie": "sessionid=ab12; Path=/"})

    app = web.Application()
    app.router.add_get("/hop/{n}", hop)
    app.router.add_get("/page", page)
    base = await origin(app)

    code, out, err = await acli("scan", base + "/hop/4")  # 5 redirects: allowed
    assert code == 0, err
    assert received == [None] * 6  # the cookies set on the way were never sent back
    assert "note: followed 5 redirect(s) to " + base + "/page" in out
    assert "cookies set by the page: 6\n" in out and "  sessionid " in out
    assert "removed     line 1    advertising  script-src" in out

    code, out, err = await acli("scan", base + "/hop/5")  # 6 redirects: refused
    assert code == 1 and "more than 5 redirects" in err and out == ""
