"""POST /api/v1/inbound/email: customers' e-mail answers, handed over by the mailbox (handoff/inbound.py)."""

from __future__ import annotations

import hmac

from aiohttp import web

from handoff import inbound
from handoff.errors import NotFound, TooLarge, Unauthorized
from handoff.keys import HUB
from handoff.views.customer import bearer

routes = web.RouteTableDef()


@routes.post("/api/v1/inbound/email")
async def receive_email(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    expected = hub.settings.inbound_email_token
    if not expected:
        raise NotFound("Incoming e-mail is not enabled on this hub (INBOUND_EMAIL_TOKEN is not set).", "not_enabled")
    given = bearer(request) or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Unauthorized("Send the INBOUND_EMAIL_TOKEN as 'Authorization: Bearer <token>'.", "token_invalid")
    result = await inbound.receive(hub, await _raw_email(request, hub.settings.inbound_email_max_bytes))
    return web.json_response(result, status=202 if result["ignored"] else 201)


async def _raw_email(request: web.Request, limit: int) -> bytes:
    """The body (the raw e-mail) up to `limit` bytes; the app's small JSON body limit does not apply here."""
    too_large = TooLarge(f"The e-mail is larger than {limit} bytes.", "email_too_large")
    if (request.content_length or 0) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)
