"""The agent API under /api/v1/agent (the console and API clients): session cookie + CSRF token, or Bearer."""

from __future__ import annotations

import hmac

from aiohttp import web

from bot.devices import CATEGORIES
from bot.language import SUPPORTED
from handoff import agents, drafts, tickets
from handoff.errors import Forbidden, Invalid, TooLarge
from handoff.keys import HUB
from handoff.middleware import json_body
from handoff.models import Agent, AgentSession
from handoff.queue import TAKES_CHATS
from handoff.schemas import (
    MAX_ID,
    AgentChange,
    AgentMessage,
    Escalate,
    NewAgent,
    NoteIn,
    Presence,
    Resolve,
    ReturnToBot,
    SignIn,
    Transfer,
    parse,
    whole_number,
)
from handoff.views.customer import bearer, client_address

routes = web.RouteTableDef()
COOKIE = "hub_session"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
MAX_QUEUE_LIMIT = 500


async def signed_in(request: web.Request) -> tuple[Agent, AgentSession]:
    """The signed-in agent and their session. Cookie sessions must send the CSRF token on every change."""
    hub = request.app[HUB]
    token = bearer(request)
    if token:
        return await agents.session_agent(hub, token)
    agent, record = await agents.session_agent(hub, request.cookies.get(COOKIE))
    if request.method not in SAFE_METHODS:
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), record.csrf_token.encode()):
            raise Forbidden("Missing or wrong X-CSRF-Token header.", "csrf_failed")
    return agent, record


async def current_agent(request: web.Request) -> Agent:
    return (await signed_in(request))[0]


async def chat_agent(request: web.Request) -> Agent:
    """The signed-in agent, if their role takes chats: editors review content and see no customer's chat."""
    return takes_chats(await current_agent(request))


def takes_chats(agent: Agent) -> Agent:
    if agent.role not in TAKES_CHATS:
        raise Forbidden("Editors review knowledge-base content; chats are for agents and admins.", "agents_only")
    return agent


def path_id(request: web.Request, what: str) -> int:
    """The numeric `{<what>_id}` of the URL; a clear 400 otherwise."""
    value = whole_number(request.match_info[f"{what}_id"])
    if value is None:
        raise Invalid(f"The {what} id must be a number from 0 to {MAX_ID}.", f"invalid_{what}_id")
    return value


def _ticket_id(request: web.Request) -> int:
    return path_id(request, "ticket")


@routes.post("/api/v1/agent/session")
async def sign_in(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await hub.limit(f"{hub.settings.rate_logins_per_minute}/minute", f"login:{client_address(request)}", "sign-ins")
    body = parse(SignIn, await json_body(request))
    agent, token, csrf = await agents.sign_in(hub, body.username, body.password)
    response = web.json_response({"agent": await agents.describe(hub, agent), "csrf_token": csrf, "token": token})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=hub.settings.cookie_secure,
        max_age=hub.settings.session_hours * 3600,
        path="/",
    )
    return response


@routes.delete("/api/v1/agent/session")
async def sign_out(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    agent = await current_agent(request)
    if not await agents.sign_out(hub, agent, bearer(request) or request.cookies.get(COOKIE)):
        # no other session: their chats go back to the queue now, not after a grace period in which the
        # customers would write to nobody (a closed tab still gets the grace period: it may be a reload)
        await tickets.requeue_all(hub, agent.id, kind="agent_unavailable")
        await tickets.announce_presence(hub, agent.id)
    response = web.Response(status=204)
    response.del_cookie(COOKIE, path="/")
    return response


@routes.get("/api/v1/agent/me")
async def me(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    agent, record = await signed_in(request)
    return web.json_response({"agent": await agents.describe(hub, agent), "csrf_token": record.csrf_token})


@routes.put("/api/v1/agent/presence")
async def presence(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    agent = await chat_agent(request)
    body = parse(Presence, await json_body(request))
    agent = await agents.set_presence(hub, agent, body.presence)
    await tickets.announce_presence(hub, agent.id)
    return web.json_response({"agent": await agents.describe(hub, agent)})


@routes.get("/api/v1/agent/queue")
async def queue(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    limit = whole_number(request.query.get("limit", "100"), highest=MAX_QUEUE_LIMIT)
    if not limit:
        raise Invalid(f"limit: a whole number from 1 to {MAX_QUEUE_LIMIT}.", "invalid_limit")
    return web.json_response({"tickets": await tickets.list_queue(request.app[HUB], agent, limit)})


@routes.get("/api/v1/agent/chats")
async def chats(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    return web.json_response({"tickets": await tickets.list_chats(request.app[HUB], agent)})


@routes.get("/api/v1/agent/chats/closed")
async def closed_chats(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    return web.json_response({"tickets": await tickets.recently_closed(request.app[HUB], agent)})


@routes.get("/api/v1/agent/suggestions")
async def suggestions(request: web.Request) -> web.Response:
    """The agent's knowledge-base suggestions (resolutions marked for the knowledge base) and the verdicts."""
    agent = await current_agent(request)
    return web.json_response({"suggestions": await drafts.suggestions_of(request.app[HUB], agent)})


@routes.get("/api/v1/agent/tickets/{ticket_id}")
async def ticket(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    return web.json_response(await tickets.ticket_detail(request.app[HUB], agent, _ticket_id(request)))


@routes.post("/api/v1/agent/tickets/{ticket_id}/claim")
async def claim(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    return web.json_response({"ticket": await tickets.claim(request.app[HUB], agent, _ticket_id(request))})


@routes.post("/api/v1/agent/tickets/{ticket_id}/messages")
async def send(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    agent = await chat_agent(request)
    body = parse(AgentMessage, await json_body(request))
    if body.article_id is not None:
        if body.step is None:
            raise Invalid("step: required with article_id.", "step_required")
        message = await tickets.step_message(hub, agent, _ticket_id(request), body.article_id, body.step)
    else:
        if body.text is None:
            raise Invalid('Send "text", or "article_id" and "step".', "text_required")
        _check_length(hub, body.text)
        message = await tickets.agent_message(hub, agent, _ticket_id(request), body.text, client_id=body.client_id)
    return web.json_response({"message": message}, status=201)


def _check_length(hub, text: str) -> None:
    if len(text) > hub.settings.max_message_chars:
        raise TooLarge(f"At most {hub.settings.max_message_chars} characters per message.", "message_too_large")


@routes.post("/api/v1/agent/tickets/{ticket_id}/notes")
async def note(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    body = parse(NoteIn, await json_body(request))
    return web.json_response(
        {"note": await tickets.add_note(request.app[HUB], agent, _ticket_id(request), body.text)}, status=201
    )


@routes.post("/api/v1/agent/tickets/{ticket_id}/resolve")
async def resolve(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    body = parse(Resolve, await json_body(request))
    result = await tickets.resolve(request.app[HUB], agent, _ticket_id(request), body.note, body.kb_candidate)
    return web.json_response({"ticket": result})


@routes.post("/api/v1/agent/tickets/{ticket_id}/escalate")
async def escalate(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    body = parse(Escalate, await json_body(request))
    result = await tickets.escalate(request.app[HUB], agent, _ticket_id(request), body.group, body.note)
    return web.json_response({"ticket": result})


@routes.post("/api/v1/agent/tickets/{ticket_id}/transfer")
async def transfer(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    body = parse(Transfer, await json_body(request))
    result = await tickets.transfer(request.app[HUB], agent, _ticket_id(request), body.agent_id, body.note)
    return web.json_response({"ticket": result})


@routes.post("/api/v1/agent/tickets/{ticket_id}/return-to-bot")
async def return_to_bot(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    body = parse(ReturnToBot, await json_body(request))
    result = await tickets.return_to_bot(request.app[HUB], agent, _ticket_id(request), body.note)
    return web.json_response({"ticket": result})


@routes.post("/api/v1/agent/tickets/{ticket_id}/close-left")
async def close_left(request: web.Request) -> web.Response:
    agent = await chat_agent(request)
    result = await tickets.close_left(request.app[HUB], agent, _ticket_id(request))
    return web.json_response({"ticket": result})


@routes.get("/api/v1/agent/kb/search")
async def kb_search(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await current_agent(request)
    query = request.query.get("q", "").strip()
    if not query:
        raise Invalid("q: what to search for.", "query_required")
    language = request.query.get("language") or None
    category = request.query.get("category") or None
    if language not in (None, *SUPPORTED) or category not in (None, *CATEGORIES):
        raise Invalid(f"language: {' or '.join(SUPPORTED)}; category: {', '.join(CATEGORIES)}.", "invalid_filter")
    kb = hub.knowledge_base
    matches = await hub.in_thread(lambda: kb.search(query, language=language, category=category, limit=5))
    results = []
    for match in matches:
        article = await hub.in_thread(kb.article, match.article_id, language or "en")
        if article is None:
            continue
        results.append(
            {
                "article_id": article.id,
                "title": article.title,
                "category": article.category,
                "score": round(match.score, 3),
                "steps": [{"step": s.position, "text": s.instruction, "check": s.check} for s in article.steps],
            }
        )
    return web.json_response({"results": results})


@routes.get("/api/v1/agent/agents")
async def list_agents(request: web.Request) -> web.Response:
    await current_agent(request)
    return web.json_response({"agents": await agents.list_agents(request.app[HUB])})


async def current_admin(request: web.Request, action: str) -> Agent:
    admin = await current_agent(request)
    if admin.role != "admin":
        raise Forbidden(f"Only administrators can {action}.", "admin_only")
    return admin


@routes.post("/api/v1/agent/agents")
async def create_agent(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await current_admin(request, "create agents")
    body = parse(NewAgent, await json_body(request))
    agent = await agents.create_agent(hub.sessions, **body.model_dump())
    return web.json_response({"agent": await agents.describe(hub, agent)}, status=201)


@routes.patch("/api/v1/agent/agents/{agent_id}")
async def change_agent(request: web.Request) -> web.Response:
    """Change an agent (admins): lock out or let back in, password, role, display name, skills, capacity."""
    hub = request.app[HUB]
    admin = await current_admin(request, "change agents")
    body = parse(AgentChange, await json_body(request))
    agent, changed = await agents.change_agent(hub, admin, path_id(request, "agent"), body)
    if "deactivated" in changed or ("role" in changed and agent.role not in TAKES_CHATS):
        await tickets.requeue_all(hub, agent.id, kind="agent_unavailable")  # their chats go back to the queue now
    if changed - {"password"}:  # every console shows the change; the agent's own reloads its queue
        await tickets.announce_presence(hub, agent.id)
    return web.json_response({"agent": await agents.describe(hub, agent)})
