"""Minimal streaming aiohttp reverse proxy: the benchmark's "what aiohttp costs" baseline.

Deliberately the least a correct-ish streaming proxy does: one pooled ClientSession, no
cookie jar, no decompression, no auto headers, hop-by-hop headers dropped, body streamed
with iter_any() in both directions; no logging, no metrics, no consent work.
  python bench/minimal_proxy.py --upstream http://127.0.0.1:8081 --listen 127.0.0.1:8080 [--uvloop]
"""

import argparse
import asyncio

import aiohttp
from aiohttp import web

HOP = frozenset(h.lower() for h in ("Connection", "Keep-Alive", "Proxy-Connection", "TE",
                "Trailer", "Transfer-Encoding", "Upgrade", "Proxy-Authenticate",
                "Proxy-Authorization", "Content-Length"))  # length re-set below when known


def strip(headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k.lower() not in HOP]


async def serve(upstream: str, host: str, port: int) -> None:
    session = aiohttp.ClientSession(
        upstream, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
        connector=aiohttp.TCPConnector(limit=0))

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        body = request.content.iter_any() if request.body_exists else None
        async with session.request(request.method, request.rel_url, headers=strip(request.headers),
                                   data=body, allow_redirects=False) as up:
            resp = web.StreamResponse(status=up.status, reason=up.reason)
            resp.headers.extend(strip(up.headers))
            if up.content_length is not None:
                resp.content_length = up.content_length
            await resp.prepare(request)
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            await resp.write_eof()
            return resp

    server = await asyncio.get_running_loop().create_server(
        web.Server(handler), host, port, backlog=4096)
    async with session, server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--listen", default="127.0.0.1:8080")
    ap.add_argument("--uvloop", action="store_true")
    a = ap.parse_args()
    host, _, port = a.listen.rpartition(":")
    factory = None
    if a.uvloop:
        import uvloop
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(serve(a.upstream, host, int(port)))


if __name__ == "__main__":
    main()
