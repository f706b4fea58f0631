"""Bodies on the wire: streaming both ways, framing, limits, special statuses, WebSocket, SSE."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import os
import resource

import aiohttp
from aiohttp import web

from tests.conftest import raw_exchange, url_of


async def test_slow_upstream_first_bytes_arrive_before_it_finishes(origin, proxy):
    release = asyncio.Event()

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse()
        await resp.prepare(request)
        await resp.write(b"first chunk\n")
        await release.wait()
        await resp.write(b"second chunk\n")
        return resp

    app_o = web.Application()
    app_o.router.add_get("/", slow)
    app = await proxy(await origin(app_o))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            first = await asyncio.wait_for(r.content.readuntil(b"\n"), 5)
            assert first == b"first chunk\n"
            assert not release.is_set()
            release.set()
            assert await r.read() == b"second chunk\n"


async def test_sse_flows_event_by_event(origin, proxy):
    step = asyncio.Event()

    async def sse(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for i in range(3):
            await resp.write(f"data: event {i}\n\n".encode())
            await step.wait()
            step.clear()
        return resp

    app_o = web.Application()
    app_o.router.add_get("/events", sse)
    app = await proxy(await origin(app_o))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app, "/events")) as r:
            assert r.headers["Content-Type"] == "text/event-stream"
            for i in range(3):
                event = await asyncio.wait_for(r.content.readuntil(b"\n\n"), 5)
                assert event == f"data: event {i}\n\n".encode()
                step.set()


async def test_large_upload_streams_byte_exact_with_flat_memory(origin, proxy):
    """100 MB reaches the origin byte-exact while the client is still sending."""
    got = {}

    async def sink(request: web.Request) -> web.Response:
        h = hashlib.sha256()
        n = 0
        async for chunk in request.content.iter_any():
            h.update(chunk)
            n += len(chunk)
        got.update(n=n, sha=h.hexdigest(), te=request.headers.get("Transfer-Encoding"),
                   cl=request.headers.get("Content-Length"))
        return web.Response(text="stored")

    app_o = web.Application(client_max_size=1 << 40)
    app_o.router.add_post("/upload", sink)
    app = await proxy(await origin(app_o))
    block = os.urandom(1 << 20)
    expected = hashlib.sha256(block * 100).hexdigest()

    async def body():
        for _ in range(100):
            yield block

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with aiohttp.ClientSession() as s:
        async with s.post(url_of(app, "/upload"), data=body()) as r:  # chunked
            assert r.status == 200
    assert got["n"] == 100 << 20 and got["sha"] == expected
    # Client, proxy and origin share this process: the peak RSS may not grow by the body size.
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kb < 50 * 1024, f"peak RSS grew {grown_kb} KiB"

    async with aiohttp.ClientSession() as s:  # Content-Length framing is kept toward the origin
        async with s.post(url_of(app, "/upload"), data=block * 3) as r:
            assert r.status == 200
    assert got["n"] == 3 << 20 and got["cl"] == str(3 << 20) and got["te"] is None


async def test_body_cap_gives_413(origin, proxy):
    reached = []

    async def sink(request: web.Request) -> web.Response:
        reached.append(request.headers.get("Content-Length"))
        await request.read()
        return web.Response(text="ok")

    app_o = web.Application(client_max_size=1 << 30)
    app_o.router.add_post("/", sink)
    app = await proxy(await origin(app_o), "limits:\n  max_request_body: 1KiB\n")
    async with aiohttp.ClientSession() as s:
        async with s.post(url_of(app), data=b"x" * 2048) as r:
            assert r.status == 413
        assert reached == []

        async def chunks():
            for _ in range(4):
                yield b"y" * 1000

        async with s.post(url_of(app), data=chunks()) as r:
            assert r.status == 413
        async with s.post(url_of(app), data=b"z" * 1000) as r:
            assert r.status == 200


async def test_expect_100_continue(origin, proxy):
    async def sink(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.read())))

    app_o = web.Application()
    app_o.router.add_post("/", sink)
    app = await proxy(await origin(app_o))
    reader, writer = await asyncio.open_connection("127.0.0.1", app.public_port)
    writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    await writer.drain()
    final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert final.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_head_204_304_have_no_body_and_connection_stays_usable(origin, proxy):
    async def page(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=b"x" * 1234, headers={"ETag": '"v1"', "Content-Type": "text/plain"})

    async def empty(request: web.Request) -> web.Response:
        return web.Response(status=204)

    app_o = web.Application()
    app_o.router.add_route("*", "/", page)
    app_o.router.add_get("/empty", empty)
    app = await proxy(await origin(app_o))
    reply = await raw_exchange(app.public_port,
                               b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET /empty HTTP/1.1\r\nHost: x\r\n\r\n"
                               b"GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"v1\"\r\n\r\n"
                               b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    parts = reply.split(b"HTTP/1.1 ")
    assert [p[:3] for p in parts[1:]] == [b"200", b"204", b"304", b"200"]
    head_resp, no_content, not_modified, full = parts[1:]
    assert b"Content-Length: 1234" in head_resp and head_resp.endswith(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in no_content and no_content.endswith(b"\r\n\r\n")
    assert b'etag: "v1"' in not_modified.lower() and not_modified.endswith(b"\r\n\r\n")
    assert full.endswith(b"x" * 1234)


async def test_chunked_and_content_length_responses(raw_origin, proxy):
    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        if b"GET /chunked" in head:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world")
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app, "/chunked")) as r:
            assert await r.read() == b"hello world"
            assert r.headers.get("Transfer-Encoding") == "chunked"
        async with s.get(url_of(app, "/cl")) as r:
            assert await r.read() == b"hello world"
            assert r.headers["Content-Length"] == "11"


async def test_encoded_body_passes_untouched(raw_origin, proxy):
    payload = gzip.compress(b'{"a": 1}' * 100)

    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload)
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(url_of(app), headers={"Accept-Encoding": "gzip"}) as r:
            assert r.headers["Content-Encoding"] == "gzip"
            assert r.headers["Content-Length"] == str(len(payload))
            assert await r.read() == payload


async def test_no_request_headers_invented(origin, proxy):
    seen: list[web.Request] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        return web.Response(text="ok")

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    app = await proxy(await origin(app_o))
    await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    for name in ("User-Agent", "Accept-Encoding", "Accept", "Transfer-Encoding", "Content-Length"):
        assert name not in seen[0].headers, name


async def test_websocket_tunnelled_both_ways(origin, proxy):
    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("chat",))
        await ws.prepare(request)
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str("echo:" + msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
        return ws

    app_o = web.Application()
    app_o.router.add_get("/ws", ws_handler)
    app = await proxy(await origin(app_o))
    async with aiohttp.ClientSession() as s:
        async with s.ws_connect(url_of(app, "/ws"), protocols=("chat",)) as ws:
            assert ws.protocol == "chat"
            await ws.send_str("hi")
            assert (await ws.receive(timeout=5)).data == "echo:hi"
            await ws.send_bytes(b"\x01\x02\x03")
            assert (await ws.receive(timeout=5)).data == b"\x03\x02\x01"


async def test_pipelined_requests_answered_in_order(origin, proxy):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.path)

    app_o = web.Application()
    app_o.router.add_get("/{n}", handler)
    app = await proxy(await origin(app_o))
    reply = await raw_exchange(app.public_port, b"".join(
        f"GET /{i} HTTP/1.1\r\nHost: x\r\n{'Connection: close' if i == 4 else 'X: y'}\r\n\r\n".encode() for i in range(5)))
    bodies = [part.rsplit(b"\r\n\r\n", 1)[1] for part in reply.split(b"HTTP/1.1 200 OK")[1:]]
    assert bodies == [b"/0", b"/1", b"/2", b"/3", b"/4"]
