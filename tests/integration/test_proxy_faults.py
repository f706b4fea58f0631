"""Upstream faults, timeouts, disconnects, limits and request smuggling on the wire."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
from aiohttp import web

from tests.conftest import raw_exchange, url_of


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_connect_failure_is_502(proxy):
    app = await proxy(f"http://127.0.0.1:{free_port()}")
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            assert r.status == 502
            assert "Bad Gateway" in await r.text()
            assert r.headers["Content-Type"].startswith("text/plain")


async def test_slow_upstream_is_504(origin, proxy):
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app_o = web.Application()
    app_o.router.add_get("/", slow)
    app = await proxy(await origin(app_o), upstream_extra="  read_timeout: 0.5\n")
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            assert r.status == 504
            assert "Gateway Timeout" in await r.text()
    assert loop.time() - t0 < 3


async def test_upstream_reset_before_headers_is_502_and_mid_body_aborts(raw_origin, proxy):
    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        if b"GET /midbody" in head:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"a" * 100)
            await writer.drain()
        writer.transport.abort()

    app = await proxy(await raw_origin(handler))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app, "/reset")) as r:
            assert r.status == 502
    reply = await raw_exchange(app.public_port, b"GET /midbody HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
    assert reply.startswith(b"HTTP/1.1 200")
    assert len(reply.partition(b"\r\n\r\n")[2]) < 1000  # incomplete, connection closed: never padded


async def test_garbage_status_line_is_502(raw_origin, proxy):
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            assert r.status == 502


async def test_client_disconnect_cancels_upstream_request(origin, proxy):
    cancelled = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response(text="late")

    app_o = web.Application()
    app_o.router.add_get("/", slow)
    app = await proxy(await origin(app_o))
    reader, writer = await asyncio.open_connection("127.0.0.1", app.public_port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    await asyncio.wait_for(cancelled.wait(), 5)


async def test_upstream_connections_are_pooled(origin, proxy):
    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername"))
        return web.Response(text="ok")

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    app = await proxy(await origin(app_o))
    for _ in range(5):
        async with aiohttp.ClientSession() as s:  # a new client connection each time
            async with s.get(url_of(app)) as r:
                await r.read()
    assert len(set(peers)) == 1


async def test_header_read_timeout_closes_slow_clients(origin, proxy):
    app_o = web.Application()
    app = await proxy(await origin(app_o), "limits:\n  header_read_timeout: 0.5\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", app.public_port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 3)  # closed by the proxy, not by us
    assert data == b""
    writer.close()


async def test_connection_cap(origin, proxy):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    app = await proxy(await origin(app_o), "limits:\n  max_connections: 2\n")
    held = [await asyncio.open_connection("127.0.0.1", app.public_port) for _ in range(2)]
    await asyncio.sleep(0.1)
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=2)
    assert reply == b""
    for _, w in held:
        w.close()
    await asyncio.sleep(0.2)
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 200")


async def test_smuggling_and_oversized_requests_rejected(origin, proxy):
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        await request.read()
        return web.Response(text="ok")

    app_o = web.Application()
    app_o.router.add_route("*", "/{t:.*}", handler)
    app = await proxy(await origin(app_o))
    bad = [
        b"POST /clte HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST /dupcl HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"GET /fold HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
        b"POST /chunk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
        b"POST /te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        b"GET /big HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /" + b"l" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /nohost HTTP/1.1\r\n\r\n",
        b"GET /sp HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    ]
    for raw in bad:
        reply = await raw_exchange(app.public_port, raw, timeout=2)
        status = reply[9:12]
        assert status in (b"400", b"431", b"414", b"501"), (raw[:40], reply[:80])
    assert seen == []


async def test_ipv6_listen_and_upstream(origin, tmp_path):
    from proxy.config import parse_config
    from proxy.server import start, stop

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"via {request.remote}")

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    base = await origin(app_o, host="::1")
    text = f"upstream: {{url: '{base}'}}\nlisten: {{address: '[::1]:0'}}\nadmin: {{address: '127.0.0.1:0'}}\n"
    path = tmp_path / "v6.yaml"
    path.write_text(text)
    app = await start(path, {}, parse_config(text, str(path), use_env=False))
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(f"http://[::1]:{app.public_port}/") as r:
                assert r.status == 200
                assert await r.text() == "via ::1"
    finally:
        await stop(app)
