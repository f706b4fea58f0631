"""The consent hook points of the request flow: what to change on the way out and back.

`plan_request` decides once, from the request headers, everything the visitor's consent
implies (Envoy-style: decide on headers first, then stream). `plan_response` looks at the
upstream response headers and decides what happens to them and to the body. The handler
applies the plans; it never decides policy itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from proxy.categories import Consent
from proxy.consent import ConsentResult, decide
from proxy.cookies import UNCLASSIFIED, filter_request_cookie, filter_set_cookies, purge_headers
from proxy.metrics import Metrics
from proxy.runtime import Runtime

HTML_TYPES = ("text/html", "application/xhtml+xml")


@dataclass(slots=True)
class RequestPlan:
    """What this request's consent means for its outbound request and its response."""

    runtime: Runtime
    bypass: bool
    scheme: str
    host: str
    navigation: bool = False
    consent: Consent | None = None
    result: ConsentResult | None = None
    cookie_header: str | None = None  # replacement Cookie header value; None = unchanged
    denied_request_cookies: tuple[tuple[str, str], ...] = ()  # (name, category) of cookies the visitor sent

    def apply_to_outbound(self, headers: CIMultiDict[str]) -> None:
        if self.cookie_header is not None:
            if self.cookie_header:
                headers["Cookie"] = self.cookie_header
            else:
                headers.popall("Cookie", None)


@dataclass(slots=True)
class ResponsePlan:
    """What is done to one upstream response: header edits now, and a rewriter for the body."""

    request_plan: RequestPlan
    dropped_set_cookies: frozenset[str] = frozenset()
    purges: list[str] = field(default_factory=list)
    consent_dependent: bool = False
    rewriter: Any = None

    def apply_to_response(self, headers: CIMultiDict[str]) -> None:
        """Edit the response headers in place; kept headers stay byte-exact and in order."""
        if self.dropped_set_cookies:
            kept = [(k, v) for k, v in headers.items()
                    if not (v in self.dropped_set_cookies and k.lower() == "set-cookie")]
            headers.clear()
            headers.extend(kept)
        for value in self.purges:
            headers.add("Set-Cookie", value)
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

    async def stream_rewritten(self, up: aiohttp.ClientResponse, resp: web.StreamResponse, metrics: Any) -> None:
        raise NotImplementedError("HTML rewriting is not wired yet")


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


def plan_request(rt: Runtime, request: web.BaseRequest, scheme: str, metrics: Metrics) -> RequestPlan:
    """Decide from the request headers alone what consent implies for this request."""
    headers = request.headers
    host = headers.get("Host", "")
    if rt.is_bypassed(request.path):
        return RequestPlan(runtime=rt, bypass=True, scheme=scheme, host=host)
    cookie_header = _cookie_header(headers)
    result = decide(cookie_header, headers, rt.consent)
    consent = result.consent
    metrics.count_consent(consent, result.parse_failures)
    plan = RequestPlan(runtime=rt, bypass=False, scheme=scheme, host=host, consent=consent, result=result,
                       navigation=headers.get("Sec-Fetch-Mode") == "navigate")
    if cookie_header:
        filtered = filter_request_cookie(cookie_header, consent, rt.policy, rt.protected_cookies)
        if filtered.unclassified and rt.policy.unclassified_allowed:
            metrics.count_unclassified_cookies(len(filtered.unclassified))
        if filtered.removed:
            plan.denied_request_cookies = filtered.removed
            if rt.config.cookies.filter_request:
                plan.cookie_header = filtered.header
                metrics.count_cookies_blocked(filtered.removed, "request_cookie")
    return plan


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
    set_cookies = up.headers.getall("Set-Cookie", ())
    html = is_html(up.headers.get("Content-Type"))
    if set_cookies:
        resp_plan.consent_dependent = True
        result = filter_set_cookies(list(set_cookies), consent, rt.policy, protected_names=rt.protected_cookies)
        if result.dropped:
            resp_plan.dropped_set_cookies = frozenset(d.value for d in result.dropped)
            metrics.count_cookies_blocked(((d.name, d.category) for d in result.dropped), "set_cookie")
        if result.unclassified and rt.policy.unclassified_allowed:
            metrics.count_unclassified_cookies(len(result.unclassified))
    purge_cfg = rt.config.cookies.purge
    if plan.denied_request_cookies and purge_cfg.enabled and (plan.navigation or html):
        purge_list = [(n, c) for n, c in plan.denied_request_cookies if c != UNCLASSIFIED]
        resp_plan.purges = purge_headers(
            purge_list, consent, _host_only(plan.host), rt.config.site.registrable_domain,
            _public_scheme(rt, plan.scheme) == "https", purge_cfg.paths, rt.protected_cookies,
            purge_cfg.max_headers)
        if resp_plan.purges:
            resp_plan.consent_dependent = True
            metrics.count_cookies_blocked(purge_list, "purge")
    if html:
        resp_plan.consent_dependent = True
    return resp_plan


def _host_only(host: str) -> str:
    if host.startswith("["):
        return host[: host.find("]") + 1]
    return host.rsplit(":", 1)[0] if ":" in host else host


def _public_scheme(rt: Runtime, scheme: str) -> str:
    configured = rt.config.site.public_scheme
    return scheme if configured == "auto" else configured
