#!/usr/bin/env python3
"""End-to-end proxy benchmark: wrk against several arms in one interleaved run.

Why one script: every ratio the issues ask for (consent-proxy vs a minimal aiohttp proxy
vs nginx, rewritten vs pass-through, 2 workers vs 1) is only meaningful against a baseline
measured in the same run on the same (shared, noisy) machine. This script starts the
origin and every arm once, then runs wrk on each (arm, input, concurrency) for several
repetitions with the arm order rotated each time, and reports medians.

Arms (``--arms``; custom ones with ``--arm NAME=COMMAND``):
  direct          wrk -> origin (no proxy)
  nginx           nginx reverse proxy, bench/nginx.conf (keepalive upstream)
  minimal         bench/minimal_proxy.py (uvloop with --uvloop)
  minimal-uvloop  bench/minimal_proxy.py --uvloop (to show the loop's share)
  cp              consent-proxy, command from --cp-cmd; skipped with a message if it
                  does not start yet
Placement: the server under test is pinned to CPU 1 (``taskset -c 1``), wrk and the
origin to CPU 0. CPU us/request is (utime+stime of the arm's process tree, from
/proc/PID/stat) / requests completed. Only 127.0.0.1 is ever contacted.

``--rss-stream`` instead streams a generated 1 GiB response through each proxy arm with
curl (reading and discarding) and samples the arm's RSS every 0.5 s; growth must stay
under 50 MB.

Examples:
  .venv/bin/python bench/proxy_bench.py --quick --arms direct,nginx,minimal
  .venv/bin/python bench/proxy_bench.py --uvloop            # full run incl. consent-proxy
  .venv/bin/python bench/proxy_bench.py --arms minimal,cp --arm cp2='{python} -m proxy run
        --workers 2 --upstream {upstream} --listen 127.0.0.1:{port} --admin 127.0.0.1:{admin_port}'
  .venv/bin/python bench/proxy_bench.py --rss-stream --arms minimal,cp
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
import origin as origin_mod  # noqa: E402  (bench/origin.py, next to this file)

DEFAULT_PYTHON = str(REPO / ".venv" / "bin" / "python")
DEFAULT_CP_CMD = ("{python} -m proxy run --upstream {upstream} --listen 127.0.0.1:{port} "
                  "--admin 127.0.0.1:{admin_port}")
BUILTIN_ARMS = ("direct", "nginx", "minimal", "minimal-uvloop", "cp")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
RSS_TARGET_MB = 50.0

# A realistic 30-cookie Cookie header of a European site with a CMP and the usual tags
# (~2 KB). Values are shaped like the real ones (lengths, encodings), never real IDs.
COOKIES: tuple[tuple[str, str], ...] = (
    ("OptanonConsent", "isGpcEnabled=0&datestamp=Mon+Dec+01+2025+10%3A12%3A44+GMT%2B0100+"
     "(Central+European+Standard+Time)&version=202409.1.0&browserGpcFlag=0&isIABGlobal=false"
     "&hosts=&consentId=3f6c2b1e-8a4d-4e1b-9c7f-2d5e8a9b0c1d&interactionCount=1&isAnonUser=1"
     "&landingPath=NotLandingPage&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0"
     "&AwaitingReconsent=false&geolocation=DE%3BBE"),
    ("OptanonAlertBoxClosed", "2025-12-01T09:12:44.512Z"),
    ("CookieConsent", "{stamp:%27Kq3vQ2v1bJ0Yc8mX7nT+PzLr9sD4wE6fG1hJ2kL3mN5oP7qR8sT==%27%2C"
     "necessary:true%2Cpreferences:true%2Cstatistics:false%2Cmarketing:false%2Cmethod:"
     "%27explicit%27%2Cver:3%2Cutc:1733044364512%2Cregion:%27de%27}"),
    ("_ga", "GA1.1.1873526140.1733044365"),
    ("_ga_7XK2M9PQ4R", "GS1.1.1733044365.3.1.1733046012.0.0.0"),
    ("_gid", "GA1.2.402918273.1733044365"),
    ("_gat_UA-12345678-1", "1"),
    ("_fbp", "fb.1.1733044365123.1398471256"),
    ("_fbc", "fb.1.1733044365123.IwAR2xT9kZpQ7vN3mB8cL5dF1gH6jK4sA0wE2rT7yU9iO3pL"),
    ("_gcl_au", "1.1.1593827461.1733044365"),
    ("_hjSessionUser_3512894", "eyJpZCI6IjRmYzM4ZTJhLTdiMWQtNTQ2Zi04YTljLTJkMGUxZjNiNGM1ZCIs"
     "ImNyZWF0ZWQiOjE3MzMwNDQzNjU0MTIsImV4aXN0aW5nIjp0cnVlfQ=="),
    ("_hjSession_3512894", "eyJpZCI6IjljMmE0YjZkLTFlM2YtNDg1Ny05YTBiLTNjNGQ1ZTZmN2E4YiIsImMi"
     "OjE3MzMwNDYwMTI0MTIsInMiOjAsInIiOjAsInNiIjowLCJzciI6MCwic2UiOjAsImZzIjowfQ=="),
    ("_hjAbsoluteSessionInProgress", "0"),
    ("_clck", "1x9k2pq%7C2%7Cfrk%7C0%7C1795"),
    ("_clsk", "1h7d3mz%7C1733046012345%7C4%7C1%7Cq.clarity.ms%2Fcollect"),
    ("li_sugr", "5c8e2a1f-9b3d-4e7a-8c6f-1d2e3f4a5b6c"),
    ("bcookie", '"v=2&4f8e2c1a-7b9d-4e3f-8a6c-5d2e1f3a4b7c"'),
    ("_tt_enable_cookie", "1"),
    ("_ttp", "2Yh8kLmN3pQ4rS5tU6vW7xY8zA1"),
    ("_pin_unauth", "dWlkPU5qUTNOV1psTVRNdE1tVTBaQzAwWVRWa0xUZzNNVEV0TnpGaVptVTNaalEw"),
    ("session", ".eJwlzjEOwjAMQNG7eGYAYjtOu3IYYTuxVEHbtFKqgrh7kZhf-T73gdp6gHbPCuMxfXmBWxO1xBpW"
     "uq9jCPWxx3Y_Cf_SEA.Z0xM3A.k7hQ2r_4fVn1yJt8cXw9bP0sLmE"),
    ("csrftoken", "Xk7pQ2vN9mR4tL8sW3yB6zC1dF5gH0jK"),
    ("lang", "de-DE"),
    ("currency", "EUR"),
    ("ajs_anonymous_id", "%224d2c8b1e-6f3a-4e9d-8b7c-2a1f0e9d8c7b%22"),
    ("ajs_user_id", "%22u_82734519%22"),
    ("mp_5f2a8c9e1b3d4f6a7c8e9b0d1f2a3c4e_mixpanel", "%7B%22distinct_id%22%3A%20%22u_82734519"
     "%22%2C%22%24device_id%22%3A%20%22193a1b2c3d4e5f-0a1b2c3d4e5f6-1d525636-1fa400-193a1b2c3d"
     "4e5f%22%2C%22%24initial_referrer%22%3A%20%22%24direct%22%7D"),
    ("intercom-id-k3x9p2m7", "6e1f4a2b-9c8d-4e7f-a3b5-1c2d3e4f5a6b"),
    ("__cf_bm", "Wq8vL2xN7pR3tK9mB5zC1dF6gH0jA4sE8yU2iO7.-1733046012-1.0.1.1-AbCdEfGhIjKlMnOp"
     "QrStUvWxYz0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ_0123456789AbCdEfGhIjKlMn"),
    ("cart_id", "c_9f8e7d6c5b4a39281706f5e4d3c2b1a0"),
)
assert len(COOKIES) == 30


class ArmFailed(Exception):
    """An arm could not be started or served wrong bytes; it is skipped, not fatal."""


@dataclass
class Arm:
    name: str
    port: int
    pid: int  # root of the process tree whose CPU and RSS are measured
    note: str = ""
    bodies: dict[str, str] = field(default_factory=dict)  # path -> sanity() verdict


@dataclass
class Ctx:
    args: argparse.Namespace
    tmp: Path
    procs: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)


# ---- processes ------------------------------------------------------------------------

def pinned(argv: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if cpu is not None else argv


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(ctx: Ctx, name: str, argv: list[str], cpu: int | None,
          cwd: Path | None = None) -> subprocess.Popen:
    """Start a server in its own process group (so cleanup reaches its children)."""
    log = ctx.tmp / f"{name}.log"
    fh = open(log, "wb")
    p = subprocess.Popen(pinned(argv, cpu), stdout=fh, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=str(cwd or REPO), start_new_session=True)
    fh.close()
    ctx.procs.append(p)
    ctx.logs[p.pid] = log
    return p


def stop(p: subprocess.Popen, grace: float = 5.0) -> None:
    if p.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    try:  # stragglers of the group (e.g. workers that ignored SIGTERM)
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def log_tail(ctx: Ctx, p: subprocess.Popen, n: int = 15) -> str:
    try:
        lines = ctx.logs[p.pid].read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("      | " + ln for ln in lines[-n:])


def wait_port(port: int, p: subprocess.Popen, timeout: float) -> None:
    """Wait until 127.0.0.1:port accepts; ArmFailed if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            raise ArmFailed(f"exited with code {p.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise ArmFailed(f"port {port} not accepting after {timeout:.0f} s")


# ---- /proc ----------------------------------------------------------------------------

def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid: int) -> list[int]:
    kids, out, todo = _children(), [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(kids.get(q, ()))
    return out


def cpu_seconds(pid: int) -> float:
    """utime+stime of a process tree (live processes; reaped children via cutime/cstime)."""
    total = 0
    for q in tree(pid):
        try:
            f = Path(f"/proc/{q}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return total / CLK_TCK


def cpu_list(spec: str | None) -> list[int]:
    """'1' / '0,2' / '1-3' -> CPU numbers (taskset syntax, no strides)."""
    out: list[int] = []
    for part in (spec or "").split(","):
        if part:
            lo, _, hi = part.partition("-")
            out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cpu_times() -> dict[int, tuple[int, int]]:
    """Per-CPU (busy, total) jiffies from /proc/stat."""
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *vals = line.split()
            v = [int(x) for x in vals]
            out[int(name[3:])] = (sum(v[:8]) - v[3] - v[4], sum(v[:8]))
    return out


def busy_percent(t0: dict[int, tuple[int, int]], t1: dict[int, tuple[int, int]],
                 cpus: list[int]) -> float | None:
    """Mean utilisation of `cpus` between two cpu_times() snapshots (whole machine's view)."""
    b = sum(t1[c][0] - t0[c][0] for c in cpus if c in t0 and c in t1)
    t = sum(t1[c][1] - t0[c][1] for c in cpus if c in t0 and c in t1)
    return 100.0 * b / t if t else None


def rss_bytes(pid: int) -> int:
    total = 0
    for q in tree(pid):
        try:
            total += int(Path(f"/proc/{q}/statm").read_text().split()[1]) * PAGE_SIZE
        except OSError:
            continue
    return total


def hwm_bytes(pid: int) -> int:
    """Sum of VmHWM (peak RSS since start) over the tree: catches peaks between samples."""
    total = 0
    for q in tree(pid):
        try:
            for line in Path(f"/proc/{q}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


# ---- origin and arms ------------------------------------------------------------------

def start_origin(ctx: Ctx, kind: str) -> tuple[int, int, str]:
    """Start the origin on the client CPU; returns (port, pid, description)."""
    a = ctx.args
    port = free_port()
    if kind == "nginx":
        encoded = origin_mod.write_encoded(ctx.tmp)
        conf = ctx.tmp / "origin.conf"
        conf.write_text(origin_mod.render_nginx_conf(ctx.tmp, port, encoded))
        p = start(ctx, "origin", [a.nginx, "-p", str(ctx.tmp), "-c", str(conf),
                                  "-e", str(ctx.tmp / "origin-error.log")], a.client_cpu)
        desc = "nginx static (bench/origin.py render_nginx_conf)"
    else:
        p = start(ctx, "origin", [a.python, str(BENCH / "origin.py"), "--port", str(port),
                                  "--uvloop"], a.client_cpu)
        desc = "aiohttp generator (bench/origin.py, uvloop)"
    try:
        wait_port(port, p, 15)
    except ArmFailed as e:
        raise SystemExit(f"origin failed to start: {e}\n{log_tail(ctx, p)}")
    return port, p.pid, desc


def arm_command(ctx: Ctx, name: str, origin_port: int, port: int) -> list[str]:
    a = ctx.args
    fields = dict(python=a.python, repo=str(REPO), bench=str(BENCH), port=port,
                  origin_port=origin_port, upstream=f"http://127.0.0.1:{origin_port}",
                  admin_port=free_port())
    if name == "nginx":
        tpl = (BENCH / "nginx.conf").read_text()
        for k, v in (("@PREFIX@", str(ctx.tmp)), ("@LISTEN_PORT@", str(port)),
                     ("@UPSTREAM_PORT@", str(origin_port)),
                     ("@USER@", "user root root;" if os.geteuid() == 0 else "")):
            tpl = tpl.replace(k, v)
        conf = ctx.tmp / "proxy.conf"
        conf.write_text(tpl)
        return [a.nginx, "-p", str(ctx.tmp), "-c", str(conf), "-e", str(ctx.tmp / "proxy-error.log")]
    if name in ("minimal", "minimal-uvloop"):
        argv = [a.python, str(BENCH / "minimal_proxy.py"), "--upstream", fields["upstream"],
                "--listen", f"127.0.0.1:{port}"]
        return argv + (["--uvloop"] if a.uvloop or name == "minimal-uvloop" else [])
    tpl = a.cp_cmd if name == "cp" else a.custom[name]
    try:
        return shlex.split(tpl.format(**fields))
    except (KeyError, IndexError, ValueError) as e:
        raise ArmFailed(f"bad command template {tpl!r}: {e}")


def start_arm(ctx: Ctx, name: str, origin_port: int, origin_pid: int) -> Arm:
    if name == "direct":
        return Arm(name, origin_port, origin_pid, "origin itself (CPU is the origin's)")
    port = free_port()
    argv = arm_command(ctx, name, origin_port, port)
    exe = shutil.which(argv[0]) or (argv[0] if os.path.exists(argv[0]) else None)
    if exe is None:
        raise ArmFailed(f"command not found: {argv[0]}")
    p = start(ctx, name, argv, ctx.args.server_cpu)
    try:
        wait_port(port, p, ctx.args.start_timeout)
    except ArmFailed as e:
        raise ArmFailed(f"{e}\n      command: {shlex.join(argv)}\n{log_tail(ctx, p)}")
    return Arm(name, port, p.pid, shlex.join(argv))


# ---- requests -------------------------------------------------------------------------

def cookie_header(extra: list[str]) -> str:
    return "; ".join([f"{k}={v}" for k, v in COOKIES] + extra)


def request_headers(args: argparse.Namespace) -> dict[str, str]:
    h = {"Cookie": cookie_header(args.extra_cookie)}
    for line in args.header:
        k, _, v = line.partition(":")
        h[k.strip()] = v.strip()
    return h


def expected_body(path: str) -> bytes | None:
    data = origin_mod.DATA_DIR
    if path == "/small":
        return (data / origin_mod.SMALL).read_bytes()
    if path == "/page":
        return (data / origin_mod.PAGE).read_bytes()
    for suffix, (coding, _n) in origin_mod.ENCODED.items():
        if path == "/page" + suffix:
            try:
                return origin_mod.encode(coding, (data / origin_mod.PAGE).read_bytes())
            except ImportError:
                return None
    if path.startswith("/data/"):
        f = data / path[len("/data/"):]
        return f.read_bytes() if f.is_file() else None
    return None


def rewritten_body(path: str) -> bytes | None:
    """The expected output of the tracker rewriter for a page (all optional denied)."""
    name = {"/page": origin_mod.PAGE}.get(path) or (path[len("/data/"):] if path.startswith("/data/") else "")
    f = origin_mod.DATA_DIR / name.replace(".html", ".expected.html")
    return f.read_bytes() if name.endswith(".html") and f.is_file() else None


def sanity(arm: Arm, path: str, headers: dict[str, str], check_body: bool,
           may_rewrite: bool = False) -> str:
    """One request through the arm: 200 and (unless disabled) the origin's exact bytes.

    An arm that may rewrite (consent-proxy) may instead return the data set's
    `.expected.html`; returns "pass-through", "rewritten", "unchecked" or "differs".
    """
    conn = http.client.HTTPConnection("127.0.0.1", arm.port, timeout=10)
    try:
        conn.request("GET", path, headers=headers)
        r = conn.getresponse()
        body = r.read()
    except OSError as e:
        raise ArmFailed(f"GET {path}: {e!r}")
    finally:
        conn.close()
    if r.status != 200:
        raise ArmFailed(f"GET {path}: status {r.status}: {body[:200]!r}")
    want = expected_body(path)
    if want is None:
        return "unchecked"
    if body == want:
        return "pass-through"
    if may_rewrite and body == rewritten_body(path):
        return "rewritten"
    if check_body:
        raise ArmFailed(f"GET {path}: body differs from the origin's ({len(body)} vs {len(want)} "
                        "bytes) and from its .expected.html; --no-body-check accepts it")
    return "differs"


LUA = """-- generated by bench/proxy_bench.py
wrk.method = "GET"
{headers}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,' ..
    '"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"mean_us":%.1f,"max_us":%d}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, latency.max))
end
"""


def write_lua(ctx: Ctx, headers: dict[str, str]) -> Path:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    path = ctx.tmp / "bench.lua"
    path.write_text(LUA.format(headers=lines))
    return path


def wrk_argv(ctx: Ctx, url: str, conc: int, seconds: int, lua: Path) -> list[str]:
    a = ctx.args
    threads = max(1, min(a.threads, conc))
    return pinned([a.wrk, f"-t{threads}", f"-c{conc}", f"-d{seconds}s", "--timeout", "10s",
                   "-s", str(lua), url], a.client_cpu)


def run_wrk(ctx: Ctx, arm: Arm, path: str, conc: int, seconds: int, lua: Path) -> dict[str, Any]:
    url = f"http://127.0.0.1:{arm.port}{path}"
    argv = wrk_argv(ctx, url, conc, seconds, lua)
    cpu0, m0 = cpu_seconds(arm.pid), cpu_times()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    cpu1, m1 = cpu_seconds(arm.pid), cpu_times()
    srv, cli = cpu_list(ctx.args.server_cpu), cpu_list(ctx.args.client_cpu)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if out.returncode != 0 or line is None:
        raise ArmFailed(f"wrk failed ({out.returncode}): {shlex.join(argv)}: "
                        f"{(out.stderr or out.stdout).strip()[:300]}")
    r = json.loads(line[len("WRKJSON "):])
    n = r["requests"]
    r["rps"] = n / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
    r["cpu_s"] = cpu1 - cpu0
    r["cpu_us_per_req"] = (cpu1 - cpu0) * 1e6 / n if n else None
    # Which side was the bottleneck: a client CPU near 100% means the arm is faster than
    # this placement can show (its req/s is then a lower bound; compare CPU us/req).
    r["server_cpu_busy_pct"] = busy_percent(m0, m1, srv) if srv else None
    r["client_cpu_busy_pct"] = busy_percent(m0, m1, cli) if cli else None
    return r


# ---- throughput mode ------------------------------------------------------------------

def label(path: str) -> str:
    return {"/small": "1 KB", "/page": "150 KB"}.get(path, path)


def med(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def throughput(ctx: Ctx, arm_names: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    a = ctx.args
    origin_port, origin_pid, meta["origin"] = start_origin(ctx, a.origin)
    headers = request_headers(a)
    lua = write_lua(ctx, headers)
    arms: list[Arm] = []
    for name in arm_names:
        try:
            arm = start_arm(ctx, name, origin_port, origin_pid)
            may = name not in ("direct", "nginx", "minimal", "minimal-uvloop")
            arm.bodies = {path: sanity(arm, path, headers, a.body_check, may) for path in a.paths}
        except ArmFailed as e:
            print(f"!! arm {name!r} skipped: {e}", flush=True)
            meta.setdefault("skipped", {})[name] = str(e)
            continue
        arms.append(arm)
        print(f"   arm {name:15s} 127.0.0.1:{arm.port}  pid {arm.pid}  {arm.note}", flush=True)
        print(f"       bodies: " + ", ".join(f"{p} {v}" for p, v in arm.bodies.items()), flush=True)
    if not arms:
        raise SystemExit("no arm could be started")
    meta["arms"] = {x.name: dict(command=x.note, bodies=x.bodies) for x in arms}
    meta["wrk_example"] = shlex.join(wrk_argv(ctx, f"http://127.0.0.1:PORT{a.paths[0]}",
                                              a.conc[0], a.duration, lua))
    meta["cookie_header_bytes"] = len(headers["Cookie"])
    print(f"   wrk: {meta['wrk_example']}  (Cookie header {len(headers['Cookie'])} bytes, "
          f"{len(COOKIES) + len(a.extra_cookie)} cookies)", flush=True)

    if a.warmup > 0:
        for arm in arms:
            for path in a.paths:
                try:
                    run_wrk(ctx, arm, path, max(a.conc), a.warmup, lua)
                except (ArmFailed, subprocess.TimeoutExpired) as e:
                    print(f"!! warm-up {arm.name} {path}: {e}", flush=True)

    runs: list[dict[str, Any]] = []
    total = a.reps * len(arms) * len(a.paths) * len(a.conc)
    done = 0
    for rep in range(a.reps):
        k = rep % len(arms)
        for arm in arms[k:] + arms[:k]:
            for path in a.paths:
                for conc in a.conc:
                    done += 1
                    try:
                        r = run_wrk(ctx, arm, path, conc, a.duration, lua)
                    except (ArmFailed, subprocess.TimeoutExpired) as e:
                        print(f"!! {arm.name} {path} c={conc}: {e}", flush=True)
                        continue
                    r.update(arm=arm.name, path=path, conc=conc, rep=rep)
                    runs.append(r)
                    err = f"  ERRORS {r['errors']}" if r["errors"] else ""
                    print(f"   [{done:3d}/{total}] rep {rep} {arm.name:15s} {label(path):>7s} "
                          f"c={conc:<3d} {r['rps']:9.0f} req/s  p99 {r['p99_us'] / 1000:7.2f} ms  "
                          f"cpu {fmt(r['cpu_us_per_req'], '.0f')} us/req{err}", flush=True)

    summary: list[dict[str, Any]] = []
    for path in a.paths:
        for conc in a.conc:
            for arm in arms:
                rs = [r for r in runs if (r["arm"], r["path"], r["conc"]) == (arm.name, path, conc)]
                if not rs:
                    continue
                rps = [r["rps"] for r in rs]
                summary.append(dict(
                    arm=arm.name, path=path, conc=conc, reps=len(rs), rps=med(rps),
                    rps_min=min(rps), rps_max=max(rps), p50_us=med([r["p50_us"] for r in rs]),
                    p99_us=med([r["p99_us"] for r in rs]),
                    cpu_us_per_req=med([r["cpu_us_per_req"] for r in rs]),
                    errors=sum(r["errors"] for r in rs),
                    server_busy=med([r["server_cpu_busy_pct"] for r in rs]),
                    client_busy=med([r["client_cpu_busy_pct"] for r in rs])))
    bases = [b for b in ("minimal", "nginx", a.baseline) if b]
    bases = list(dict.fromkeys(bases))
    for s in summary:
        for b in bases:
            ref = next((t for t in summary if (t["arm"], t["path"], t["conc"]) ==
                        (b, s["path"], s["conc"])), None)
            s[f"x_{b}"] = s["rps"] / ref["rps"] if ref and ref["rps"] else None
            # The same ratio from CPU cost (ref us/req / arm us/req): what req/s would show
            # if both were CPU-bound alone on their CPU; robust when other work steals time.
            s[f"cx_{b}"] = (ref["cpu_us_per_req"] / s["cpu_us_per_req"]
                            if ref and ref["cpu_us_per_req"] and s["cpu_us_per_req"] else None)
    return dict(runs=runs, summary=summary, bases=bases,
                bodies={x.name: x.bodies for x in arms})


def table(result: dict[str, Any]) -> str:
    bases = result["bases"]
    head = ["input", "c", "arm", "req/s", "spread", "p50 ms", "p99 ms", "CPU us/req"] + \
        [f"x {b}" for b in bases] + [f"cpu x {b}" for b in bases] + ["srv/cli CPU %", "errors"]
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for s in result["summary"]:
        spread = (s["rps_max"] - s["rps_min"]) / s["rps"] * 100 if s["rps"] else 0
        rows.append("| " + " | ".join([
            label(s["path"]), str(s["conc"]), s["arm"], f"{s['rps']:.0f}", f"{spread:.0f}%",
            f"{s['p50_us'] / 1000:.2f}", f"{s['p99_us'] / 1000:.2f}",
            fmt(s["cpu_us_per_req"], ".0f")] + [fmt(s.get(f"x_{b}"), ".2f") for b in bases] +
            [fmt(s.get(f"cx_{b}"), ".2f") for b in bases] +
            [f"{fmt(s['server_busy'], '.0f')}/{fmt(s['client_busy'], '.0f')}",
             str(s["errors"])]) + " |")
    return "\n".join(rows)


def gate(result: dict[str, Any]) -> list[str]:
    """Issue 2's targets at c=50: consent-proxy vs the minimal proxy."""
    lines = []
    for path, target in (("/small", 0.75), ("/page", 0.85)):
        s = next((s for s in result["summary"]
                  if (s["arm"], s["path"], s["conc"]) == ("cp", path, 50)), None)
        if s and s.get("x_minimal") is not None:
            ok = "PASS" if s["x_minimal"] >= target else "FAIL"
            body = result["bodies"].get("cp", {}).get(path, "?")
            lines.append(f"gate c=50 {label(path)}: cp = {s['x_minimal']:.2f}x minimal "
                         f"(target >= {target}) {ok}; by CPU us/req {fmt(s['cx_minimal'], '.2f')}x"
                         f"  [cp body: {body}]")
    return lines


# ---- RSS streaming mode ---------------------------------------------------------------

def rss_stream(ctx: Ctx, arm_names: list[str], meta: dict[str, Any]) -> dict[str, Any]:
    a = ctx.args
    origin_port, origin_pid, meta["origin"] = start_origin(ctx, "aiohttp")
    meta.update(rss_size=a.rss_size, rss_framing=a.rss_framing, rss_type=a.rss_type,
                rss_interval_s=a.rss_interval)
    headers = request_headers(a)
    results = []
    for name in arm_names:
        if name == "direct":
            continue
        try:
            arm = start_arm(ctx, name, origin_port, origin_pid)
            sanity(arm, "/small", headers, a.body_check)
            for _ in range(20):  # warm the arm so its baseline is steady-state
                sanity(arm, "/page", headers, False)
        except ArmFailed as e:
            print(f"!! arm {name!r} skipped: {e}", flush=True)
            meta.setdefault("skipped", {})[name] = str(e)
            continue
        url = (f"http://127.0.0.1:{arm.port}/big?size={a.rss_size}&framing={a.rss_framing}"
               f"&type={a.rss_type}")
        argv = pinned([a.curl, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}",
                       *[x for k, v in headers.items() for x in ("-H", f"{k}: {v}")], url],
                      a.client_cpu)
        base, hwm0 = rss_bytes(arm.pid), hwm_bytes(arm.pid)
        samples = [base]
        t0 = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while True:
                try:
                    out, err = proc.communicate(timeout=a.rss_interval)
                    break
                except subprocess.TimeoutExpired:
                    samples.append(rss_bytes(arm.pid))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        secs = time.monotonic() - t0
        samples.append(rss_bytes(arm.pid))
        hwm1 = hwm_bytes(arm.pid)
        # A peak between samples still shows as a raised high-water mark.
        if hwm1 > hwm0:
            samples.append(hwm1)
        status, _, got = out.strip().partition(" ")
        n = int(got) if got.isdigit() else -1
        # A rewriting arm may shorten HTML (trackers removed); binary must arrive exact.
        exact = a.rss_type == "binary" or name in ("nginx", "minimal", "minimal-uvloop")
        ok_bytes = (proc.returncode == 0 and status == "200" and
                    (n == a.rss_size if exact else a.rss_size * 0.9 <= n <= a.rss_size))
        growth = (max(samples) - base) / 1e6
        r = dict(arm=name, status=status, bytes=int(got) if got.isdigit() else None,
                 complete=ok_bytes, seconds=secs, mb_per_s=a.rss_size / 1e6 / secs,
                 rss_base_mb=base / 1e6, rss_peak_mb=max(samples) / 1e6,
                 rss_end_mb=samples[-1] / 1e6, growth_mb=growth,
                 passed=ok_bytes and growth < RSS_TARGET_MB, samples_mb=[s / 1e6 for s in samples],
                 curl_rc=proc.returncode, curl_stderr=err.strip()[:300])
        results.append(r)
        if not ok_bytes:
            print(f"!! {name}: status {status}, {n} of {a.rss_size} bytes, curl rc "
                  f"{proc.returncode}: {err.strip()[:200]}", flush=True)
        print(f"   {name:15s} {'complete' if ok_bytes else 'INCOMPLETE'} {r['bytes']} bytes in "
              f"{secs:.1f} s ({r['mb_per_s']:.0f} MB/s); RSS {r['rss_base_mb']:.1f} -> peak "
              f"{r['rss_peak_mb']:.1f} MB, growth {growth:.1f} MB "
              f"({'PASS' if r['passed'] else 'FAIL'} < {RSS_TARGET_MB:.0f} MB)", flush=True)
        stop(next(p for p in ctx.procs if p.pid == arm.pid))
    return dict(rss=results)


# ---- main -----------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--arms", default="direct,nginx,minimal,cp",
                    help="comma list from %s plus --arm names" % ",".join(BUILTIN_ARMS))
    ap.add_argument("--arm", action="append", default=[], metavar="NAME=COMMAND",
                    help="extra arm: command template with {python} {repo} {bench} {port} "
                    "{admin_port} {upstream} {origin_port}; added to --arms")
    ap.add_argument("--cp-cmd", default=DEFAULT_CP_CMD, help="command template of the cp arm "
                    "(run in the repo root; default: %(default)s)")
    ap.add_argument("--baseline", help="also report ratios against this arm")
    ap.add_argument("--uvloop", action="store_true",
                    help="run the minimal proxy on uvloop (as consent-proxy does when it uses it)")
    ap.add_argument("--paths", default="/small,/page",
                    help="request paths: /small /page /page.gz /page.br /page.zst /data/FILE")
    ap.add_argument("--conc", default="50,1", help="wrk connection counts (first is the gate)")
    ap.add_argument("--duration", type=int, default=5, help="whole seconds per wrk run")
    ap.add_argument("--warmup", type=int, default=1,
                    help="whole seconds of warm-up per arm and path (0: none)")
    ap.add_argument("--reps", type=int, default=3, help="interleaved repetitions (median taken)")
    ap.add_argument("--quick", action="store_true", help="2 s runs, 1 s warm-up")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (all on the client CPU)")
    ap.add_argument("--header", action="append", default=[], metavar="'Name: value'",
                    help="extra request header, e.g. 'Accept-Encoding: gzip'")
    ap.add_argument("--extra-cookie", action="append", default=[], metavar="NAME=VALUE",
                    help="cookie appended to the 30 (e.g. cp_consent=v1)")
    ap.add_argument("--no-body-check", dest="body_check", action="store_false",
                    help="accept bodies that differ from the origin's (rewriting arms)")
    ap.add_argument("--origin", choices=("nginx", "aiohttp"), default="nginx")
    ap.add_argument("--server-cpu", default="1", help="CPU list for the server under test")
    ap.add_argument("--client-cpu", default="0", help="CPU list for wrk and the origin")
    ap.add_argument("--no-pin", action="store_true", help="do not use taskset")
    ap.add_argument("--start-timeout", type=float, default=20.0)
    ap.add_argument("--python", default=DEFAULT_PYTHON if os.path.exists(DEFAULT_PYTHON)
                    else sys.executable)
    ap.add_argument("--wrk", default="wrk")
    ap.add_argument("--nginx", default=shutil.which("nginx") or "/usr/sbin/nginx")
    ap.add_argument("--curl", default="curl")
    ap.add_argument("--rss-stream", action="store_true",
                    help="stream a generated response through each proxy arm, sample RSS")
    ap.add_argument("--rss-size", type=int, default=1 << 30, help="bytes (default 1 GiB)")
    ap.add_argument("--rss-framing", choices=("length", "chunked"), default="length")
    ap.add_argument("--rss-type", choices=("binary", "html"), default="binary",
                    help="binary: pass-through (issue 2); html: through the rewriter (issue 5)")
    ap.add_argument("--rss-interval", type=float, default=0.5, help="RSS sampling period, s")
    ap.add_argument("--out", type=Path, default=BENCH / "results", help="JSON results directory")
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args(argv)
    if a.quick:
        a.duration, a.warmup = 2, 1
    if a.duration < 1 or a.warmup < 0 or a.reps < 1:
        ap.error("--duration >= 1, --warmup >= 0, --reps >= 1 (wrk takes whole seconds)")
    a.paths = [p for p in a.paths.split(",") if p]
    a.conc = [int(c) for c in a.conc.split(",") if c]
    a.custom = {}
    for spec in a.arm:
        name, sep, cmd = spec.partition("=")
        if not sep or not name or name in BUILTIN_ARMS:
            ap.error(f"--arm {spec!r}: want NAME=COMMAND with a new name")
        a.custom[name] = cmd
    a.arm_names = [n for n in a.arms.split(",") if n]
    a.arm_names += [n for n in a.custom if n not in a.arm_names]
    for n in a.arm_names:
        if n not in BUILTIN_ARMS and n not in a.custom:
            ap.error(f"unknown arm {n!r}")
    if a.no_pin or len(os.sched_getaffinity(0)) < 2:
        if not a.no_pin:
            print("!! fewer than 2 CPUs available: running unpinned", file=sys.stderr)
        a.server_cpu = a.client_cpu = None
    return a


def versions(a: argparse.Namespace) -> dict[str, str]:
    def first(cmd: list[str]) -> str:
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            return (p.stdout + p.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "unavailable"
    return dict(
        python=first([a.python, "-c", "import sys; print(sys.version.split()[0])"]),
        aiohttp=first([a.python, "-c", "import aiohttp; print(aiohttp.__version__)"]),
        uvloop=first([a.python, "-c", "import uvloop; print(uvloop.__version__)"]),
        wrk=first([a.wrk, "-v"]), nginx=first([a.nginx, "-v"]), kernel=platform.release())


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    for tool in (a.wrk if not a.rss_stream else a.curl, "taskset" if a.server_cpu else None):
        if tool and not shutil.which(tool):
            raise SystemExit(f"{tool} not found (apt-get install wrk nginx curl util-linux)")
    if a.origin == "nginx" and not a.rss_stream and not shutil.which(a.nginx):
        print(f"!! {a.nginx} not found: using the aiohttp origin, which shares CPU 0 with wrk "
              "and caps every arm much lower (apt-get install nginx)", file=sys.stderr)
        a.origin = "aiohttp"
    command = shlex.join([sys.executable, *sys.argv]) if argv is None else shlex.join(argv)
    print(f"## proxy_bench\ncommand: {command}", flush=True)
    meta: dict[str, Any] = dict(
        command=command, started=dt.datetime.now().isoformat(timespec="seconds"),
        mode="rss-stream" if a.rss_stream else "throughput", cpus=os.cpu_count(),
        server_cpu=a.server_cpu, client_cpu=a.client_cpu, duration_s=a.duration,
        warmup_s=a.warmup, reps=a.reps, conc=a.conc, paths=a.paths, uvloop_minimal=a.uvloop,
        cp_cmd=a.cp_cmd, custom_arms=a.custom, loadavg_start=os.getloadavg(),
        versions=versions(a))
    tmp = Path(tempfile.mkdtemp(prefix="proxy_bench."))
    ctx = Ctx(a, tmp)

    def on_signal(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        if a.rss_stream:
            result = rss_stream(ctx, a.arm_names, meta)
        else:
            result = throughput(ctx, a.arm_names, meta)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        for p in reversed(ctx.procs):
            stop(p)
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    meta["loadavg_end"] = os.getloadavg()
    noisy = [s for s in result.get("summary", ())
             if s["rps"] and (s["rps_max"] - s["rps_min"]) / s["rps"] > 0.25]
    if meta["loadavg_start"][0] > 0.5:
        print(f"!! load average was {meta['loadavg_start'][0]:.2f} at start: other work shares "
              "these CPUs, expect noise", flush=True)
    print()
    print(f"command: {command}")
    where = f"origin: {meta['origin']}; server CPU {a.server_cpu}, client+origin CPU {a.client_cpu}"
    print(where + (f"; {a.rss_size} bytes, framing {a.rss_framing}, RSS every {a.rss_interval} s "
                   "+ VmHWM" if a.rss_stream else f"; {a.reps} reps x {a.duration} s, median"))
    if a.rss_stream:
        print("| arm | type | complete | bytes | s | MB/s | RSS base MB | RSS peak MB | growth MB "
              "| < 50 MB |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for r in result["rss"]:
            print(f"| {r['arm']} | {a.rss_type} | {'yes' if r['complete'] else 'NO'} | "
                  f"{r['bytes']} | {r['seconds']:.1f} | {r['mb_per_s']:.0f} | "
                  f"{r['rss_base_mb']:.1f} | {r['rss_peak_mb']:.1f} | {r['growth_mb']:.1f} | "
                  f"{'PASS' if r['passed'] else 'FAIL'} |")
    else:
        print(table(result))
        for line in gate(result):
            print(line)
        if "cp" in result["bodies"] and not a.uvloop:
            print("note: consent-proxy runs on uvloop when installed; pass --uvloop so the "
                  "minimal baseline uses the same loop")
    if noisy:
        print(f"!! {len(noisy)} rows spread more than 25% between repetitions (load average "
              f"{meta['loadavg_start'][0]:.1f} -> {meta['loadavg_end'][0]:.1f}): rerun when the "
              "machine is quiet, or with more/longer --reps/--duration")
    for name, why in meta.get("skipped", {}).items():
        print(f"skipped arm {name}: {why.splitlines()[0]}")
    a.out.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = a.out / f"{'rss' if a.rss_stream else 'proxy'}_bench-{stamp}.json"
    out.write_text(json.dumps(dict(meta=meta, **result), indent=1) + "\n")
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
