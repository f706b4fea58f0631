"""`consent-proxy run --workers 2` as ops run it: real processes, a real origin, 127.0.0.1 only.

Which worker served a request is read from prometheus-client's per-process files in the
multiprocess directory (`counter_<pid>.db`): each file is summed alone by a
MultiProcessCollector over a copy of it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.multiprocess import MultiProcessCollector

ROOT = Path(__file__).parent.parent.parent
PROBE = "wk_probe=7f3a9c; Path=/; Max-Age=31536000; SameSite=Lax"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _yaml(upstream: str, listen: int, admin: int, rules: str = "") -> str:
    # The file watch is off so that SIGHUP, not a stat poll, is what reloads.
    return (f"upstream:\n  url: '{upstream}'\n"
            f"listen:\n  address: '127.0.0.1:{listen}'\n"
            f"admin:\n  address: '127.0.0.1:{admin}'\n  watch_config: false\n"
            "logging:\n  access_log: false\n"
            "limits:\n  shutdown_timeout: 10\n" + rules)


NEW_RULE = "cookies:\n  rules:\n    - {name: wk_probe, match: exact, category: advertising, vendor: partner}\n"


@dataclass
class Cluster:
    proc: subprocess.Popen[bytes]
    config: Path
    mpdir: Path
    port: int
    admin: int
    log: Path

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def admin_get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://127.0.0.1:{self.admin}{path}") as r:
                return r.status, await r.text()

    async def workers(self) -> dict:  # type: ignore[type-arg]
        return json.loads((await self.admin_get("/workers"))[1])

    async def wait_workers(self, config_hash: str | None = None, timeout: float = 20) -> list[int]:
        """Until every worker is ready (on `config_hash`, if given); returns their pids."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                status = await self.workers()
                ws = status["workers"]
                if all(w["ready"] for w in ws) and (config_hash is None or all(w["config_hash"] == config_hash for w in ws)):
                    return [w["pid"] for w in ws]
            except (aiohttp.ClientError, ValueError):
                pass
            assert time.monotonic() < deadline, self.log.read_text()
            await asyncio.sleep(0.1)

    async def metric(self, name: str, **labels: str) -> float:
        """The sum of `name`'s samples carrying `labels`, as the supervisor's /metrics shows them."""
        text = (await self.admin_get("/metrics"))[1]
        want = [f'{k}="{v}"' for k, v in labels.items()]
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.split("{")[0].split(" ")[0] == name and all(w in line for w in want))

    def served_by(self, pid: int, scratch: Path) -> float:
        """Requests answered by one process, from its own counter file."""
        one = scratch / str(pid)
        one.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.mpdir / f"counter_{pid}.db", one / f"counter_{pid}.db")
        return sum(s.value for m in MultiProcessCollector(None, path=str(one)).collect()
                   if m.name == "consentproxy_requests" for s in m.samples if s.name.endswith("_total"))


@pytest.fixture
async def cluster(origin, tmp_path: Path) -> AsyncIterator[Cluster]:
    async def page(request: web.Request) -> web.Response:
        if request.path == "/slow":
            request.app[STARTED].set()
            await asyncio.sleep(2)
        resp = web.Response(text="ok\n")
        resp.headers.add("Set-Cookie", PROBE)
        return resp

    app = web.Application()
    app[STARTED] = asyncio.Event()
    app.router.add_get("/{tail:.*}", page)
    upstream = await origin(app)
    port, admin = _free_port(), _free_port()
    config = tmp_path / "proxy.yaml"
    config.write_text(_yaml(upstream, port, admin))
    mpdir = tmp_path / "mp"
    mpdir.mkdir()
    (mpdir / "counter_1.db").write_bytes(b"stale")  # from a previous run: must be wiped
    log = tmp_path / "supervisor.log"
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "proxy", "run", "--workers", "2", "--config", str(config),
                                 "--multiproc-dir", str(mpdir)], cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT)
    c = Cluster(proc, config, mpdir, port, admin, log)
    c.started = app[STARTED]  # type: ignore[attr-defined]
    try:
        yield c
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()


STARTED: web.AppKey[asyncio.Event] = web.AppKey("slow_started")


async def _fresh_connection_gets(url: str, n: int) -> list[tuple[int, list[str]]]:
    """`n` GETs, each on a new connection (SO_REUSEPORT balances connections, not requests)."""
    connector = aiohttp.TCPConnector(force_close=True)
    sem = asyncio.Semaphore(8)
    async with aiohttp.ClientSession(connector=connector) as s:
        async def one() -> tuple[int, list[str]]:
            async with sem, s.get(url) as r:
                await r.read()
                return r.status, r.headers.getall("Set-Cookie", [])
        return await asyncio.gather(*(one() for _ in range(n)))


async def _eventually(read, expected: float, timeout: float = 5) -> float:  # type: ignore[no-untyped-def]
    """A worker counts a request just after sending it: poll until `expected` or the deadline."""
    deadline = time.monotonic() + timeout
    while (value := await read()) != expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return value


async def test_both_workers_serve_and_metrics_sum_them(cluster: Cluster, tmp_path: Path):
    pids = await cluster.wait_workers()
    assert len(set(pids)) == 2 and cluster.proc.pid not in pids
    assert not (cluster.mpdir / "counter_1.db").exists()
    results = await _fresh_connection_gets(cluster.url("/a"), 60)
    assert [status for status, _ in results] == [200] * 60
    total = await _eventually(lambda: cluster.metric("consentproxy_requests_total"), 60)
    assert total == 60
    per_worker = [cluster.served_by(pid, tmp_path / "scratch") for pid in pids]
    assert sum(per_worker) == 60 and all(n > 0 for n in per_worker), per_worker
    assert (await cluster.admin_get("/livez")) == (200, "ok\n")
    assert (await cluster.admin_get("/readyz")) == (200, "ready\n")
    assert (await cluster.admin_get("/config"))[0] == 200


async def test_sighup_reloads_every_worker_and_a_bad_config_keeps_the_old_one(cluster: Cluster, tmp_path: Path):
    pids = await cluster.wait_workers()
    before = await _fresh_connection_gets(cluster.url("/before"), 20)
    assert all(PROBE in cookies for _, cookies in before)  # unclassified: allowed by default

    # An invalid file: the supervisor refuses it, counts it, and the workers are not disturbed.
    good = cluster.config.read_text()
    cluster.config.write_text(good + "cookies:\n  rules:\n    - {name: wk_probe, match: exact, category: nope}\n")
    cluster.proc.send_signal(signal.SIGHUP)
    assert await _eventually(lambda: cluster.metric("consentproxy_config_reloads_total", result="failure"), 1) == 1
    assert await cluster.metric("consentproxy_config_last_reload_successful") == 0
    still = await _fresh_connection_gets(cluster.url("/still"), 20)
    assert all(PROBE in cookies for _, cookies in still)

    cluster.config.write_text(good + NEW_RULE)
    new_hash = hashlib.sha256(cluster.config.read_bytes()).hexdigest()[:16]
    served = [cluster.served_by(pid, tmp_path / "s0") for pid in pids]
    cluster.proc.send_signal(signal.SIGHUP)
    assert await cluster.wait_workers(new_hash, timeout=10) == pids  # reloaded in place, not restarted
    after = await _fresh_connection_gets(cluster.url("/after"), 60)
    assert [status for status, _ in after] == [200] * 60
    assert not any(c.startswith("wk_probe=") for _, cookies in after for c in cookies)
    await _eventually(lambda: cluster.metric("consentproxy_requests_total"), 100)
    gained = [cluster.served_by(pid, tmp_path / "s1") - n for pid, n in zip(pids, served)]
    assert all(g > 0 for g in gained), gained  # both workers answered with the new rule
    assert await cluster.metric("consentproxy_config_reloads_total", result="success") == 1  # once, not per worker
    assert await cluster.metric("consentproxy_config_last_reload_successful") == 1
    # Workers flush batched increments at least once a second.
    blocked = await _eventually(lambda: cluster.metric("consentproxy_cookies_blocked_total", category="advertising",
                                                       where="set_cookie"), 60)
    assert blocked == 60


async def test_dead_worker_is_restarted(cluster: Cluster):
    pids = await cluster.wait_workers()
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 15
    while True:
        status = await cluster.workers()
        w0 = status["workers"][0]
        if w0["ready"] and w0["pid"] != pids[0]:
            break
        assert time.monotonic() < deadline, cluster.log.read_text()
        await asyncio.sleep(0.1)
    assert w0["restarts"] == 1 and status["workers"][1]["pid"] == pids[1]
    assert "worker_died" in cluster.log.read_text()
    results = await _fresh_connection_gets(cluster.url("/x"), 20)
    assert [s for s, _ in results] == [200] * 20


async def test_sigterm_drains_a_slow_request_and_every_process_exits_zero(cluster: Cluster):
    pids = await cluster.wait_workers()
    async with aiohttp.ClientSession() as s:
        slow = asyncio.create_task(s.get(cluster.url("/slow")))
        await asyncio.wait_for(cluster.started.wait(), 10)  # type: ignore[attr-defined]
        cluster.proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.3)
        assert (await cluster.admin_get("/readyz"))[0] == 503
        resp = await asyncio.wait_for(slow, 10)
        assert resp.status == 200 and await resp.text() == "ok\n"
    deadline = time.monotonic() + 15
    while cluster.proc.poll() is None:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert cluster.proc.returncode == 0, cluster.log.read_text()
    exits = [json.loads(line) for line in cluster.log.read_text().splitlines()
             if line.startswith("{") and '"worker_exited"' in line]
    assert sorted((e["pid"], e["code"]) for e in exits) == sorted((pid, 0) for pid in pids)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
