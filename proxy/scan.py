"""Audit a page (issue 6): its trackers, cookies and unknown third parties, and what the proxy would do.

`scan_page()` is pure (no aiohttp, no I/O, never raises on any page bytes): it walks the page
with the stdlib HTML tokenizer, decides every element that can fetch or run something with the
same policy, signatures and settings the proxy uses, then runs the real `HtmlRewriter` over the
same bytes and compares its removal events with its own (a mismatch is shown, never hidden:
the walker explains, the rewriter is what runs in production).

The CLI glue (`consent-proxy scan`, `consent-proxy explain --html`) is at the bottom; only it
reads files and fetches URLs, and it imports aiohttp lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from proxy.categories import CATEGORIES, OPTIONAL_CATEGORIES, Consent, granting, undecided
from proxy.consent import ConsentSettings, decide
from proxy.cookies import UNCLASSIFIED, filter_set_cookies, set_cookie_name
from proxy.policy import split_url
from proxy.rewriter import UNCLASSIFIED as UNKNOWN_DENIED
from proxy.rewriter import HtmlRewriter, RemovalEvent
# The rewriter's own tables, imported (not copied) so the walker cannot drift from it.
from proxy.rewriter import FETCH_RELS, JS_TYPES, URL_HOST
from proxy.runtime import Runtime

KEPT, REMOVED, NEUTRALISED, REPORTED, DROPPED = "kept", "removed", "neutralised", "reported", "dropped"
_URL_ELEMENTS = {"img": ("img", ("src", "srcset")), "image": ("img", ("src", "srcset")),
                 "source": ("source", ("src", "srcset")), "embed": ("embed", ("src", "srcset")),
                 "iframe": ("iframe", ("src",)), "object": ("object", ("data",))}
_RAW_TEXT = frozenset({"iframe", "textarea", "title", "xmp", "noembed", "noframes", "style"})
_WS = " \t\n\f\r"
_MAX_URL = 100


@dataclass(frozen=True, slots=True)
class ConsentState:
    """A `--consent` value: its label as typed and the Consent it stands for."""

    label: str
    consent: Consent


@dataclass(frozen=True, slots=True)
class ElementDecision:
    """One element that can fetch or run something, and what the proxy does with it.

    kind: the rewriter's element kind (script-src, inline-script, img, source, embed, iframe,
    object, link, a-ping). url: the URL that decided ("" for inline scripts). rule: the host
    rule, `signature NAME`, or "". source: site | curated | open data name | signature | "".
    action: kept | removed | neutralised | reported. reason: why (granted, first-party,
    unknown third party, no rule, over-cap, `CATEGORY not granted`, ...).
    """

    line: int
    kind: str
    url: str
    host: str
    category: str
    vendor: str
    rule: str
    source: str
    action: str
    reason: str
    in_noscript: bool = False
    size: int = 0  # inline script body bytes

    @property
    def is_tracker(self) -> bool:
        return bool(self.category)

    @property
    def is_unknown_third_party(self) -> bool:
        return self.reason == "unknown third party" or self.category == UNKNOWN_DENIED


@dataclass(frozen=True, slots=True)
class CookieDecision:
    """A cookie the page sets (Set-Cookie), its category and the rule that said so."""

    name: str
    category: str
    vendor: str
    rule: str
    source: str
    action: str  # kept | dropped | reported
    reason: str


@dataclass(frozen=True, slots=True)
class ScanReport:
    """Everything `scan` and `explain --html` print; built by `scan_page`."""

    source: str
    page_host: str
    consent: str
    granted: tuple[str, ...]
    modes: tuple[tuple[str, str], ...]
    elements: tuple[ElementDecision, ...]
    cookies: tuple[CookieDecision, ...]
    cookies_seen: bool
    unknown_hosts: tuple[tuple[str, int], ...]
    rewriter_actions: int
    mismatches: tuple[str, ...]
    bytes_in: int
    bytes_out: int
    notes: tuple[str, ...] = ()

    @property
    def acted(self) -> tuple[ElementDecision, ...]:
        return tuple(e for e in self.elements if e.action != KEPT)


def parse_consent_state(text: str) -> ConsentState:
    """`none` (undecided), `all`, or a cp_consent value (`v1`, `v1.analytics`, ...).

    Raises ValueError with a usage message for anything else.
    """
    value = text.strip()
    if value.lower() in ("none", "undecided"):
        return ConsentState("none", undecided("scan"))
    if value.lower() == "all":
        return ConsentState("all", granting(set(OPTIONAL_CATEGORIES), "scan"))
    result = decide(f"cp_consent={value}", {}, ConsentSettings())
    if result.decided_by != "cp_consent" or result.parse_failures or ";" in value:
        raise ValueError(f"{text!r} is not none, all or a cp_consent value like v1 or v1.analytics.advertising "
                         f"(categories: {', '.join(OPTIONAL_CATEGORIES)})")
    return ConsentState(value, result.consent)


def _display_url(url: str) -> str:
    """The URL without query and fragment (they carry IDs and run long), at most 100 chars."""
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    shown = url[:cut]
    try:
        shown = shown.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return shown if len(shown) <= _MAX_URL else shown[: _MAX_URL - 3] + "..."


class _Walker(HTMLParser):
    """Mirrors the rewriter's element decisions, one ElementDecision per element, plus the
    RemovalEvents the rewriter should emit (compared with the real ones afterwards)."""

    def __init__(self, runtime: Runtime, granted: frozenset[str], page_host: str) -> None:
        super().__init__(convert_charrefs=True)
        self.policy = runtime.policy
        self.settings = runtime.rewrite_settings
        self.granted = granted
        self.page_host = page_host.lower().rsplit(":", 1)[0] if page_host else ""
        self.elements: list[ElementDecision] = []
        self.events: list[RemovalEvent] = []
        self._raw_until = ""
        self._object_drop = 0
        self._noscript_start = -1
        self._script: tuple[int, bool] | None = None  # (line, inline) while inside <script>
        self._script_body: list[str] = []

    # --- the rewriter's rules -----------------------------------------------------------

    def _action(self, category: str, kind: str) -> str:
        mode = self.settings.mode_for(category)
        if mode == "report":
            return REPORTED
        if mode == "neutralise" and kind in ("script-src", "inline-script", "iframe"):
            return NEUTRALISED
        return REMOVED

    def _unknown_host(self, url: str) -> str:
        """The host of an absolute URL to a third party, "" otherwise (as the rewriter counts it)."""
        m = URL_HOST.match(url)
        if m is None:
            return ""
        host = m.group(1).lower().rstrip(".")
        ph = self.page_host
        if host == ph or host.endswith("." + ph) or (ph.endswith("." + host) and "." in host):
            return ""
        return host if self.policy.is_third_party(url, self.page_host) else ""

    def _url_decision(self, line: int, kind: str, raw: str) -> tuple[ElementDecision, bool] | None:
        """(decision, denied) for one URL; None for an empty one (the rewriter ignores it)."""
        url = raw.strip(_WS)
        if not url:
            return None
        shown = _display_url(url)
        verdict = self.policy.classify_url(url, self.page_host)
        if verdict is not None:
            host = split_url(url)[1]
            denied = verdict.category not in self.granted
            action = self._action(verdict.category, kind) if denied else KEPT
            why = f"{verdict.category} not granted" if denied else "granted"
            return ElementDecision(line, kind, shown, host, verdict.category, verdict.vendor, verdict.rule,
                                   verdict.source, action, why), denied
        host = self._unknown_host(url)
        if host and kind in self.settings.unknown_third_party_deny:
            return ElementDecision(line, kind, shown, host, UNKNOWN_DENIED, host, "unknown third party",
                                   "trackers.unknown_third_party: deny", self._action(UNKNOWN_DENIED, kind),
                                   "unknown third parties denied"), True
        if host:
            return ElementDecision(line, kind, shown, host, "", "", "", "", KEPT, "unknown third party"), False
        where, fp_host, _ = split_url(url)
        why = "no rule" if where == "other" else "first-party"
        return ElementDecision(line, kind, shown, fp_host, "", "", "", "", KEPT, why), False

    def _element(self, line: int, kind: str, urls: Iterable[str]) -> ElementDecision | None:
        """The first denied URL decides (as in the rewriter); else the most telling kept one."""
        kept: list[ElementDecision] = []
        for raw in urls:
            got = self._url_decision(line, kind, raw)
            if got is None:
                continue
            decision, denied = got
            if denied:
                return decision
            kept.append(decision)
        if not kept:
            return None
        rank = {"granted": 0, "unknown third party": 1}
        return min(kept, key=lambda d: rank.get(d.reason, 2))

    def _record(self, decision: ElementDecision | None) -> None:
        if decision is None or self._object_drop:
            return
        if self._noscript_start >= 0:
            decision = _with(decision, in_noscript=True)
        elif decision.action != KEPT:
            self.events.append(RemovalEvent(decision.category, decision.kind, decision.vendor, decision.action))
        self.elements.append(decision)

    # --- tokenizer callbacks ------------------------------------------------------------

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._raw_until:
            return
        a: dict[str, str] = {}
        for name, value in attrs:
            a.setdefault(name, value or "")
        line = self.getpos()[0]
        if tag == "object" and self._object_drop:
            self._object_drop += 1
            return
        if tag in _URL_ELEMENTS:
            kind, names = _URL_ELEMENTS[tag]
            urls: list[str] = []
            for n in names:
                if n in a:
                    urls += [c.split()[0] for c in a[n].split(",") if c.split()] if n == "srcset" else [a[n]]
            decision = self._element(line, kind, urls)
            self._record(decision)
            if tag == "object" and decision is not None and decision.action in (REMOVED, NEUTRALISED):
                self._object_drop = 1
        elif tag == "a" and "ping" in a:
            self._record(self._element(line, "a-ping", a["ping"].split()))
        elif tag == "link":
            if not FETCH_RELS.isdisjoint(a.get("rel", "").lower().encode("latin-1", "replace").split()):
                self._record(self._element(line, "link", [a["href"]] if "href" in a else []))
        elif tag == "script":
            self._script_start(line, a)
        elif tag == "noscript" and self._noscript_start < 0:
            self._noscript_start = len(self.elements)
        if tag in _RAW_TEXT:
            self._raw_until = tag
        elif tag == "plaintext":
            self._raw_until = "\0"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)  # `/>` is ignored on HTML elements: same start tag

    def _script_start(self, line: int, a: Mapping[str, str]) -> None:
        kind = a.get("type")
        if kind is None and a.get("language"):
            kind = "text/" + a["language"]
        if kind is not None and kind.strip(_WS).lower().encode("latin-1", "replace") not in JS_TYPES:
            self._script = None  # a data block (JSON-LD, templates): never executed
        elif a.get("src", "").strip(_WS):
            self._script = None
            self._record(self._element(line, "script-src", [a["src"]]))
        else:
            self._script = (line, True)
            self._script_body = []

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_body.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._raw_until:
            if tag == self._raw_until:
                self._raw_until = ""
            return
        if tag == "script" and self._script is not None:
            self._inline_script(self._script[0], "".join(self._script_body).encode("latin-1", "replace"))
            self._script = None
        elif tag == "object" and self._object_drop:
            self._object_drop -= 1
        elif tag == "noscript" and self._noscript_start >= 0:
            self._noscript_end()

    def finish(self) -> None:
        """EOF: an unterminated inline script or noscript is decided as the rewriter does."""
        if self._script is not None:
            # html.parser never reports an unterminated script's text: take it from its buffer.
            self._script_body.append(self.rawdata)
            self.rawdata = ""
        self.close()
        if self._script is not None:
            self._inline_script(self._script[0], "".join(self._script_body).encode("latin-1", "replace"))
            self._script = None
        if self._noscript_start >= 0:
            self._noscript_end()

    def _inline_script(self, line: int, body: bytes) -> None:
        sigs = self.settings.signatures
        hits = [(m.lastgroup or "", *sigs.meta[m.lastgroup or ""]) for m in sigs.pattern.finditer(body)]
        denied = [h for h in hits if h[2] not in self.granted]
        if len(body) > max(self.settings.inline_script_cap, 1024) and not denied:
            if self.settings.over_cap_action == "remove":
                decision = ElementDecision(line, "inline-script", "", "", "unknown", "over-cap", "", "", REMOVED,
                                           "over the inline cap", size=len(body))
            else:
                decision = ElementDecision(line, "inline-script", "", "", "", "", "", "", KEPT,
                                           "over the inline cap (fail open)", size=len(body))
            self._record(decision)
            return
        if not hits:
            self._record(ElementDecision(line, "inline-script", "", "", "", "", "", "", KEPT, "no rule",
                                         size=len(body)))
            return
        name, vendor, category = denied[0] if denied else hits[0]
        action = self._action(category, "inline-script") if denied else KEPT
        why = f"{category} not granted" if denied else "granted"
        self._record(ElementDecision(line, "inline-script", "", "", category, vendor, f"signature {name}",
                                     "signature", action, why, size=len(body)))

    def _noscript_end(self) -> None:
        """A <noscript> goes as a whole when any element in it is acted upon (rewriter rule)."""
        start, self._noscript_start = self._noscript_start, -1
        inner = self.elements[start:]
        for d in inner:
            if d.action == REPORTED:
                self.events.append(RemovalEvent(d.category, "noscript", d.vendor, REPORTED))
        acted = [d for d in inner if d.action in (REMOVED, NEUTRALISED)]
        if not acted:
            return
        first = acted[0]
        self.events.append(RemovalEvent(first.category, "noscript", first.vendor, REMOVED))
        self.elements[start:] = [
            d if d.action == REMOVED else _with(d, action=REMOVED, reason=(
                d.reason if d.action != KEPT else f"inside a removed <noscript> ({d.reason})"))
            for d in inner
        ]


def _with(d: ElementDecision, **changes: Any) -> ElementDecision:
    return replace(d, **changes)


def _cookie_decisions(values: list[str], consent: Consent, runtime: Runtime,
                      now: float | None) -> tuple[CookieDecision, ...]:
    result = filter_set_cookies(values, consent, runtime.policy, protected_names=runtime.protected_cookies, now=now)
    dropped = {d.value for d in result.dropped}
    report = runtime.report_categories
    out = []
    for value in values:
        name = set_cookie_name(value)
        if name is None:
            out.append(CookieDecision("", "unparseable", "", "", "", DROPPED if value in dropped else KEPT,
                                      "no usable name"))
            continue
        verdict = runtime.policy.classify_cookie(name)
        if name in runtime.protected_cookies:
            category, vendor, rule, source, why = "necessary", "consent cookie", "", "consent reader", "consent cookie"
        elif verdict is None:
            category, vendor, rule, source = UNCLASSIFIED, "", "", ""
            why = "unclassified (allowed)" if runtime.policy.unclassified_allowed else "unclassified (denied)"
        else:
            category, vendor, source = verdict.category, verdict.vendor, verdict.source
            rule = f"{verdict.pattern} ({verdict.match})"
            why = "granted" if consent.allows(category) else f"{category} not granted"
        if value in dropped:
            action = REPORTED if category in report else DROPPED
        else:
            action = KEPT
            if verdict is not None and not consent.allows(category) and name not in runtime.protected_cookies:
                why = "a deletion (always passes)"
        out.append(CookieDecision(name, category, vendor, rule, source, action, why))
    return tuple(out)


def scan_page(html: bytes, page_host: str, state: ConsentState, runtime: Runtime, *,
              set_cookies: list[str] | None = None, source: str = "", now: float | None = None,
              notes: tuple[str, ...] = ()) -> ScanReport:
    """Audit one page under one consent state. Pure; never raises on any page bytes.

    `set_cookies`: the response's Set-Cookie values (URL mode); None when there were no
    response headers to look at (file mode). `now` decides cookie deletions (default: the clock).
    """
    consent = state.consent
    granted = consent.granted
    walker = _Walker(runtime, granted, page_host)
    try:
        walker.feed(html.decode("latin-1"))  # byte-transparent, as the rewriter's view of the page
        walker.finish()
    except Exception as exc:  # html.parser is lenient, but an audit must still print what it found
        notes = (*notes, f"the HTML tokenizer stopped early: {exc}")
    rewriter = HtmlRewriter(runtime.policy, granted, page_host, runtime.rewrite_settings)
    out = rewriter.feed(html) + rewriter.close()
    mismatches = _compare(walker.events, rewriter.events)
    hosts = Counter(e.host for e in walker.elements if e.is_unknown_third_party)
    return ScanReport(
        source=source,
        page_host=walker.page_host,
        consent=state.label,
        granted=tuple(c for c in CATEGORIES if c in granted),
        modes=tuple((c, runtime.mode_for(c)) for c in OPTIONAL_CATEGORIES),
        elements=tuple(walker.elements),
        cookies=_cookie_decisions(list(set_cookies), consent, runtime, now) if set_cookies is not None else (),
        cookies_seen=set_cookies is not None,
        unknown_hosts=tuple(sorted(hosts.items(), key=lambda kv: (-kv[1], kv[0]))),
        rewriter_actions=len(rewriter.events),
        mismatches=mismatches,
        bytes_in=len(html),
        bytes_out=len(out),
        notes=notes,
    )


def _compare(expected: list[RemovalEvent], actual: list[RemovalEvent]) -> tuple[str, ...]:
    """Differences between the walker's and the rewriter's events, as (category, kind, vendor, action)."""
    want = Counter((e.category, e.kind, e.vendor, e.action) for e in expected)
    got = Counter((e.category, e.kind, e.vendor, e.action) for e in actual)
    lines = [f"only the rewriter: {n} x {' '.join(k)}" for k, n in sorted((got - want).items())]
    lines += [f"only this scan: {n} x {' '.join(k)}" for k, n in sorted((want - got).items())]
    return tuple(lines)


# --- formatters ---------------------------------------------------------------------------


def _rule(e: ElementDecision) -> str:
    if e.source == "signature":
        return e.rule
    return f"rule {e.rule} ({e.source})" if e.rule else ""


def _target(e: ElementDecision) -> str:
    return f"inline ({e.size} bytes)" if e.kind == "inline-script" else e.url


def _header(r: ScanReport) -> list[str]:
    modes = ", ".join(f"{c} {m}" for c, m in r.modes)
    return [f"page: {r.source}", f"page host: {r.page_host or '(none)'}",
            f"consent: {r.consent} (granted: {', '.join(r.granted)})", f"modes: {modes}"]


def format_text(r: ScanReport) -> str:
    """The `scan` report for people: trackers by category, actions, unknown hosts, cookies."""
    lines = _header(r)
    trackers = [e for e in r.elements if e.is_tracker]
    lines += ["", f"trackers and known third parties: {len(trackers)}"]
    for cat in (*CATEGORIES, UNKNOWN_DENIED, "unknown"):
        found = [e for e in trackers if e.category == cat]
        if not found:
            continue
        lines.append(f"  {cat}: {len(found)}")
        for e in found:
            where = " in noscript" if e.in_noscript else ""
            lines.append(f"    line {e.line:<4} {e.kind + where:<22} {e.vendor:<22} {_target(e)}")
            lines.append(f"              {_rule(e)} -> {e.action}")
    lines += ["", f"the proxy would act on {len(r.acted)} element(s) under consent {r.consent}"]
    for e in r.acted:
        where = " in noscript" if e.in_noscript else ""
        lines.append(f"  {e.action:<11} line {e.line:<4} {e.category:<12} {e.kind + where:<22} {e.vendor}")
    lines += ["", f"unclassified third-party hosts: {len(r.unknown_hosts)}"]
    for host, count in r.unknown_hosts:
        kinds = sorted({e.kind for e in r.elements if e.host == host and e.is_unknown_third_party})
        lines.append(f"  {host:<40} {count} element(s): {', '.join(kinds)}")
    lines.append("")
    if not r.cookies_seen:
        lines.append("cookies set by the page: not seen (a file has no response headers; scan the URL)")
    else:
        lines.append(f"cookies set by the page: {len(r.cookies)}")
        for c in r.cookies:
            detail = ", ".join(x for x in (c.vendor, c.rule, c.source) if x)
            lines.append(f"  {c.name:<28} {c.category:<12} {c.action:<8} {detail}")
    lines += [""] + _check_lines(r)
    return "\n".join(lines) + "\n"


def _check_lines(r: ScanReport) -> list[str]:
    lines = [f"note: {n}" for n in r.notes]
    if r.mismatches:
        lines.append("cross-check: the proxy's rewriter DISAGREES with this scan (the rewriter is what runs):")
        lines += [f"  {m}" for m in r.mismatches]
    else:
        lines.append(f"cross-check: the proxy's rewriter agrees ({r.rewriter_actions} action(s); "
                     f"{r.bytes_in} -> {r.bytes_out} bytes)")
    return lines


def format_json(r: ScanReport) -> str:
    """The report as one JSON document (field names as in the dataclasses)."""
    data = asdict(r)
    data["unknown_hosts"] = [{"host": h, "elements": n} for h, n in r.unknown_hosts]
    data["modes"] = dict(r.modes)
    return json.dumps(data, indent=2) + "\n"


def explain_lines(r: ScanReport) -> list[str]:
    """One line per element and per cookie: what it is, which rule decided, what happens, why."""
    lines = _header(r)
    for e in r.elements:
        kind = ("noscript>" if e.in_noscript else "") + e.kind
        if e.reason == "unknown third party":
            why = f"unknown third party {e.host}, no rule (fail open)"
        else:
            why = ", ".join([*(x for x in (e.category, e.vendor, _rule(e)) if x), e.reason])
        lines.append(f"line {e.line}: {kind} {_target(e)} -> {e.action}: {why}")
    if r.cookies_seen:
        for c in r.cookies:
            detail = ", ".join(x for x in (c.category, c.vendor, c.rule and f"rule {c.rule}", c.source) if x)
            lines.append(f"cookie {c.name or '(nameless)'}: {detail} -> {c.action}: {c.reason}")
    else:
        lines.append("cookies: none seen (a file has no response headers; explain the URL)")
    return lines + _check_lines(r)


# --- CLI glue (I/O below this line) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """A page as the scan needs it."""

    body: bytes
    host: str
    set_cookies: list[str] | None
    source: str
    notes: tuple[str, ...] = ()


MAX_REDIRECTS = 5


class ScanInputError(Exception):
    """A file that cannot be read or a URL that cannot be fetched (exit 1)."""


def is_url(target: str) -> bool:
    return target.lower().startswith(("http://", "https://"))


async def fetch(url: str, timeout: float = 30.0, max_bytes: int = 32 << 20) -> Fetched:
    """GET an http(s) page: no cookie jar, at most 5 redirects, content-coding decoded.

    Set-Cookie values of redirect responses count too (the browser would store them).
    """
    import aiohttp  # the shell's dependency, imported here so the pure part never needs it

    from proxy import __version__

    headers = {"User-Agent": f"consent-proxy-scan/{__version__}", "Accept": "text/html,*/*;q=0.5"}
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=True,
                                         timeout=aiohttp.ClientTimeout(total=timeout)) as session:
            # aiohttp raises when the count *reaches* max_redirects: 6 lets exactly 5 through.
            async with session.get(url, headers=headers, max_redirects=MAX_REDIRECTS + 1) as resp:
                body = await resp.content.read(max_bytes + 1)
                set_cookies = [v for h in (*resp.history, resp) for v in h.headers.getall("Set-Cookie", ())]
                notes = []
                if len(body) > max_bytes:
                    body = body[:max_bytes]
                    notes.append(f"body truncated at {max_bytes} bytes")
                if resp.status >= 400:
                    notes.append(f"the server answered {resp.status}")
                ctype = resp.headers.get("Content-Type", "")
                if "html" not in ctype.lower():
                    notes.append(f"Content-Type is {ctype or '(none)'}: the proxy rewrites only HTML")
                if resp.history:
                    notes.append(f"followed {len(resp.history)} redirect(s) to {resp.url}")
                return Fetched(body, resp.url.host or "", set_cookies, url, tuple(notes))
    except aiohttp.TooManyRedirects:
        raise ScanInputError(f"{url}: more than {MAX_REDIRECTS} redirects") from None
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        raise ScanInputError(f"{url}: {type(exc).__name__}: {exc}") from None


def load_target(target: str, host: str) -> Fetched:
    """Read a file (page host `host`) or fetch an http(s) URL (page host: the final URL's host)."""
    if is_url(target):
        import asyncio

        return asyncio.run(fetch(target))
    if "://" in target:
        raise ScanInputError(f"{target}: only http:// and https:// URLs are fetched")
    try:
        return Fetched(Path(target).read_bytes(), host, None, target)
    except OSError as exc:
        raise ScanInputError(f"{target}: {exc.strerror or exc}") from None


def _runtime(config_path: str | None) -> Runtime | None:
    from proxy.catalogue import load_catalogue
    from proxy.config import ConfigError, bundled_config_path, load_config

    path = Path(config_path) if config_path else bundled_config_path()
    try:
        return Runtime.build(load_config(path, {}), load_catalogue(), fname=str(path))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return None


def _consent_arg(text: str) -> ConsentState:
    try:
        return parse_consent_state(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_scan_parser(subparsers: Any) -> argparse.ArgumentParser:
    """`consent-proxy scan FILE_OR_URL [--consent STATE] [--config FILE] [--host HOST] [--format]`."""
    scan = subparsers.add_parser("scan", help="list a page's trackers, cookies and unknown third parties, "
                                              "and what the proxy would remove")
    scan.add_argument("target", metavar="FILE_OR_URL", help="an HTML file, or an http(s) URL to fetch")
    scan.add_argument("--consent", type=_consent_arg, default=parse_consent_state("none"), metavar="STATE",
                      help="none (undecided, the default), all, or a cp_consent value like v1.analytics")
    scan.add_argument("--config", help="config whose rules apply (default: bundled)")
    scan.add_argument("--host", default="localhost",
                      help="the page's host for first-party decisions, file mode (default localhost)")
    scan.add_argument("--format", choices=("text", "json"), default="text")
    scan.set_defaults(func=cmd_scan)
    return scan


def cmd_scan(args: argparse.Namespace) -> int:
    """Print the scan report; exit 0, or 1 on a bad config, file or URL."""
    runtime = _runtime(args.config)
    if runtime is None:
        return 1
    try:
        page = load_target(args.target, args.host)
    except ScanInputError as exc:
        print(f"consent-proxy scan: {exc}", file=sys.stderr)
        return 1
    report = scan_page(page.body, page.host, args.consent, runtime, set_cookies=page.set_cookies,
                       source=page.source, notes=page.notes)
    sys.stdout.write(format_json(report) if args.format == "json" else format_text(report))
    return 0


def add_explain_html_arguments(explain: argparse.ArgumentParser) -> None:
    """Add `--html FILE_OR_URL [--consent STATE] [--host HOST]` to `explain`.

    Call it after `explain.set_defaults(func=...)`: the existing command still runs when
    `--html` is absent.
    """
    explain.add_argument("--html", metavar="FILE_OR_URL",
                         help="explain each element and cookie decision for an HTML file or http(s) URL")
    explain.add_argument("--consent", type=_consent_arg, metavar="STATE",
                         help="with --html: none, all or a cp_consent value (default: from --cookie/--header, "
                              "else none)")
    explain.add_argument("--host", default="localhost", help="with --html on a file: the page's host")
    previous: Callable[[argparse.Namespace], int] | None = explain.get_default("func")

    def dispatch(args: argparse.Namespace) -> int:
        if args.html is not None:
            return cmd_explain_html(args)
        if args.consent is not None:
            print("consent-proxy explain: --consent needs --html", file=sys.stderr)
            return 2
        return previous(args) if previous is not None else 2

    explain.set_defaults(func=dispatch)


def cmd_explain_html(args: argparse.Namespace) -> int:
    """Print every element and cookie decision of a page with the rule that made it."""
    runtime = _runtime(getattr(args, "config", None))
    if runtime is None:
        return 1
    state = args.consent
    if state is None:
        from multidict import CIMultiDict

        cookie, headers = getattr(args, "cookie", None), CIMultiDict[str]()
        for raw in getattr(args, "header", None) or []:
            name, sep, value = raw.partition(":")
            if not sep or not name.strip():
                print(f"consent-proxy explain: --header {raw!r} is not 'Name: value'", file=sys.stderr)
                return 2
            headers.add(name.strip(), value.strip())
        if cookie or headers:
            if cookie and cookie.lower().startswith("cookie:"):
                cookie = cookie[7:].strip()
            result = decide(cookie, headers, runtime.consent)
            state = ConsentState(f"from request ({result.decided_by})", result.consent)
        else:
            state = parse_consent_state("none")
    try:
        page = load_target(args.html, args.host)
    except ScanInputError as exc:
        print(f"consent-proxy explain: {exc}", file=sys.stderr)
        return 1
    report = scan_page(page.body, page.host, state, runtime, set_cookies=page.set_cookies,
                       source=page.source, notes=page.notes)
    sys.stdout.write("\n".join(explain_lines(report)) + "\n")
    return 0
