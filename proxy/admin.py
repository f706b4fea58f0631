"""The admin port: metrics, health and config, never reachable through the public port.

Bound to 127.0.0.1 by default. `POST /-/reload` exists only when `admin.reload_endpoint` is on.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

if TYPE_CHECKING:
    from proxy.server import App

APP_KEY: web.AppKey["App"] = web.AppKey("consent_proxy_app")
_SECRET_KEYS = ("tls_key",)


async def metrics(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    app.metrics.flush()
    if "application/openmetrics-text" in request.headers.get("Accept", ""):
        body, ctype = generate_openmetrics(app.metrics.registry), OPENMETRICS_TYPE
    else:
        body, ctype = generate_latest(app.metrics.registry), CONTENT_TYPE_LATEST
    return web.Response(body=body, headers={"Content-Type": ctype})


async def livez(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    if not app.ready:
        return web.Response(status=503, text="shutting down\n")
    return web.Response(text="ready\n")


def _redact(value: object) -> object:
    if isinstance(value, dict):
        return {k: ("<redacted>" if k in _SECRET_KEYS and v else _redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


async def config_view(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    rt = app.holder.current
    body = {"config_hash": rt.config_hash, "config": _redact(rt.config.model_dump(mode="json"))}
    return web.Response(text=json.dumps(body, indent=2, default=str) + "\n", content_type="application/json")


async def reload(request: web.Request) -> web.Response:
    app = request.app[APP_KEY]
    ok = app.reload()
    return web.Response(status=200 if ok else 500, text="reloaded\n" if ok else "reload failed; see the log\n")


def make_admin_app(app: "App") -> web.Application:
    admin = web.Application()
    admin[APP_KEY] = app
    admin.router.add_get("/metrics", metrics)
    admin.router.add_get("/livez", livez)
    admin.router.add_get("/readyz", readyz)
    admin.router.add_get("/config", config_view)
    if app.holder.current.config.admin.reload_endpoint:
        admin.router.add_post("/-/reload", reload)
    return admin
