"""`consent-proxy run --workers N`: N worker processes share the public port, one supervisor.

Why this shape (issue 7, "Scale on one machine"; reverse-proxy notes §2.E):

- SO_REUSEPORT, not gunicorn. Every worker is the unchanged single-process server
  (`server.start` with `reuse_port=True`), so there is one serving code path; Linux spreads
  new connections over the listening sockets by a hash of the 4-tuple, where a shared
  accept queue (gunicorn's pre-fork model) lets whichever asyncio worker wakes first take
  most connections. No new dependency, and the supervisor keeps control of the signals:
  a SIGHUP is validated once, before any worker sees it.
- Fresh processes (`python -m proxy.workers`), never a fork: prometheus-client chooses its
  value store when it is first imported, and a forked child would inherit the parent's
  event loop, sockets and mmaps. The supervisor sets `PROMETHEUS_MULTIPROC_DIR` (the
  platform's directory, e.g. a Kubernetes emptyDir, from `--multiproc-dir` or the
  environment, with its `*.db` files wiped; else a fresh temporary directory) before it
  creates a metric or starts a worker, so every process writes its own files there.
- One admin port, on the supervisor: `/metrics` is a `MultiProcessCollector` over that
  directory (sums every worker, including ones that died: counters never go back),
  `/livez`, `/readyz` (fails while draining or while no worker serves), `/config`, and
  `/workers` (pid, readiness, applied config hash, restarts of each worker).
- Reload: the supervisor validates and compiles the config (SIGHUP, a file change, or
  `POST /-/reload`) and counts the result once. Invalid: logged, counted, the workers keep
  serving the old config. Valid: SIGHUP to every worker, which reloads the file and reports
  the hash it applied.
- SIGTERM/SIGINT: readiness fails, every worker gets SIGTERM and drains its in-flight
  requests (limits.shutdown_timeout); the supervisor exits 0 once all workers exited 0.
  Workers run in their own process group, so a terminal's Ctrl-C reaches only the
  supervisor, and each stops when its parent disappears.
- A worker that dies unexpectedly is restarted after a backoff (0.5 s doubling to 30 s,
  reset after 30 s of healthy running) and `multiprocess.mark_process_dead(pid)` drops its
  live gauges.

The supervisor holds a bound (not listening) SO_REUSEPORT socket on the public address: the
port stays ours while workers restart, and `:0` resolves to one port for all workers.
Known limit: a worker restarted after the config file became invalid fails to start
(it reads the file, not the supervisor's copy) and is retried with the backoff.

Only standard-library imports at module level: importing this module (from `cli`, or as
`python -m proxy.workers`) must not import prometheus-client before the variable is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

    from proxy.config import Config, HostPort
    from proxy.server import App

log = logging.getLogger("consent_proxy")

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
STATUS_KEY = "consent_proxy_worker"  # marks a status line on a worker's stdout
BACKOFF_FIRST, BACKOFF_MAX, HEALTHY_AFTER = 0.5, 30.0, 30.0
KILL_GRACE = 5.0  # seconds past limits.shutdown_timeout before a stuck worker is killed

Overrides = dict[tuple[str, str], Any]


# ---- the supervisor -------------------------------------------------------------------------

def prepare_multiproc_dir(given: str | None) -> tuple[Path, bool]:
    """The multiprocess directory, emptied of metric files; True if we created it (and remove it).

    Only `*.db` files are removed from a given directory: a mistyped path is never wiped.
    """
    given = given or os.environ.get(MULTIPROC_ENV)
    if not given:
        return Path(tempfile.mkdtemp(prefix="consent-proxy-metrics-")), True
    path = Path(given)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    return path, False


def use_multiproc_dir(path: Path) -> None:
    """Set the variable for this process and every worker it starts."""
    os.environ[MULTIPROC_ENV] = str(path)
    if "prometheus_client.values" in sys.modules:
        # Imported already (an embedding program): the value store is chosen at import time.
        from prometheus_client import values
        values.ValueClass = values.get_value_class()


def reserve_port(host: str, port: int) -> tuple[socket.socket, int]:
    """Bind (never listen) a SO_REUSEPORT socket on the public address; returns it and the port.

    Connections go only to listening sockets, so this one takes none; it keeps the port from
    other programs between worker restarts and fails early if the port is taken.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock, int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Exposition:
    """What `proxy.admin`'s /metrics reads (`app.metrics.registry`): the sum of every process."""

    registry: "CollectorRegistry"

    def flush(self) -> None:
        """Nothing to apply here: each worker flushes its own batched increments every second."""


@dataclass
class Worker:
    """One worker slot: the process currently filling it and what it reported."""

    index: int
    process: asyncio.subprocess.Process | None = None
    ready: bool = False
    config_hash: str = ""
    restarts: int = 0
    started_at: float = 0.0
    exit_code: int | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def signal(self, sig: int) -> None:
        if self.process is not None and self.process.returncode is None:
            try:
                self.process.send_signal(sig)
            except ProcessLookupError:
                pass


class Supervisor:
    """Starts and watches the workers; serves the admin port. Duck-types `server.App` for
    `proxy.admin` (config_path, overrides, holder, metrics.registry, ready, reload)."""

    def __init__(self, config_path: Path, overrides: Overrides, worker_overrides: Overrides,
                 config: "Config", count: int) -> None:
        from prometheus_client import CollectorRegistry, multiprocess

        from proxy.catalogue import load_catalogue
        from proxy.metrics import Metrics
        from proxy.runtime import Runtime, RuntimeHolder
        from proxy.server import config_digest, file_signature

        self.config_path = config_path
        self.overrides = overrides
        self.worker_overrides = worker_overrides
        self.catalogue = load_catalogue()
        # Raises ConfigError before any worker starts.
        self.holder = RuntimeHolder(Runtime.build(config, self.catalogue, config_digest(config_path),
                                                  str(config_path)))
        self.config_signature = file_signature(config_path)
        # The supervisor's own series (reload results) go to the directory like a worker's;
        # its private registry is never exposed.
        self.own = Metrics(multiprocess=True)
        self.own.last_reload_time.set_to_current_time()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        self.metrics = Exposition(registry)
        self.workers = [Worker(i) for i in range(count)]
        self.stopping = asyncio.Event()
        self.draining = False
        self.admin_port = 0

    @property
    def ready(self) -> bool:
        return not self.draining and any(w.ready and w.running for w in self.workers)

    def reload(self) -> bool:
        """Validate and compile the config file, count the result once, then signal the workers."""
        from proxy.server import compile_reload, file_signature

        self.config_signature = file_signature(self.config_path)
        runtime = compile_reload(self.config_path, self.overrides, self.catalogue, self.own,
                                 "the workers keep serving the previous config")
        if runtime is None:
            return False
        self.holder.current = runtime
        log.info("config validated; reloading workers", extra={"event": "reloaded", "config_hash": runtime.config_hash})
        for w in self.workers:
            if w.ready:  # a starting worker compares hashes when it reports ready
                w.signal(signal.SIGHUP)
        return True

    def worker_argv(self, w: Worker) -> list[str]:
        overrides = [[s, k, v] for (s, k), v in self.worker_overrides.items() if v is not None]
        return [sys.executable, "-m", "proxy.workers", "--config", str(self.config_path),
                "--overrides", json.dumps(overrides), "--index", str(w.index)]

    async def run_slot(self, w: Worker) -> None:
        """Keep one worker running until shutdown; restart it with a backoff when it dies."""
        from prometheus_client import multiprocess

        failures = 0
        while not self.stopping.is_set():
            w.ready, w.exit_code, w.started_at = False, None, time.monotonic()
            try:
                # Own process group: terminal signals reach only the supervisor, which forwards.
                proc = await asyncio.create_subprocess_exec(
                    *self.worker_argv(w), stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                    process_group=0)
            except OSError as exc:
                log.error(f"cannot start worker: {exc}", extra={"event": "worker_start_failed", "worker": w.index})
                proc = None
            if proc is not None:
                w.process = proc
                if self.stopping.is_set():
                    w.signal(signal.SIGTERM)  # shutdown began while it was being spawned
                log.info("worker started", extra={"event": "worker_started", "worker": w.index, "pid": proc.pid})
                await self.read_status(w, proc)
                w.exit_code = await proc.wait()
                w.ready = False
                multiprocess.mark_process_dead(proc.pid)
                if self.stopping.is_set():
                    log.info("worker exited", extra={"event": "worker_exited", "worker": w.index,
                                                     "pid": proc.pid, "code": w.exit_code})
                    return
            failures = 1 if time.monotonic() - w.started_at > HEALTHY_AFTER else failures + 1
            delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (failures - 1))
            log.error("worker died; restarting", extra={
                "event": "worker_died", "worker": w.index, "pid": proc.pid if proc else None,
                "code": w.exit_code, "restart_in": delay})
            try:
                await asyncio.wait_for(self.stopping.wait(), delay)
            except asyncio.TimeoutError:
                w.restarts += 1
        w.exit_code = 0  # stopped while waiting to restart: nothing to drain

    async def read_status(self, w: Worker, proc: asyncio.subprocess.Process) -> None:
        """Follow a worker's status lines until its stdout closes; pass other output through."""
        assert proc.stdout is not None
        async for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
            if not isinstance(msg, dict) or STATUS_KEY not in msg:
                sys.stdout.buffer.write(line)
                sys.stdout.flush()
                continue
            event = msg[STATUS_KEY]
            if event in ("ready", "reloaded"):
                w.config_hash = str(msg.get("config_hash", ""))
            if event == "ready":
                w.ready = True
                if w.config_hash != self.holder.current.config_hash:
                    w.signal(signal.SIGHUP)  # the file changed while it started

    async def watch_config(self) -> None:
        """Reload on a config file change, as `server.watch_config` does in one process."""
        from proxy.server import file_signature

        while True:
            config = self.holder.current.config
            await asyncio.sleep(config.admin.watch_interval)
            if not config.admin.watch_config:
                continue
            signature = file_signature(self.config_path)
            if signature is not None and signature != self.config_signature:
                log.info("config file changed", extra={"event": "config_changed", "path": str(self.config_path)})
                self.reload()

    def status(self) -> list[dict[str, Any]]:
        return [{"worker": w.index, "pid": w.process.pid if w.process else None, "ready": w.ready and w.running,
                 "config_hash": w.config_hash, "restarts": w.restarts} for w in self.workers]

    async def start_admin(self) -> "web.AppRunner":
        from aiohttp import web

        from proxy.admin import make_admin_app

        async def workers_view(request: web.Request) -> web.Response:
            return web.json_response({"config_hash": self.holder.current.config_hash, "workers": self.status()})

        admin = make_admin_app(cast("App", self))
        admin.router.add_get("/workers", workers_view)
        runner = web.AppRunner(admin, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        address = self.holder.current.config.admin.address
        await web.TCPSite(runner, address.host, address.port).start()
        for addr in runner.addresses:
            if isinstance(addr, tuple):
                self.admin_port = int(addr[1])
                break
        return runner

    def drain(self) -> None:
        """Fail readiness and SIGTERM every worker: each drains its in-flight requests."""
        self.draining = True
        log.info("shutting down: workers drain in-flight requests", extra={"event": "stopping"})
        for w in self.workers:
            w.signal(signal.SIGTERM)


async def supervise(config_path: Path, overrides: Overrides, config: "Config", count: int) -> int:
    """Reserve the port, start the admin port and the workers; run until SIGTERM/SIGINT."""
    from proxy.config import ConfigError

    address = config.listen.address
    try:
        reservation, port = reserve_port(address.host, address.port)
    except OSError as exc:
        log.error(f"cannot start: {exc}", extra={"event": "start_failed"})
        return 1
    listen = f"[{address.host}]:{port}" if ":" in address.host else f"{address.host}:{port}"
    worker_overrides = {**overrides, ("listen", "address"): listen}
    try:
        try:
            sup = Supervisor(config_path, overrides, worker_overrides, config, count)
        except ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            return 1
        try:
            admin = await sup.start_admin()
        except OSError as exc:
            log.error(f"cannot start: {exc}", extra={"event": "start_failed"})
            return 1
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, sup.stopping.set)
        loop.add_signal_handler(signal.SIGINT, sup.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, sup.reload)
        slots = [asyncio.create_task(sup.run_slot(w)) for w in sup.workers]
        watcher = asyncio.create_task(sup.watch_config())
        log.info("consent-proxy supervisor started", extra={
            "event": "started", "workers": count, "listen": listen,
            "admin": f"{config.admin.address.host}:{sup.admin_port}", "multiproc_dir": os.environ[MULTIPROC_ENV]})
        await sup.stopping.wait()
        watcher.cancel()
        sup.drain()
        grace = sup.holder.current.config.limits.shutdown_timeout + KILL_GRACE
        _done, pending = await asyncio.wait(slots, timeout=grace)
        if pending:
            log.error("workers did not finish draining; killing them", extra={"event": "workers_killed"})
            for w in sup.workers:
                w.signal(signal.SIGKILL)
            await asyncio.wait(pending, timeout=KILL_GRACE)
        await admin.cleanup()
        clean = all(w.exit_code == 0 for w in sup.workers)
        log.info("consent-proxy stopped", extra={"event": "stopped", "clean": clean})
        return 0 if clean else 1
    finally:
        reservation.close()


def run_supervisor(config_path: Path, overrides: Overrides, config: "Config", count: int,
                   multiproc_dir: str | None = None) -> int:
    """`consent-proxy run --workers N` (N > 1): exit 0 after a clean shutdown, 1 otherwise."""
    path, created = prepare_multiproc_dir(multiproc_dir)
    use_multiproc_dir(path)
    try:
        return asyncio.run(supervise(config_path, overrides, config, count))
    finally:
        if created:
            shutil.rmtree(path, ignore_errors=True)


# ---- a worker -------------------------------------------------------------------------------

def report(event: str, **fields: Any) -> None:
    """One status line to the supervisor (stdout is a pipe to it). Never raises."""
    try:
        sys.stdout.write(json.dumps({STATUS_KEY: event, **fields}) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # the supervisor is gone; the parent watch stops this worker


def reload_worker(app: "App") -> bool:
    """Apply the config file the supervisor validated. Success was counted by the supervisor;
    a failure here (the file changed again meanwhile) is counted, and the old config serves."""
    from proxy.config import ConfigError, load_config
    from proxy.runtime import Runtime
    from proxy.server import config_digest, file_signature

    app.config_signature = file_signature(app.config_path)
    try:
        config = load_config(app.config_path, app.overrides)
        runtime = Runtime.build(config, app.catalogue, config_digest(app.config_path), str(app.config_path))
    except ConfigError as exc:
        app.metrics.reloads.labels("failure").inc()
        app.metrics.last_reload_ok.set(0)
        log.error("config reload failed in a worker; its previous config keeps serving",
                  extra={"event": "reload_failed", "problems": [str(p) for p in exc.problems]})
        report("reload_failed")
        return False
    app.holder.current = runtime
    app.metrics.last_reload_ok.set(1)
    app.metrics.last_reload_time.set_to_current_time()
    log.info("config reloaded", extra={"event": "reloaded", "config_hash": runtime.config_hash})
    report("reloaded", config_hash=runtime.config_hash)
    return True


async def watch_parent(app: "App", parent: int) -> None:
    """Drain and exit if the supervisor disappears (we are reparented)."""
    while os.getppid() == parent:
        await asyncio.sleep(1.0)
    log.error("supervisor gone; draining", extra={"event": "orphaned"})
    app.stopping.set()


async def serve_worker(config_path: Path, overrides: Overrides, config: "Config") -> int:
    """One worker: the single-process server without admin port or file watch; exit 0 on SIGTERM."""
    from proxy.metrics import Metrics
    from proxy.server import freeze_startup_objects, start, stop

    parent = os.getppid()
    app = await start(config_path, overrides, config, admin=False, reuse_port=True, watch=False,
                      metrics=Metrics(multiprocess=True))
    freeze_startup_objects()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.stopping.set)
    loop.add_signal_handler(signal.SIGINT, app.stopping.set)
    loop.add_signal_handler(signal.SIGHUP, reload_worker, app)
    orphan = asyncio.create_task(watch_parent(app, parent))
    report("ready", config_hash=app.holder.current.config_hash, pid=os.getpid())
    await app.stopping.wait()
    orphan.cancel()
    log.info("worker draining in-flight requests", extra={"event": "stopping", "pid": os.getpid()})
    await stop(app)
    return 0


def _exit_before_serving(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # nothing accepted yet, so nothing to drain


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m proxy.workers`: started only by the supervisor."""
    # Until the event loop takes over: SIGTERM means a clean exit, SIGHUP is not fatal
    # (the supervisor re-signals if the file changed meanwhile).
    signal.signal(signal.SIGTERM, _exit_before_serving)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog="consent-proxy-worker")
    parser.add_argument("--config", required=True)
    parser.add_argument("--overrides", default="[]")
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    if MULTIPROC_ENV not in os.environ:
        parser.error(f"{MULTIPROC_ENV} is not set: workers are started by `consent-proxy run --workers N`")

    from proxy.cli import _event_loop_policy, setup_logging
    from proxy.config import ConfigError, load_config

    path = Path(args.config)
    overrides: Overrides = {(s, k): v for s, k, v in json.loads(args.overrides)}
    try:
        config = load_config(path, overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    setup_logging(config.logging.level)
    _event_loop_policy()
    try:
        return asyncio.run(serve_worker(path, overrides, config))
    except OSError as exc:
        log.error(f"worker cannot start: {exc}", extra={"event": "start_failed", "worker": args.index})
        return 1


if __name__ == "__main__":
    sys.exit(worker_main())
