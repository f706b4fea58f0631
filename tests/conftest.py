"""Shared fixtures: real origins and the real proxy on 127.0.0.1, all in the test's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web

from proxy.config import parse_config
from proxy.server import App, start, stop

RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def proxy_yaml(upstream: str, extra: str = "", upstream_extra: str = "") -> str:
    return (f"upstream:\n  url: '{upstream}'\n" + upstream_extra +
            "listen:\n  address: '127.0.0.1:0'\n"
            "admin:\n  address: '127.0.0.1:0'\n"
            "logging:\n  access_log: false\n" + extra)


@pytest.fixture
async def origin() -> AsyncIterator[Callable[[web.Application], Awaitable[str]]]:
    """Start an aiohttp app on 127.0.0.1; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def _start(app: web.Application, host: str = "127.0.0.1") -> str:
        runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    yield _start
    for r in runners:
        await r.cleanup()


@pytest.fixture
async def raw_origin() -> AsyncIterator[Callable[[RawHandler], Awaitable[str]]]:
    """Start a raw asyncio server (exact bytes on the wire); returns its base URL."""
    servers: list[asyncio.base_events.Server] = []

    async def _start(handler: RawHandler) -> str:
        server = await asyncio.start_server(handler, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield _start
    for s in servers:
        s.close()
        for t in list(asyncio.all_tasks()):
            pass
    for s in servers:
        try:
            await asyncio.wait_for(s.wait_closed(), 1)
        except asyncio.TimeoutError:
            pass


@pytest.fixture
async def proxy(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[App]]]:
    """Start the real consent-proxy in front of `upstream`; `extra` is appended YAML."""
    apps: list[App] = []

    async def _start(upstream: str, extra: str = "", upstream_extra: str = "") -> App:
        text = proxy_yaml(upstream, extra, upstream_extra)
        path = tmp_path / f"proxy{len(apps)}.yaml"
        path.write_text(text)
        config = parse_config(text, str(path), use_env=False)
        app = await start(path, {}, config)
        apps.append(app)
        return app

    yield _start
    for app in apps:
        await stop(app)


def url_of(app: App, path: str = "/") -> str:
    return f"http://127.0.0.1:{app.public_port}{path}"


async def raw_exchange(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> bytes:
    """Send raw bytes to the proxy and read until it closes or `timeout` passes."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    chunks = []
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            chunks.append(chunk)
    except asyncio.TimeoutError:
        pass
    finally:
        writer.close()
    return b"".join(chunks)
