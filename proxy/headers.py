"""Header rules of a reverse proxy, written once: hop-by-hop removal, forwarding headers, Host.

Pure module (multidict only, no aiohttp). Cited to RFC 9110 unless noted.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache

from multidict import CIMultiDict, CIMultiDictProxy

#: RFC 9110 §7.6.1 hop-by-hop fields, plus the de-facto Proxy-Connection and Keep-Alive, and
#: Alt-Svc (an origin must not advertise alternative services on the proxy's authority).
HOP_BY_HOP = frozenset({
    "connection", "proxy-connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "te", "trailer", "transfer-encoding", "upgrade",
})
RESPONSE_DROP = HOP_BY_HOP | {"alt-svc"}
#: Request fields the proxy answers itself or replaces (Expect: 100-continue is answered here).
REQUEST_DROP = HOP_BY_HOP | {"expect"}
FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded"})

VIA = "1.1 consent-proxy"

# RFC 9110 §7.2 / RFC 3986 §3.2.2: uri-host [ ":" port ]; reg-name kept to the DNS alphabet.
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def connection_tokens(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> frozenset[str]:
    """Lower-cased field names listed in every Connection header (RFC 9110 §7.6.1)."""
    values = headers.getall("Connection", ())
    if not values:
        return frozenset()
    return frozenset(t.strip().lower() for v in values for t in v.split(",") if t.strip())


@lru_cache(maxsize=1024)
def is_valid_host(host: str) -> bool:
    """Whether a Host header value is a well-formed uri-host[:port] (llhttp does not check)."""
    return bool(_HOST_RE.match(host))


@lru_cache(maxsize=1024)
def host_without_port(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1].lower()
    return host.rsplit(":", 1)[0].lower() if ":" in host else host.lower()


def is_trusted(peer: str | None, networks: tuple[Network, ...]) -> bool:
    """Whether the TCP peer is one of the configured trusted proxies."""
    if not networks or not peer:
        return False
    try:
        addr = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(addr in net for net in networks)


def outbound_request_headers(
    incoming: CIMultiDictProxy[str],
    *,
    peer: str | None,
    scheme: str,
    trusted: bool,
    upstream_host: str | None,
) -> CIMultiDict[str]:
    """Headers to send upstream: hop-by-hop removed, X-Forwarded-* and Via set, order kept.

    From an untrusted peer, incoming X-Forwarded-* and Forwarded are dropped and set fresh
    (as Caddy does); from a trusted proxy, X-Forwarded-For is appended to and its -Proto/-Host kept.
    `upstream_host` replaces Host when the client's Host is not passed through.
    """
    drop = REQUEST_DROP | connection_tokens(incoming)
    if not trusted:
        drop = drop | FORWARDING
    out: CIMultiDict[str] = CIMultiDict()
    xff: list[str] = []
    for name, value in incoming.items():
        lname = name.lower()
        if lname in drop:
            continue
        if lname == "x-forwarded-for":
            xff.append(value)
            continue
        out.add(name, value)
    if peer:
        xff.append(peer)
    if xff:
        out["X-Forwarded-For"] = ", ".join(xff)
    if "X-Forwarded-Proto" not in out:
        out["X-Forwarded-Proto"] = scheme
    host = incoming.get("Host")
    if host and "X-Forwarded-Host" not in out:
        out["X-Forwarded-Host"] = host
    if upstream_host is not None:
        out["Host"] = upstream_host
    via = incoming.get("Via")
    out["Via"] = f"{via}, {VIA}" if via else VIA
    return out


def inbound_response_headers(upstream: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """Upstream response headers minus hop-by-hop ones (and those named in Connection), order kept.

    Content-Length is kept: the caller decides whether the body is passed unchanged.
    """
    drop = RESPONSE_DROP | connection_tokens(upstream)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in upstream.items():
        if name.lower() not in drop:
            out.add(name, value)
    via = out.get("Via")
    out["Via"] = f"{via}, {VIA}" if via else VIA
    return out


def rewrite_location(value: str, upstream_base: str, public_base: str) -> str:
    """A Location pointing at the upstream's own address is rewritten to the public one
    (nginx `proxy_redirect default`); any other value is returned unchanged."""
    if value.startswith(upstream_base):
        rest = value[len(upstream_base):]
        if not rest or rest[0] in "/?#":
            return public_base + rest
    return value
