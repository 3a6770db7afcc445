"""Prometheus: the request-metrics middleware and `GET /metrics` (figures: handoff/telemetry.py).

/metrics is open unless METRICS_TOKEN is set (then `Authorization: Bearer <token>`); in production set it or
keep /metrics off the public proxy.
"""

from __future__ import annotations

import hmac
import time

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from handoff.errors import Unauthorized
from handoff.keys import HUB, METRICS
from handoff.views.customer import bearer

routes = web.RouteTableDef()


def _route(request: web.Request) -> str:
    """The matched route's template (bounded label values); "unmatched" for 404s and the like."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def track_requests(request: web.Request, handler):
    """Count and time every request by method, route and status (outermost: sees the final status)."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        socket = request.headers.get("Upgrade", "").lower() == "websocket"
        elapsed = None if socket else time.perf_counter() - started
        request.app[METRICS].observe(request.method, _route(request), status, elapsed)


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    token = hub.settings.metrics_token
    if token and not hmac.compare_digest((bearer(request) or "").encode(), token.encode()):
        raise Unauthorized("Send the metrics token as 'Authorization: Bearer <token>'.", "metrics_token")
    body = await request.app[METRICS].exposition(hub)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
