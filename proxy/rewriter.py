"""Streaming, byte-exact HTML tracker removal (issue 5): `feed(bytes) -> bytes`, `close() -> bytes`.

Pure module: no aiohttp, no I/O. Works on the raw bytes of any ASCII-compatible charset
(UTF-8, Latin-1, windows-1252, ...): every byte that is not part of a removed element is
emitted exactly as it came in. Never raises on any input bytes.

How it stays fast in CPython: one compiled regex (`_SKIP`) consumes text, comments and
every *uninteresting* tag (attribute-aware, so `>` or `<script` inside a quoted value
cannot fool it) in C; Python only looks at the few tags that can fetch or execute
something (script, link, img, source, iframe, embed, object, noscript, `a` with `ping`)
and at raw-text elements whose content must be skipped, not parsed.

Modes per category (RewriteSettings.modes): "remove" (default) cuts the element's bytes from
the `<` of its start tag through its end tag and nothing else (surrounding whitespace stays);
"neutralise" turns a script into `type="text/plain" data-category="<cat>"` (the convention
client-side consent tools re-activate) and an iframe into a click-to-load placeholder
(`<div class="cp-placeholder" data-category data-src><link rel=stylesheet href=
<placeholder_path>placeholder.css><a href=<original url>>Load content from <host> ...</a></div>`:
no script, no inline style, nothing fetched from the third party; its stylesheet comes from the
reserved same-origin path, so it works under a strict CSP); "report" counts and changes nothing.

Fail open, counted: unknown third-party hosts are kept (`unknown_third_party_total`, once per
distinct URL), inline scripts/noscripts longer than the cap pass (`over_cap_total`; or are
removed with over_cap_action="remove"), a classifier exception keeps the element.

Known divergences from the HTML tokenizer (documented, all fail-open, i.e. bytes kept):
- an attribute whose *name* starts with `=` (`<p ="x>">`) is read as a quoted value;
- `<svg>`/`<math>` foreign content is tokenized like HTML (`<![CDATA[` ends at `>`,
  `<svg><script>` uses script-data states);
- a start tag, doctype or bogus comment longer than the inline cap is given up on: its
  `<` is emitted as text and scanning resumes after it (counted as "overlong-tag").
Not covered (kept as written): `<input type=image>`, `<video poster>`, `<audio>`/`<track>`,
`imagesrcset`, CSS `url()` in styles, `<meta http-equiv=refresh>`, scripts injected at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape, unescape
from typing import Protocol

from proxy.categories import NECESSARY
from proxy.signatures import DEFAULT_SIGNATURES, Signatures


class Verdict(Protocol):
    """What `proxy.policy.UrlVerdict` provides to the rewriter."""

    @property
    def category(self) -> str: ...

    @property
    def vendor(self) -> str: ...


class UrlClassifier(Protocol):
    """Classifies a URL found in the page; None for first-party and unknown hosts."""

    def classify_url(self, url: str, page_host: str) -> Verdict | None: ...


@dataclass(frozen=True, slots=True)
class RewriteSettings:
    """Per-rewrite knobs. Defaults: remove everywhere, 64 KiB inline cap, over-cap passes.

    modes: category -> "remove" | "neutralise" | "report" (count only). Neutralise changes
    scripts to `type="text/plain" data-category=...` and iframes to a click-to-load
    placeholder; other element kinds cannot be re-activated and are removed.
    """

    modes: Mapping[str, str] = field(default_factory=dict)
    inline_script_cap: int = 64 * 1024
    over_cap_action: str = "pass"
    signatures: Signatures = DEFAULT_SIGNATURES
    placeholder_path: str = "/__consent-proxy/"
    #: Element kinds whose unknown third-party URLs are removed instead of kept (default: none,
    #: the documented fail-open default). Removals are reported under category "unclassified".
    unknown_third_party_deny: frozenset[str] = frozenset()

    def mode_for(self, category: str) -> str:
        return self.modes.get(category, "remove")


UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True)
class UnknownThirdParty:
    """The verdict for a third-party host no rule knows, when unknown hosts are denied."""

    category: str
    vendor: str


@dataclass(frozen=True, slots=True)
class RemovalEvent:
    """One tracker element acted upon. action: "removed" | "neutralised" | "reported"."""

    category: str
    kind: str
    vendor: str
    action: str


@dataclass(frozen=True, slots=True)
class FailOpenEvent:
    """Something kept although it could not be decided (reason from a small fixed set).

    reason: "over-cap" (inline script/noscript longer than the cap), "overlong-tag",
    "unknown-third-party" (an absolute URL to a host the classifier does not know).
    """

    kind: str
    reason: str
    host: str = ""


_WS = rb"\t\n\f\r "
# Attribute region of a tag, attribute-aware: a quote opens a value only right after `=`.
# An unclosed quoted value makes the whole tag fail to match (= incomplete, wait for more).
_ATTRS = rb"(?:[^>\"'=]++|=[" + _WS + rb"]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"']))|[\"'])*+"
# Same, but fails on an unquoted `ping` (so `<a ping=...>` reaches the slow path).
_ATTRS_NOPING = (rb"(?:[^>\"'=pP]++|[pP](?![iI][nN][gG])|=[" + _WS
                 + rb"]*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"']))|[\"'])*+")
_NAME_END = rb"(?=[" + _WS + rb"/>])"


def _safe(excl: bytes, rep: bytes) -> bytes:
    """Chars of an attribute region that cannot spell a third-party URL: no `//` (nor with
    backslashes or tab/newline between, which URL parsers strip), no `scheme:x`, no `&`
    (entity-encoded URLs). Used to let plain first-party <img>/<link> pass inside _SKIP."""
    return (rb"(?:[^" + excl + rb"/\\:&]++|[/\\](?![\t\n\r]*[/\\])"
            rb"|(?<![a-zA-Z0-9.+-]):|:(?=[\s\d]))" + rep)


_ATTRS_SAFE = (rb"(?:" + _safe(rb">\"'=", b"++") + rb"|=[" + _WS + rb"]*+(?:\"" + _safe(rb"\"", b"*+")
               + rb"\"|'" + _safe(rb"'", b"*+") + rb"'|(?![\"']))|[\"'])*+")
_INTERESTING = (rb"script|style|textarea|title|xmp|noembed|noframes|plaintext|iframe|noscript"
                rb"|img|image|link|source|embed|object|a")


def _ci(words: bytes) -> bytes:
    """`script|a` -> `[Ss][Cc]...|[Aa]`: measured faster than (?i:...) in CPython's sre."""
    return b"|".join(
        b"".join(b"[" + bytes([c]).upper() + bytes([c]) + b"]" if 97 <= c <= 122 else bytes([c]) for c in w)
        for w in words.split(b"|")
    )


# One pass over text and uninteresting markup, entirely inside sre. End tags come first
# (half of all tags; measured +30% throughput), then start tags whose name is not interesting.
_SKIP = re.compile(
    rb"(?:[^<]++|<(?:"
    rb"/(?!(?:" + _ci(b"object") + rb")" + _NAME_END + rb")[a-zA-Z][^" + _WS + rb"/>]*+" + _ATTRS + rb">"
    rb"|(?!(?:" + _ci(_INTERESTING) + rb")" + _NAME_END + rb")[a-zA-Z][^" + _WS + rb"/>]*+" + _ATTRS + rb">"
    rb"|[aA]" + _NAME_END + _ATTRS_NOPING + rb">"
    rb"|(?:" + _ci(b"img|image|source|embed|link") + rb")" + _NAME_END + _ATTRS_SAFE + rb">"
    rb"|!--(?:-?>|(?:[^-]++|-(?!-!?>))*+--!?>)"
    rb"|!(?!--)[^>]*+>"
    rb"|\?[^>]*+>"
    rb"|/(?![a-zA-Z])[^>]*+>"
    rb"|(?=[^a-zA-Z!/?])"
    rb"))*+"
)
_START = re.compile(rb"<([a-zA-Z][^" + _WS + rb"/>]*+)(" + _ATTRS + rb")>")
_END = re.compile(rb"</([a-zA-Z][^" + _WS + rb"/>]*+)" + _ATTRS + rb">")
_ATTR = re.compile(
    rb"([^" + _WS + rb"/>][^" + _WS + rb"/=>]*)(?:[" + _WS + rb"]*=[" + _WS
    + rb"]*(?:\"([^\"]*)\"|'([^']*)'|([^" + _WS + rb">]*)))?"
)
_COMMENT_END = re.compile(rb"--!?>")
# Script data states (HTML spec 13.2.5.4-13.2.5.30), reduced to the tokens that move them.
_SCRIPT_TOK = re.compile(
    rb"<!---*(?:>|(?=[^->]))|-->|</(?i:script)" + _NAME_END + rb"|<(?i:script)" + _NAME_END
)
_DATA, _ESCAPED, _DOUBLE = 0, 1, 2
_TEXT, _COMMENT, _RAW, _SCRIPT_BUF, _SCRIPT_STREAM, _NOSCRIPT, _PLAINTEXT = range(7)
_RAW_NAMES = frozenset({b"style", b"textarea", b"title", b"xmp", b"noembed", b"noframes"})
FETCH_RELS = frozenset({b"preconnect", b"dns-prefetch", b"preload", b"prefetch",
                         b"modulepreload", b"stylesheet", b"prerender"})
# JavaScript MIME type essences (HTML spec) plus "module": other types are data blocks.
JS_TYPES = frozenset({
    b"", b"module", b"text/javascript", b"application/javascript", b"application/ecmascript",
    b"application/x-ecmascript", b"application/x-javascript", b"text/ecmascript",
    b"text/javascript1.0", b"text/javascript1.1", b"text/javascript1.2", b"text/javascript1.3",
    b"text/javascript1.4", b"text/javascript1.5", b"text/jscript", b"text/livescript",
    b"text/x-ecmascript", b"text/x-javascript",
})
URL_HOST = re.compile(r"^[ \t\n\f\r]*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?[/\\]{2}(?:[^@/\\?#]*@)?([^/\\?#:]+)")
_END_RES: dict[bytes, re.Pattern[bytes]] = {}

Attrs = dict[bytes, tuple[bytes, int, int]]  # name -> (value, name start, attribute end)


def _end_re(name: bytes) -> re.Pattern[bytes]:
    pat = _END_RES.get(name)
    if pat is None:
        pat = _END_RES[name] = re.compile(b"</(?i:" + name + b")" + _NAME_END)
    return pat


def _attrs(buf: bytes, start: int, end: int) -> Attrs:
    """Attributes of a tag region; the first occurrence of a name wins (as in the spec)."""
    out: Attrs = {}
    for m in _ATTR.finditer(buf, start, end):
        name = m.group(1).lower()
        if name not in out:
            val = m.group(2)
            if val is None:
                val = m.group(3)
                if val is None:
                    val = m.group(4) or b""
            out[name] = (val, m.start(), m.end())
    return out


def _srcset_urls(value: bytes) -> list[bytes]:
    urls = []
    for cand in value.split(b","):
        parts = cand.split()
        if parts:
            urls.append(parts[0])
    return urls


class HtmlRewriter:
    """Removes (or neutralises) denied tracker elements from an HTML byte stream.

    feed() returns output that is final; it holds back only an undecided element tail
    (a start tag until `>`, an inline script/noscript until its end tag up to the cap).
    Never raises on input bytes; everything it cannot decide is kept (fail open, counted).
    """

    def __init__(self, classifier: UrlClassifier, granted: frozenset[str], page_host: str,
                 settings: RewriteSettings | None = None) -> None:
        self._classifier = classifier
        self._granted = frozenset(granted) | {NECESSARY}
        self._page_host = page_host.lower().rsplit(":", 1)[0] if page_host else ""
        self._settings = settings or RewriteSettings()
        self._cap = max(self._settings.inline_script_cap, 1024)
        self.events: list[RemovalEvent] = []
        self.fail_open_events: list[FailOpenEvent] = []
        self.over_cap_total = 0
        self.unknown_third_party_total = 0
        self.overlong_tag_total = 0
        self._buf = b""
        self._state = _TEXT
        self._drop_depth = 0  # > 0 while inside a removed <object>
        self._raw_name = b""
        self._raw_drop = False
        self._tag_len = 0
        self._scan = 0
        self._sstate = _DATA
        self._cache: dict[str, Verdict | None] = {}
        self._closed = False

    def feed(self, data: bytes) -> bytes:
        if self._closed or not data:
            return b""
        self._buf = self._buf + data if self._buf else bytes(data)
        return self._run(False)

    def close(self) -> bytes:
        if self._closed:
            return b""
        out = self._run(True)
        self._closed = True
        return out

    def _denied(self, raw: bytes, kind: str) -> Verdict | None:
        """The verdict for a URL attribute value if its category is not granted."""
        url = unescape(raw.decode("latin-1")).strip(" \t\n\f\r")
        if not url:
            return None
        if url in self._cache:
            v = self._cache[url]
        else:
            try:
                v = self._classifier.classify_url(url, self._page_host)
            except Exception:  # a classifier bug must not break the page: keep, fail open
                v = None
            if v is None:
                host = self._note_unknown(url, kind)
                if host and kind in self._settings.unknown_third_party_deny:
                    v = UnknownThirdParty(UNCLASSIFIED, host)
            if len(self._cache) > 1024:
                self._cache.clear()
            self._cache[url] = v
        if v is None or v.category in self._granted:
            return None
        return v

    def _note_unknown(self, url: str, kind: str) -> str:
        """Count an absolute URL to a third-party host no rule knows; its host, or "" if first party."""
        m = URL_HOST.match(url)
        if m is None:
            return ""
        host = m.group(1).lower().rstrip(".")
        ph = self._page_host
        if host == ph or host.endswith("." + ph) or (ph.endswith("." + host) and "." in host):
            return ""
        is_third_party = getattr(self._classifier, "is_third_party", None)
        if is_third_party is not None and not is_third_party(url, self._page_host):
            return ""
        self.unknown_third_party_total += 1
        self.fail_open_events.append(FailOpenEvent(kind, "unknown-third-party", host))
        return host

    def _action(self, category: str, kind: str) -> str:
        mode = self._settings.mode_for(category)
        if mode == "report":
            return "reported"
        if mode == "neutralise" and kind in ("script-src", "inline-script", "iframe"):
            return "neutralised"
        return "removed"

    def _record(self, v: Verdict | tuple[str, str], kind: str) -> str:
        if isinstance(v, tuple):
            vendor, category = v
        else:
            vendor, category = v.vendor, v.category
        action = self._action(category, kind)
        if not self._drop_depth:  # inside a removed <object> everything goes with it
            self.events.append(RemovalEvent(category, kind, vendor, action))
        return action

    def _first_denied(self, attrs: Attrs, names: tuple[bytes, ...], kind: str) -> Verdict | None:
        for n in names:
            a = attrs.get(n)
            if a is None:
                continue
            urls = _srcset_urls(a[0]) if n.endswith(b"srcset") else (
                a[0].split() if n == b"ping" else [a[0]])
            for u in urls:
                v = self._denied(u, kind)
                if v is not None:
                    return v
        return None

    def _emit(self, out: list[bytes], piece: bytes) -> None:
        if not self._drop_depth and piece:
            out.append(piece)

    @staticmethod
    def _neutralised_script(tag: bytes, name_len: int, attrs: Attrs, base: int, cat: str) -> bytes:
        cut = 1 + name_len
        data_cat = b' data-category="' + escape(cat).encode() + b'"'
        t = attrs.get(b"type")
        if t is not None:
            s, e = t[1] - base, t[2] - base
            return tag[:cut] + data_cat + tag[cut:s] + b'type="text/plain"' + tag[e:]
        return tag[:cut] + b' type="text/plain"' + data_cat + tag[cut:]

    def _placeholder(self, raw_src: bytes, category: str) -> bytes:
        """Click-to-load stand-in for an iframe: no script, no inline style, no third-party fetch."""
        url = unescape(raw_src.decode("latin-1")).strip()
        m = URL_HOST.match(url)
        host = m.group(1) if m else "a third party"
        esc_url, cat = escape(url), escape(category)
        return (
            f'<div class="cp-placeholder" data-category="{cat}" data-src="{esc_url}">'
            f'<link rel="stylesheet" href="{escape(self._settings.placeholder_path)}placeholder.css">'
            f'<a class="cp-placeholder-load" href="{esc_url}" target="_blank" rel="noopener noreferrer">'
            f"Load content from {escape(host)} (requires {cat} consent)</a></div>"
        ).encode("latin-1", "replace")

    def _run(self, final: bool) -> bytes:
        buf = self._buf
        n = len(buf)
        pos = 0
        out: list[bytes] = []
        while pos < n:
            st = self._state
            if st == _TEXT:
                end = _SKIP.match(buf, pos).end()  # type: ignore[union-attr]  # always matches
                if end > pos:
                    self._emit(out, buf[pos:end])
                    pos = end
                    if pos >= n:
                        break
                nxt = self._tag(buf, pos, n, out, final)
            elif st == _SCRIPT_BUF:
                nxt = self._script_buffered(buf, pos, n, out, final)
            elif st == _SCRIPT_STREAM:
                nxt = self._script_stream(buf, pos, n, out, final)
            elif st == _RAW:
                nxt = self._raw(buf, pos, n, out, final)
            elif st == _COMMENT:
                m = _COMMENT_END.search(buf, pos)
                if m is not None:
                    self._emit(out, buf[pos:m.end()])
                    self._state = _TEXT
                    nxt = m.end()
                else:
                    keep = n if final else max(pos, n - 3)
                    self._emit(out, buf[pos:keep])
                    nxt = keep if keep > pos else -1
            elif st == _NOSCRIPT:
                nxt = self._noscript(buf, pos, n, out, final)
            else:  # _PLAINTEXT: everything to EOF is text
                self._emit(out, buf[pos:])
                nxt = n
            if nxt < 0:
                break
            pos = nxt
        rest = buf[pos:]
        if final and rest:
            self._finish(rest, out)
            rest = b""
        self._buf = rest
        return b"".join(out)

    def _finish(self, rest: bytes, out: list[bytes]) -> None:
        """EOF with an undecided tail: decide what a browser would do, else keep it."""
        if self._state == _SCRIPT_BUF:
            self._decide_inline(rest, len(rest), out, True)
        elif self._state == _NOSCRIPT:
            self._decide_noscript(rest, len(rest), len(rest), out)
        elif self._state == _SCRIPT_STREAM or self._state == _RAW:
            if not self._raw_drop:
                self._emit(out, rest)
        else:  # EOF inside a tag or comment: browsers drop/absorb it; we keep the bytes
            self._emit(out, rest)
        self._state = _TEXT

    def _tag(self, buf: bytes, pos: int, n: int, out: list[bytes], final: bool) -> int:
        """Handle the construct at buf[pos] == '<' that _SKIP stopped at. -1 = need more."""
        m = _START.match(buf, pos)
        if m is not None:
            return self._start_tag(buf, pos, m, out)
        if buf.startswith(b"</", pos):
            m = _END.match(buf, pos)
            if m is not None:  # only </object> reaches here
                self._emit(out, m.group())
                if self._drop_depth and m.group(1).lower() == b"object":
                    self._drop_depth -= 1
                return m.end()
        elif buf.startswith(b"<!--", pos):
            if n - pos < 6 and not final:
                return -1
            if buf.startswith(b">", pos + 4):
                self._emit(out, buf[pos:pos + 5])
                return pos + 5
            if buf.startswith(b"->", pos + 4):
                self._emit(out, buf[pos:pos + 6])
                return pos + 6
            self._emit(out, buf[pos:pos + 4])
            self._state = _COMMENT
            return pos + 4
        if final:
            return -1
        if n - pos > self._cap:  # give up on an absurdly long tag: keep its bytes (fail open)
            self.overlong_tag_total += 1
            self.fail_open_events.append(FailOpenEvent("tag", "overlong-tag"))
            self._emit(out, b"<")
            return pos + 1
        return -1

    def _start_tag(self, buf: bytes, pos: int, m: re.Match[bytes], out: list[bytes]) -> int:
        raw_name = m.group(1)
        name = raw_name.lower()
        end = m.end()
        if name in (b"img", b"image", b"source", b"embed"):
            kind = "img" if name == b"image" else name.decode()
            attrs = _attrs(buf, m.start(2), m.end(2))
            v = self._first_denied(attrs, (b"src", b"srcset"), kind)
            if v is None or self._record(v, kind) == "reported":
                self._emit(out, m.group())
            return end
        if name == b"a":
            tag = m.group()
            attrs = _attrs(buf, m.start(2), m.end(2))
            ping = attrs.get(b"ping")
            if ping is not None:
                v = self._first_denied(attrs, (b"ping",), "a-ping")
                if v is not None and self._record(v, "a-ping") != "reported":
                    s, e = ping[1] - pos, ping[2] - pos
                    while s > 0 and tag[s - 1] in b" \t\n\f\r":
                        s -= 1
                    tag = tag[:s] + tag[e:]
            self._emit(out, tag)
            return end
        if name == b"link":
            attrs = _attrs(buf, m.start(2), m.end(2))
            rel = attrs.get(b"rel")
            if rel is not None and not FETCH_RELS.isdisjoint(rel[0].lower().split()):
                v = self._first_denied(attrs, (b"href",), "link")
                if v is not None and self._record(v, "link") != "reported":
                    return end
            self._emit(out, m.group())
            return end
        if name == b"script":
            return self._script_start(buf, pos, m, out)
        if name == b"iframe":
            attrs = _attrs(buf, m.start(2), m.end(2))
            v = self._first_denied(attrs, (b"src",), "iframe")
            self._state, self._raw_name, self._raw_drop = _RAW, b"iframe", False
            if v is None:
                self._emit(out, m.group())
                return end
            action = self._record(v, "iframe")
            if action == "reported":
                self._emit(out, m.group())
            else:
                if action == "neutralised":
                    self._emit(out, self._placeholder(attrs[b"src"][0], v.category))
                self._raw_drop = True
            return end
        if name == b"object":
            if self._drop_depth:
                self._drop_depth += 1
                return end
            attrs = _attrs(buf, m.start(2), m.end(2))
            v = self._first_denied(attrs, (b"data",), "object")
            if v is not None and self._record(v, "object") != "reported":
                self._drop_depth = 1
                return end
            self._emit(out, m.group())
            return end
        if name == b"noscript":
            self._state = _NOSCRIPT
            self._tag_len = end - pos
            self._scan = end - pos
            return pos  # buffered from the start tag on
        if name in _RAW_NAMES:
            self._state, self._raw_name, self._raw_drop = _RAW, name, False
        elif name == b"plaintext":
            self._state = _PLAINTEXT
        self._emit(out, m.group())
        return end

    def _script_start(self, buf: bytes, pos: int, m: re.Match[bytes], out: list[bytes]) -> int:
        end = m.end()
        attrs = _attrs(buf, m.start(2), m.end(2))
        self._sstate = _DATA
        self._raw_drop = False
        t = attrs.get(b"type")
        kind = t[0] if t is not None else None
        if kind is None and attrs.get(b"language", (b"",))[0]:  # HTML spec: type = "text/" + language
            kind = b"text/" + attrs[b"language"][0]
        if kind is not None and kind.strip(b" \t\n\f\r").lower() not in JS_TYPES:
            self._state = _SCRIPT_STREAM  # data block (JSON-LD, templates): never executed
            self._scan = 0
            self._emit(out, m.group())
            return end
        src = attrs.get(b"src")
        if src is not None and src[0].strip():
            self._state = _SCRIPT_STREAM
            self._scan = 0
            v = self._denied(src[0], "script-src")
            tag = m.group()
            if v is not None:
                action = self._record(v, "script-src")
                if action == "removed":
                    self._raw_drop = True
                    return end
                if action == "neutralised":
                    tag = self._neutralised_script(tag, len(m.group(1)), attrs, pos, v.category)
            self._emit(out, tag)
            return end
        self._state = _SCRIPT_BUF
        self._tag_len = end - pos
        self._scan = end - pos
        return pos  # buffered from the start tag on until decided

    def _script_end(self, buf: bytes, start: int, n: int) -> tuple[int, int]:
        """Find `</script` that ends the script from `start`; (-1, resume) if not yet seen."""
        st = self._sstate
        last = start
        for m in _SCRIPT_TOK.finditer(buf, start):
            tok = m.group()
            last = m.end()
            c1 = tok[1]
            if c1 == 0x21:  # "<!--"
                if tok[-1] == 0x3E:
                    st = _DATA
                elif st == _DATA:
                    st = _ESCAPED
            elif c1 == 0x2D:  # "-->"
                if st != _DATA:
                    st = _DATA
            elif c1 == 0x2F:  # "</script"
                if st == _DOUBLE:
                    st = _ESCAPED
                else:
                    self._sstate = st
                    return m.start(), m.start()
            elif st == _ESCAPED:  # "<script"
                st = _DOUBLE
        self._sstate = st
        resume = max(last, n - 9)
        p = buf.rfind(b"<!--", max(last, n - 64))
        if p >= 0 and not buf[p + 4:n].strip(b"-"):
            resume = min(resume, p)
        return -1, max(resume, start)

    def _script_stream(self, buf: bytes, pos: int, n: int, out: list[bytes], final: bool) -> int:
        e, resume = self._script_end(buf, pos, n)
        drop = self._raw_drop
        if e < 0:
            if not drop:
                self._emit(out, buf[pos:resume])
            return resume if resume > pos else -1
        m = _END.match(buf, e)
        if not drop:
            self._emit(out, buf[pos:e])
        if m is None:
            return e if e > pos else -1
        if not drop:
            self._emit(out, m.group())
        self._state = _TEXT
        self._raw_drop = False
        return m.end()

    def _script_buffered(self, buf: bytes, pos: int, n: int, out: list[bytes], final: bool) -> int:
        e, resume = self._script_end(buf, pos + self._scan, n)
        if e >= 0:
            m = _END.match(buf, e)
            if m is None:
                self._scan = e - pos
                return -1
            self._decide_inline(buf[pos:m.end()], e - pos, out, False)
            self._state = _TEXT
            return m.end()
        self._scan = resume - pos
        if resume - pos - self._tag_len <= self._cap:
            return -1
        # Over the cap: decide on the prefix if it already names a denied tracker, else fail open.
        body = buf[pos + self._tag_len:resume]
        hit = self._settings.signatures.first_denied(body, self._granted)
        self._state = _SCRIPT_STREAM
        if hit is not None:
            self._decide_inline(buf[pos:resume], resume - pos, out, False, streaming=True)
        else:
            self.over_cap_total += 1
            self.fail_open_events.append(FailOpenEvent("inline-script", "over-cap"))
            if self._settings.over_cap_action == "remove":
                self.events.append(RemovalEvent("unknown", "inline-script", "over-cap", "removed"))
                self._raw_drop = True
            else:
                self._emit(out, buf[pos:resume])
        return resume

    def _decide_inline(self, elem: bytes, body_end: int, out: list[bytes], eof: bool,
                       streaming: bool = False) -> None:
        """elem = start tag + body (+ end tag); remove, neutralise or keep it."""
        tl = self._tag_len
        hit = self._settings.signatures.first_denied(elem[tl:body_end], self._granted)
        if hit is None:
            self._emit(out, elem)
            return
        action = self._record(hit, "inline-script")
        if action == "removed":
            self._raw_drop = streaming
            return
        if action == "neutralised":
            tag = elem[:tl]
            m = _START.match(tag)
            if m is not None:
                attrs = _attrs(tag, m.start(2), m.end(2))
                elem = self._neutralised_script(tag, len(m.group(1)), attrs, 0, hit[1]) + elem[tl:]
        self._emit(out, elem)

    def _raw(self, buf: bytes, pos: int, n: int, out: list[bytes], final: bool) -> int:
        name = self._raw_name
        drop = self._raw_drop
        m = _end_re(name).search(buf, pos)
        if m is None:
            keep = max(pos, n - len(name) - 2)
            if not drop:
                self._emit(out, buf[pos:keep])
            return keep if keep > pos else -1
        e = m.start()
        if not drop:
            self._emit(out, buf[pos:e])
        em = _END.match(buf, e)
        if em is None:
            return e if e > pos else -1
        if not drop:
            self._emit(out, em.group())
        self._state = _TEXT
        self._raw_drop = False
        return em.end()

    def _noscript(self, buf: bytes, pos: int, n: int, out: list[bytes], final: bool) -> int:
        m = _end_re(b"noscript").search(buf, pos + self._scan)
        if m is not None:
            em = _END.match(buf, m.start())
            if em is None:
                self._scan = m.start() - pos
                return -1
            self._decide_noscript(buf[pos:em.end()], m.start() - pos, em.end() - pos, out)
            self._state = _TEXT
            return em.end()
        self._scan = max(self._tag_len, n - pos - 10)
        if n - pos - self._tag_len <= self._cap:
            return -1
        self.over_cap_total += 1
        self.fail_open_events.append(FailOpenEvent("noscript", "over-cap"))
        keep = pos + self._scan
        self._emit(out, buf[pos:keep])
        self._state, self._raw_name, self._raw_drop = _RAW, b"noscript", False
        return keep

    def _decide_noscript(self, elem: bytes, body_end: int, total: int, out: list[bytes]) -> None:
        """Remove the whole <noscript> if its (JS-off) markup holds a denied tracker element."""
        sub = HtmlRewriter(self._classifier, self._granted, self._page_host, self._settings)
        sub._cache = self._cache
        sub.feed(elem[self._tag_len:body_end])
        sub.close()
        acted = [ev for ev in sub.events if ev.action != "reported"]
        for ev in sub.events:
            if ev.action == "reported":
                self.events.append(RemovalEvent(ev.category, "noscript", ev.vendor, "reported"))
        if acted:
            first = acted[0]
            self.events.append(RemovalEvent(first.category, "noscript", first.vendor, "removed"))
            return
        self._emit(out, elem[:total])
