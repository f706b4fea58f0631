"""HTML tracker removal through the proxy: content codings, validators, ranges, modes, failures."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import aiohttp
import brotli
import pytest
import zstandard
from aiohttp import web

from tests.conftest import raw_exchange, url_of

PAGE = (b"<!doctype html><html><head><title>Shop</title>\n"
        b'<link rel="preconnect" href="https://www.googletagmanager.com">\n'
        b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>\n'
        b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        b"gtag('js',new Date());gtag('config','G-ABC123');</script>\n"
        b'<script src="/static/app.js"></script>\n'
        b'<script type="application/ld+json">{"url":"https://www.googletagmanager.com/x"}</script>\n'
        b"</head><body>\n<!-- <script src=\"https://connect.facebook.net/en_US/fbevents.js\"></script> -->\n"
        b'<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1"/></noscript>\n'
        b'<iframe src="https://www.youtube.com/embed/abc" width="560"></iframe>\n'
        b'<p title="caf\xc3\xa9 &amp; <b>">Text &amp; entities \xe2\x80\x94 kept.</p>\n'
        + b"<p>filler paragraph to make the page compressible.</p>\n" * 400 + b"</body></html>\n")

EXPECTED_NO_CONSENT = (PAGE
                       .replace(b'<link rel="preconnect" href="https://www.googletagmanager.com">', b"")
                       .replace(b'<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABC123"></script>', b"")
                       .replace(b"<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
                                b"gtag('js',new Date());gtag('config','G-ABC123');</script>", b"")
                       .replace(b'<noscript><img height="1" width="1" src="https://www.facebook.com/tr?id=1&ev=PageView&noscript=1"/></noscript>', b"")
                       .replace(b'<iframe src="https://www.youtube.com/embed/abc" width="560"></iframe>', b""))

ENCODERS = {
    "identity": lambda b: b,
    "gzip": lambda b: gzip.compress(b, mtime=0),  # mtime=0: the same bytes whenever it runs
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}
DECODERS = {
    "identity": lambda b: b,
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


def page_app(seen: list[web.Request], body: bytes = PAGE, coding: str = "identity", status: int = 200,
             extra_headers: dict[str, str] | None = None) -> web.Application:
    encoded = ENCODERS[coding](body)

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request)
        headers = {"Content-Type": "text/html; charset=utf-8", "ETag": '"v42"', "Vary": "Accept-Encoding",
                   **(extra_headers or {})}
        if coding != "identity":
            headers["Content-Encoding"] = coding
        if request.headers.get("If-None-Match") == 'W/"v42"':
            return web.Response(status=304, headers={"ETag": '"v42"'})
        resp = web.StreamResponse(status=status, headers=headers)
        resp.content_length = len(encoded)
        await resp.prepare(request)
        if request.method == "HEAD":
            return resp
        for i in range(0, len(encoded), 1000):  # many small upstream chunks
            await resp.write(encoded[i:i + 1000])
        return resp

    async def script(request: web.Request) -> web.Response:
        return web.Response(body=b'load("https://www.googletagmanager.com/gtm.js");', content_type="application/javascript")

    app = web.Application()
    app.router.add_get("/", handler)
    app.router.add_get("/app.js", script)
    return app


@pytest.mark.parametrize("coding", sorted(ENCODERS))
async def test_trackers_removed_through_every_coding(origin, proxy, coding):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen, coding=coding)))
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(url_of(app), headers={"Accept-Encoding": "gzip, deflate, br, zstd, dcb"}) as r:
            body = await r.read()
            assert r.status == 200
            assert r.headers.get("Content-Encoding", "identity") == coding
            assert "Content-Length" not in r.headers
            assert r.headers["ETag"] == 'W/"v42-cp.---"'
            vary = ", ".join(r.headers.getall("Vary"))
            assert "Cookie" in vary and "Accept-Encoding" in vary
    assert DECODERS[coding](body) == EXPECTED_NO_CONSENT
    if coding != "identity":
        assert len(body) <= 1.25 * len(ENCODERS[coding](PAGE))
    assert seen[0].headers["Accept-Encoding"] == "gzip, deflate, br, zstd"  # only codings we decode


async def test_all_granted_passes_original_bytes(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen, coding="gzip")))
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(url_of(app), headers={"Cookie": "cp_consent=v1.functional.analytics.advertising",
                                               "Accept-Encoding": "gzip"}) as r:
            body = await r.read()
            assert r.headers["ETag"] == '"v42"'
            assert r.headers["Content-Length"] == str(len(body))
    assert body == ENCODERS["gzip"](PAGE)


async def test_partial_consent_keeps_granted_category(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen)))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"Cookie": "cp_consent=v1.analytics"}) as r:
            body = await r.read()
            assert r.headers["ETag"] == 'W/"v42-cp.-a-"'
    assert b"gtag/js" in body and b"dataLayer" in body
    assert b"facebook.com/tr" not in body and b"youtube.com/embed" not in body


async def test_non_html_is_never_touched(origin, proxy):
    app = await proxy(await origin(page_app([])))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app, "/app.js")) as r:
            assert await r.read() == b'load("https://www.googletagmanager.com/gtm.js");'
            assert r.headers["Content-Length"] == "48"


async def test_conditional_requests_carry_the_consent_class(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen)))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"If-None-Match": 'W/"v42-cp.---"'}) as r:
            assert r.status == 304
        assert seen[-1].headers["If-None-Match"] == 'W/"v42"'
        async with s.get(url_of(app), headers={"If-None-Match": 'W/"v42-cp.fa-"',
                                               "If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}) as r:
            assert r.status == 200  # another consent class: the origin must send the page again
        assert "If-None-Match" not in seen[-1].headers and "If-Modified-Since" not in seen[-1].headers


async def test_range_never_delivers_unrewritten_markup(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen)))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app), headers={"Range": "bytes=0-99", "If-Range": '"v42"',
                                               "Accept": "text/html"}) as r:
            assert r.status == 200
            assert "Accept-Ranges" not in r.headers
    assert "Range" not in seen[-1].headers and "If-Range" not in seen[-1].headers
    partial = await proxy(await origin(page_app([], status=206, extra_headers={"Content-Range": "bytes 0-9/99"})))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(partial)) as r:
            assert r.status == 502  # a 206 of HTML cannot be rewritten: fail closed


async def test_corrupt_gzip_aborts_and_never_leaks_markup(raw_origin, proxy):
    bad = gzip.compress(PAGE)[:200] + b"\x00garbage-not-deflate" * 50

    async def handler(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n"
                     b"Content-Length: " + str(len(bad)).encode() + b"\r\n\r\n" + bad)
        await writer.drain()
        writer.close()

    app = await proxy(await raw_origin(handler))
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n", timeout=3)
    assert reply.startswith(b"HTTP/1.1 200")
    assert not reply.endswith(b"0\r\n\r\n")  # aborted, not a completed chunked body
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            assert 'consentproxy_rewrite_aborts_total{reason="decode"} 1.0' in await r.text()


async def test_link_header_preloads_of_trackers_are_dropped(origin, proxy):
    link = ('<https://www.googletagmanager.com/gtag/js?id=G-1>; rel=preload; as=script, '
            '</static/app.css>; rel=preload; as=style')
    app = await proxy(await origin(page_app([], extra_headers={"Link": link})))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            assert r.headers.getall("Link") == ["</static/app.css>; rel=preload; as=style"]


async def test_neutralise_mode_and_placeholder_asset(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen)),
                      "trackers:\n  modes: {functional: neutralise, analytics: neutralise}\n")
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            body = await r.read()
        async with s.get(url_of(app, "/__consent-proxy/placeholder.css")) as r:
            assert r.status == 200 and r.headers["Content-Type"].startswith("text/css")
    assert b'data-category="analytics"' in body and b'type="text/plain"' in body
    assert b"cp-placeholder" in body and b'<iframe src="https://www.youtube.com' not in body
    assert b"facebook.com/tr" not in body  # advertising stays in remove mode
    assert all(not r.path.startswith("/__consent-proxy/") for r in seen)


async def test_report_only_bodies_identical_under_concurrency_and_counted(origin, proxy):
    seen: list[web.Request] = []
    app = await proxy(await origin(page_app(seen, coding="gzip")), "trackers:\n  report_only: true\n")

    async def fetch(s: aiohttp.ClientSession) -> bytes:
        async with s.get(url_of(app), headers={"Accept-Encoding": "gzip", "Cookie": "_fbp=fb.1.2.3; cp_consent=v1"}) as r:
            assert r.headers["ETag"] == '"v42"'
            assert r.headers.getall("Set-Cookie", []) == []  # nothing purged either
            return await r.read()

    async with aiohttp.ClientSession(auto_decompress=False) as s:
        bodies = await asyncio.gather(*(fetch(s) for _ in range(20)))
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            metrics = await r.text()
    assert all(b == ENCODERS["gzip"](PAGE) for b in bodies)
    assert all(r.headers.get("Cookie") == "_fbp=fb.1.2.3; cp_consent=v1" for r in seen)
    assert 'consentproxy_elements_blocked_total{category="analytics",kind="script-src",mode="report"} 20.0' in metrics
    assert 'consentproxy_cookies_blocked_total{category="advertising",mode="report",where="request_cookie"} 20.0' in metrics
    assert 'consentproxy_elements_blocked_total{category="analytics",kind="script-src",mode="enforce"} 0.0' in metrics


async def test_utf16_page_is_transcoded_and_rewritten(origin, proxy):
    body = '\ufeff<html><script src="https://connect.facebook.net/en_US/fbevents.js"></script><p>h\u00e9</p></html>'
    app = await proxy(await origin(page_app([], body=body.encode("utf-16-le"),
                                            extra_headers={"Content-Type": "text/html; charset=utf-16"})))
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            out = await r.read()
    assert out.decode("utf-16") == "<html><p>h\u00e9</p></html>"


async def test_unknown_third_party_deny(origin, proxy):
    page = b'<script src="https://cdn.unknown-vendor.example/t.js"></script><img src="https://img.unknown.example/a.png"><p>x'
    app = await proxy(await origin(page_app([], body=page)),
                      "trackers:\n  unknown_third_party: deny\n  unknown_third_party_kinds: [script-src]\n")
    async with aiohttp.ClientSession() as s:
        async with s.get(url_of(app)) as r:
            out = await r.read()
    assert out == b'<img src="https://img.unknown.example/a.png"><p>x'


async def test_a_rewriter_failure_aborts_and_is_counted(origin, proxy, monkeypatch):
    from proxy.rewriter import HtmlRewriter

    def broken_feed(self, data):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated rewriter bug")

    monkeypatch.setattr(HtmlRewriter, "feed", broken_feed)
    app = await proxy(await origin(page_app([])))
    reply = await raw_exchange(app.public_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=3)
    assert reply.startswith(b"HTTP/1.1 200") and b"googletagmanager" not in reply
    assert not reply.endswith(b"0\r\n\r\n")  # aborted, not completed
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{app.admin_port}/metrics") as r:
            assert 'consentproxy_rewrite_aborts_total{reason="rewrite"} 1.0' in await r.text()


async def test_head_of_a_rewritten_page_has_the_headers_a_get_gets(origin, proxy):
    app = await proxy(await origin(page_app([])))
    async with aiohttp.ClientSession() as s:
        async with s.head(url_of(app)) as head:
            assert head.status == 200 and await head.read() == b""
        async with s.get(url_of(app)) as get:
            await get.read()
    for name in ("ETag", "Content-Length", "Cache-Control"):
        assert head.headers.get(name) == get.headers.get(name), name
    assert head.headers["ETag"] == 'W/"v42-cp.---"' and "Content-Length" not in head.headers
