"""Fuzzing with a fixed seed and a stated budget (issue 8).

Extends test_rewriter_properties.py (pieces, chunkings) and test_consent_properties.py
(consent cookie round trips): here documents mix the vendor fixtures, ordinary markup and
self-contained malformed constructs, end in an EOF-truncated piece, pass through gzip/br/
deflate/zstd via proxy.codings, and are checked by an independent html.parser oracle that
knows which elements fetch or execute. Header properties cover Cookie / Set-Cookie
filtering and purge values built from hostile cookie names.

Budget (CI): every test is `derandomize=True` (fixed seed) with the example count in its `fuzz(n)`:
750 random documents and 950 header cases; the whole file runs in about 4 s.
bench/fuzz_rewriter.py reuses `random_document` and `TrackerOracle` for 100,000+ documents.
"""

from __future__ import annotations

import gzip
import random
import re
import zlib
from html.parser import HTMLParser

import brotli
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxy.categories import OPTIONAL_CATEGORIES, all_granted, granting
from proxy.codings import make_decoder, make_encoder
from proxy.consent import ConsentSettings, decide
from proxy.cookieheader import split_cookie_header
from proxy.cookies import filter_request_cookie, filter_set_cookies, is_deletion, purge_headers
from proxy.signatures import DEFAULT_SIGNATURES
from tests.unit.test_rewriter_helpers import FIXTURES, DictClassifier, rewriter
from tests.unit.test_rewriter_properties import ORDINARY, TRACKERS



def fuzz(examples: int) -> settings:
    """Fixed seed (derandomize) and a stated number of examples: the CI budget."""
    return settings(derandomize=True, deadline=None, max_examples=examples, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# --- the document generator (shared with bench/fuzz_rewriter.py) -----------------------------

_BEGIN, _END = b"<!--BEGIN-->", b"<!--END-->"
_ELEMENT = re.compile(rb"<(script|noscript|iframe)\b.*?</\1\s*>|<img\b[^>]*>", re.S | re.I)


def _vendor_pieces() -> list[tuple[bytes, bytes]]:
    """(region, expected output) of every vendor fixture's BEGIN..END region."""
    out = []
    for path in sorted((FIXTURES / "vendors").glob("*.html")):
        region = path.read_bytes().split(_BEGIN, 1)[1].split(_END, 1)[0]
        out.append((region, region if ".nearmiss." in path.name else _ELEMENT.sub(b"", region)))
    return out


#: Self-contained malformed constructs: kept byte-exact, and they leave the tokenizer in the
#: data state, so whatever follows is parsed as if they were not there.
MALFORMED = [
    b"<", b"a < b && c > d", b"<3 ", b"</>", b"<!>", b"<?php echo 1; ?>", b"< p>", b"<p/ >", b"</ p>",
    b"<img src>", b"<img src=>", b"<img src=''>", b"&#x0;&amp&lt;&#99999999;", b"\x00", b"\xff\xfe\xc3(",
    b"</script>", b"</noscript>", b"</iframe>", b"</object>", b"<!--->", b"<!---->", b"<!-- -- -->",
    b"<!--x--!>", b"<![CDATA[<script src=https://bat.bing.com/x.js></script>]]>",
    b"<script type=text/plain src=https://www.googletagmanager.com/gtm.js></script>",
    b'<a href="https://www.facebook.com/tr?id=1">not fetched</a>',
    b"<img alt='https://bat.bing.com/a.gif' src=/logo.png>", b"<div data-src=https://bat.bing.com/x.gif></div>",
    b"<IMG\nSRC=/local.png\n>", b"<link rel=stylesheet href=/site.css>", b'<link rel="canonical" href="https://www.googletagmanager.com/">',
    b"<p =x>y</p>", b"<br/>", b"</br>", b"<div<div>", b"<p a=1 a=2>",
]

VENDORS = _vendor_pieces()
#: (input, expected output, is a tracker)
POOL: list[tuple[bytes, bytes, bool]] = (
    [(p, p, False) for p in ORDINARY] + [(p, b"", True) for p in TRACKERS]
    + [(p, p, False) for p in MALFORMED] + [(r, e, r != e) for r, e in VENDORS]
)
TRACKER_INPUTS = [p for p, _, t in POOL if t]


def random_document(rng: random.Random, max_pieces: int = 30) -> tuple[bytes, bytes, int]:
    """(document, expected output of its complete part, number of tracker pieces).

    The document may end in an EOF-truncated prefix of a tracker piece, whose bytes are not
    part of the expected output (the rewriter may keep or drop them; the oracle judges them).
    """
    pieces = [rng.choice(POOL) for _ in range(rng.randint(0, max_pieces))]
    doc = b"".join(p for p, _, _ in pieces)
    expected = b"".join(e for _, e, _ in pieces)
    if rng.random() < 0.3:
        tail = rng.choice(TRACKER_INPUTS)
        doc += tail[:rng.randint(1, len(tail) - 1)]
    return doc, expected, sum(1 for _, _, t in pieces if t)


def random_sizes(rng: random.Random) -> list[int]:
    hi = rng.choice((1, 7, 64, 512, 4096))
    return [rng.randint(1, hi) for _ in range(rng.randint(1, 16))]


class TrackerOracle(HTMLParser):
    """Independent check: elements in `out` that a browser would fetch from a denied tracker
    host, or inline scripts it would run that carry a denied signature.

    Knows the raw-text elements (script/style/textarea/title/xmp/noembed/noframes/iframe),
    that <noscript> content is markup with JS off, that only JavaScript types execute, and
    which <link> rels fetch. First occurrence of an attribute wins, as in browsers.
    """

    FETCH_RELS = {"preconnect", "dns-prefetch", "preload", "prefetch", "modulepreload", "stylesheet", "prerender"}
    JS_TYPES = {"", "module", "text/javascript", "application/javascript", "text/ecmascript",
                "application/ecmascript", "application/x-javascript", "text/jscript"}

    def __init__(self, granted: frozenset[str] = frozenset({"necessary"})) -> None:
        super().__init__(convert_charrefs=True)
        self.granted = granted
        self.classifier = DictClassifier()
        self.found: list[str] = []
        self._script: list[str] | None = None

    def _check(self, tag: str, url: str | None) -> None:
        if not url:
            return
        v = self.classifier.classify_url(url.strip(), "www.example-kitchen.test")
        if v is not None and v.category not in self.granted:
            self.found.append(f"<{tag}> {url}")

    RAW_TEXT = ("textarea", "title", "xmp", "noembed", "noframes", "iframe", "plaintext")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.RAW_TEXT:
            self.set_cdata_mode(tag)  # html.parser treats only script/style as raw text
        a: dict[str, str] = {}
        for k, v in attrs:
            a.setdefault(k, v or "")
        if tag == "script":
            kind = a.get("type", "text/" + a["language"] if a.get("language") else "").strip().lower()
            if kind in self.JS_TYPES:
                if a.get("src", "").strip():
                    self._check(tag, a["src"])
                else:
                    self._script = []
        elif tag in ("img", "image", "source", "embed", "iframe", "frame", "input"):
            self._check(tag, a.get("src"))
            for cand in a.get("srcset", "").split(","):
                if cand.split():
                    self._check(tag, cand.split()[0])
        elif tag == "object":
            self._check(tag, a.get("data"))
        elif tag == "link" and self.FETCH_RELS & set(a.get("rel", "").lower().split()):
            self._check(tag, a.get("href"))
        elif tag == "a":
            for url in a.get("ping", "").split():
                self._check("a ping", url)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # `<iframe/>` still opens a raw-text element

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            body = "".join(self._script).encode("utf-8", "surrogateescape")
            hit = DEFAULT_SIGNATURES.first_denied(body, self.granted)
            if hit is not None:
                self.found.append(f"inline script {hit}: {body[:60]!r}")
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)

    @classmethod
    def denied_in(cls, out: bytes, granted: frozenset[str] = frozenset({"necessary"})) -> list[str]:
        oracle = cls(granted)
        oracle.feed(out.decode("utf-8", "surrogateescape"))
        oracle.close()
        if oracle._script is not None:  # EOF inside a script: a browser runs what it has
            oracle.handle_endtag("script")
        return oracle.found


def rewrite_chunked(doc: bytes, sizes: list[int], granted: frozenset[str] = frozenset({"necessary"})) -> tuple[bytes, int]:
    r = rewriter(granted=granted)
    out, i, k = [], 0, 0
    while i < len(doc):
        n = sizes[k % len(sizes)]
        out.append(r.feed(doc[i:i + n]))
        i, k = i + n, k + 1
    out.append(r.close())
    return b"".join(out), len(r.events)


# --- HTML properties ---------------------------------------------------------------------


def test_oracle_flags_every_tracker_piece_and_no_kept_piece():
    """The oracle is neither blind nor paranoid on the pool itself."""
    for doc, expected, tracker in POOL:
        if tracker:
            assert TrackerOracle.denied_in(doc) or b"<noscript" in doc.lower() or b"<object" in doc.lower(), doc
        assert TrackerOracle.denied_in(expected) == [], expected


@fuzz(400)
@given(st.randoms(use_true_random=False))
def test_random_documents_any_chunking(rng):
    doc, expected, trackers = random_document(rng)
    out, events = rewrite_chunked(doc, random_sizes(rng))
    assert out[:len(expected)] == expected
    assert events >= trackers
    assert TrackerOracle.denied_in(out) == []
    whole, _ = rewrite_chunked(doc, [len(doc) or 1])
    assert whole == out  # chunking never matters


STDLIB_ENCODE = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}
STDLIB_DECODE = {
    "gzip": gzip.decompress,
    "deflate": zlib.decompress,
    "br": brotli.decompress,
    "zstd": lambda b: zstandard.ZstdDecompressor().decompressobj().decompress(b),
}


@fuzz(200)
@given(st.randoms(use_true_random=False), st.sampled_from(sorted(STDLIB_ENCODE)))
def test_random_documents_through_content_codings(rng, coding):
    """Encoded by an independent encoder, decoded/re-encoded by proxy.codings as the proxy does."""
    doc, expected, _ = random_document(rng)
    wire = STDLIB_ENCODE[coding](doc)
    decoder, encoder, r = make_decoder(coding, 1 << 24), make_encoder(coding), rewriter()
    sizes, out, i, k = random_sizes(rng), [], 0, 0
    while i < len(wire):
        n = sizes[k % len(sizes)]
        out.append(encoder.encode(r.feed(decoder.decode(wire[i:i + n]))))
        i, k = i + n, k + 1
    out.append(encoder.encode(r.feed(decoder.finish()) + r.close()) + encoder.finish())
    plain = STDLIB_DECODE[coding](b"".join(out))
    assert plain[:len(expected)] == expected
    assert TrackerOracle.denied_in(plain) == []


def test_deflate_split_after_first_byte():
    wire = zlib.compress(b"<p>Caf\xc3\xa9 menu</p>\n" * 20)
    decoder = make_decoder("deflate", 1 << 20)
    assert decoder.decode(wire[:1]) + decoder.decode(wire[1:]) + decoder.finish() == b"<p>Caf\xc3\xa9 menu</p>\n" * 20


@fuzz(150)
@given(st.randoms(use_true_random=False), st.frozensets(st.sampled_from(OPTIONAL_CATEGORIES)))
def test_partial_grants_keep_exactly_the_granted_vendors(rng, granted_optional):
    """Under a partial grant no denied tracker survives, and granted-only documents are untouched."""
    granted = frozenset({"necessary"}) | granted_optional
    doc, _, _ = random_document(rng)
    out, _ = rewrite_chunked(doc, random_sizes(rng), granted)
    assert TrackerOracle.denied_in(out, granted) == []
    grant_all = frozenset({"necessary", *OPTIONAL_CATEGORIES})
    assert rewrite_chunked(doc, random_sizes(rng), grant_all)[0] == doc


# --- Cookie / Set-Cookie properties -------------------------------------------------------


@pytest.fixture(scope="module")
def policy():
    from proxy.catalogue import load_catalogue
    from proxy.policy import Policy, SiteRules

    return Policy.compile(SiteRules(), load_catalogue())


#: Real cookie names of every category (the policy says which) and some nobody classifies.
NAMES = ["sessionid", "csrftoken", "cp_consent", "lang", "_ga", "_gid", "_ga_7QX2M4LZ1P", "_gcl_au", "_fbp", "_fbc",
         "_hjSessionUser_3211", "IDE", "li_sugr", "_uetsid", "site_widget_state", "__Host-sid", "__Secure-3PSID"]
values = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";"), max_size=30)
hostile = st.lists(st.sampled_from(list("\r\n\t ;,=\"'\\\x00\x7f\xe4") + ["_ga", "a", "Max-Age=0", "Domain=evil"]),
                   max_size=12).map("".join)
consents = st.frozensets(st.sampled_from(OPTIONAL_CATEGORIES)).map(granting)


@fuzz(200)
@given(st.lists(st.one_of(st.tuples(st.sampled_from(NAMES), values).map("=".join), hostile), max_size=12), consents)
def test_request_cookie_filter_is_a_sub_sequence_without_denied_cookies(policy, pieces, consent):
    header = "; ".join(pieces)
    result = filter_request_cookie(header, consent, policy)
    pairs = split_cookie_header(header)
    kept_raw = [p.raw for p in split_cookie_header(result.header)] if result.changed else [p.raw for p in pairs]
    it = iter(p.raw for p in pairs)
    assert all(raw in it for raw in kept_raw)  # an ordered sub-sequence, byte-exact pieces
    for pair in result.kept:
        verdict = policy.classify_cookie(pair.name) if pair.name else None
        assert verdict is None or consent.allows(verdict.category), pair
    assert len(result.kept) + len(result.removed) == len(pairs)
    if not result.changed:
        assert result.header == header


def encode_set_cookie(name: str, value: str, attrs: list[str]) -> str:
    """Independent Set-Cookie encoder (RFC 6265 §4.1 shape)."""
    return "; ".join([f"{name}={value}", *attrs])


ATTRS = st.lists(st.sampled_from(["Path=/", "Secure", "HttpOnly", "SameSite=Lax", "Domain=.example.com",
                                  "Max-Age=63072000", "Expires=Wed, 21 Oct 2037 07:28:00 GMT", "Max-Age=0",
                                  "Expires=Thu, 01 Jan 1970 00:00:00 GMT"]), max_size=4)


@fuzz(200)
@given(st.lists(st.one_of(st.builds(encode_set_cookie, st.sampled_from(NAMES), values, ATTRS), hostile), max_size=10),
       consents)
def test_set_cookie_filter_never_raises_and_never_grants(policy, set_cookies, consent):
    now = 1_790_000_000.0
    result = filter_set_cookies(set_cookies, consent, policy, now=now)
    it = iter(set_cookies)
    assert all(v in it for v in result.kept)  # order kept, values byte-exact
    assert len(result.kept) + len(result.dropped) == len(set_cookies)
    for value in result.kept:
        name = value.split(";", 1)[0].partition("=")[0].strip(" \t")
        verdict = policy.classify_cookie(name)
        assert (verdict is None or consent.allows(verdict.category) or is_deletion(value, now)), value
    for value in set_cookies:  # malformed (nameless) values never pass unless everything is granted
        if "=" not in value.split(";", 1)[0] or not value.split(";", 1)[0].partition("=")[0].strip(" \t"):
            assert value not in result.kept or consent.allows("advertising") and consent.allows("analytics") \
                and consent.allows("functional")
    everything = filter_set_cookies(set_cookies, all_granted(), policy, now=now)
    well_formed = [v for v in set_cookies if v.split("=", 1)[0] in NAMES]
    assert all(v in everything.kept for v in well_formed)


@fuzz(200)
@given(st.lists(st.tuples(st.one_of(st.sampled_from(NAMES), hostile, st.sampled_from(NAMES).flatmap(
    lambda n: hostile.map(lambda h: n + h))), st.sampled_from(["analytics", "advertising", "functional", "necessary"])),
    max_size=8), consents, st.lists(hostile, max_size=2), st.booleans())
def test_purge_values_never_inject(names, consent, paths, secure):
    out = purge_headers(names, consent, "www.shop.example.com", "example.com", secure, tuple(paths),
                        frozenset({"cp_consent"}), 50)
    sent = {n for n, _ in names}
    denied = {n for n, c in names if c != "necessary" and not consent.allows(c)}
    for value in out:
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value), value
        name, sep, attrs = value.partition("=; ")
        assert sep and name in sent and name in denied and ";" not in name
        for attr in attrs.split("; "):
            assert re.fullmatch(r"Max-Age=0|Secure|Path=[^;]*|Domain=(www\.)?shop\.example\.com|Domain=example\.com",
                                attr), value


# --- consent from a whole hostile Cookie header ----------------------------------------------

junk = st.text(alphabet=st.characters(codec="latin-1", exclude_characters=";"), max_size=30).filter(
    lambda s: "cp_consent" not in s)


@fuzz(150)
@given(st.frozensets(st.sampled_from(OPTIONAL_CATEGORIES)), st.permutations(list(OPTIONAL_CATEGORIES)),
       st.lists(junk, max_size=6), st.integers(0, 6))
def test_cp_consent_among_hostile_cookies_grants_exactly_what_was_encoded(granted, order, others, at):
    """The independent encoder of test_consent_properties, inside a header full of junk."""
    value = "".join(["v1", *(f".{c}" for c in order if c in granted)])
    pieces = list(others)
    pieces.insert(min(at, len(pieces)), f"cp_consent={value}")
    result = decide("; ".join(pieces), {}, ConsentSettings())
    assert result.consent.granted - {"necessary"} == granted


@fuzz(200)
@given(st.lists(junk, max_size=8))
def test_header_without_consent_cookie_grants_nothing(pieces):
    result = decide("; ".join(pieces), {}, ConsentSettings())
    assert result.consent.granted == {"necessary"}
