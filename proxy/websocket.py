"""WebSocket tunnelling: the only Upgrade that is passed to the origin.

aiohttp has no raw-tunnel API, so the tunnel terminates and re-originates (reverse-proxy
notes §2.D): connect upstream first, answer 101 only once the origin did, then pump
frames both ways until either side closes. Any other Upgrade (h2c, RFC 9113 §3.1) is
never tunnelled: `Upgrade` is hop-by-hop and is stripped, so such a request is served
as plain HTTP/1.1.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDictProxy
from yarl import URL

from proxy.headers import connection_tokens, outbound_request_headers
from proxy.runtime import Runtime

log = logging.getLogger("consent_proxy")

_WS_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol")
MAX_MESSAGE = 16 << 20


def is_websocket_upgrade(headers: CIMultiDictProxy[str]) -> bool:
    upgrade = headers.get("Upgrade")
    return upgrade is not None and upgrade.strip().lower() == "websocket" and "upgrade" in connection_tokens(headers)


async def _pump(src: aiohttp.ClientWebSocketResponse | web.WebSocketResponse,
                dst: aiohttp.ClientWebSocketResponse | web.WebSocketResponse) -> None:
    async for msg in src:
        if msg.type is WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        elif msg.type is WSMsgType.PING:
            await dst.ping(msg.data)
        elif msg.type is WSMsgType.PONG:
            await dst.pong(msg.data)
        else:
            break
    await dst.close(code=src.close_code or 1000)


async def tunnel_websocket(request: web.BaseRequest, rt: Runtime, session: aiohttp.ClientSession,
                           scheme: str, trusted: bool, cookie_header: str | None = None) -> web.StreamResponse:
    """Open the upstream WebSocket, then the client's, and relay frames. Returns the answered response."""
    headers = outbound_request_headers(
        request.headers, peer=request.remote, scheme=scheme, trusted=trusted,
        upstream_host=None if rt.config.upstream.pass_host else rt.upstream_host,
    )
    for name in _WS_HANDSHAKE:
        headers.popall(name, None)
    if cookie_header is not None:
        if cookie_header:
            headers["Cookie"] = cookie_header
        else:
            headers.popall("Cookie", None)
    protocols = tuple(p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip())
    ws_base = "wss" + rt.upstream_url[5:] if rt.upstream_url.startswith("https") else "ws" + rt.upstream_url[4:]
    url = URL(ws_base + request.raw_path, encoded=True)
    try:
        upstream = await session.ws_connect(url, headers=headers, protocols=protocols, autoping=False,
                                            compress=0, max_msg_size=MAX_MESSAGE)
    except aiohttp.WSServerHandshakeError as exc:
        return web.Response(status=exc.status if exc.status >= 400 else 502,
                            text="502 Bad Gateway: the upstream server refused the WebSocket.\n")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
        return web.Response(status=502, text="502 Bad Gateway: cannot connect to the upstream WebSocket.\n")
    down = web.WebSocketResponse(protocols=(upstream.protocol,) if upstream.protocol else (), autoping=False,
                                 compress=False, max_msg_size=MAX_MESSAGE)
    try:
        await down.prepare(request)
        tasks = [asyncio.ensure_future(_pump(upstream, down)), asyncio.ensure_future(_pump(down, upstream))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await upstream.close()
        if not down.closed:
            await down.close()
    return down
