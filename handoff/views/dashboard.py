"""Support metrics and per-article health for the dashboard (`/console/dashboard`) and API clients.

Any signed-in role may read them (agent session cookie or Bearer token, like the rest of /api/v1/agent).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from bot.language import SUPPORTED
from handoff import metrics
from handoff.errors import Invalid
from handoff.keys import HUB
from handoff.schemas import whole_number
from handoff.views.agent import current_agent

routes = web.RouteTableDef()


def _filters(request: web.Request) -> tuple[metrics.Period, str | None, str | None]:
    hub = request.app[HUB]
    query = request.query
    days = whole_number(query.get("days", "7"), highest=metrics.MAX_DAYS)
    if not days:
        raise Invalid(f"days: a whole number from 1 to {metrics.MAX_DAYS}.", "invalid_days")
    zone, now = hub.settings.hub_timezone, hub.now()
    period = metrics.parse_period(query.get("from"), query.get("to"), zone, now, days)
    language = query.get("language") or None
    if language is not None and language not in SUPPORTED:
        raise Invalid(f"language: one of {', '.join(SUPPORTED)}.", "invalid_language")
    category = query.get("category") or None
    if category is not None and category not in (*metrics.CATEGORIES, metrics.UNKNOWN):
        raise Invalid(f"category: one of {', '.join((*metrics.CATEGORIES, metrics.UNKNOWN))}.", "invalid_category")
    return period, language, category


@routes.get("/api/v1/agent/metrics")
async def support_metrics(request: web.Request) -> web.Response:
    await current_agent(request)
    hub = request.app[HUB]
    period, language, category = _filters(request)
    result = await metrics.support_metrics(
        hub.sessions,
        period,
        now=hub.now(),
        live=hub.events.watched_conversations(),
        queue_patience=timedelta(minutes=hub.settings.queue_abandon_after_min),
        language=language,
        category=category,
    )
    return web.json_response(result)


@routes.get("/api/v1/agent/articles/health")
async def articles_health(request: web.Request) -> web.Response:
    await current_agent(request)
    hub = request.app[HUB]
    period, language, category = _filters(request)
    result = await metrics.article_health_report(
        hub.sessions,
        period,
        now=hub.now(),
        abandon_after=timedelta(minutes=hub.settings.guide_abandon_after_min),
        language=language,
        category=category,
    )
    return web.json_response(result)
