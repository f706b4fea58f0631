"""Streaming decoders/encoders: round trips at any chunking, bombs and corrupt input refused."""

from __future__ import annotations

import gzip
import os
import random
import zlib

import brotli
import pytest
import zstandard

from proxy.codings import CodingError, filter_accept_encoding, make_decoder, make_encoder, parse_coding

PAGE = b"<!doctype html><html><body>" + b"<p>Hello, world. Some text &amp; more.</p>\n" * 2000 + b"</body></html>"

ENCODE = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


def chunks(data: bytes, rng: random.Random):
    i = 0
    while i < len(data):
        n = rng.randint(1, 4096)
        yield data[i:i + n]
        i += n


@pytest.mark.parametrize("coding", sorted(ENCODE))
def test_decode_at_random_chunk_sizes(coding):
    encoded = ENCODE[coding](PAGE)
    rng = random.Random(7)
    dec = make_decoder(coding, 10 << 20)
    out = b"".join(dec.decode(c) for c in chunks(encoded, rng)) + dec.finish()
    assert out == PAGE


@pytest.mark.parametrize("coding", sorted(ENCODE) + ["identity"])
def test_encoder_output_decodes_and_stays_small(coding):
    enc = make_encoder(coding)
    rng = random.Random(3)
    out = b"".join(enc.encode(c) for c in chunks(PAGE, rng)) + enc.finish()
    dec = make_decoder(coding, 10 << 20)
    assert dec.decode(out) + dec.finish() == PAGE
    if coding != "identity":
        assert len(out) <= 1.25 * len(ENCODE[coding](PAGE)) + 2048


def test_raw_deflate_accepted():
    co = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = co.compress(PAGE) + co.flush()
    dec = make_decoder("deflate", 10 << 20)
    assert dec.decode(raw) + dec.finish() == PAGE


@pytest.mark.parametrize("coding", sorted(ENCODE))
def test_decompression_bomb_refused(coding):
    bomb = ENCODE[coding](b"\0" * (20 << 20))
    dec = make_decoder(coding, 1 << 20)
    with pytest.raises(CodingError):
        dec.decode(bomb)
        dec.finish()


@pytest.mark.parametrize("coding", sorted(ENCODE))
def test_corrupt_and_truncated_input_refused(coding):
    encoded = ENCODE[coding](PAGE + os.urandom(100))
    with pytest.raises(CodingError):
        dec = make_decoder(coding, 10 << 20)
        dec.decode(encoded[: len(encoded) // 2])
        dec.finish()
    with pytest.raises(CodingError):
        dec = make_decoder(coding, 10 << 20)
        dec.decode(b"\xff\xfe garbage that is not " + coding.encode() + b" at all" * 10)
        dec.finish()


def test_parse_coding_and_accept_encoding():
    assert parse_coding(None) == "identity"
    assert parse_coding("GZIP") == "gzip"
    assert parse_coding("gzip, br") is None
    assert parse_coding("compress") is None
    assert filter_accept_encoding("gzip, deflate, br, zstd, dcb, *;q=0.1") == "gzip, deflate, br, zstd"
    assert filter_accept_encoding("compress") == "identity"
    assert filter_accept_encoding(None) is None


def _realistic_page() -> bytes:
    from pathlib import Path

    parts = sorted(Path(__file__).parent.parent.joinpath("fixtures", "html").rglob("*.html"))
    return b"\n".join(p.read_bytes() for p in parts)


@pytest.mark.parametrize("coding, origin_encode, precompressed", [
    ("gzip", lambda b: gzip.compress(b, 9), False),
    ("deflate", lambda b: zlib.compress(b, 9), False),
    ("br", lambda b: brotli.compress(b, quality=11), True),
    ("br", lambda b: brotli.compress(b, quality=5), False),
    ("zstd", lambda b: zstandard.ZstdCompressor(level=19).compress(b), True),
])
def test_reencoded_size_within_a_quarter_of_dense_origin_encodings(coding, origin_encode, precompressed):
    """Issue 5: re-encoded output at most 1.25x the origin's own encoding, even a dense one."""
    page = _realistic_page()
    enc = make_encoder(coding, precompressed=precompressed)
    out = b"".join(enc.encode(page[i:i + 16384]) for i in range(0, len(page), 16384)) + enc.finish()
    assert len(out) <= 1.25 * len(origin_encode(page)), (len(out), len(origin_encode(page)))
