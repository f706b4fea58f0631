"""The one pooled client session to the configured upstream, and upstream errors → 502/504.

Every setting here exists because aiohttp's client defaults are wrong for a proxy
(see the reverse-proxy notes, §2.A): no decompression, no cookie jar, no redirects,
no invented request headers, room for large response headers, no total timeout.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass

import aiohttp

from proxy.config import UpstreamConfig

#: Headers aiohttp would add on its own if the client did not send them (RFC 9110 §12.5.3).
SKIP_AUTO_HEADERS = ("User-Agent", "Accept-Encoding", "Accept", "Content-Type")


@dataclass(frozen=True, slots=True)
class UpstreamFailure:
    """How an upstream fault is answered: status, a short reason for the log and the metric label."""

    status: int
    reason: str
    body: str


def make_ssl_context(cfg: UpstreamConfig) -> ssl.SSLContext | bool:
    if not cfg.url.startswith("https:"):
        return True  # unused for http
    if not cfg.verify_tls:
        return False
    return ssl.create_default_context(cafile=cfg.ca_file) if cfg.ca_file else ssl.create_default_context()


def make_session(cfg: UpstreamConfig) -> aiohttp.ClientSession:
    """One session per process, created inside the running loop (after any fork)."""
    connector = aiohttp.TCPConnector(
        limit=cfg.pool_size,
        limit_per_host=cfg.pool_size,
        keepalive_timeout=cfg.keepalive_timeout,
        ssl=make_ssl_context(cfg),
        ttl_dns_cache=10,
    )
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=SKIP_AUTO_HEADERS,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=cfg.connect_timeout, sock_read=cfg.read_timeout),
        max_line_size=cfg.max_response_header_size,
        max_field_size=cfg.max_response_header_size,
        trust_env=False,
        raise_for_status=False,
    )


def classify_failure(exc: BaseException) -> UpstreamFailure:
    """Map a client-side exception raised before response headers to the answer we give."""
    if isinstance(exc, asyncio.TimeoutError):  # ServerTimeoutError and ConnectionTimeoutError too
        return UpstreamFailure(504, "timeout", "504 Gateway Timeout: the upstream server did not answer in time.\n")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamFailure(502, "connect", "502 Bad Gateway: cannot connect to the upstream server.\n")
    if isinstance(exc, aiohttp.ClientResponseError):
        return UpstreamFailure(502, "bad_response", "502 Bad Gateway: the upstream server sent an invalid response.\n")
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, aiohttp.ClientPayloadError,
                        ConnectionError)):
        return UpstreamFailure(502, "reset", "502 Bad Gateway: the upstream server closed the connection.\n")
    return UpstreamFailure(502, "other", "502 Bad Gateway: the upstream request failed.\n")
