"""HTTPS upstreams with certificate verification, and TLS on the listen side."""

from __future__ import annotations

import ssl

import aiohttp
import pytest
import trustme
from aiohttp import web

from proxy.config import parse_config
from proxy.server import start, stop


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


async def _tls_origin(ca: trustme.CA):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"secure={request.secure}")

    app = web.Application()
    app.router.add_get("/", handler)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_ctx)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ctx)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_https_upstream_verified_with_custom_ca(ca, tmp_path):
    runner, port = await _tls_origin(ca)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    apps = []
    try:
        for extra, expected in ((f"  ca_file: '{ca_file}'\n", 200), ("", 502)):
            text = (f"upstream:\n  url: 'https://localhost:{port}'\n{extra}"
                    "listen: {address: '127.0.0.1:0'}\nadmin: {address: '127.0.0.1:0'}\n")
            path = tmp_path / "c.yaml"
            path.write_text(text)
            app = await start(path, {}, parse_config(text, str(path), use_env=False))
            apps.append(app)
            async with aiohttp.ClientSession() as s:
                async with s.get(f"http://127.0.0.1:{app.public_port}/") as r:
                    assert r.status == expected  # an unknown CA is never trusted
                    if expected == 200:
                        assert await r.text() == "secure=True"
    finally:
        for app in apps:
            await stop(app)
        await runner.cleanup()


async def test_tls_on_listen_side(ca, tmp_path, origin):
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.headers["X-Forwarded-Proto"])

    app_o = web.Application()
    app_o.router.add_get("/", handler)
    base = await origin(app_o)
    cert = ca.issue_cert("localhost")
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    text = (f"upstream: {{url: '{base}'}}\nlisten:\n  address: '127.0.0.1:0'\n  tls_cert: '{cert_file}'\n"
            f"  tls_key: '{key_file}'\nadmin: {{address: '127.0.0.1:0'}}\n")
    path = tmp_path / "l.yaml"
    path.write_text(text)
    app = await start(path, {}, parse_config(text, str(path), use_env=False))
    try:
        client_ctx = ssl.create_default_context()
        ca.configure_trust(client_ctx)
        async with aiohttp.ClientSession() as s:
            async with s.get(f"https://localhost:{app.public_port}/", ssl=client_ctx) as r:
                assert await r.text() == "https"
    finally:
        await stop(app)
