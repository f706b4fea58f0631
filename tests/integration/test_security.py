"""Security tests on the wire (issue 8): open-proxy attempts, request smuggling, header
injection, the admin surface, and bounded oversized requests.

The origin is a raw asyncio server that records every byte it receives and parses requests
strictly (Content-Length or chunked), so a request smuggled past the proxy would show up as
an extra request line. test_proxy_faults.py / test_proxy_headers.py already cover the basic
CONNECT, absolute-form, 421, CL+TE, duplicate CL, obs-fold and h2c cases against an aiohttp
origin; this file adds the variants and the byte-level recording.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from proxy.config import ConfigError
from tests.conftest import raw_exchange

HOSTNAMES = "site:\n  hostnames: [www.example.com, '*.shop.example']\n"
SMUGGLED = b"GET /smuggled HTTP/1.1\r\nHost: www.example.com\r\n\r\n"


class RecordingOrigin:
    """Records every byte and every request line; answers each request `200 ok`."""

    def __init__(self) -> None:
        self.raw = bytearray()
        self.requests: list[tuple[bytes, list[tuple[bytes, bytes]], bytes]] = []
        self.connections = 0

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.raw += head
                lines = head[:-4].split(b"\r\n")
                fields = [(k.strip().lower(), v.strip()) for k, _, v in (ln.partition(b":") for ln in lines[1:])]
                te = [v for k, v in fields if k == b"transfer-encoding"]
                cl = [v for k, v in fields if k == b"content-length"]
                body = b""
                if te:
                    while True:
                        size_line = await reader.readuntil(b"\r\n")
                        self.raw += size_line
                        size = int(size_line.split(b";")[0], 16)
                        chunk = await reader.readexactly(size + 2)
                        self.raw += chunk
                        body += chunk[:-2]
                        if size == 0:
                            break
                elif cl:
                    body = await reader.readexactly(int(cl[0]))
                    self.raw += body
                self.requests.append((lines[0], fields, body))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @property
    def request_lines(self) -> list[bytes]:
        return [r[0] for r in self.requests]

    def assert_unambiguous(self) -> None:
        """Every request the origin saw has exactly one, plain framing (RFC 9112 §6)."""
        for line, fields, _ in self.requests:
            names = [k for k, _ in fields]
            assert not (b"transfer-encoding" in names and b"content-length" in names), line
            assert names.count(b"content-length") <= 1 and names.count(b"transfer-encoding") <= 1, line
            for k, v in fields:
                if k == b"transfer-encoding":
                    assert v.lower() == b"chunked", (line, v)
                if k == b"content-length":
                    assert v.isdigit(), (line, v)
        assert b"\r\n " not in bytes(self.raw) and b"\r\n\t" not in bytes(self.raw)  # no obs-fold forwarded


@pytest.fixture
async def recorded(raw_origin, proxy):
    rec = RecordingOrigin()
    app = await proxy(await raw_origin(rec.handler), HOSTNAMES)
    return app, rec


def status_of(reply: bytes) -> int:
    return int(reply[9:12]) if reply.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0  # parser errors: 1.0


# --- never an open proxy -------------------------------------------------------------------


OPEN_PROXY_ATTEMPTS = [
    b"GET http://www.example.com@evil.example/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET http://www.example.com:80@evil.example:80/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET http://evil.example#@www.example.com/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET http://evil.example\\@www.example.com/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET https://evil.example/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET HTTP://EVIL.EXAMPLE/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET http://127.0.0.1/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET http://www.example.com.evil.example/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET ftp://www.example.com@evil.example/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"GET evil.example:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    b"CONNECT www.example.com:443 HTTP/1.1\r\nHost: www.example.com:443\r\n\r\n\x16\x03\x01\x00\x05hello",
    b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: www.example.com\r\n\r\nSSH-2.0-OpenSSH_9.6\r\n",
    b"CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n" + SMUGGLED,
]

HOST_ATTEMPTS = [
    b"Host: evil.example",
    b"Host: www.example.com.evil.example",
    b"Host: evilwww.example.com",
    b"Host: shop.example",  # the wildcard covers subdomains only
    b"Host: a.b.shop.example",  # ... and exactly one label
    b"Host: www.example.com@evil.example",
    b"Host: www.example.com/evil",
    b"Host: www.example.com evil.example",
    b"Host: www.example.com, evil.example",
    b"Host: www.example.com:99999999",
    b"Host: www.example.com:80:80",
    b"Host: www.example.com\x00.evil.example",
    b"Host: www.example.com\x7f",
    b"Host: www.ex\xc3\xa4mple.com",
    b"Host: [::1]",
    b"Host: 127.0.0.1",
    b"Host: www.example.com\r\nHost: evil.example",
    b"Host:",
]


async def test_open_proxy_attempts_never_reach_any_origin(recorded):
    app, rec = recorded
    for raw in OPEN_PROXY_ATTEMPTS:
        if b"Connection: close" not in raw:
            raw = raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        reply = await raw_exchange(app.public_port, raw, timeout=2)
        assert status_of(reply) in (400, 405, 421), (raw[:60], reply[:80])
        assert b"\r\n\r\nSSH" not in reply and b"hello" not in reply  # nothing was tunnelled
    assert rec.connections == 0 and bytes(rec.raw) == b""
    # Control: the same origin does receive a request that is ours.
    reply = await raw_exchange(app.public_port, b"GET http://www.example.com/ok HTTP/1.1\r\nHost: www.example.com\r\n"
                                                b"Connection: close\r\n\r\n")
    assert status_of(reply) == 200
    assert rec.request_lines == [b"GET /ok HTTP/1.1"]


@pytest.mark.parametrize("host", HOST_ATTEMPTS, ids=lambda h: repr(h[6:30]))
async def test_host_outside_the_allow_list_or_malformed_never_forwarded(recorded, host):
    app, rec = recorded
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\n" + host + b"\r\nConnection: close\r\n\r\n", timeout=2)
    assert status_of(reply) in (400, 421), reply[:80]
    assert rec.requests == [] and bytes(rec.raw) == b""


async def test_allowed_host_variants_forward_exactly_that_host(recorded):
    app, rec = recorded
    for host in (b"www.example.com", b"WWW.Example.COM", b"www.example.com:8080", b"cart.shop.example"):
        reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n")
        assert status_of(reply) == 200
        assert (b"host", host) in rec.requests[-1][1]


async def test_absolute_form_authority_wins_over_host_header(recorded):
    """RFC 9112 §3.2.2: with an absolute-form target the Host header is ignored; a foreign
    Host header next to our own authority must not be forwarded as if it were ours."""
    app, rec = recorded
    reply = await raw_exchange(app.public_port, b"GET http://www.example.com/p HTTP/1.1\r\nHost: evil.example\r\n"
                                                b"Connection: close\r\n\r\n")
    if status_of(reply) == 200:
        assert (b"host", b"evil.example") not in rec.requests[-1][1]
    else:
        assert status_of(reply) in (400, 421) and rec.requests == []


# --- request smuggling ------------------------------------------------------------------------

SMUGGLING = {
    "CL.TE": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n"
             % (5 + len(SMUGGLED)) + b"0\r\n\r\n" + SMUGGLED,
    "TE.CL": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
             + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n",
    "TE.CL-cased": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: ChUnKeD\r\nContent-Length: 4\r\n\r\n"
                   + b"%x\r\n" % len(SMUGGLED) + SMUGGLED + b"\r\n0\r\n\r\n",
    "dup-CL": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\nContent-Length: %d\r\n\r\n"
              % len(SMUGGLED) + SMUGGLED,
    "CL-list": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0, %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
    "CL-plus": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: +%d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
    "CL-hex": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0x0\r\n\r\n" + SMUGGLED,
    "TE-chunked-identity": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked, identity\r\n"
                           b"Content-Length: %d\r\n\r\n" % (5 + len(SMUGGLED)) + b"0\r\n\r\n" + SMUGGLED,
    "TE-chunked-identity-only": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked, identity\r\n\r\n"
                                b"0\r\n\r\n" + SMUGGLED,
    "TE-twice": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n"
                b"\r\n0\r\n\r\n" + SMUGGLED,
    "TE-xchunked": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: xchunked\r\nContent-Length: %d\r\n\r\n"
                   % (5 + len(SMUGGLED)) + b"0\r\n\r\n" + SMUGGLED,
    "TE-vtab": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding:\x0bchunked\r\nContent-Length: %d\r\n\r\n"
               % (5 + len(SMUGGLED)) + b"0\r\n\r\n" + SMUGGLED,
    "obs-fold-TE": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: identity\r\n chunked\r\n"
                   b"Content-Length: %d\r\n\r\n" % (5 + len(SMUGGLED)) + b"0\r\n\r\n" + SMUGGLED,
    "obs-fold-CL": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\n %d\r\n\r\n" % len(SMUGGLED)
                   + SMUGGLED,
    "chunk-plus": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n+0\r\n\r\n" + SMUGGLED,
    "chunk-negative": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n" + SMUGGLED,
    "chunk-overflow": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"10000000000000000\r\n\r\n" + SMUGGLED,
    "chunk-0x": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n0x0\r\n\r\n" + SMUGGLED,
    "chunk-bare-LF": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n1\nA\r\n0\n\n"
                     + SMUGGLED,
    "chunk-overlong-data": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"1\r\nAB\r\n0\r\n\r\n" + SMUGGLED,
    "chunk-ext-ctl": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0;\x00x\r\n\r\n" + SMUGGLED,
    "bare-CR-header": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nX-A: 1\rContent-Length: %d\r\n\r\n"
                      % len(SMUGGLED) + SMUGGLED,
    "space-before-colon": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length : 0\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(SMUGGLED) + SMUGGLED,
    "h2c-upgrade": b"GET /a HTTP/1.1\r\nHost: www.example.com\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                   b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
                   b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00" + SMUGGLED,
    "h2c-upgrade-post": b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n"
                        b"Content-Length: 3\r\n\r\nabcPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "h2-preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00" + SMUGGLED,
}


@pytest.mark.parametrize("name", list(SMUGGLING))
async def test_no_smuggled_request_reaches_the_origin(recorded, name):
    app, rec = recorded
    reply = await raw_exchange(app.public_port, SMUGGLING[name], timeout=1.5)
    statuses = re.findall(rb"HTTP/1\.[01] (\d{3}) ", reply)
    assert statuses, reply[:80]
    assert b"/smuggled" not in b" ".join(rec.request_lines)
    assert not any(line.startswith(b"PRI") for line in rec.request_lines)
    assert b"HTTP2-Settings" not in bytes(rec.raw) and b"Upgrade: h2c" not in bytes(rec.raw)
    rec.assert_unambiguous()
    # Everything the origin answered, the client got, and nothing more (no desync either way).
    assert len(statuses) >= len(rec.requests)
    assert all(s in (b"200", b"400", b"404", b"405", b"411", b"413", b"421", b"431", b"501") for s in statuses), statuses


async def test_smuggling_control_is_not_vacuous(recorded):
    """The same bytes, framed honestly, do make the origin see exactly the pipelined requests."""
    app, rec = recorded
    honest = (b"POST /a HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 5\r\n\r\nhello"
              + SMUGGLED.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    reply = await raw_exchange(app.public_port, honest)
    assert reply.count(b"HTTP/1.1 200") == 2
    assert rec.request_lines == [b"POST /a HTTP/1.1", b"GET /smuggled HTTP/1.1"]
    assert rec.requests[0][2] == b"hello"


# --- header injection from values derived from consent or config --------------------------


HOSTILE_COOKIES = [
    "cp_consent=v1.analytics%0d%0aX-Injected:%201",
    'cp_consent="v1.analytics\\r\\nX-Injected: 1"',
    "cp_consent=v1.analytics\tX-Injected: 1",
    "cp_consent=v1.analytics, X-Injected: 1",
    "cp_consent=v1.\xc3\xa4nalytics.X-Injected",
    "cp_consent=v1.functional; cp_consent=v1.advertising",
]


@pytest.mark.parametrize("cookie", HOSTILE_COOKIES)
async def test_debug_header_carries_no_client_bytes(raw_origin, proxy, cookie):
    rec = RecordingOrigin()
    app = await proxy(await raw_origin(rec.handler), "consent:\n  debug_header: true\n")
    raw = (b"GET / HTTP/1.1\r\nHost: www.example.com\r\nCookie: " + cookie.encode("latin-1")
           + b"\r\nConnection: close\r\n\r\n")
    reply = await raw_exchange(app.public_port, raw)
    head = reply.partition(b"\r\n\r\n")[0].decode("latin-1")
    assert status_of(reply) == 200, head
    names = [line.split(":", 1)[0].lower() for line in head.split("\r\n")[1:]]
    assert "x-injected" not in names
    decision = [line.split(": ", 1)[1] for line in head.split("\r\n")[1:] if line.lower().startswith("x-consent-decision:")]
    assert len(decision) == 1
    assert re.fullmatch(r"(functional|analytics|advertising)=(granted|denied|unknown)\([a-z_-]+\)"
                        r"(; (functional|analytics|advertising)=(granted|denied|unknown)\([a-z_-]+\)){2}", decision[0]), decision


async def test_purge_set_cookies_built_from_hostile_cookie_names(raw_origin, proxy):
    """Purge values echo request cookie names: names with `,`, quotes, `=`-less pieces,
    spaces or obs-text must never add a header, an attribute, or break out of the name."""
    async def page(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\n<p>x")
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(page), "site:\n  registrable_domain: example.com\n")
    names = [b"_ga", b"_ga_X, X-Injected: 1", b'_ga_"Q"', b"_ga_\xc3\xa4", b"_fbp Domain", b"_gid,evil=1",
             b"_ga_Y: Max-Age=99999", b"_ga_Z\t"]
    cookie = b"; ".join(n + b"=1" for n in names) + b"; __Host-_ga_x=1"
    raw = (b"GET / HTTP/1.1\r\nHost: www.example.com\r\nSec-Fetch-Mode: navigate\r\nCookie: " + cookie
           + b"\r\nConnection: close\r\n\r\n")
    reply = await raw_exchange(app.public_port, raw)
    head = reply.partition(b"\r\n\r\n")[0]
    assert status_of(reply) == 200, head
    lines = head.split(b"\r\n")[1:]
    assert all(b":" in ln for ln in lines)
    assert not any(ln.lower().startswith(b"x-injected") for ln in lines)
    purges = [ln.split(b": ", 1)[1] for ln in lines if ln.lower().startswith(b"set-cookie:")]
    assert purges, "no purge at all: the test would be vacuous"
    allowed = re.compile(rb"Max-Age=0|Path=/|Secure|Domain=(www\.)?example\.com")
    for value in purges:
        name, _, attrs = value.partition(b"=; ")
        assert b";" not in name and b"\r" not in value and b"\n" not in value
        assert all(allowed.fullmatch(a) for a in attrs.split(b"; ")), value
        assert name in [n.strip(b" \t") for n in names] + [b"__Host-_ga_x"], value


@pytest.mark.parametrize("extra", [
    "cookies:\n  purge:\n    paths: ['/\\r\\nX-Injected: 1', '/shop;Domain=evil.example']\n",
    "cache:\n  consent_class_header: \"X-Consent-Class\\r\\nX-Injected\"\n",
])
async def test_config_values_cannot_inject_headers(raw_origin, proxy, extra):
    async def page(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 4\r\n\r\n<p>x")
        await writer.drain()
        writer.close()

    base = await raw_origin(page)
    try:
        app = await proxy(base, "site:\n  registrable_domain: example.com\n" + extra)
    except ConfigError:
        return  # refused at load time: the safest answer
    raw = (b"GET / HTTP/1.1\r\nHost: www.example.com\r\nSec-Fetch-Mode: navigate\r\nCookie: _ga=GA1.1.1.1\r\n"
           b"Connection: close\r\n\r\n")
    reply = await raw_exchange(app.public_port, raw)
    head = reply.partition(b"\r\n\r\n")[0]
    assert status_of(reply) in (200, 500), head
    assert b"\nX-Injected" not in head and b"Domain=evil.example" not in head


# --- the admin surface ---------------------------------------------------------------------


async def test_admin_surface_unreachable_through_the_public_port(recorded):
    app, rec = recorded
    admin = str(app.admin_port).encode()
    attempts = [
        b"GET /metrics HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET http://127.0.0.1:" + admin + b"/metrics HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:" + admin + b"\r\n\r\n",
        b"GET /__consent-proxy/../metrics HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET /__consent-proxy/%2e%2e/metrics HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET /__consent-proxy/..%2f..%2f..%2fetc%2fpasswd HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET /__consent-proxy/placeholder.css/../../../../etc/passwd HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"POST /-/reload HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: 0\r\n\r\n",
        b"GET /livez HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
        b"GET /config HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    ]
    for raw in attempts:
        reply = await raw_exchange(app.public_port, raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1))
        body = reply.partition(b"\r\n\r\n")[2]
        assert b"consentproxy_" not in body and b"root:" not in body and b"tls_key" not in body, raw
        assert body in (b"ok", b"") or any(w in body for w in (b"Not Found", b"Bad Request", b"Misdirected")), \
            (raw, reply[:200])
    # The admin port itself does serve the metrics (the check above is not vacuous).
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            assert "consentproxy_" in await r.text()


# --- oversized requests are bounded -----------------------------------------------------------


async def test_many_request_headers_rejected(recorded):
    app, rec = recorded
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: www.example.com\r\n" + many + b"\r\n", timeout=2)
    assert status_of(reply) in (400, 431)
    assert rec.requests == []


async def test_endless_request_head_is_cut_off(recorded):
    """A client streaming header lines forever is refused after a bounded amount of input."""
    app, rec = recorded
    reader, writer = await asyncio.open_connection("127.0.0.1", app.public_port)
    sent = 0
    writer.write(b"GET / HTTP/1.1\r\nHost: www.example.com\r\n")
    line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
    try:
        while sent < 50 << 20:
            writer.write(line * 64)
            await asyncio.wait_for(writer.drain(), 3)
            sent += len(line) * 64
    except (ConnectionError, asyncio.TimeoutError):
        pass
    try:
        reply = await asyncio.wait_for(reader.read(), 3)
    except ConnectionError:
        reply = b""
    writer.close()
    assert sent < 4 << 20, sent  # refused long before 50 MB
    assert reply == b"" or status_of(reply) in (400, 431)
    assert rec.requests == []


@pytest.mark.parametrize("length", [b"2048", b"99999999999999999999999999"])
async def test_declared_oversized_body_refused_without_reading_it(raw_origin, proxy, length):
    rec = RecordingOrigin()
    app = await proxy(await raw_origin(rec.handler), "limits:\n  max_request_body: 1KiB\n")
    reply = await raw_exchange(app.public_port, b"POST /up HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: "
                                                + length + b"\r\n\r\n" + b"x" * 100, timeout=1)
    assert status_of(reply) in (400, 413)
    assert rec.requests == []


# --- known bugs ------------------------------------------------------------------------------

REFUSALS_WITH_CLOSE = {
    "absolute-form": b"GET http://evil.example/ HTTP/1.1\r\nHost: www.example.com\r\n\r\n",
    "bad-host": b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
}


@pytest.mark.parametrize("name", list(REFUSALS_WITH_CLOSE))
async def test_refusal_announcing_close_serves_no_further_request(recorded, name):
    app, rec = recorded
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    reply = await raw_exchange(app.public_port, REFUSALS_WITH_CLOSE[name] + SMUGGLED, timeout=1.2)
    assert b"connection: close" in reply.lower()
    assert rec.request_lines == []  # the pipelined request after "Connection: close" must not be forwarded
    assert loop.time() - t0 < 1.0  # and the proxy closes the connection itself


async def test_refused_connect_closes_the_connection(recorded):
    app, rec = recorded
    reply = await raw_exchange(app.public_port, b"CONNECT www.example.com:80 HTTP/1.1\r\nHost: www.example.com\r\n\r\n"
                               + SMUGGLED, timeout=1)
    assert status_of(reply) == 405
    assert rec.request_lines == []
