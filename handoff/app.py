"""The hub's aiohttp application: `create_app(settings)` wires routes, middlewares and resources."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import uvloop
from aiohttp import WSCloseCode, web
from sqlalchemy import select

from bot.db import make_engine, make_session_factory
from bot.gc_pauses import freeze_long_lived
from bot.kb.service import KnowledgeBase
from bot.settings import Settings
from handoff import outbox, retraining, tickets
from handoff.availability import parse_opening_hours
from handoff.cluster import Cluster, Hooks
from handoff.db import make_async_engine, make_sessions
from handoff.events import Events
from handoff.hub import Hub
from handoff.keys import HUB, METRICS, SETTINGS
from handoff.mail import make_transport
from handoff.middleware import MAX_BODY, errors, forwarded_by_proxy, no_nul, security_headers, widget_cors
from handoff.models import Agent, Ticket
from handoff.openapi import document
from handoff.rasa import RasaClient
from handoff.telemetry import HubMetrics
from handoff.views import agent, customer, dashboard, editor, inbound, monitoring, sockets

STATIC = Path(__file__).resolve().parent / "static"
WAIT_REFRESH_S = 30  # how often connected waiting customers get their place and estimate anew
PAGES = {
    "/shop": "shop.html",
    "/console": "console.html",
    "/console/knowledge": "editor.html",
    "/console/dashboard": "dashboard.html",
}
ASSETS = (
    "common.js",
    "widget.js",
    "widget.css",
    "shop.css",
    "console.js",
    "console.css",
    "editor.js",
    "editor.css",
    "dashboard.js",
    "dashboard.css",
)
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> web.Application:
    """The hub for `settings` (database, Rasa, limits); nothing is connected until the app starts."""
    app = web.Application(
        # CORS and security headers outside the error boundary, so that error answers carry them too (a widget on
        # another site must be able to read a 401, 413 or 429 and its Retry-After)
        middlewares=[
            *([forwarded_by_proxy(settings.trusted_proxies)] if settings.trusted_proxies else []),
            monitoring.track_requests,
            widget_cors,
            security_headers,
            errors,
            no_nul,
        ],
        client_max_size=MAX_BODY,
    )
    app[SETTINGS] = settings
    app[METRICS] = HubMetrics()
    app.cleanup_ctx.append(_resources)
    app.on_shutdown.append(_close_sockets)
    app.add_routes(customer.routes)
    app.add_routes(agent.routes)
    app.add_routes(editor.routes)
    app.add_routes(sockets.routes)
    app.add_routes(dashboard.routes)
    app.add_routes(inbound.routes)
    app.add_routes(monitoring.routes)
    app.router.add_get("/api/v1/openapi.json", _openapi)
    app.router.add_get("/healthz", _health)
    app.router.add_get("/", _to_shop)
    app.router.add_get("/favicon.ico", _no_content)
    for path, file in PAGES.items():
        app.router.add_get(path, _static(file))
    for asset in ASSETS:
        app.router.add_get(f"/{asset}", _static(asset))
    app.router.add_route("OPTIONS", "/api/v1/conversations{tail:.*}", _preflight)
    return app


async def _resources(app: web.Application):
    settings = app[SETTINGS]
    engine = make_async_engine(settings.database_url)
    kb_engine = make_engine(settings.database_url)  # the knowledge base's own (synchronous) access, in threads
    rasa = RasaClient(settings.rasa_url, settings.resolved_rasa_token(), settings.rasa_timeout_s)
    kb_sessions = make_session_factory(kb_engine)
    cluster = Cluster.for_settings(settings)
    hub = Hub(
        settings=settings,
        sessions=make_sessions(engine),
        events=Events(cluster),
        cluster=cluster,
        rasa=rasa,
        hours=parse_opening_hours(settings.opening_hours, settings.hub_timezone),
        knowledge_base=KnowledgeBase(kb_sessions),
        kb_sessions=kb_sessions,
        retrainer=retraining.make_retrainer(settings),
        link_signer=outbox.link_signer(settings),
        reply_signer=outbox.reply_signer(settings),
    )
    app[HUB] = hub
    if cluster is not None:
        await cluster.start(
            Hooks(
                deliver=hub.events.deliver_forwarded,
                snapshot=hub.presence_here,
                gone=lambda agents: _grace_for(hub, agents),
                arrived=lambda agents: _no_grace_for(hub, agents),
                resync=lambda: _close_sockets(app, WSCloseCode.SERVICE_RESTART, "catch up: Redis was out of reach"),
            )
        )
    await _resume_grace_periods(hub)
    stopping = asyncio.Event()
    mailer = asyncio.create_task(outbox.run(hub, make_transport(settings), stopping))
    hub.background.add(asyncio.create_task(_refresh_waiting_customers(hub)))
    try:
        yield
    finally:
        stopping.set()  # the outbox ends between two e-mails: a cancelled database call could hang the pool
        if cluster is not None:
            await cluster.stop()  # the others take over this instance's grace periods
        for task in [*hub.grace_tasks.values(), *hub.background]:
            task.cancel()
        await asyncio.gather(mailer, *hub.background, return_exceptions=True)
        await hub.retrainer.close()
        await rasa.close()
        await engine.dispose()
        kb_engine.dispose()


async def _refresh_waiting_customers(hub: Hub) -> None:
    """Waiting customers' estimates shrink while the chats in progress go on, and opening hours begin and end
    without any event: every WAIT_REFRESH_S the connected ones get their place and estimate anew."""
    while True:
        await asyncio.sleep(WAIT_REFRESH_S)
        try:
            await tickets.refresh_waiting(hub, here_only=True)  # each instance refreshes its own customers
        except Exception:  # a failed round (e.g. the database restarting) must not end the refreshing
            log.exception("refreshing the waiting customers' estimates failed")


async def _freeze_start_up_objects(_app: web.Application) -> None:
    """Full garbage collections had stalled the hub for 70-150 ms under load (bot/gc_pauses.py)."""
    freeze_long_lived("hub started")


async def _resume_grace_periods(hub: Hub) -> None:
    """After a restart no agent is connected yet: give everyone who had chats the grace period to come back."""
    async with hub.sessions() as session:
        busy = set((await session.scalars(select(Ticket.agent_id).where(Ticket.status == "assigned"))).all())
        present = set((await session.scalars(select(Agent.id).where(Agent.presence != "offline"))).all())
    for agent_id in busy | present:
        sockets.schedule_requeue(hub, agent_id)


def _grace_for(hub: Hub, agents: set[int]) -> None:
    """Another hub instance went away with these agents' consoles: they get the grace period to reconnect."""
    for agent_id in agents - hub.events.connected_agents():
        sockets.schedule_requeue(hub, agent_id)


def _no_grace_for(hub: Hub, agents: set[int]) -> None:
    """These agents have a console open on another instance: a grace period that runs here for them ends."""
    for agent_id in agents & set(hub.grace_tasks):
        hub.grace_tasks.pop(agent_id).cancel()


async def _close_sockets(
    app: web.Application, code: WSCloseCode = WSCloseCode.GOING_AWAY, why: str = "server shutdown"
) -> None:
    """Close every socket of this instance (the clients reconnect and fetch what they missed)."""
    closing = [s.close(code=code, message=why.encode()) for s in app[HUB].events.all_sockets()]
    await asyncio.gather(*closing, return_exceptions=True)


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(document(request.app[SETTINGS].max_message_chars))


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _to_shop(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/shop")


async def _preflight(_request: web.Request) -> web.Response:
    return web.Response(status=204)  # widget_cors adds the headers (or refuses the origin)


async def _no_content(_request: web.Request) -> web.Response:
    return web.Response(status=204)


def _static(name: str):
    path = STATIC / name

    async def handler(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-cache"})

    return handler


def serve(settings: Settings) -> None:
    """Run the hub on HUB_HOST:HUB_PORT until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(settings)
    app.on_startup.append(_freeze_start_up_objects)  # after the resources (cleanup_ctx runs first)
    web.run_app(
        app,
        host=settings.hub_host,
        port=settings.hub_port,
        access_log=None,
        loop=uvloop.new_event_loop(),  # libuv's event loop: less CPU per request and per database round trip
    )
