"""One JSON access-log line per request: no cookie values, no query strings.

Referer and User-Agent only when enabled; the client IP is truncated (IPv4 /24, IPv6 /48)
unless full addresses are enabled.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time

from aiohttp import web

from proxy.config import LoggingConfig

log = logging.getLogger("consent_proxy.access")


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
    def __init__(self, cfg: LoggingConfig) -> None:
        self.enabled = cfg.access_log
        self.cfg = cfg

    def write(self, request: web.BaseRequest, status: int, duration: float, rewritten: bool) -> None:
        cfg = self.cfg
        entry = {
            "ts": round(time.time(), 3),
            "type": "access",
            "client": request.remote if cfg.full_client_ip else truncate_ip(request.remote),
            "method": request.method,
            "path": request.path,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
            "rewritten": rewritten,
        }
        if cfg.log_user_agent:
            entry["user_agent"] = request.headers.get("User-Agent", "")
        if cfg.log_referer:
            entry["referer"] = request.headers.get("Referer", "").split("?", 1)[0]
        log.info(json.dumps(entry, separators=(",", ":")))
