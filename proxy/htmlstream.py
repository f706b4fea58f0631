"""The body stage of a rewritten HTML response: decode → rewrite → encode, chunk by chunk.

Memory stays bounded: the decoder is capped, the rewriter holds back at most one undecided
element, and each upstream chunk is written out before the next is read (backpressure).
A failure after the headers went out aborts the client connection: the rest of the page is
never forwarded unrewritten (STYLE: fail closed on privacy).
"""

from __future__ import annotations

import codecs
import logging
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from proxy.codings import CodingError, Decoder, Encoder, make_decoder, make_encoder
from proxy.metrics import Metrics
from proxy.rewriter import HtmlRewriter

_ASCII_PROBE = "<script>"
log = logging.getLogger("consent_proxy")


class RewriteAborted(Exception):
    """The rewritten body could not be completed; the client connection is aborted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def text_codec(content_type: str | None, first_bytes: bytes) -> str | None:
    """The codec to transcode through, or None when the body is ASCII-compatible (the usual case).

    A BOM wins over the header (WHATWG encoding sniffing); UTF-16/32 and other charsets in
    which `<script>` is not its ASCII bytes are transcoded to UTF-8 for the rewriter and back.
    """
    if first_bytes.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if first_bytes.startswith(b"\xef\xbb\xbf"):
        return None
    charset = ""
    for param in (content_type or "").split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    if not charset:
        return None
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        return None  # unknown names are legacy single-byte charsets in practice
    try:
        if _ASCII_PROBE.encode(codec.name) == _ASCII_PROBE.encode("ascii"):
            return None
    except (UnicodeError, LookupError):
        return None
    return codec.name


class _Transcoder:
    """Wraps the rewriter for non-ASCII-compatible charsets: bytes → UTF-8 → rewrite → bytes."""

    def __init__(self, rewriter: HtmlRewriter, codec: str) -> None:
        self.rewriter = rewriter
        self.decoder = codecs.getincrementaldecoder(codec)(errors="strict")
        self.encoder = codecs.getincrementalencoder(codec)(errors="strict")

    def feed(self, data: bytes) -> bytes:
        text = self.decoder.decode(data)
        out = self.rewriter.feed(text.encode("utf-8", "surrogatepass"))
        return self.encoder.encode(out.decode("utf-8", "surrogatepass")) if out else b""

    def close(self) -> bytes:
        text = self.decoder.decode(b"", final=True)
        out = self.rewriter.feed(text.encode("utf-8", "surrogatepass")) + self.rewriter.close()
        return self.encoder.encode(out.decode("utf-8", "surrogatepass"), final=True)


@dataclass(slots=True)
class HtmlStream:
    """One response's body stage. `shadow` (report-only) forwards the origin's bytes untouched
    and runs the rewriter beside them only to count what it would have removed."""

    rewriter: HtmlRewriter
    coding: str
    max_decoded: int
    content_type: str | None
    shadow: bool = False

    async def run(self, up: aiohttp.ClientResponse, resp: web.StreamResponse, metrics: Metrics) -> None:
        # The decoded-size cap guards against decompression bombs; an identity body cannot
        # expand, so it streams without a cap (memory stays flat either way).
        limit = self.max_decoded if self.coding != "identity" else 1 << 62
        decoder: Decoder = make_decoder(self.coding, limit)
        encoder: Encoder = make_encoder(self.coding, precompressed=up.content_length is not None)
        sink: HtmlRewriter | _Transcoder = self.rewriter
        started = False
        cpu = 0.0
        total = 0

        def convert(chunk: bytes | None) -> bytes:
            """One upstream chunk (None: the end of the body) to the bytes the client gets."""
            nonlocal sink, started, total
            try:
                if chunk is None:
                    tail = decoder.finish()
                    total += len(tail)
                    out = sink.feed(tail) + sink.close() if tail else sink.close()
                    return b"" if self.shadow else encoder.encode(out) + encoder.finish()
                data = decoder.decode(chunk)
                if not started and data:
                    started = True
                    codec = text_codec(self.content_type, data[:4])
                    if codec is not None:
                        sink = _Transcoder(self.rewriter, codec)
                total += len(data)
                out = sink.feed(data)
                return chunk if self.shadow else encoder.encode(out)
            except CodingError:
                raise RewriteAborted("decode") from None
            except Exception as exc:  # a rewriter bug: never forward the rest unrewritten
                log.error("HTML rewrite failed; aborting the response", exc_info=exc,
                          extra={"event": "rewrite_error"})
                raise RewriteAborted("rewrite") from None

        try:
            async for chunk in up.content.iter_any():
                t0 = time.perf_counter()
                payload = convert(chunk)
                cpu += time.perf_counter() - t0
                if payload:
                    await resp.write(payload)
            t0 = time.perf_counter()
            payload = convert(None)
            cpu += time.perf_counter() - t0
            if payload:
                await resp.write(payload)
        except RewriteAborted as exc:
            metrics.rewrite_aborts.labels(exc.reason).inc()
            raise
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, TimeoutError) as exc:
            metrics.rewrite_aborts.labels("upstream").inc()
            raise RewriteAborted("upstream") from exc
        finally:
            metrics.rewrite_bytes.inc(total)
            metrics.rewrite_duration.observe(cpu)
            metrics.count_rewrite_events(self.rewriter)
