"""Header behaviour on the wire: hop-by-hop, forwarding headers, Host, Location, repeated fields."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from tests.conftest import raw_exchange, url_of


def echo_app(seen: list[web.Request]) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


async def test_hop_by_hop_removed_and_forwarding_headers_set(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)))
    raw = (b"GET /a?b=%2F HTTP/1.1\r\nHost: shop.example\r\nConnection: keep-alive, X-Secret\r\n"
           b"X-Secret: s\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nProxy-Authorization: Basic x\r\n"
           b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n"
           b"Forwarded: for=6.6.6.6\r\nX-Keep: 1\r\nConnection: close\r\n\r\n")
    reply = await raw_exchange(app.public_port, raw)
    assert reply.startswith(b"HTTP/1.1 200")
    got = seen[0].headers
    for name in ("Connection", "X-Secret", "Keep-Alive", "TE", "Proxy-Authorization", "Forwarded"):
        assert name not in got, name
    assert got["X-Forwarded-For"] == "127.0.0.1"  # untrusted peer: spoofed value dropped
    assert got["X-Forwarded-Proto"] == "http"
    assert got["X-Forwarded-Host"] == "shop.example"
    assert got["Host"] == "shop.example"
    assert got["Via"] == "1.1 consent-proxy"
    assert got["X-Keep"] == "1"
    assert seen[0].raw_path == "/a?b=%2F"  # path and query byte-exact


async def test_trusted_proxy_values_are_kept_and_appended(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)), "trusted_proxies: ['127.0.0.0/8', '::1/128']\n")
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                                               "X-Forwarded-Host": "www.example.com"}) as r:
            assert r.status == 200
    got = seen[0].headers
    assert got["X-Forwarded-For"] == "203.0.113.9, 127.0.0.1"
    assert got["X-Forwarded-Proto"] == "https"
    assert got["X-Forwarded-Host"] == "www.example.com"


async def test_response_hop_by_hop_removed_repeated_kept_in_order(raw_origin, proxy):
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        csp = b"default-src 'self'; " + b"script-src 'sha256-" + b"A" * 60000 + b"'"
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=4\r\n"
                     b"X-Multi: one\r\nSet-Cookie: a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT\r\nX-Multi: two\r\n"
                     b"Set-Cookie: b=2; Path=/\r\nAlt-Svc: h3=\":443\"\r\nContent-Security-Policy: " + csp +
                     b"\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    async with aiohttp.ClientSession(max_field_size=70000) as s:
        async with s.get(url_of(app)) as r:
            assert r.status == 200
            assert await r.read() == b"ok"
            assert "X-Hop" not in r.headers and "Keep-Alive" not in r.headers and "Alt-Svc" not in r.headers
            assert r.headers.getall("X-Multi") == ["one", "two"]
            assert r.headers.getall("Set-Cookie") == ["a=1; Expires=Wed, 21 Oct 2037 07:28:00 GMT", "b=2; Path=/"]
            assert len(r.headers["Content-Security-Policy"]) > 60000
            assert r.headers["Via"] == "1.1 consent-proxy"


async def test_host_passed_by_default(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"Host": "www.example.com"}):
            pass
    assert seen[-1].headers["Host"] == "www.example.com"


async def test_host_replaced_when_pass_host_false(origin, proxy, tmp_path):
    seen: list[web.Request] = []
    base = await origin(echo_app(seen))
    from proxy.config import parse_config
    from proxy.server import start, stop
    text = (f"upstream:\n  url: '{base}'\n  pass_host: false\nlisten: {{address: '127.0.0.1:0'}}\n"
            "admin: {address: '127.0.0.1:0'}\n")
    path = tmp_path / "p.yaml"
    path.write_text(text)
    app = await start(path, {}, parse_config(text, str(path), use_env=False))
    try:
        async with aiohttp.ClientSession() as s:
            async with s.get(url_of(app), headers={"Host": "www.example.com"}):
                pass
        assert seen[-1].headers["Host"] == base.split("//")[1]
        assert seen[-1].headers["X-Forwarded-Host"] == "www.example.com"
    finally:
        await stop(app)


async def test_redirect_passed_and_location_rewritten(origin, proxy):
    holder: dict[str, str] = {}

    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": holder["base"] + "/next?x=1"})

    async def other(request: web.Request) -> web.Response:
        return web.Response(status=301, headers={"Location": "https://elsewhere.example/"})

    app_o = web.Application()
    app_o.router.add_get("/", redirect)
    app_o.router.add_get("/other", other)
    holder["base"] = await origin(app_o)
    app = await proxy(holder["base"])
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"Host": "www.example.com"}, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers["Location"] == "http://www.example.com/next?x=1"
        async with s.get(url_of(app, "/other"), allow_redirects=False) as r:
            assert r.status == 301
            assert r.headers["Location"] == "https://elsewhere.example/"


async def test_no_cookie_jar_between_clients(origin, proxy):
    seen: list[web.Request] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request)
        resp = web.Response(text="x")
        resp.set_cookie("sessionid", "secret-of-visitor-1")
        return resp

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    app = await proxy(await origin(app_o))
    for _ in range(2):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as s:
            async with s.get(url_of(app)) as r:
                assert "sessionid=secret-of-visitor-1" in r.headers["Set-Cookie"]
    assert all("Cookie" not in r.headers for r in seen)


async def test_no_content_type_invented_and_no_server_header_added(raw_origin, proxy):
    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert body == b"hello"
    assert b"content-type" not in head.lower()
    assert b"server:" not in head.lower()


async def test_misdirected_host_and_absolute_form_and_connect_refused(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)), "site:\n  hostnames: [www.example.com, '*.shop.example']\n")
    port = app.public_port
    r = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 421")
    r = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a.shop.example\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200")
    r = await raw_exchange(port, b"GET http://evil.example/x HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400")
    r = await raw_exchange(port, b"GET http://www.example.com/abs HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 200")
    r = await raw_exchange(port, b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n", timeout=2)
    assert r.startswith(b"HTTP/1.1 405")
    r = await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: a b\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400")
    assert [req.raw_path for req in seen] == ["/", "/abs"]


async def test_absolute_form_refused_when_no_hostnames(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)))
    r = await raw_exchange(app.public_port, b"GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 400")
    assert seen == []


async def test_h2c_upgrade_not_tunnelled(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(echo_app(seen)))
    r = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                                            b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", timeout=2)
    assert r.startswith(b"HTTP/1.1 200")
    assert b"101" not in r.split(b"\r\n", 1)[0]
    assert "Upgrade" not in seen[0].headers and "HTTP2-Settings" not in seen[0].headers


async def test_unsolicited_101_from_origin_is_502(raw_origin, proxy):

    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.5)
        writer.close()

    app = await proxy(await raw_origin(handler))
    r = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert r.startswith(b"HTTP/1.1 502")
