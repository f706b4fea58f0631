"""Benchmark: proxy.rewriter vs a stdlib html.parser remover doing the same removal (issue 5).

Run by hand:  .venv/bin/python bench/bench_rewriter.py [--page PATH] [--rounds N]
The page is fed in 16 KB chunks with every optional category denied; MB/s counts input
bytes. The baseline runs in the same process on the same page and classifier. Both
outputs are compared with the page's .expected.html.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxy.rewriter import HtmlRewriter, RewriteSettings  # noqa: E402
from proxy.signatures import DEFAULT_SIGNATURES  # noqa: E402
from tests.unit.test_rewriter_helpers import DENY_ALL, PAGE_HOST, DictClassifier  # noqa: E402

CHUNK = 16 * 1024
FETCH_RELS = {"preconnect", "dns-prefetch", "preload", "prefetch", "modulepreload", "stylesheet"}


class ParserRemover(HTMLParser):
    """Baseline: html.parser finds the same elements; removal by source offsets."""

    def __init__(self, text: str, classifier: DictClassifier) -> None:
        super().__init__(convert_charrefs=False)
        self.c = classifier
        self.line_starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.line_starts.append(i + 1)
        self.spans: list[list[int]] = []
        self.open: dict[str, int] = {}
        self.script_start = -1
        self.script_denied = False
        self.script_inline = False
        self.pending: list[list[int]] = []
        self.noscript_start = -1
        self.noscript_hit = False
        self.rcdata = 0  # html.parser parses <textarea>/<title> content as markup: ignore it

    def _off(self) -> int:
        line, col = self.getpos()
        return self.line_starts[line - 1] + col

    def _close_pending(self) -> None:
        if self.pending:
            off = self._off()
            for span in self.pending:
                span[1] = off
            self.pending = []

    def _denied(self, url: str | None) -> bool:
        if not url:
            return False
        v = self.c.classify_url(url.strip(), PAGE_HOST)
        return v is not None and v.category not in DENY_ALL

    def handle_starttag(self, tag, attrs):
        self._close_pending()
        if tag in ("textarea", "title"):
            self.rcdata += 1
        if self.rcdata:
            return
        a = dict(attrs)
        off = self._off()
        if tag == "script":
            self.script_start = off
            self.script_inline = not a.get("src")
            self.script_denied = self._denied(a.get("src"))
        elif tag == "noscript":
            self.noscript_start, self.noscript_hit = off, False
        elif tag in ("img", "source", "embed") and (self._denied(a.get("src")) or any(
                self._denied(c.split()[0]) for c in (a.get("srcset") or "").split(",") if c.split())):
            self._remove_void(off)
        elif tag == "link" and FETCH_RELS & set((a.get("rel") or "").lower().split()) and self._denied(a.get("href")):
            self._remove_void(off)
        elif tag == "iframe" and self._denied(a.get("src")):
            self.open["iframe"] = off
            if self.noscript_start >= 0:
                self.noscript_hit = True

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def _remove_void(self, off: int) -> None:
        if self.noscript_start >= 0:
            self.noscript_hit = True
        span = [off, -1]
        self.spans.append(span)
        self.pending.append(span)

    def handle_data(self, data):
        self._close_pending()
        if self.script_start >= 0 and self.script_inline and not self.script_denied:
            self.script_denied = DEFAULT_SIGNATURES.first_denied(data.encode(), DENY_ALL) is not None

    def handle_endtag(self, tag):
        self._close_pending()
        if tag in ("textarea", "title"):
            self.rcdata = max(0, self.rcdata - 1)
        if self.rcdata:
            return
        if tag == "script" and self.script_start >= 0:
            if self.script_denied:
                span = [self.script_start, -1]
                self.spans.append(span)
                self.pending.append(span)
            self.script_start = -1
        elif tag == "iframe" and "iframe" in self.open:
            span = [self.open.pop("iframe"), -1]
            self.spans.append(span)
            self.pending.append(span)
        elif tag == "noscript" and self.noscript_start >= 0:
            if self.noscript_hit:
                span = [self.noscript_start, -1]
                self.spans.append(span)
                self.pending.append(span)
            self.noscript_start = -1

    def handle_comment(self, data):
        self._close_pending()

    def handle_decl(self, decl):
        self._close_pending()

    def handle_entityref(self, name):
        self._close_pending()

    def handle_charref(self, name):
        self._close_pending()


def baseline(page: bytes, classifier: DictClassifier) -> bytes:
    text = page.decode("utf-8")
    p = ParserRemover(text, classifier)
    for i in range(0, len(text), CHUNK):
        p.feed(text[i:i + CHUNK])
    p.close()
    for span in p.pending:
        span[1] = len(text)
    out, last = [], 0
    for s, e in sorted(p.spans):
        if s >= last:
            out.append(text[last:s])
            last = e
        else:
            last = max(last, e)
    out.append(text[last:])
    return "".join(out).encode("utf-8")


def rewrite(page: bytes, classifier: DictClassifier) -> bytes:
    r = HtmlRewriter(classifier, DENY_ALL, PAGE_HOST, RewriteSettings())
    out = [r.feed(page[i:i + CHUNK]) for i in range(0, len(page), CHUNK)]
    out.append(r.close())
    return b"".join(out)


def measure(fn, page: bytes, rounds: int) -> tuple[float, bytes]:
    c = DictClassifier()
    out = fn(page, c)  # warm-up (regex compile caches, classifier memo)
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn(page, c)
        times.append(time.perf_counter() - t)
    return len(page) / statistics.median(times) / 1e6, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--page", default="/work/shared/data/bench/page_2m.html")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    page = Path(args.page).read_bytes()
    expected_path = Path(args.page).with_name(Path(args.page).stem + ".expected.html")
    expected = expected_path.read_bytes() if expected_path.exists() else None
    base_mbs, base_out = measure(baseline, page, max(3, args.rounds // 5))
    rw_mbs, rw_out = measure(rewrite, page, args.rounds)
    print(f"page: {args.page} ({len(page)} bytes), {CHUNK // 1024} KB chunks, all optional categories denied")
    print(f"html.parser remover : {base_mbs:7.1f} MB/s   output == expected: {base_out == expected}")
    print(f"proxy.rewriter      : {rw_mbs:7.1f} MB/s   output == expected: {rw_out == expected}")
    print(f"ratio               : {rw_mbs / base_mbs:7.1f}x  (target >= 15x, ~100 MB/s; stretch 150 MB/s)")


if __name__ == "__main__":
    main()
