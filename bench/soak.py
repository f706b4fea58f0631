"""Bounded soak: steady load through consent-proxy, watching memory, file descriptors and errors.

Run by hand (never in CI):

    .venv/bin/python bench/soak.py                       # 10 minutes, 150 req/s
    .venv/bin/python bench/soak.py --duration 120 --rate 100

Starts the embedded demo origin and consent-proxy (each its own process, 127.0.0.1 only),
then sends a steady mix for `--duration` seconds: demo pages as undecided / partially /
fully consenting visitors (rewritten HTML, Set-Cookie filtering, purges) and static assets.
Every 10 s it samples the proxy's RSS (/proc/PID/status VmRSS) and open descriptors
(/proc/PID/fd). Pass criteria (issue 8): RSS slope over the last 8 minutes under 1 MB/min
(least squares), descriptors within +/-5 of the first sample after warm-up, zero non-2xx.
The request loop is bounded in count and time and stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
VISITORS = ["", "cp_consent=v1", "cp_consent=v1.analytics", "cp_consent=v1.functional.analytics.advertising",
            "_ga=GA1.1.1.2; _fbp=fb.1.2.3; cp_consent=v1", "cp_consent=garbage"]
PATHS = ["/", "/blog/consent-at-the-edge", "/shop/checkout", "/static/site.css", "/static/app.js", "/api/health"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_mb_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of (seconds, KiB) samples, in MB per minute."""
    n = len(samples)
    if n < 2:
        return 0.0
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    cov = sum((t - mx) * (v - my) for t, v in samples)
    return (cov / var) * 60 / 1024 if var else 0.0


async def wait_port(port: int, deadline: float) -> None:
    while True:
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def soak(args: argparse.Namespace) -> int:
    oport, port, admin = free_port(), free_port(), free_port()
    py = sys.executable
    origin = subprocess.Popen([py, "-m", "proxy.demo.site", str(oport)], cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = open(args.log, "w") if args.log else subprocess.DEVNULL
    proxy = subprocess.Popen([py, "-m", "proxy", "run", "--upstream", f"http://127.0.0.1:{oport}",
                              "--listen", f"127.0.0.1:{port}", "--admin", f"127.0.0.1:{admin}"],
                             cwd=REPO, stdout=log, stderr=log)
    statuses: dict[int, int] = {}
    errors = 0
    samples: list[tuple[float, int, int]] = []
    try:
        await wait_port(oport, time.monotonic() + 20)
        await wait_port(port, time.monotonic() + 20)
        rng = random.Random(args.seed)
        stop_at = time.monotonic() + args.duration
        interval = 1.0 / args.rate
        sem = asyncio.Semaphore(args.concurrency)
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
            async def one(path: str, cookie: str) -> None:
                nonlocal errors
                try:
                    headers = {"Accept-Encoding": "gzip, br", "Sec-Fetch-Mode": "navigate"}
                    if cookie:
                        headers["Cookie"] = cookie
                    async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as r:
                        await r.read()
                        statuses[r.status] = statuses.get(r.status, 0) + 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    errors += 1
                finally:
                    sem.release()

            async def sampler() -> None:
                t0 = time.monotonic()
                while time.monotonic() < stop_at:
                    samples.append((time.monotonic() - t0, rss_kb(proxy.pid), fd_count(proxy.pid)))
                    print(f"  t={samples[-1][0]:6.0f}s rss={samples[-1][1] / 1024:7.1f} MB fds={samples[-1][2]:4d} "
                          f"requests={sum(statuses.values())} errors={errors}", flush=True)
                    await asyncio.sleep(10)

            # Open every client (and so upstream) connection the load may use before the
            # descriptor baseline: a latency blip later would otherwise look like an fd leak.
            for _ in range(3):
                burst = []
                for _ in range(args.concurrency):
                    await sem.acquire()
                    burst.append(asyncio.create_task(one("/", "")))
                await asyncio.gather(*burst)
            sampling = asyncio.create_task(sampler())
            tasks: set[asyncio.Task[None]] = set()
            next_at = time.monotonic()
            sent = 0
            while time.monotonic() < stop_at and sent < args.rate * args.duration * 1.1:
                await sem.acquire()
                task = asyncio.create_task(one(rng.choice(PATHS), rng.choice(VISITORS)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await asyncio.gather(*tasks)
            await sampling
    finally:
        for p in (proxy, origin):
            p.terminate()
        for p in (proxy, origin):
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    warm = [s for s in samples if s[0] >= args.warmup]
    tail = [s for s in samples if s[0] >= args.duration - 480] if args.duration > 480 else warm
    slope = slope_mb_per_min([(t, r) for t, r, _ in tail])
    fds = [f for _, _, f in warm] or [0]
    non2xx = sum(n for code, n in statuses.items() if not 200 <= code < 300)
    ok = slope < 1.0 and max(fds) - fds[0] <= 5 and fds[0] - min(fds) <= 5 and non2xx == 0 and errors == 0
    result = {"duration_s": args.duration, "rate": args.rate, "requests": sum(statuses.values()),
              "statuses": statuses, "client_errors": errors, "rss_mb_first": warm[0][1] / 1024 if warm else None,
              "rss_mb_last": samples[-1][1] / 1024 if samples else None, "rss_slope_mb_per_min": round(slope, 3),
              "fds_first": fds[0], "fds_min": min(fds), "fds_max": max(fds), "pass": ok,
              "command": " ".join([Path(sys.executable).name, *sys.argv])}
    print(json.dumps(result, indent=2))
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=600, help="seconds of load (default 600)")
    ap.add_argument("--rate", type=float, default=150, help="requests per second (default 150)")
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=30, help="seconds before the descriptor baseline")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--log", help="file for the proxy's logs (default: discarded)")
    return asyncio.run(soak(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
