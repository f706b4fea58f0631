"""Benchmark origins: an nginx static-file config (throughput arms) and an aiohttp generator.

Why two: the origin shares CPU 0 with wrk, so for the throughput arms it must cost as
little as possible per request -- nginx serving static files (sendfile, keepalive, no
Python) is that origin, rendered by `render_nginx_conf`. The 1 GB body of the RSS test
should not need a 1 GB file on disk, so `python bench/origin.py` runs a small aiohttp app
that generates it (and also serves the static paths, as a fallback where nginx is absent).

Paths served by both (same bytes, same headers that matter):
  /small      1 KB text/plain           (small_1k.txt)
  /page       150 KB text/html          (page_150k.html)
  /page.gz    the same page, Content-Encoding: gzip  (level 6)
  /page.br    the same page, Content-Encoding: br    (quality 5)
  /page.zst   the same page, Content-Encoding: zstd  (level 3)
  /data/NAME  any file of the data directory, as is (e.g. /data/page_2m.html)
aiohttp origin only:
  /big?size=BYTES&framing=length|chunked&type=html|binary
              generated body of that size (default 1 GiB, Content-Length framing,
              text/html made of the page repeated; binary: application/octet-stream),
              for the RSS test.

Never binds anything but 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gzip
import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "/work/shared/data/bench"))
SMALL = "small_1k.txt"
PAGE = "page_150k.html"

# Encoded variants of the page: URL suffix -> (Content-Encoding, file name in the work dir).
ENCODED = {".gz": ("gzip", "page_150k.html.gz"), ".br": ("br", "page_150k.html.br"),
           ".zst": ("zstd", "page_150k.html.zst")}


def encode(coding: str, data: bytes) -> bytes:
    """Compress `data` with one content coding; deterministic (gzip mtime 0)."""
    if coding == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if coding == "br":
        import brotli
        return brotli.compress(data, quality=5)
    if coding == "zstd":
        import zstandard
        return zstandard.ZstdCompressor(level=3).compress(data)
    raise ValueError(coding)


def write_encoded(workdir: Path, data_dir: Path = DATA_DIR) -> dict[str, Path]:
    """Write the encoded page variants into `workdir`; returns suffix -> path.

    A coding whose library is missing is skipped (its path is then not served).
    """
    page = (data_dir / PAGE).read_bytes()
    out: dict[str, Path] = {}
    for suffix, (coding, name) in ENCODED.items():
        try:
            blob = encode(coding, page)
        except ImportError:
            continue
        path = workdir / name
        path.write_bytes(blob)
        out[suffix] = path
    return out


def render_nginx_conf(prefix: Path, port: int, encoded: dict[str, Path],
                      data_dir: Path = DATA_DIR) -> str:
    """nginx config for the static origin: one worker, keepalive, sendfile, no access log."""
    user = "user root root;" if os.geteuid() == 0 else ""
    enc_locations = "\n".join(
        f"""        location = /page{suffix} {{
            types {{ }} default_type text/html;
            add_header Content-Encoding {ENCODED[suffix][0]};
            alias {path};
        }}""" for suffix, path in encoded.items())
    return f"""# Rendered by bench/origin.py -- the benchmark's static origin.
{user}
worker_processes 1;
daemon off;
pid {prefix}/origin.pid;
error_log {prefix}/origin-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/o_body;
    proxy_temp_path {prefix}/o_proxy;
    fastcgi_temp_path {prefix}/o_fastcgi;
    uwsgi_temp_path {prefix}/o_uwsgi;
    scgi_temp_path {prefix}/o_scgi;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = /small {{
            types {{ }} default_type text/plain;
            alias {data_dir / SMALL};
        }}
        location = /page {{
            types {{ }} default_type text/html;
            alias {data_dir / PAGE};
        }}
{enc_locations}
        location /data/ {{
            types {{ text/html html; text/plain txt; }}
            alias {data_dir}/;
        }}
    }}
}}
"""


def make_app(data_dir: Path = DATA_DIR):  # -> web.Application
    """The aiohttp origin (static paths + generated /big)."""
    from aiohttp import web

    small = (data_dir / SMALL).read_bytes()
    page = (data_dir / PAGE).read_bytes()
    blobs = {}
    for suffix, (coding, _name) in ENCODED.items():
        try:
            blobs[suffix] = (coding, encode(coding, page))
        except ImportError:
            pass
    # 64 KiB of repeated page text: cheap to send, and HTML so a rewriter works on it.
    unit = (page * (1 + 65536 // len(page)))[:65536]

    async def small_h(request: web.Request) -> web.Response:
        return web.Response(body=small, content_type="text/plain")

    async def page_h(request: web.Request) -> web.Response:
        return web.Response(body=page, content_type="text/html")

    async def enc_h(request: web.Request) -> web.Response:
        coding, blob = blobs[request.match_info["suffix"]]
        return web.Response(body=blob, content_type="text/html",
                            headers={"Content-Encoding": coding})

    async def data_h(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = data_dir / name
        if "/" in name or name.startswith(".") or not path.is_file():
            raise web.HTTPNotFound()
        return web.FileResponse(path)

    async def big_h(request: web.Request) -> web.StreamResponse:
        size = int(request.query.get("size", str(1 << 30)))
        chunked = request.query.get("framing", "length") == "chunked"
        binary = request.query.get("type", "html") == "binary"
        ctype = "application/octet-stream" if binary else "text/html"
        resp = web.StreamResponse(headers={"Content-Type": ctype})
        if chunked:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = size
        await resp.prepare(request)
        view = memoryview(unit)
        left = size
        while left > 0:
            n = min(left, len(unit))
            await resp.write(view[:n])
            left -= n
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_get("/small", small_h)
    app.router.add_get("/page", page_h)
    app.router.add_get(r"/page{suffix:\.(gz|br|zst)}", enc_h)
    app.router.add_get("/data/{name}", data_h)
    app.router.add_get("/big", big_h)
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--uvloop", action="store_true")
    args = ap.parse_args()
    from aiohttp import web
    loop_factory = None
    if args.uvloop:
        import uvloop
        loop_factory = uvloop.new_event_loop
    import asyncio
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        async def serve() -> None:
            r = web.AppRunner(make_app(), access_log=None)
            await r.setup()
            await web.TCPSite(r, "127.0.0.1", args.port, backlog=4096).start()
            await asyncio.Event().wait()
        runner.run(serve())


if __name__ == "__main__":
    main()
