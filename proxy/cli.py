"""The command line: `consent-proxy run | check | demo | explain`.

Flags override the config file, which is the bundled `config/default.yaml` unless
`--config` names another. Exit codes: 0 ok, 1 bad config or bad input, 2 usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

from proxy import __version__
from proxy.config import Config, ConfigError, bundled_config_path, load_config, parse_host_port
from proxy.scan import add_explain_html_arguments, add_scan_parser

_STD_ATTRS = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Application logs as one JSON object per line; access-log lines are already JSON."""

    def format(self, record: logging.LogRecord) -> str:
        if record.name == "consent_proxy.access":
            return record.getMessage()
        entry: dict[str, Any] = {"ts": round(record.created, 3), "level": record.levelname.lower(),
                                 "logger": record.name, "msg": record.getMessage()}
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS:
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def setup_logging(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _overrides(args: argparse.Namespace) -> dict[tuple[str, str], Any]:
    return {
        ("upstream", "url"): getattr(args, "upstream", None),
        ("listen", "address"): getattr(args, "listen", None),
        ("admin", "address"): getattr(args, "admin", None),
        ("upstream", "read_timeout"): getattr(args, "read_timeout", None),
    }


def _load(path: Path, overrides: dict[tuple[str, str], Any]) -> Config | None:
    try:
        return load_config(path, overrides)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _event_loop_policy() -> None:
    try:
        import uvloop  # optional extra: measured faster in bench/
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def cmd_run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        print("consent-proxy run: --workers must be at least 1", file=sys.stderr)
        return 2
    path = Path(args.config) if args.config else bundled_config_path()
    overrides = _overrides(args)
    config = _load(path, overrides)
    if config is None:
        return 1
    setup_logging(config.logging.level)
    if args.workers > 1:
        from proxy.workers import run_supervisor

        return run_supervisor(path, overrides, config, args.workers, args.multiproc_dir)
    from proxy.server import run_until_signalled

    _event_loop_policy()
    try:
        return asyncio.run(run_until_signalled(path, overrides, config))
    except OSError as exc:
        logging.getLogger("consent_proxy").error(f"cannot start: {exc}", extra={"event": "start_failed"})
        return 1


def cmd_check(args: argparse.Namespace) -> int:
    from proxy.catalogue import load_catalogue
    from proxy.runtime import Runtime

    path = Path(args.file)
    config = _load(path, {})
    if config is None:
        return 1
    try:
        runtime = Runtime.build(config, load_catalogue(), fname=str(path))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    for warning in config.warnings:
        print(f"{path}: warning: {warning}", file=sys.stderr)
    print(f"{path}: ok: upstream {config.upstream.url}, listen {config.listen.address}, "
          f"admin {config.admin.address}, {len(runtime.hostnames)} hostnames, "
          f"consent sources {', '.join(config.consent.sources)}, "
          f"{len(config.cookies.rules)} cookie rules, {len(config.trackers.rules)} tracker rules")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from proxy.demo_runner import run_demo

    setup_logging("info")
    _event_loop_policy()
    try:
        return asyncio.run(run_demo(parse_host_port(args.listen), parse_host_port(args.origin),
                                    parse_host_port(args.admin)))
    except OSError as exc:
        print(f"consent-proxy demo: cannot start: {exc} (choose other ports with --listen/--origin/--admin)",
              file=sys.stderr)
        return 1


def cmd_explain(args: argparse.Namespace) -> int:
    """Print each category's consent state and what decided it, for a Cookie header value."""
    from multidict import CIMultiDict

    from proxy.catalogue import load_catalogue
    from proxy.consent import decide, explain_lines
    from proxy.runtime import Runtime

    path = Path(args.config) if args.config else bundled_config_path()
    config = _load(path, {})
    if config is None:
        return 1
    headers: CIMultiDict[str] = CIMultiDict()
    for raw in args.header or []:
        name, sep, value = raw.partition(":")
        if not sep or not name.strip():
            print(f"consent-proxy explain: --header {raw!r} is not 'Name: value'", file=sys.stderr)
            return 2
        headers.add(name.strip(), value.strip())
    runtime = Runtime.build(config, load_catalogue(), fname=str(path))
    cookie = args.cookie
    if cookie is not None and cookie.lower().startswith("cookie:"):
        cookie = cookie[7:].strip()
    result = decide(cookie, headers, runtime.consent)
    print(f"consent sources (in order): {', '.join(runtime.consent.sources)}")
    for line in explain_lines(result):
        print(line)
    if cookie:
        from proxy.cookies import filter_request_cookie

        filtered = filter_request_cookie(cookie, result.consent, runtime.policy, runtime.protected_cookies)
        for name, category in filtered.removed:
            print(f"cookie {name}: {category} -> removed")
        for pair in filtered.kept:
            verdict = runtime.policy.classify_cookie(pair.name)
            why = "consent cookie" if pair.name in runtime.protected_cookies else (
                f"{verdict.category} ({verdict.vendor}, {verdict.source})" if verdict else "unclassified (allowed)")
            print(f"cookie {pair.name}: {why} -> kept")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consent-proxy", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"consent-proxy {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the proxy")
    run.add_argument("--config", help="YAML config file (default: the bundled config/default.yaml)")
    run.add_argument("--upstream", help="origin URL, e.g. http://127.0.0.1:8080")
    run.add_argument("--listen", help="public HOST:PORT")
    run.add_argument("--admin", help="admin HOST:PORT (metrics, health)")
    run.add_argument("--read-timeout", type=float, help="seconds the upstream may stay silent (504 after)")
    run.add_argument("--workers", type=int, default=1,
                     help="worker processes sharing the listen port (SO_REUSEPORT); default 1")
    run.add_argument("--multiproc-dir", help="prometheus-client multiprocess directory for --workers N "
                     "(default: $PROMETHEUS_MULTIPROC_DIR, else a temporary directory); wiped at start")
    run.set_defaults(func=cmd_run)

    check = sub.add_parser("check", help="validate and compile a config file, like nginx -t")
    check.add_argument("file")
    check.set_defaults(func=cmd_check)

    demo = sub.add_parser("demo", help="start the embedded demo site with the proxy in front of it")
    demo.add_argument("--listen", default="127.0.0.1:8000", help="proxy HOST:PORT (default 127.0.0.1:8000)")
    demo.add_argument("--origin", default="127.0.0.1:8081", help="demo origin HOST:PORT (default 127.0.0.1:8081)")
    demo.add_argument("--admin", default="127.0.0.1:9090", help="admin HOST:PORT (default 127.0.0.1:9090)")
    demo.set_defaults(func=cmd_demo)
    explain = sub.add_parser("explain", help="show how cookies and headers decide consent, or (--html) what "
                                             "happens to each element of a page")
    explain.add_argument("--cookie", help="the Cookie header value (or 'Cookie: ...')")
    explain.add_argument("--header", action="append", help="an extra request header, e.g. 'Sec-GPC: 1' (repeatable)")
    explain.add_argument("--config", help="config whose consent sources and rules apply (default: bundled)")
    explain.set_defaults(func=cmd_explain)
    add_explain_html_arguments(explain)
    add_scan_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
