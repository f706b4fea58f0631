"""What ops rely on: reloads (endpoint, file watch, under load), admin isolation, drain, logs, metrics."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import url_of

ROOT = Path(__file__).parent.parent.parent


def cookie_app(seen: list[web.Request] | None = None) -> web.Application:
    async def page(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(request)
        resp = web.Response(text="ok", content_type="text/plain")
        resp.headers.add("Set-Cookie", "promo_seen=1; Path=/")
        return resp

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    return app


async def _kept(s: aiohttp.ClientSession, url: str) -> bool:
    async with s.get(url) as r:
        assert r.status == 200
        return any(v.startswith("promo_seen=1") for v in r.headers.getall("Set-Cookie", []))


async def test_reload_endpoint_applies_good_config_and_keeps_old_on_error(origin, proxy, caplog):
    """App.reload() is what SIGHUP, the file watcher and the endpoint all call."""
    app = await proxy(await origin(cookie_app()))
    text = app.config_path.read_text()
    admin = f"http://127.0.0.1:{app.admin_port}"
    async with aiohttp.ClientSession() as s:
        assert await _kept(s, url_of(app))  # unclassified: allowed by default
        app.config_path.write_text(text + "cookies:\n  rules:\n    - {name: promo_seen, category: advertising}\n")
        assert app.reload()
        assert not await _kept(s, url_of(app))
        app.config_path.write_text(text + "cookies:\n  rules:\n    - {name: promo_seen, category: advertsing}\n")
        with caplog.at_level(logging.ERROR, logger="consent_proxy"):
            assert not app.reload()
        assert any("previous config keeps serving" in r.getMessage() for r in caplog.records)
        problems = [r.__dict__.get("problems") for r in caplog.records if r.__dict__.get("problems")]
        assert problems and ".yaml:11:36: cookies.rules[0].category: must be one of" in problems[0][0]
        assert not await _kept(s, url_of(app))  # old config still serving
        async with s.get(f"{admin}/metrics") as r:
            metrics = await r.text()
    assert "consentproxy_config_last_reload_successful 0.0" in metrics
    assert 'consentproxy_config_reloads_total{result="failure"} 1.0' in metrics


async def test_reload_endpoint_over_http(origin, tmp_path):
    from proxy.config import parse_config
    from proxy.server import start, stop

    base = await origin(cookie_app())
    text = (f"upstream: {{url: '{base}'}}\nlisten: {{address: '127.0.0.1:0'}}\n"
            "admin: {address: '127.0.0.1:0', reload_endpoint: true, watch_config: false}\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    app = await start(path, {}, parse_config(text, str(path), use_env=False))
    try:
        async with aiohttp.ClientSession() as s:
            path.write_text(text + "cookies: {rules: [{name: promo_seen, category: advertising}]}\n")
            async with s.post(f"http://127.0.0.1:{app.admin_port}/-/reload") as r:
                assert r.status == 200
            assert not await _kept(s, url_of(app))
            path.write_text(text + "cookies: {rules: [{name: promo_seen, category: 7}]}\n")
            async with s.post(f"http://127.0.0.1:{app.admin_port}/-/reload") as r:
                assert r.status == 500
            async with s.post(url_of(app, "/-/reload")) as r:  # never on the public port
                assert r.status == 200 and await r.text() == "ok"
            async with s.get(f"http://127.0.0.1:{app.admin_port}/config") as r:
                body = await r.json()
                assert body["config"]["cookies"]["rules"][0]["name"] == "promo_seen"
                assert len(body["config_hash"]) == 16
    finally:
        await stop(app)


async def test_config_file_change_is_picked_up(origin, proxy):
    app = await proxy(await origin(cookie_app()))
    text = app.config_path.read_text().replace("admin:\n  address: '127.0.0.1:0'\n",
                                               "admin:\n  address: '127.0.0.1:0'\n  watch_interval: 0.1\n")
    app.config_path.write_text(text)
    assert app.reload()
    async with aiohttp.ClientSession() as s:
        assert await _kept(s, url_of(app))
        # A ConfigMap-style swap: write a new file and rename it over the old path.
        new = app.config_path.with_suffix(".new")
        new.write_text(text + "cookies:\n  rules:\n    - {name: promo_seen, category: analytics}\n")
        os.replace(new, app.config_path)
        deadline = time.monotonic() + 5
        while await _kept(s, url_of(app)):
            assert time.monotonic() < deadline, "config change not picked up"
            await asyncio.sleep(0.1)


async def test_ten_reloads_under_load_drop_no_request(origin, proxy):
    app = await proxy(await origin(cookie_app()))
    base_text = app.config_path.read_text()
    statuses: list[int] = []
    stop = asyncio.Event()

    async def client() -> None:
        async with aiohttp.ClientSession() as s:
            while not stop.is_set():
                async with s.get(url_of(app)) as r:
                    await r.read()
                    statuses.append(r.status)

    clients = [asyncio.create_task(client()) for _ in range(8)]
    for i in range(10):
        category = ("analytics", "advertising")[i % 2]
        app.config_path.write_text(base_text + f"cookies:\n  rules:\n    - {{name: promo_seen, category: {category}}}\n")
        assert app.reload()
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*clients)
    assert len(statuses) > 50 and set(statuses) == {200}


async def test_admin_endpoints_are_not_on_the_public_port(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(cookie_app(seen)))
    async with aiohttp.ClientSession() as s:
        for path in ("/metrics", "/livez", "/readyz", "/config"):
            async with s.get(url_of(app, path)) as r:
                assert await r.text() == "ok"  # the origin answered, not the admin app
    assert [r.path for r in seen] == ["/metrics", "/livez", "/readyz", "/config"]


def test_access_log_has_no_cookie_values_or_query():
    import io

    from proxy.accesslog import AccessLog
    from proxy.config import LoggingConfig

    out = io.StringIO()
    logger = AccessLog(LoggingConfig(), stream=out)

    class Req:
        remote = "203.0.113.77"
        method = "GET"
        path = '/search"x'
        headers = {"Cookie": "sessionid=SECRET", "User-Agent": "UA", "Referer": "https://x/?q=1"}

    logger.write(Req(), 200, 0.0123, True)  # type: ignore[arg-type]
    assert out.getvalue() == ""  # buffered
    logger.flush()
    line = out.getvalue()
    entry = json.loads(line)
    assert entry["client"] == "203.0.113.0" and entry["path"] == '/search"x' and entry["rewritten"] is True
    assert entry["status"] == 200 and entry["duration_ms"] == 12.3
    assert "SECRET" not in line and "UA" not in line and "q=1" not in line


async def test_unclassified_names_summarised_in_the_log(origin, proxy, caplog):
    app = await proxy(await origin(cookie_app()))
    async with aiohttp.ClientSession() as s:
        for i in range(3):
            async with s.get(url_of(app), headers={"Cookie": f"ab_exp_{1000 + i}=SECRETVALUE"}) as r:
                await r.read()
    app.metrics.flush()  # what the periodic summary does first
    summary = app.metrics.unclassified_names.summary()
    assert summary is not None
    assert summary["cookie"] == {"ab_exp_*": 3, "promo_seen": 3}
    assert "SECRETVALUE" not in json.dumps(summary)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) not installed")
async def test_metrics_pass_promtool(origin, proxy):
    app = await proxy(await origin(cookie_app()))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"Cookie": "_fbp=1; cp_consent=v1"}) as r:
            await r.read()
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            text = await r.read()
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics",
                         headers={"Accept": "application/openmetrics-text"}) as r:
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            assert (await r.text()).rstrip().endswith("# EOF")
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_sigterm_drains_in_flight_requests_and_exits_zero(tmp_path):
    """A slow request in flight at SIGTERM completes; readiness fails meanwhile; exit code 0."""
    origin_code = (
        "import asyncio\nfrom aiohttp import web\n"
        "async def slow(r):\n    await asyncio.sleep(2)\n    return web.Response(text='done')\n"
        "app = web.Application(); app.router.add_get('/', slow)\n"
        "web.run_app(app, host='127.0.0.1', port=int(__import__('sys').argv[1]), print=None)\n")
    import socket

    def free() -> int:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    oport, port, admin = free(), free(), free()
    origin_proc = subprocess.Popen([sys.executable, "-c", origin_code, str(oport)])
    proc = subprocess.Popen([sys.executable, "-m", "proxy", "run", "--upstream", f"http://127.0.0.1:{oport}",
                             "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{admin}/readyz", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        result: dict[str, object] = {}

        def request() -> None:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
                result["status"], result["body"] = r.status, r.read()

        import threading

        t = threading.Thread(target=request)
        t.start()
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        t.join(10)
        assert result == {"status": 200, "body": b"done"}
        assert proc.wait(timeout=20) == 0
    finally:
        for p in (proc, origin_proc):
            if p.poll() is None:
                p.kill()
