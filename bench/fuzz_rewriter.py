"""By-hand fuzzer for the streaming HTML rewriter (issue 8): 100,000+ random documents.

Run by hand:  .venv/bin/python bench/fuzz_rewriter.py [--count 100000] [--seed 1] [--show 5]

Each document mixes the vendor fixtures' snippets, ordinary markup and self-contained
malformed constructs, sometimes ends in an EOF-truncated tracker snippet, and is fed at a
random chunking under a random consent (about a third of the documents go through gzip, br,
deflate or zstd via proxy.codings first). Checked per document:
  1. no exception;
  2. output == input minus the removed elements (for the complete part of the document);
  3. the same output at one-piece feeding (chunking never matters);
  4. an independent html.parser re-parse (TrackerOracle) finds no element that would fetch
     or execute a tracker of a denied category;
  5. with every category granted the output is the input, byte for byte.
Document i is generated from Random(seed * 1_000_003 + i), so a failure is reproducible from
the printed seed and index alone. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import time
import traceback
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import brotli  # noqa: E402
import zstandard  # noqa: E402

from proxy.categories import OPTIONAL_CATEGORIES  # noqa: E402
from proxy.codings import make_decoder, make_encoder  # noqa: E402
from tests.unit.test_fuzz_properties import TrackerOracle, random_document, random_sizes  # noqa: E402
from tests.unit.test_rewriter_helpers import rewriter  # noqa: E402

GRANT_ALL = frozenset({"necessary", *OPTIONAL_CATEGORIES})
ENCODE = {"gzip": gzip.compress, "deflate": zlib.compress, "br": lambda b: brotli.compress(b, quality=4),
          "zstd": lambda b: zstandard.ZstdCompressor().compress(b)}
DECODE = {"gzip": gzip.decompress, "deflate": zlib.decompress, "br": brotli.decompress,
          "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b)}


def feed(doc: bytes, sizes: list[int], granted: frozenset[str]) -> bytes:
    r = rewriter(granted=granted)
    out, i, k = [], 0, 0
    while i < len(doc):
        n = sizes[k % len(sizes)]
        out.append(r.feed(doc[i:i + n]))
        i, k = i + n, k + 1
    out.append(r.close())
    return b"".join(out)


def feed_encoded(doc: bytes, sizes: list[int], granted: frozenset[str], coding: str) -> bytes:
    """As the proxy does: decode chunk by chunk, rewrite, re-encode; then decode independently."""
    wire = ENCODE[coding](doc)
    dec, enc, r = make_decoder(coding, 1 << 26), make_encoder(coding), rewriter(granted=granted)
    out, i, k = [], 0, 0
    while i < len(wire):
        n = sizes[k % len(sizes)]
        out.append(enc.encode(r.feed(dec.decode(wire[i:i + n]))))
        i, k = i + n, k + 1
    out.append(enc.encode(r.feed(dec.finish()) + r.close()) + enc.finish())
    return DECODE[coding](b"".join(out))


def check(index: int, seed: int) -> tuple[list[str], int]:
    """Problems found in document `index`, and its size."""
    rng = random.Random(seed * 1_000_003 + index)
    doc, expected, _ = random_document(rng)
    sizes = random_sizes(rng)
    granted = frozenset({"necessary"} | {c for c in OPTIONAL_CATEGORIES if rng.random() < 0.25})
    coding = rng.choice(("gzip", "br", "deflate", "zstd")) if rng.random() < 0.33 else "identity"
    problems = []
    if coding == "identity":
        out = feed(doc, sizes, granted)
        if feed(doc, [len(doc) or 1], granted) != out:
            problems.append("chunking changed the output")
    else:
        out = feed_encoded(doc, sizes, granted, coding)
    if granted == {"necessary"} and out[:len(expected)] != expected:
        problems.append(f"output != input minus removed elements ({coding})")
    denied = TrackerOracle.denied_in(out, granted)
    if denied:
        problems.append(f"denied tracker left ({coding}, granted={sorted(granted)}): {denied[:3]}")
    if index % 4 == 0 and feed(doc, sizes, GRANT_ALL) != doc:
        problems.append("grant-all output differs from input")
    return problems, len(doc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=5, help="failures to print in full")
    args = ap.parse_args()
    t0 = time.perf_counter()
    failures = 0
    total_bytes = 0
    for i in range(args.count):
        try:
            problems, size = check(i, args.seed)
            total_bytes += size
        except Exception:  # the rewriter must never raise: count it as a failure
            problems = ["exception: " + traceback.format_exc(limit=3)]
        if problems:
            failures += 1
            if failures <= args.show:
                print(f"FAIL seed={args.seed} index={i}: " + "; ".join(problems), file=sys.stderr)
        if (i + 1) % 20000 == 0:
            print(f"  {i + 1} documents, {failures} failures, {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    elapsed = time.perf_counter() - t0
    print(f"seed={args.seed} documents={args.count} failures={failures} "
          f"input={total_bytes / 1e6:.1f} MB time={elapsed:.1f}s ({args.count / elapsed:.0f} docs/s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
