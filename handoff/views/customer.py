"""The customer API under /api/v1/conversations (used by the chat widget and external clients)."""

from __future__ import annotations

from aiohttp import web

from handoff import conversations
from handoff.errors import Invalid
from handoff.keys import HUB
from handoff.middleware import json_body
from handoff.schemas import Contact, CustomerMessage, NewConversation, Rating, parse, whole_number

routes = web.RouteTableDef()


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


async def limit_messages(hub, conversation_id: str, address: str) -> None:
    """A customer's messages are limited per conversation, and per client address over all its conversations (one
    address opening many conversations must not flood the bot)."""
    await hub.limit(f"{hub.settings.rate_messages_per_10s}/10 seconds", f"msg:{conversation_id}", "messages")
    await hub.limit(
        f"{hub.settings.rate_address_messages_per_minute}/minute", f"msg-from:{address}", "messages from your address"
    )


async def _conversation(request: web.Request, token: str | None = None) -> str:
    """The id of the conversation the request's token opens."""
    return await conversations.authenticate(
        request.app[HUB], request.match_info["conversation_id"], token or bearer(request)
    )


@routes.post("/api/v1/conversations")
async def create_conversation(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    await hub.limit(
        f"{hub.settings.rate_conversations_per_minute}/minute", f"new:{client_address(request)}", "new conversations"
    )
    body = parse(NewConversation, await json_body(request))
    language = body.language or _accept_language(request)
    conversation, token = await conversations.create(hub, language, body.customer)
    return web.json_response(
        {"id": conversation.id, "token": token, "language": conversation.language, "state": conversation.state},
        status=201,
    )


def _accept_language(request: web.Request) -> str | None:
    first = request.headers.get("Accept-Language", "").split(",")[0].strip().lower()
    return "de" if first.startswith("de") else ("en" if first.startswith("en") else None)


@routes.get("/api/v1/conversations/{conversation_id}")
async def get_conversation(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    return web.json_response(await conversations.status(request.app[HUB], conversation))


@routes.post("/api/v1/conversations/{conversation_id}/messages")
async def post_message(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    conversation = await _conversation(request)
    await limit_messages(hub, conversation, client_address(request))
    body = parse(CustomerMessage, await json_body(request))
    result = await conversations.post(hub, conversation, text=body.text, payload=body.payload, client_id=body.client_id)
    return web.json_response(result)


@routes.get("/api/v1/conversations/{conversation_id}/messages")
async def list_messages(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    after = request.query.get("after")
    if after is not None and (after := whole_number(after)) is None:
        raise Invalid("after must be a message id (a whole number).", "invalid_after")
    return web.json_response(await conversations.history(request.app[HUB], conversation, after))


@routes.post("/api/v1/conversations/{conversation_id}/contact")
async def leave_contact(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    hub = request.app[HUB]
    # each address left is a notice in the chat and to the agent: not an unlimited stream
    await hub.limit(f"{hub.settings.rate_contact_per_hour}/hour", f"contact:{conversation}", "e-mail addresses")
    body = parse(Contact, await json_body(request))
    return web.json_response(await conversations.save_email(request.app[HUB], conversation, body.email))


@routes.post("/api/v1/conversations/{conversation_id}/rating")
async def rate(request: web.Request) -> web.Response:
    conversation = await _conversation(request)
    body = parse(Rating, await json_body(request))
    return web.json_response(await conversations.rate(request.app[HUB], conversation, body.score, body.comment))
