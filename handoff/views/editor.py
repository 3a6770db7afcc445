"""The editors' API under /api/v1/editor: knowledge-base drafts and the inbox of misunderstood messages.

Signed in like agents (session cookie + CSRF token, or Bearer); only the roles editor and admin get in.
"""

from __future__ import annotations

from aiohttp import web

from bot.language import SUPPORTED
from handoff import drafts, inbox, retraining
from handoff.errors import Invalid
from handoff.keys import HUB
from handoff.middleware import json_body
from handoff.schemas import Convert, DraftEdit, Label, Reject, parse
from handoff.views.agent import current_agent, path_id

routes = web.RouteTableDef()


def _draft_id(request: web.Request) -> int:
    return path_id(request, "draft")


@routes.get("/api/v1/editor/drafts")
async def list_drafts(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    status = request.query.get("status", "pending")
    if status not in drafts.STATUSES:
        raise Invalid(f"status: one of {', '.join(drafts.STATUSES)}.", "invalid_status")
    return web.json_response({"drafts": await drafts.list_drafts(request.app[HUB], agent, status)})


@routes.get("/api/v1/editor/drafts/{draft_id}")
async def get_draft(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    return web.json_response(await drafts.draft_detail(request.app[HUB], agent, _draft_id(request)))


@routes.put("/api/v1/editor/drafts/{draft_id}")
async def edit_draft(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = parse(DraftEdit, await json_body(request))
    return web.json_response(await drafts.update_draft(request.app[HUB], agent, _draft_id(request), body.content))


@routes.post("/api/v1/editor/drafts/{draft_id}/approve")
async def approve(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    hub = request.app[HUB]
    return web.json_response(await drafts.approve(hub, agent, _draft_id(request), retraining.trigger_for(hub)))


@routes.post("/api/v1/editor/drafts/{draft_id}/convert")
async def convert(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = parse(Convert, await json_body(request))
    return web.json_response(await drafts.convert(request.app[HUB], agent, _draft_id(request), body.kind))


@routes.post("/api/v1/editor/drafts/{draft_id}/reject")
async def reject(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    body = parse(Reject, await json_body(request))
    return web.json_response(await drafts.reject(request.app[HUB], agent, _draft_id(request), body.reason))


@routes.get("/api/v1/editor/inbox")
async def list_inbox(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    status = request.query.get("status", "open")
    language = request.query.get("language") or None
    if status not in inbox.STATUSES or language not in (None, *SUPPORTED):
        raise Invalid(
            f"status: one of {', '.join(inbox.STATUSES)}; language: one of {', '.join(SUPPORTED)}.", "invalid_filter"
        )
    return web.json_response(await inbox.list_items(request.app[HUB], agent, status, language))


@routes.post("/api/v1/editor/inbox/label")
async def label(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    hub = request.app[HUB]
    body = parse(Label, await json_body(request))
    return web.json_response(await inbox.label(hub, agent, body.ids, body.intent, retraining.trigger_for(hub)))


@routes.get("/api/v1/editor/intents")
async def intents(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    drafts.require_editor(agent)
    hub = request.app[HUB]
    return web.json_response({"intents": await hub.in_thread(inbox.known_intents, hub)})


@routes.get("/api/v1/editor/retrain")
async def retrain_status(request: web.Request) -> web.Response:
    drafts.require_editor(await current_agent(request))
    hub = request.app[HUB]
    status = retraining.describe(hub.retrainer.status if hub.retrainer else None)
    status["auto"] = hub.settings.auto_retrain
    return web.json_response(status)


@routes.post("/api/v1/editor/retrain")
async def retrain_now(request: web.Request) -> web.Response:
    agent = await current_agent(request)
    drafts.require_editor(agent)
    hub = request.app[HUB]
    return web.json_response(retraining.describe(hub.retrainer.request(f"started by {agent.username}")), status=202)
