"""THE request flow of consent-proxy, top to bottom.

    snapshot runtime -> refuse what is not ours -> decode consent -> outbound request
    (hop-by-hop out, X-Forwarded-* in, denied cookies out) -> send upstream -> response
    headers (Set-Cookie filter, purge, cache headers) -> body: rewrite if HTML, else copy
    bytes -> one metrics update, one access-log line

Modelled on Go's httputil.ReverseProxy: one flow, upstream faults turned into 502/504 in
one place, hop-by-hop handling in `proxy.headers`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from proxy.accesslog import AccessLog
from proxy.headers import host_without_port, inbound_response_headers, is_trusted, is_valid_host, \
    outbound_request_headers, rewrite_location
from proxy.metrics import Metrics
from proxy.pipeline import RequestPlan, ResponsePlan, plan_request, plan_response
from proxy.runtime import Runtime, RuntimeHolder
from proxy.upstream import classify_failure
from proxy.websocket import is_websocket_upgrade, tunnel_websocket

log = logging.getLogger("consent_proxy")

_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodyTooLarge(Exception):
    """The client's request body exceeded limits.max_request_body."""


class ProxyResponse(web.StreamResponse):
    """A StreamResponse that adds no header the origin did not send.

    aiohttp sets `Content-Type: application/octet-stream` and its own `Server` when absent
    (reverse-proxy notes §2.B.13); a proxy must not invent either.
    """

    _drop_after_prepare: tuple[str, ...] = ()

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        for name in self._drop_after_prepare:
            self._headers.popall(name, None)


STATIC_DIR = Path(__file__).parent / "static"
RESERVED_FILES = {"placeholder.css": "text/css"}


def reserved_response(request: web.BaseRequest, prefix: str) -> web.Response:
    """The proxy's own assets under the reserved path (never forwarded to the origin)."""
    name = request.path[len(prefix):]
    ctype = RESERVED_FILES.get(name)
    if ctype is None or request.method not in ("GET", "HEAD"):
        return plain_response(404, "404 Not Found\n")
    return web.Response(body=(STATIC_DIR / name).read_bytes(), content_type=ctype,
                        headers={"Cache-Control": "public, max-age=86400"})


def plain_response(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    """A short text/plain answer. `Connection: close` really closes the connection after it
    (RFC 9112 §9.6): whatever the client sent next on it is never read as a request."""
    resp = web.Response(status=status, text=text, content_type="text/plain", headers=headers)
    if headers and headers.get("Connection", "").lower() == "close":
        resp.force_close()
    return resp


class LimitedBody:
    """The request body, streamed upstream chunk by chunk, refusing more than `cap` bytes.

    aiohttp wraps errors raised while sending a body, so `exceeded` records why it stopped.
    """

    def __init__(self, content: aiohttp.StreamReader, cap: int) -> None:
        self.content = content
        self.cap = cap
        self.exceeded = False

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        total = 0
        async for chunk in self.content.iter_any():
            total += len(chunk)
            if total > self.cap:
                self.exceeded = True
                raise BodyTooLarge()
            yield chunk


@dataclass(slots=True)
class Outcome:
    """What the access log and the requests counter record about one request."""

    status: int = 0
    rewritten: bool = False

    def answered(self, resp: web.StreamResponse) -> web.StreamResponse:
        self.status = resp.status
        return resp


class ProxyHandler:
    """The request handler of the public port. State is injected; nothing is global."""

    def __init__(self, holder: RuntimeHolder, session: aiohttp.ClientSession, metrics: Metrics,
                 access_log: AccessLog) -> None:
        self.holder = holder
        self.session = session
        self.metrics = metrics
        self.access_log = access_log

    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        """One request, start to finish; always one metrics update and one access-log line."""
        started = time.monotonic()
        rt = self.holder.current  # one config snapshot for the whole request
        outcome = Outcome()
        try:
            return await self._serve(request, rt, outcome)
        finally:
            self.metrics.count_request(_status_class(outcome.status), outcome.rewritten)
            if rt.config.logging.access_log:
                self.access_log.write(request, outcome.status, time.monotonic() - started, outcome.rewritten,
                                      rt.config.logging)

    async def _serve(self, request: web.BaseRequest, rt: Runtime, outcome: Outcome) -> web.StreamResponse:
        refusal = self._refusal(request, rt)
        if refusal is not None:
            return outcome.answered(refusal)
        headers_in = request.headers
        trusted = is_trusted(request.remote, rt.trusted)
        scheme = "https" if request.secure else "http"
        if trusted:
            scheme = headers_in.get("X-Forwarded-Proto", scheme).split(",")[0].strip() or scheme
        if request.path.startswith(rt.rewrite_settings.placeholder_path):
            return outcome.answered(reserved_response(request, rt.rewrite_settings.placeholder_path))

        plan = plan_request(rt, request, scheme, self.metrics)  # consent, decided once
        if is_websocket_upgrade(headers_in):
            return outcome.answered(
                await tunnel_websocket(request, rt, self.session, scheme, trusted, plan.cookie_header))
        out_headers = outbound_request_headers(
            headers_in, peer=request.remote, scheme=scheme, trusted=trusted,
            upstream_host=None if rt.config.upstream.pass_host else rt.upstream_host,
        )
        plan.apply_to_outbound(out_headers)
        body = await self._request_body(request, rt)
        if isinstance(body, web.StreamResponse):
            return outcome.answered(body)
        return await self._forward(request, rt, plan, out_headers, body, outcome)

    async def _request_body(self, request: web.BaseRequest, rt: Runtime) -> LimitedBody | web.Response | None:
        """The body to stream upstream, None without one, or a 413 when it is declared too large."""
        if not request.body_exists:
            return None  # never send a GET upstream as chunked (RFC 9110 §8.6)
        cap = rt.config.limits.max_request_body
        length = request.content_length
        if length is not None and length > cap:
            self.metrics.request_body_rejected.inc()
            return plain_response(413, "413 Content Too Large: the request body exceeds the limit.\n",
                                  {"Connection": "close"})
        if request.headers.get("Expect", "").lower() == "100-continue" and request.version >= (1, 1):
            # RFC 9110 §10.1.1: answer it ourselves; aiohttp's client cannot relay a 100.
            await request.writer.write(_CONTINUE)
            request.writer.output_size = 0  # the 100 is not part of the final response
        return LimitedBody(request.content, cap)

    async def _forward(self, request: web.BaseRequest, rt: Runtime, plan: RequestPlan, out_headers: CIMultiDict[str],
                       body: LimitedBody | None, outcome: Outcome) -> web.StreamResponse:
        """Send upstream, then answer: upstream faults become 502/504 here, in one place."""
        url = URL(rt.upstream_url + self._target(request), encoded=True)
        t0 = time.monotonic()
        try:
            upstream_cm = self.session.request(request.method, url, headers=out_headers, data=body,
                                               allow_redirects=False, compress=None, chunked=None)
            up = await upstream_cm.__aenter__()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, BodyTooLarge) as exc:
            if body is not None and body.exceeded:
                self.metrics.request_body_rejected.inc()
                return outcome.answered(plain_response(
                    413, "413 Content Too Large: the request body exceeds the limit.\n", {"Connection": "close"}))
            failure = classify_failure(exc)
            self.metrics.upstream_errors.labels(failure.reason).inc()
            log.warning("upstream request failed", extra={"event": "upstream_error", "reason": failure.reason,
                                                           "error": repr(exc), "path": request.path})
            return outcome.answered(plain_response(failure.status, failure.body))
        try:
            self.metrics.upstream_duration.observe(time.monotonic() - t0)
            return await self._respond(request, rt, plan, up, outcome)
        finally:
            await upstream_cm.__aexit__(None, None, None)

    async def _respond(self, request: web.BaseRequest, rt: Runtime, plan: RequestPlan, up: aiohttp.ClientResponse,
                       outcome: Outcome) -> web.StreamResponse:
        if up.status == 101:
            # RFC 9110 §15.2.2: a 101 the client did not ask for must not switch protocols.
            self.metrics.upstream_errors.labels("unsolicited_101").inc()
            up.close()
            return outcome.answered(plain_response(
                502, "502 Bad Gateway: the upstream server switched protocols unasked.\n"))
        resp_plan = plan_response(plan, up, request, self.metrics)
        if resp_plan.refuse is not None:
            # Fail closed: HTML that cannot be rewritten is never forwarded unrewritten.
            self.metrics.rewrite_aborts.labels("decode").inc()
            log.warning("cannot rewrite HTML response", extra={"event": "rewrite_refused",
                                                               "reason": resp_plan.refuse, "path": request.path})
            return outcome.answered(plain_response(502, f"502 Bad Gateway: {resp_plan.refuse}.\n"))
        resp = self._response_head(up, rt, plan.scheme, plan.host, resp_plan)
        outcome.status = up.status
        outcome.rewritten = resp_plan.rewriter is not None and request.method != "HEAD"
        await resp.prepare(request)
        if request.method == "HEAD" or up.status in (204, 304):
            return resp
        await self._copy_body(up, resp, resp_plan)
        await resp.write_eof()
        return resp

    def _refusal(self, request: web.BaseRequest, rt: Runtime) -> web.StreamResponse | None:
        """Answer requests that must never reach the upstream: never an open proxy."""
        if request.method == "CONNECT":
            self.metrics.refused.labels("connect_method").inc()
            # The bytes after a CONNECT were meant for a tunnel: close rather than parse them.
            return plain_response(405, "405 Method Not Allowed: this is not a forward proxy.\n",
                                  {"Allow": "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", "Connection": "close"})
        raw = request.raw_path
        host = request.headers.get("Host", "")
        if not raw.startswith("/") and raw != "*":
            # Absolute-form target (RFC 9112 §3.2.2): its authority replaces Host; it must be ours.
            try:
                target = URL(raw, encoded=True)
            except ValueError:
                target = None
            authority = target.raw_authority if target is not None and target.absolute else ""
            # Only our own site's names are accepted in absolute form; with no hostnames
            # configured there is no "own" name, so every absolute-form target is refused.
            if not authority or not rt.hostnames or not rt.host_allowed(host_without_port(authority)):
                self.metrics.refused.labels("absolute_form").inc()
                return plain_response(400, "400 Bad Request: this is not a forward proxy.\n", {"Connection": "close"})
        if not is_valid_host(host):
            self.metrics.refused.labels("bad_host").inc()
            return plain_response(400, "400 Bad Request: missing or invalid Host header.\n", {"Connection": "close"})
        if not rt.host_allowed(host_without_port(host)):
            self.metrics.refused.labels("misdirected").inc()
            return plain_response(421, "421 Misdirected Request: this server does not serve that host.\n")
        return None

    @staticmethod
    def _target(request: web.BaseRequest) -> str:
        """Path and query exactly as the client sent them (RFC 9112 §3.2; notes §2.A.7)."""
        raw = request.raw_path
        if raw.startswith("/"):
            return raw
        if raw == "*":
            return "*"
        return URL(raw, encoded=True).raw_path_qs

    def _response_head(self, up: aiohttp.ClientResponse, rt: Runtime, scheme: str, host: str,
                       plan: ResponsePlan) -> ProxyResponse:
        headers: CIMultiDict[str] = inbound_response_headers(up.headers)
        location = headers.get("Location")
        if location is not None:
            headers["Location"] = rewrite_location(location, rt.upstream_url, f"{scheme}://{host}")
        plan.apply_to_response(headers)
        resp = ProxyResponse(status=up.status, reason=up.reason, headers=headers)
        drop = []
        if "Content-Type" not in headers:
            drop.append("Content-Type")
        if "Server" not in headers:
            drop.append("Server")
        resp._drop_after_prepare = tuple(drop)
        return resp

    async def _copy_body(self, up: aiohttp.ClientResponse, resp: ProxyResponse, plan: ResponsePlan) -> None:
        """Stream the body with backpressure; an upstream fault mid-body aborts the client connection.

        Raising after the headers went out makes aiohttp close the connection without the final
        chunk, so clients and caches see an incomplete message (RFC 9112 §8).
        """
        if plan.rewriter is None:
            async for chunk in up.content.iter_any():
                await resp.write(chunk)
            return
        await plan.rewriter.run(up, resp, self.metrics)


def _status_class(status: int) -> str:
    if 100 <= status < 600:
        return f"{status // 100}xx"
    return "5xx"
