"""The consent hook points of the request flow: what to change on the way out and back.

`plan_request` decides once, from the request headers, everything the visitor's consent
implies (Envoy-style: decide on headers first, then stream). `plan_response` looks at the
upstream response headers and decides what happens to them and to the body. The handler
applies the plans; it never decides policy itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.categories import OPTIONAL_CATEGORIES, Consent, with_granted
from proxy.codings import filter_accept_encoding, parse_coding
from proxy.consent import ConsentResult, decide
from proxy.cookies import UNCLASSIFIED, filter_request_cookie, filter_set_cookies, purge_headers
from proxy.htmlstream import HtmlStream
from proxy.metrics import Metrics
from proxy.rewriter import HtmlRewriter
from proxy.runtime import Runtime

HTML_TYPES = ("text/html", "application/xhtml+xml")


#: The consent class of a visitor who granted every optional category (nothing to rewrite).
ALL_GRANTED = "".join(c[0] for c in OPTIONAL_CATEGORIES)


@dataclass(slots=True)
class RequestPlan:
    """What this request's consent means for its outbound request and its response."""

    runtime: Runtime
    bypass: bool
    scheme: str
    host: str
    navigation: bool = False
    consent: Consent | None = None  # the visitor's decision
    consent_class: str = ALL_GRANTED
    enforced: Consent | None = None  # what is enforced: report-only categories count as granted
    result: ConsentResult | None = None
    cookie_header: str | None = None  # replacement Cookie header value; None = unchanged
    denied_request_cookies: tuple[tuple[str, str], ...] = ()  # (name, category) of cookies the visitor sent

    @property
    def may_rewrite(self) -> bool:
        """Whether this response's HTML may be rewritten (some optional category not granted)."""
        return self.consent is not None and not self.bypass and self.consent_class != ALL_GRANTED

    def apply_to_outbound(self, headers: CIMultiDict[str]) -> None:
        if self.cookie_header is not None:
            if self.cookie_header:
                headers["Cookie"] = self.cookie_header
            else:
                headers.popall("Cookie", None)
        if not self.may_rewrite:
            return
        # The origin may only use codings we can decode (issue 5), and a partial (206) HTML
        # body can never be rewritten: ask for the whole document (RFC 9110 §14.2).
        accept = headers.get("Accept-Encoding")
        if accept is not None:
            headers["Accept-Encoding"] = filter_accept_encoding(accept) or "identity"
        if _wants_document(headers):
            headers.popall("Range", None)
            headers.popall("If-Range", None)
        _translate_conditionals(headers, self.consent_class)


@dataclass(slots=True)
class ResponsePlan:
    """What is done to one upstream response: header edits now, and a rewriter for the body."""

    request_plan: RequestPlan
    dropped_set_cookies: frozenset[str] = frozenset()
    purges: list[str] = field(default_factory=list)
    consent_dependent: bool = False
    rewriter: HtmlStream | None = None
    refuse: str | None = None  # a reason to answer 502 instead of forwarding (fail closed)
    link_drops: tuple[str, ...] = ()

    def apply_to_response(self, headers: CIMultiDict[str]) -> None:
        """Edit the response headers in place; kept headers stay byte-exact and in order."""
        if self.dropped_set_cookies:
            kept = [(k, v) for k, v in headers.items()
                    if not (v in self.dropped_set_cookies and k.lower() == "set-cookie")]
            headers.clear()
            headers.extend(kept)
        for value in self.purges:
            headers.add("Set-Cookie", value)
        if self.link_drops:
            values = headers.popall("Link", [])
            for value in values:
                kept = [part for part in _split_link(value) if part not in self.link_drops]
                if kept:
                    headers.add("Link", ", ".join(kept))
        if self.rewriter is not None and not self.rewriter.shadow:
            # The body changes: its length, digests and byte ranges no longer hold, and a
            # strong validator becomes weak and names the consent class (RFC 9110 §8.8.3).
            for name in ("Content-Length", "Content-MD5", "Digest", "Content-Digest", "Repr-Digest",
                         "Accept-Ranges"):
                headers.popall(name, None)
            etag = headers.get("ETag")
            if etag is not None and self.request_plan.consent is not None:
                headers["ETag"] = class_etag(etag, self.request_plan.consent.consent_class)
        plan = self.request_plan
        if plan.result is not None and plan.runtime.config.consent.debug_header:
            headers["X-Consent-Decision"] = decision_summary(plan.result)
        if not self.consent_dependent:
            return
        cache = self.request_plan.runtime.config.cache
        if cache.vary_cookie:
            _add_vary(headers, "Cookie")
        if cache.private:
            headers["Cache-Control"] = _private(headers.get("Cache-Control"))
        if cache.consent_class_header and self.request_plan.consent is not None:
            headers[cache.consent_class_header] = self.request_plan.consent.consent_class



_CLASS_MARK = "-cp."


def class_etag(etag: str, consent_class: str) -> str:
    """W/"<opaque>-cp.<class>": weak (the bytes changed) and distinct per consent class."""
    value = etag.strip()
    if value.startswith("W/"):
        value = value[2:]
    opaque = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    return f'W/"{opaque}{_CLASS_MARK}{consent_class}"'


def _translate_conditionals(headers: CIMultiDict[str], consent_class: str) -> None:
    """If-None-Match tags we issued go back to the origin as its own tags, but only for the
    visitor's current consent class; a tag of another class (or none left) drops the
    conditionals so the origin sends the full page to be rewritten for this class."""
    inm = headers.get("If-None-Match")
    if inm is None or _CLASS_MARK not in inm:
        return
    kept = []
    other_class = False
    for tag in (t.strip() for t in inm.split(",")):
        opaque = tag[2:] if tag.startswith("W/") else tag
        opaque = opaque.strip('"')
        head, mark, cls = opaque.rpartition(_CLASS_MARK)
        if not mark:
            kept.append(tag)
        elif cls == consent_class:
            kept.append(f'W/"{head}"')
        else:
            other_class = True
    if other_class or not kept:
        headers.popall("If-None-Match", None)
        headers.popall("If-Modified-Since", None)
    else:
        headers["If-None-Match"] = ", ".join(kept)


def _wants_document(headers: CIMultiDict[str]) -> bool:
    dest = headers.get("Sec-Fetch-Dest")
    if dest is not None:
        return dest in ("document", "iframe", "frame", "embed", "object")
    return "text/html" in headers.get("Accept", "") or "Range" in headers


def _split_link(value: str) -> list[str]:
    """Link header members (RFC 8288), split on commas outside <...> and quotes."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"' and depth == 0:
            quote = not quote
        elif ch == "<" and not quote:
            depth += 1
        elif ch == ">" and not quote:
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0 and not quote:
            parts.append(value[start:i].strip())
            start = i + 1
    parts.append(value[start:].strip())
    return [p for p in parts if p]


_FETCHING_RELS = ("preload", "prefetch", "preconnect", "dns-prefetch", "modulepreload", "prerender", "stylesheet")


def denied_links(values: list[str], plan: "RequestPlan", metrics: Metrics) -> tuple[str, ...]:
    """Link header members that would make the browser fetch a denied tracker."""
    consent = plan.consent
    if consent is None:
        return ()
    drops = []
    for value in values:
        for part in _split_link(value):
            if not part.startswith("<") or ">" not in part:
                continue
            url, params = part[1:].split(">", 1)
            rels = params.lower()
            if not any(rel in rels for rel in _FETCHING_RELS):
                continue
            verdict = plan.runtime.policy.classify_url(url.strip(), _host_only(plan.host))
            if verdict is not None and not consent.allows(verdict.category):
                mode = plan.runtime.mode_for(verdict.category)
                metrics.count_header_blocked(verdict.category, "report" if mode == "report" else "enforce")
                if mode != "report":
                    drops.append(part)
    return tuple(drops)


def decision_summary(result: ConsentResult) -> str:
    """`functional=granted(cp_consent); analytics=denied(gpc); ...` for the debug header.

    Only category names, states and reader names: never a cookie value (no header injection)."""
    parts = []
    for category, d in result.consent.decisions.items():
        if category != "necessary":
            parts.append(f"{category}={d.state.value}({d.source})")
    return "; ".join(parts)


def _add_vary(headers: CIMultiDict[str], name: str) -> None:
    existing = [t.strip().lower() for v in headers.getall("Vary", ()) for t in v.split(",")]
    if "*" in existing or name.lower() in existing:
        return
    headers.add("Vary", name)


def _private(cache_control: str | None) -> str:
    """Cache-Control that keeps shared caches from serving one visitor's variant to another
    (RFC 9111 §5.2.2.7): `public` and `s-maxage` go, `private` is added; no-store stays."""
    if not cache_control:
        return "private"
    tokens = [t.strip() for t in cache_control.split(",") if t.strip()]
    lowered = [t.lower() for t in tokens]
    if "private" in lowered or "no-store" in lowered:
        return cache_control
    kept = [t for t, low in zip(tokens, lowered) if low != "public" and not low.startswith("s-maxage")]
    return ", ".join(["private", *kept])


def _cookie_header(headers: CIMultiDictProxy[str]) -> str | None:
    values = headers.getall("Cookie", ())
    if not values:
        return None
    return values[0] if len(values) == 1 else "; ".join(values)


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: a key of the metrics batch
class RequestDecision:
    """Everything a request's consent headers imply, before metrics. Depends only on the
    Cookie header and the consent-related headers, so equal requests share one decision."""

    result: ConsentResult
    enforced: Consent
    cookie_header: str | None  # the Cookie header for the origin; None = unchanged
    denied: tuple[tuple[str, str], ...]  # (name, category) the visitor's consent denies
    blocked: tuple[tuple[str, str], ...]  # what is actually removed (enforced)
    reported: tuple[tuple[str, str], ...]  # denied but kept: report-only categories
    unclassified: tuple[str, ...]
    consent_class: str


def decide_request(rt: Runtime, cookie_header: str | None, headers: CIMultiDictProxy[str]) -> RequestDecision:
    result = decide(cookie_header, headers, rt.consent)
    consent = result.consent
    enforced = with_granted(consent, rt.report_categories)
    if not cookie_header:
        return RequestDecision(result, enforced, None, (), (), (), (), consent.consent_class)
    filtered = filter_request_cookie(cookie_header, consent, rt.policy, rt.protected_cookies)
    denied = filtered.removed
    unclassified = filtered.unclassified if rt.policy.unclassified_allowed else ()
    reported: tuple[tuple[str, str], ...] = ()
    if denied and enforced is not consent:  # report-only categories: count them, keep the cookies
        filtered = filter_request_cookie(cookie_header, enforced, rt.policy, rt.protected_cookies)
        reported = tuple(_reported(denied, filtered.removed))
    blocked = filtered.removed if rt.config.cookies.filter_request else ()
    new_header = filtered.header if blocked else None
    return RequestDecision(result, enforced, new_header, denied, blocked, reported, unclassified,
                           consent.consent_class)


_CACHEABLE_HEADER = 4096


def plan_request(rt: Runtime, request: web.BaseRequest, scheme: str, metrics: Metrics) -> RequestPlan:
    """Decide from the request headers alone what consent implies for this request.

    A browser sends the same Cookie header with every request of a page view (document,
    scripts, images), so decisions are memoised per runtime, keyed on the Cookie header and
    the other headers the readers look at; a reload starts with an empty memo."""
    headers = request.headers
    host = headers.get("Host", "")
    if rt.is_bypassed(request.path):
        return RequestPlan(runtime=rt, bypass=True, scheme=scheme, host=host)
    cookie_header = _cookie_header(headers)
    geo = rt.consent.geo_header
    key = (cookie_header, headers.get("Sec-GPC"), headers.get("DNT"), headers.get(geo) if geo else None)
    decision = rt.decisions.get(key)
    if decision is None:
        decision = decide_request(rt, cookie_header, headers)
        if cookie_header is None or len(cookie_header) <= _CACHEABLE_HEADER:
            if len(rt.decisions) >= 2048:
                rt.decisions.clear()
            rt.decisions[key] = decision
    result = decision.result
    metrics.count_decision(decision)
    return RequestPlan(runtime=rt, bypass=False, scheme=scheme, host=host, consent=result.consent,
                       consent_class=decision.consent_class,
                       enforced=decision.enforced, result=result, cookie_header=decision.cookie_header,
                       denied_request_cookies=decision.denied,
                       navigation=headers.get("Sec-Fetch-Mode") == "navigate")


def _reported(would: tuple[tuple[str, str], ...], did: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """What the visitor's consent would have removed but report-only mode kept."""
    enforced = set(did)
    return [item for item in would if item not in enforced]


def is_html(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() in HTML_TYPES


def plan_response(plan: RequestPlan, up: aiohttp.ClientResponse, request: web.BaseRequest,
                  metrics: Metrics) -> ResponsePlan:
    """Decide from the upstream response headers what happens to its headers and body."""
    resp_plan = ResponsePlan(request_plan=plan)
    if plan.bypass or plan.consent is None:
        return resp_plan
    rt = plan.runtime
    consent = plan.consent
    enforced = plan.enforced or consent
    set_cookies = up.headers.getall("Set-Cookie", ())
    html = is_html(up.headers.get("Content-Type"))
    if set_cookies:
        resp_plan.consent_dependent = True
        result = filter_set_cookies(list(set_cookies), enforced, rt.policy, protected_names=rt.protected_cookies)
        if result.dropped:
            resp_plan.dropped_set_cookies = frozenset(d.value for d in result.dropped)
            metrics.count_cookies_blocked(((d.name, d.category) for d in result.dropped), "set_cookie")
        if enforced is not consent:
            would = filter_set_cookies(list(set_cookies), consent, rt.policy, protected_names=rt.protected_cookies)
            metrics.count_cookies_blocked(
                _reported(tuple((d.name, d.category) for d in would.dropped),
                          tuple((d.name, d.category) for d in result.dropped)), "set_cookie", "report")
        if result.unclassified and rt.policy.unclassified_allowed:
            metrics.count_unclassified_cookies(result.unclassified)
    purge_cfg = rt.config.cookies.purge
    if plan.denied_request_cookies and purge_cfg.enabled and (plan.navigation or html):
        purge_list = [(n, c) for n, c in plan.denied_request_cookies if c != UNCLASSIFIED]
        resp_plan.purges = purge_headers(
            purge_list, enforced, _host_only(plan.host), rt.config.site.registrable_domain,
            _public_scheme(rt, plan.scheme) == "https", purge_cfg.paths, rt.protected_cookies,
            purge_cfg.max_headers)
        reported = [(n, c) for n, c in purge_list if c in rt.report_categories]
        metrics.count_cookies_blocked(reported, "purge", "report")
        if resp_plan.purges:
            resp_plan.consent_dependent = True
            metrics.count_cookies_blocked([(n, c) for n, c in purge_list if c not in rt.report_categories], "purge")
    links = up.headers.getall("Link", ())
    if links and plan.may_rewrite:
        resp_plan.link_drops = denied_links(list(links), plan, metrics)
    if html:
        resp_plan.consent_dependent = True
        # HEAD too: its headers must match what a GET would get (no Content-Length, weak ETag);
        # the handler sends no body for it.
        if plan.may_rewrite and up.status not in (204, 304) and up.status >= 200:
            _plan_rewrite(resp_plan, up)
    return resp_plan


def _plan_rewrite(resp_plan: ResponsePlan, up: aiohttp.ClientResponse) -> None:
    """Set up the HTML body stage, or a refusal when the body cannot be rewritten safely."""
    plan = resp_plan.request_plan
    rt = plan.runtime
    trackers = rt.config.trackers
    if trackers.respect_no_transform and "no-transform" in up.headers.get("Cache-Control", "").lower():
        return
    coding = parse_coding(up.headers.get("Content-Encoding"))
    if coding is None:
        resp_plan.refuse = "unsupported content-coding"
        return
    if up.status == 206:
        resp_plan.refuse = "partial HTML cannot be rewritten"
        return
    consent = plan.consent
    assert consent is not None
    rewriter = HtmlRewriter(rt.policy, consent.granted, _host_only(plan.host), rt.rewrite_settings)
    shadow = all(rt.mode_for(c) == "report" for c in OPTIONAL_CATEGORIES if not consent.allows(c))
    resp_plan.rewriter = HtmlStream(rewriter, coding, trackers.rewrite_max_decoded_size,
                                    up.headers.get("Content-Type"), shadow=shadow)


def _host_only(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


def _public_scheme(rt: Runtime, scheme: str) -> str:
    configured = rt.config.site.public_scheme
    return scheme if configured == "auto" else configured
