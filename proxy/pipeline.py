"""The consent hook points of the request flow: what to change on the way out and back.

`plan_request` decides once, from the request headers, everything the visitor's consent
implies (Envoy-style: decide on headers first, then stream). `plan_response` looks at the
upstream response headers and decides whether the body is rewritten. The handler applies
the plans; it never decides policy itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from proxy.runtime import Runtime


@dataclass(slots=True)
class RequestPlan:
    """What this request's consent means for its outbound request and its response."""

    runtime: Runtime
    bypass: bool
    scheme: str
    cookie_header: str | None = None  # replacement Cookie header value; None = unchanged

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
    rewriter: Any = None
    extra_set_cookies: list[str] = field(default_factory=list)

    def apply_to_response(self, headers: CIMultiDict[str]) -> None:
        for value in self.extra_set_cookies:
            headers.add("Set-Cookie", value)

    async def stream_rewritten(self, up: aiohttp.ClientResponse, resp: web.StreamResponse, metrics: Any) -> None:
        raise NotImplementedError("HTML rewriting is not wired yet")


def plan_request(rt: Runtime, request: web.BaseRequest, scheme: str) -> RequestPlan:
    """Decide from the request headers alone what consent implies for this request."""
    return RequestPlan(runtime=rt, bypass=rt.is_bypassed(request.path), scheme=scheme)


def plan_response(plan: RequestPlan, up: aiohttp.ClientResponse, request: web.BaseRequest) -> ResponsePlan:
    """Decide from the upstream response headers what happens to its headers and body."""
    return ResponsePlan(request_plan=plan)
