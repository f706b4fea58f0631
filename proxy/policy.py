"""Compile site rules + curated table + open data into fast cookie-name and URL matchers.

Pure module (no aiohttp, no I/O). `Policy.compile()` does all the work once per config
(re)load; the lookups on the request path are a few dict probes and at most two compiled
regex matches per layer, never a loop over the rule list.

Precedence (issue 4): site rules in the config > curated table > open data. The first layer
that matches wins, however specific a lower layer's rule is; within a layer the most specific
rule wins (cookies: exact > longest prefix > first glob/regex in order; hosts: longest host,
then longest path, then exact host over `*.` wildcard).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from proxy.catalogue import (
    SOURCE_SITE,
    Catalogue,
    CatalogueError,
    CookieRule,
    HostRule,
    check_cookie_rule,
    check_host_rule,
    registrable_domain,
)
from proxy.categories import CATEGORIES

_MEMO_LIMIT = 4096
_MISS = object()
_COOKIE_PREFIXES = ("__host-", "__secure-")


@dataclass(frozen=True, slots=True)
class PathRule:
    """A same-origin tracker by path prefix (server-side GTM, self-hosted Matomo/Adobe)."""

    path: str
    category: str
    vendor: str = ""


@dataclass(frozen=True, slots=True)
class SiteRules:
    """The site's own rules from the config (built and validated by the config loader).

    Cookie and host rules use the catalogue's rule types with source "site".
    `first_party_hosts` are exact hosts or `*.` wildcards served by the site itself.
    `unclassified_cookies`: "allow" (default, fail-open, counted) or "deny".
    """

    cookie_rules: tuple[CookieRule, ...] = ()
    host_rules: tuple[HostRule, ...] = ()
    path_rules: tuple[PathRule, ...] = ()
    first_party_hosts: tuple[str, ...] = ()
    unclassified_cookies: Literal["allow", "deny"] = "allow"


@dataclass(frozen=True, slots=True)
class CookieVerdict:
    """What a cookie name is and which rule said so (`pattern`/`match` of the rule)."""

    category: str
    vendor: str
    source: str
    pattern: str
    match: str


@dataclass(frozen=True, slots=True)
class UrlVerdict:
    """What a URL loads and which rule said so (`rule` is `host` + `path` of the rule)."""

    category: str
    vendor: str
    source: str
    rule: str


def strip_cookie_prefix(name: str) -> str:
    """The name behind a `__Host-` / `__Secure-` prefix (matched case-insensitively, RFC 6265bis)."""
    if name.startswith("__"):
        low = name[:9].lower()
        for prefix in _COOKIE_PREFIXES:
            if low.startswith(prefix):
                return name[len(prefix) :]
    return name


def prefix_trie_regex(prefixes: Iterable[str]) -> re.Pattern[str] | None:
    """One regex whose `.match(s).end()` is the length of the longest prefix of s in `prefixes`.

    The alternation is a trie (one branch per next character, longer continuations tried
    first), so the engine walks the name once instead of trying each prefix in turn.
    """
    end = ""  # sentinel key: a prefix ends at this node (real keys are one character long)
    root: dict[str, dict] = {}
    for word in prefixes:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[end] = {}

    def emit(node: dict[str, dict]) -> str:
        alts = [re.escape(ch) + emit(sub) for ch, sub in sorted(node.items()) if ch != end]
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end in node else body

    if not root:
        return None
    return re.compile(emit(root), re.DOTALL)


def glob_to_regex(glob: str) -> str:
    """`*` any run, `?` one character, everything else literal."""
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)


class _CookieLayer:
    """One precedence layer's cookie rules compiled: dict, prefix trie, one pattern alternation."""

    __slots__ = ("exact", "prefixes", "prefix_re", "patterns", "pattern_re", "pattern_list", "plain_patterns")

    def __init__(self, rules: Iterable[CookieRule]) -> None:
        self.exact: dict[str, CookieVerdict] = {}
        self.prefixes: dict[str, CookieVerdict] = {}
        self.patterns: dict[str, CookieVerdict] = {}
        pattern_sources: list[tuple[str, str]] = []
        for rule in rules:
            verdict = CookieVerdict(rule.category, rule.vendor, rule.source, rule.pattern, rule.match)
            if rule.match == "exact":
                self.exact.setdefault(strip_cookie_prefix(rule.pattern), verdict)
            elif rule.match == "prefix":
                self.prefixes.setdefault(strip_cookie_prefix(rule.pattern), verdict)
            else:
                group = f"r{len(pattern_sources)}"
                regex = glob_to_regex(rule.pattern) if rule.match == "glob" else rule.pattern
                pattern_sources.append((group, regex))
                self.patterns[group] = verdict
        self.prefix_re = prefix_trie_regex(self.prefixes)
        # The same alternation without group names, for merging across layers.
        self.plain_patterns = "|".join(f"(?:{r})" for _, r in pattern_sources)
        self.pattern_re: re.Pattern[str] | None = None
        self.pattern_list: tuple[tuple[re.Pattern[str], CookieVerdict], ...] = ()
        if pattern_sources:
            try:
                self.pattern_re = re.compile("|".join(f"(?P<{g}>{r})" for g, r in pattern_sources), re.DOTALL)
            except re.error:
                # e.g. a pattern with inline global flags: it cannot be merged; match them one by one.
                self.pattern_list = tuple((re.compile(r, re.DOTALL), self.patterns[g]) for g, r in pattern_sources)

    def lookup(self, name: str) -> CookieVerdict | None:
        verdict = self.exact.get(name)
        if verdict is not None:
            return verdict
        if self.prefix_re is not None:
            m = self.prefix_re.match(name)
            if m is not None and m.end():
                return self.prefixes[name[: m.end()]]
        if self.pattern_re is not None:
            m = self.pattern_re.fullmatch(name)
            if m is not None:
                return self.patterns[m.lastgroup or ""]
        for regex, verdict in self.pattern_list:
            if regex.fullmatch(name):
                return verdict
        return None


def _any_rule_regex(layers: tuple[_CookieLayer, ...]) -> re.Pattern[str] | None:
    """One regex that matches a name iff some prefix/glob/regex rule of any layer might:
    an unknown name is rejected with a single match instead of one per layer."""
    trie = prefix_trie_regex(p for layer in layers for p in layer.prefixes)
    alts = [trie.pattern] if trie is not None else []
    for layer in layers:
        if layer.pattern_list:
            return None  # unmergeable patterns: let every lookup take the layered path
        if layer.plain_patterns:
            alts.append(f"(?:{layer.plain_patterns})\\Z")
    if not alts:
        return re.compile("(?!)")
    try:
        return re.compile("|".join(f"(?:{a})" for a in alts), re.DOTALL)
    except re.error:
        return None


# (layer rank, is wildcard, path prefix, verdict); sorted best first within one host key.
_HostEntry = tuple[int, bool, str, UrlVerdict]


def _host_table(layers: Iterable[Iterable[HostRule]]) -> dict[str, tuple[_HostEntry, ...]]:
    table: dict[str, list[_HostEntry]] = {}
    for rank, rules in enumerate(layers):
        for r in rules:
            verdict = UrlVerdict(r.category, r.vendor, r.source, r.host + r.path)
            table.setdefault(r.domain, []).append((rank, r.is_wildcard, r.path, verdict))
    return {k: tuple(sorted(v, key=lambda e: (e[0], -len(e[2]), e[1]))) for k, v in table.items()}


def _lookup_host(table: dict[str, tuple[_HostEntry, ...]], host: str, path: str) -> UrlVerdict | None:
    """Best rule for host+path: walks the host's labels (O(labels) dict probes)."""
    best: UrlVerdict | None = None
    best_rank = 1 << 30
    key, exact_level = host, True
    while True:
        entries = table.get(key)
        if entries is not None:
            for rank, wildcard, prefix, verdict in entries:
                if rank >= best_rank:
                    break
                if (wildcard or exact_level) and (not prefix or path.startswith(prefix)):
                    best, best_rank = verdict, rank
                    break
            if best_rank == 0:
                return best
        dot = key.find(".")
        if dot < 0:
            return best
        key, exact_level = key[dot + 1 :], False


_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_AUTHORITY_END_RE = re.compile(r"[/\\?#]")
_QUERY_RE = re.compile(r"[?#]")
_STRIP = " \t\n\r\f\x00"


def split_url(url: str, base_path: str = "/") -> tuple[str, str, str]:
    """(kind, host, path) of a URL as found in HTML; kind is "network", "relative" or "other".

    Follows the WHATWG URL parser where it matters for attribution: surrounding whitespace
    and inner tabs/newlines removed, `\\` as `/`, any run of slashes after `http:`/`https:`,
    userinfo and port dropped, host lower-cased and percent-decoded. A relative path is
    resolved against `base_path`. Never raises.
    """
    u = url.strip(_STRIP)
    if "\t" in u or "\n" in u or "\r" in u:
        u = u.replace("\t", "").replace("\n", "").replace("\r", "")
    if u[:2] in ("//", "\\\\", "/\\", "\\/"):
        rest = u.lstrip("/\\")
    else:
        m = _SCHEME_RE.match(u)
        if m is None:
            return "relative", "", _relative_path(u, base_path)
        if m.group(1).lower() not in ("http", "https"):
            return "other", "", ""
        # `https:host` without slashes is treated as a host: a remote load on http pages.
        rest = u[m.end() :].lstrip("/\\")
    end = _AUTHORITY_END_RE.search(rest)
    authority, tail = (rest, "") if end is None else (rest[: end.start()], rest[end.start() :])
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    else:
        host = host.partition(":")[0]
    if "%" in host:
        host = unquote(host)
    host = host.lower().rstrip(".")
    q = _QUERY_RE.search(tail)
    path = (tail if q is None else tail[: q.start()]).replace("\\", "/") or "/"
    return "network", host, _normalise(path)


def _relative_path(u: str, base_path: str) -> str:
    q = _QUERY_RE.search(u)
    path = (u if q is None else u[: q.start()]).replace("\\", "/")
    if not path:
        return base_path or "/"
    if not path.startswith("/"):
        path = base_path[: base_path.rfind("/") + 1] + path if "/" in base_path else "/" + path
    return _normalise(path)


def _normalise(path: str) -> str:
    """Remove `.` and `..` segments (RFC 3986 §5.2.4), only when there are any."""
    if "/." not in path and not path.startswith("."):
        return path
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:]:
        if seg == "..":
            if out:
                out.pop()
        elif seg != ".":
            out.append(seg)
    trailing = "/" if segments[-1] in (".", "..") else ""
    return "/" + "/".join(out) + trailing


class Policy:
    """Compiled matchers for one (config, catalogue) pair; immutable once built.

    The only mutable state is a bounded memo of cookie-name verdicts (names repeat on every
    request); it is per instance and cleared when full, so a reload starts fresh.
    """

    __slots__ = (
        "_cookie_layers",
        "_exact",
        "_maybe_re",
        "_hosts",
        "_path_re",
        "_paths",
        "_first_party",
        "unclassified_allowed",
        "_memo",
        "_url_memo",
    )

    def __init__(
        self,
        cookie_layers: tuple[_CookieLayer, ...],
        hosts: dict[str, tuple[_HostEntry, ...]],
        path_rules: tuple[PathRule, ...],
        first_party: dict[str, tuple[_HostEntry, ...]],
        unclassified_allowed: bool,
    ) -> None:
        self._cookie_layers = cookie_layers
        # Every name that some layer knows exactly, resolved once with the full layered
        # lookup: most names on the wire end here with one dict probe.
        self._exact: dict[str, CookieVerdict] = {}
        for layer in cookie_layers:
            for name in layer.exact:
                if name not in self._exact:
                    self._exact[name] = self._layered(name)  # type: ignore[assignment]
        self._maybe_re = _any_rule_regex(cookie_layers)
        self._hosts = hosts
        self._paths = {r.path: UrlVerdict(r.category, r.vendor, SOURCE_SITE, r.path) for r in reversed(path_rules)}
        self._path_re = prefix_trie_regex(self._paths)
        self._first_party = first_party
        self.unclassified_allowed = unclassified_allowed
        self._memo: dict[str, CookieVerdict | None] = {}
        #: URLs repeat on every page view of a site; bounded like the cookie memo.
        self._url_memo: dict[tuple[str, str, str], UrlVerdict | None] = {}

    @classmethod
    def compile(cls, site: SiteRules, catalogue: Catalogue) -> Policy:
        """Compile everything; raises CatalogueError listing every bad site rule."""
        problems = [p for p in map(check_cookie_rule, site.cookie_rules) if p]
        problems += [p for p in map(check_host_rule, site.host_rules) if p]
        problems += [
            f"path rule {r.path!r}: must start with '/' and name a known category"
            for r in site.path_rules
            if not r.path.startswith("/") or r.category not in CATEGORIES
        ]
        fp_rules = tuple(HostRule(h.lower().rstrip("."), "necessary", "", SOURCE_SITE) for h in site.first_party_hosts)
        problems += [f"first-party host {p}" for p in map(check_host_rule, fp_rules) if p]
        if site.unclassified_cookies not in ("allow", "deny"):
            problems.append(f"unclassified cookies: {site.unclassified_cookies!r} is not allow|deny")
        if problems:
            raise CatalogueError(problems)
        layers = (site.cookie_rules, catalogue.curated_cookies, catalogue.open_cookies)
        return cls(
            tuple(_CookieLayer(rules) for rules in layers if rules),
            _host_table((site.host_rules, catalogue.curated_hosts, catalogue.open_hosts)),
            site.path_rules,
            _host_table((fp_rules,)),
            site.unclassified_cookies == "allow",
        )

    def classify_cookie(self, name: str) -> CookieVerdict | None:
        """The verdict for a cookie name, None when no rule knows it. Never raises."""
        memo = self._memo
        hit = memo.get(name, _MISS)
        if hit is not _MISS:
            return hit  # type: ignore[return-value]
        bare = strip_cookie_prefix(name)
        verdict = self._exact.get(bare)
        if verdict is None and (self._maybe_re is None or self._maybe_re.match(bare) is not None):
            verdict = self._layered(bare)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[name] = verdict
        return verdict

    def _layered(self, bare: str) -> CookieVerdict | None:
        for layer in self._cookie_layers:
            verdict = layer.lookup(bare)
            if verdict is not None:
                return verdict
        return None

    def classify_url(self, url: str, page_host: str, base_path: str = "/") -> UrlVerdict | None:
        """The tracker verdict for a URL found on a page of `page_host`. Never raises.

        Relative and first-party URLs are matched against the site's path rules only;
        other http(s) URLs against the host tables. None means first-party/unknown/not a
        fetchable http(s) URL; use `is_third_party` to tell an unknown third party apart.
        A verdict may be `necessary` (a known CDN, fonts, reCAPTCHA): known, always allowed.
        """
        key = (url, page_host, base_path)
        memo = self._url_memo
        if key in memo:
            return memo[key]
        kind, host, path = split_url(url, base_path)
        if kind == "other":
            verdict = None
        elif kind == "relative" or self._is_first_party_host(host, page_host):
            verdict = self._match_path(path)
        else:
            verdict = _lookup_host(self._hosts, host, path)
        if len(memo) >= _MEMO_LIMIT:
            memo.clear()
        memo[key] = verdict
        return verdict

    def is_third_party(self, url: str, page_host: str) -> bool:
        """True for an http(s) URL on a host that is neither the page's, a configured
        first-party host, nor the same registrable domain as the page. Never raises."""
        kind, host, _ = split_url(url)
        if kind != "network" or not host or self._is_first_party_host(host, page_host):
            return False
        page = _bare_host(page_host)
        site = registrable_domain(page) if page else None
        return site is None or registrable_domain(host) != site

    def _is_first_party_host(self, host: str, page_host: str) -> bool:
        if host == page_host or host == _bare_host(page_host):
            return True
        return bool(self._first_party) and _lookup_host(self._first_party, host, "/") is not None

    def _match_path(self, path: str) -> UrlVerdict | None:
        if self._path_re is None:
            return None
        m = self._path_re.match(path)
        return self._paths[path[: m.end()]] if m is not None and m.end() else None


def _bare_host(host: str) -> str:
    """A Host header value as a host: lower case, no port, no trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.partition(":")[0].rstrip(".")
