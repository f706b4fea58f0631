"""One JSON access-log line per request: no cookie values, no query strings.

Referer and User-Agent only when enabled; the client IP is truncated (IPv4 /24, IPv6 /48)
unless full addresses are enabled. Lines are buffered and written in batches (at 64 lines
and at least once a second, like nginx's `access_log ... buffer= flush=`): a write syscall
per request would cost more than the rest of the log line.
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time
from functools import lru_cache
from typing import TextIO

from aiohttp import web

from proxy.config import LoggingConfig

BATCH = 64


@lru_cache(maxsize=4096)
def truncate_ip(ip: str | None) -> str:
    if not ip:
        return ""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


class AccessLog:
    def __init__(self, cfg: LoggingConfig, stream: TextIO | None = None) -> None:
        self.enabled = cfg.access_log
        self.cfg = cfg
        self.stream = stream if stream is not None else sys.stderr
        self._lines: list[str] = []

    def write(self, request: web.BaseRequest, status: int, duration: float, rewritten: bool,
              cfg: LoggingConfig | None = None) -> None:
        """Buffer one line; `cfg` is the current runtime's logging section (reloads apply)."""
        cfg = cfg or self.cfg
        client = request.remote if cfg.full_client_ip else truncate_ip(request.remote)
        line = (f'{{"ts":{time.time():.3f},"type":"access","client":"{client or ""}",'
                f'"method":{json.dumps(request.method)},"path":{json.dumps(request.path)},"status":{status},'
                f'"duration_ms":{duration * 1000:.2f},"rewritten":{"true" if rewritten else "false"}')
        if cfg.log_user_agent:
            line += ',"user_agent":' + json.dumps(request.headers.get("User-Agent", ""))
        if cfg.log_referer:
            line += ',"referer":' + json.dumps(request.headers.get("Referer", "").split("?", 1)[0])
        self._lines.append(line + "}")
        if len(self._lines) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # a closed stderr must never fail a request
