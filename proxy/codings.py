"""Streaming content-coding decoders and encoders for the rewrite path (RFC 9110 §8.4.1).

Pure module: no aiohttp, no I/O. gzip and deflate use the standard library's zlib; br and
zstd use the `brotli` and `zstandard` packages. Every decoder is bounded: it refuses to
produce more than `limit` bytes in total (decompression bombs) and raises CodingError on
corrupt input. Encoders flush at every `encode()` call so a streamed page reaches the
browser chunk by chunk, at a small cost in size.
"""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli
import zstandard

try:  # ISA-L's deflate: ~4x faster than zlib at the same ratio (bench/README.md); same API.
    from isal import isal_zlib as _fast_deflate
except ImportError:  # pragma: no cover - a platform without isal wheels still works, slower
    _fast_deflate = None

SUPPORTED = ("gzip", "deflate", "br", "zstd")


class CodingError(Exception):
    """Corrupt, unsupported or oversized encoded content."""


class Decoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class Encoder(Protocol):
    def encode(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Bounded:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.total = 0

    def _count(self, out: bytes) -> bytes:
        self.total += len(out)
        if self.total > self.limit:
            raise CodingError(f"decoded body exceeds {self.limit} bytes")
        return out


class IdentityDecoder(_Bounded):
    def decode(self, data: bytes) -> bytes:
        return self._count(data)

    def finish(self) -> bytes:
        return b""


class ZlibDecoder(_Bounded):
    """gzip (wbits 31) or deflate: zlib-wrapped per RFC 9110, raw deflate accepted as sent by some servers."""

    def __init__(self, limit: int, gzip: bool) -> None:
        super().__init__(limit)
        self.gzip = gzip
        self._obj = zlib.decompressobj(31 if gzip else 15)
        self._head = b"" if not gzip else None  # deflate: the first two bytes decide the framing

    def decode(self, data: bytes) -> bytes:
        if self._head is not None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            self._head = None
            if (data[0] & 0x0F) != 8 or ((data[0] << 8) | data[1]) % 31:
                self._obj = zlib.decompressobj(-15)  # raw deflate, no zlib header (RFC 1950 check)
        try:
            # max_length bounds one call's output; the rest stays in unconsumed_tail.
            out = self._obj.decompress(data, self.limit - self.total + 1)
            if self._obj.unconsumed_tail:
                raise CodingError(f"decoded body exceeds {self.limit} bytes")
        except zlib.error as exc:
            raise CodingError(f"corrupt {'gzip' if self.gzip else 'deflate'} data: {exc}") from None
        return self._count(out)

    def finish(self) -> bytes:
        if self._head is not None:
            raise CodingError("truncated deflate body")
        try:
            out = self._obj.flush()
        except zlib.error as exc:
            raise CodingError(str(exc)) from None
        if not self._obj.eof:
            raise CodingError("truncated compressed body")
        return self._count(out)


class BrotliDecoder(_Bounded):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        try:
            return self._count(self._obj.process(data))
        except brotli.error as exc:
            raise CodingError(f"corrupt br data: {exc}") from None

    def finish(self) -> bytes:
        if not self._obj.is_finished():
            raise CodingError("truncated br body")
        return b""


class ZstdDecoder(_Bounded):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self._obj = zstandard.ZstdDecompressor(max_window_size=1 << 27).decompressobj()

    def decode(self, data: bytes) -> bytes:
        try:
            return self._count(self._obj.decompress(data))
        except zstandard.ZstdError as exc:
            raise CodingError(f"corrupt zstd data: {exc}") from None

    def finish(self) -> bytes:
        if not self._obj.eof:
            raise CodingError("truncated zstd body")
        return b""


class IdentityEncoder:
    def encode(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class ZlibEncoder:
    """gzip/deflate with ISA-L level 2 when available (zlib level 2 otherwise): within 1.25x of
    an origin's zlib level 9 on HTML, at a quarter of zlib level 6's CPU."""

    def __init__(self, gzip: bool) -> None:
        wbits = 31 if gzip else 15
        if _fast_deflate is not None:
            self._obj = _fast_deflate.compressobj(2, _fast_deflate.DEFLATED, wbits)
            self._sync, self._finish = _fast_deflate.Z_SYNC_FLUSH, _fast_deflate.Z_FINISH
        else:
            self._obj = zlib.compressobj(2, zlib.DEFLATED, wbits)
            self._sync, self._finish = zlib.Z_SYNC_FLUSH, zlib.Z_FINISH

    def encode(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(self._sync) if data else b""

    def finish(self) -> bytes:
        return self._obj.flush(self._finish)


class BrotliEncoder:
    def __init__(self, quality: int) -> None:
        self._obj = brotli.Compressor(quality=quality)

    def encode(self, data: bytes) -> bytes:
        return self._obj.process(data) + self._obj.flush() if data else b""

    def finish(self) -> bytes:
        return self._obj.finish()


class ZstdEncoder:
    def __init__(self, level: int) -> None:
        self._obj = zstandard.ZstdCompressor(level=level).compressobj()

    def encode(self, data: bytes) -> bytes:
        return self._obj.compress(data) + self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK) if data else b""

    def finish(self) -> bytes:
        return self._obj.flush(zstandard.COMPRESSOBJ_FLUSH_FINISH)


def parse_coding(content_encoding: str | None) -> str | None:
    """The single coding of a Content-Encoding value, 'identity' for none, None if unsupported.

    Stacked codings (`gzip, br`) are not supported: such bodies are never rewritten."""
    if not content_encoding:
        return "identity"
    coding = content_encoding.strip().lower()
    if coding in ("identity", ""):
        return "identity"
    if coding == "x-gzip":
        return "gzip"
    return coding if coding in SUPPORTED else None


def make_decoder(coding: str, limit: int) -> Decoder:
    if coding == "gzip":
        return ZlibDecoder(limit, gzip=True)
    if coding == "deflate":
        return ZlibDecoder(limit, gzip=False)
    if coding == "br":
        return BrotliDecoder(limit)
    if coding == "zstd":
        return ZstdDecoder(limit)
    return IdentityDecoder(limit)


#: brotli qualities: 3 for streamed (dynamic) pages, whose origins compress at low qualities
#: too; 5 for responses with a Content-Length, typically static files precompressed at 11,
#: where 3 would exceed 1.25x the origin's size (measured on the bench page: q11 18.6 KB,
#: q5 21.7 KB, q3 24.8 KB).
BROTLI_QUALITY = {False: 3, True: 5}
ZSTD_LEVEL = 3


def make_encoder(coding: str, precompressed: bool = False) -> Encoder:
    """An encoder for `coding`; `precompressed` hints that the origin used a slow, dense level."""
    if coding in ("gzip", "deflate"):
        return ZlibEncoder(coding == "gzip")
    if coding == "br":
        return BrotliEncoder(BROTLI_QUALITY[precompressed])
    if coding == "zstd":
        return ZstdEncoder(ZSTD_LEVEL)
    return IdentityEncoder()


def filter_accept_encoding(value: str | None) -> str | None:
    """Accept-Encoding for the origin: only codings we can decode (or `identity`). None = drop."""
    if value is None:
        return None
    kept = []
    for item in value.split(","):
        token = item.split(";", 1)[0].strip().lower()
        if token in SUPPORTED or token in ("identity", "x-gzip"):
            kept.append(item.strip())
    return ", ".join(kept) if kept else "identity"
