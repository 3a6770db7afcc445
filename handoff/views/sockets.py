"""The two WebSockets: a customer's conversation, and an agent's console (queue, chats, live relay)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSCloseCode, WSMsgType, web

from handoff import agents, conversations, tickets
from handoff.errors import HubError, Invalid, RateLimited, TooLarge, Unauthorized
from handoff.hub import Hub
from handoff.keys import HUB
from handoff.middleware import MAX_BODY, allowed_origin, load_json, refuse_bad_text
from handoff.schemas import is_id
from handoff.views.agent import COOKIE, takes_chats
from handoff.views.customer import bearer, client_address, limit_messages

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MAX_FRAME = MAX_BODY  # a frame carries a message as a body does
SESSION_CHECK_S = 30  # how often an open console's session is checked again
TYPING_REPEAT_S = 2.0  # a customer's unchanged typing state is passed on at most this often
MAX_CLIENT_ID = 64  # as in the HTTP API (handoff/schemas.py)
MAX_CUSTOMER_SOCKETS = 10  # one conversation's sockets (its tabs and windows): every event is copied to each
TYPING_BURST, TYPING_PER_S = 10, 5.0  # typing frames passed on: a burst of 10, then 5 a second


def _check_origin(request: web.Request, agent_side: bool) -> None:
    """Browsers send Origin on WebSockets: the console only from the hub's own pages, the widget from allowed sites."""
    origin = request.headers.get("Origin")
    own = f"{request.scheme}://{request.host}"
    ok = origin in (None, own) if agent_side else allowed_origin(request, origin)
    if not ok:
        raise web.HTTPForbidden(reason=f"WebSocket origin {origin} is not allowed")


async def _open(request: web.Request) -> web.WebSocketResponse:
    socket = web.WebSocketResponse(heartbeat=30, max_msg_size=MAX_FRAME)
    if not socket.can_prepare(request).ok:
        raise Invalid("This address takes WebSocket connections only (Upgrade: websocket).", "websocket_expected")
    await socket.prepare(request)
    return socket


async def _frames(socket: web.WebSocketResponse):
    """JSON objects from the socket; malformed frames get an error event and are skipped."""
    async for frame in socket:
        if frame.type != WSMsgType.TEXT:
            continue
        data = None
        try:
            data = load_json(frame.data)
            refuse_bad_text(data)
            if not isinstance(data, dict):
                raise Invalid("Send JSON objects.", "invalid_json")
        except Invalid as exc:
            await _reply_error(socket, exc, _client_id(data))
            continue
        yield data


def _client_id(data: object) -> str | None:
    """The client_id of a refused frame, if it was JSON and had one: the sender learns which message failed."""
    client_id = data.get("client_id") if isinstance(data, dict) else None
    if not isinstance(client_id, str) or len(client_id) > MAX_CLIENT_ID:
        return None
    try:
        return refuse_bad_text(client_id)
    except Invalid:
        return None


def checked_client_id(data: dict) -> str | None:
    """A message frame's idempotency key, held to the HTTP API's rule (a string of at most 64 characters)."""
    client_id = data.get("client_id")
    if client_id is not None and (not isinstance(client_id, str) or not 1 <= len(client_id) <= MAX_CLIENT_ID):
        raise Invalid(f"client_id: a string of 1 to {MAX_CLIENT_ID} characters.", "invalid_client_id")
    return client_id


async def _answer_frame(socket: web.WebSocketResponse, client_id: str | None, work) -> None:
    """Run a frame's work; whatever goes wrong is answered on the socket, which stays open (an exception here
    used to end it with an HTTP error page written into the WebSocket stream)."""
    try:
        await work
    except HubError as exc:
        await _reply_error(socket, exc, client_id)
    except Exception:
        log.exception("a socket frame failed")
        internal = HubError("Something went wrong on our side. Please try again.", "internal")
        await _reply_error(socket, internal, client_id)


async def _reply(socket: web.WebSocketResponse, event: dict) -> None:
    """Answer on the socket unless the client has gone meanwhile (its messages are stored either way)."""
    try:
        await socket.send_json(event)
    except ConnectionResetError:  # aiohttp's ClientConnectionResetError is one
        log.debug("socket closed before the answer %s", event.get("type"))


async def _reply_error(socket: web.WebSocketResponse, exc: HubError, client_id: str | None) -> None:
    await _reply(socket, {"type": "error", "client_id": client_id, "error": {"code": exc.code, "message": exc.message}})


@routes.get("/api/v1/conversations/{conversation_id}/ws")
async def customer_socket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    _check_origin(request, agent_side=False)
    conversation_id = await conversations.authenticate(
        hub, request.match_info["conversation_id"], request.query.get("token") or bearer(request)
    )
    if hub.events.conversation_sockets(conversation_id) >= MAX_CUSTOMER_SOCKETS:
        raise RateLimited(
            f"This conversation is open in {MAX_CUSTOMER_SOCKETS} windows already. Close one and try again.", 30
        )
    socket = await _open(request)
    arriving = not hub.events.is_watched(conversation_id)  # their first open socket
    hub.events.join_conversation(conversation_id, socket)
    if arriving:
        await _customer_presence(hub, conversation_id, present=True)
    address = client_address(request)
    typing = TypingRelay()
    try:
        async for data in _frames(socket):
            frame = _customer_frame(hub, socket, conversation_id, address, typing, data)
            await _answer_frame(socket, _client_id(data), frame)
    finally:
        hub.events.leave_conversation(conversation_id, socket)
        hub.saw_customer(conversation_id)  # away counts from now
        if not hub.events.is_watched(conversation_id):
            _later_check_presence(hub, conversation_id)
    return socket


async def _customer_frame(hub: Hub, socket, conversation_id: str, address: str, typing, data: dict) -> None:
    kind = data.get("type")
    if kind == "typing":
        if typing.due(is_typing := bool(data.get("typing")), time.monotonic()):
            await _customer_typing(hub, conversation_id, is_typing)
    elif kind == "message":
        client_id = checked_client_id(data)
        await limit_messages(hub, conversation_id, address)
        text = data.get("text")
        result = await conversations.post(hub, conversation_id, text=text, client_id=client_id, with_state=False)
        await _reply(socket, {"type": "ack", "client_id": client_id, "message": result["customer_message"]})


class TypingRelay:
    """Which of a socket's typing frames reach the agent: every change, and a repeat of "typing" at most every
    TYPING_REPEAT_S (a client that sends one per keystroke costs a database read and an event each); and however
    they alternate, no more than a burst of TYPING_BURST and then TYPING_PER_S a second."""

    def __init__(self) -> None:
        self._state: bool | None = None
        self._at = float("-inf")
        self._tokens, self._filled_at = float(TYPING_BURST), float("-inf")

    def due(self, typing: bool, now: float) -> bool:
        if typing == self._state and now - self._at < TYPING_REPEAT_S:
            return False
        self._tokens = min(TYPING_BURST, self._tokens + (now - self._filled_at) * TYPING_PER_S)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        self._state, self._at = typing, now
        return True


async def _customer_presence(hub: Hub, conversation_id: str, present: bool) -> None:
    """The agent of the chat sees whether the customer is still there (or their replies will be e-mailed); while
    the ticket waits, every agent who covers it sees that in the queue."""
    await _to_chat_agent(hub, conversation_id, "customer_presence", queued_too=True, present=present)


def _later_check_presence(hub: Hub, conversation_id: str) -> None:
    """The last socket closed: a reload reconnects within seconds, so tell the agent only once the customer is away."""

    async def check() -> None:
        await asyncio.sleep(hub.settings.customer_away_after_s + 0.1)
        if not hub.customer_present(conversation_id):
            await _customer_presence(hub, conversation_id, present=False)

    _in_background(hub, check())


def _in_background(hub: Hub, work) -> None:
    """Run `work` (a coroutine) without waiting for it; the hub cancels it when it stops."""
    task = asyncio.create_task(work)
    hub.background.add(task)
    task.add_done_callback(hub.background.discard)


async def _customer_typing(hub: Hub, conversation_id: str, typing: bool) -> None:
    await _to_chat_agent(hub, conversation_id, "typing", typing=typing)


async def _to_chat_agent(hub: Hub, conversation_id: str, kind: str, queued_too: bool = False, **fields) -> None:
    """An event about the customer to the agent who has their chat, if anyone has it (`queued_too`: or, while the
    ticket waits, to the agents who cover it)."""
    async with hub.sessions() as session:
        ticket = await tickets.open_ticket_of(session, conversation_id)
    if ticket is None:
        return
    event = {"type": kind, "ticket_id": ticket.id, **fields}
    if ticket.agent_id is not None:
        await hub.events.to_agent(ticket.agent_id, event)
    elif queued_too and ticket.status == "queued":
        await tickets.to_covering_agents(hub, ticket, event)


@routes.get("/api/v1/agent/ws")
async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    _check_origin(request, agent_side=True)
    token = request.query.get("token") or request.cookies.get(COOKIE)
    agent, record = await agents.session_agent(hub, token)
    takes_chats(agent)
    socket = await _open(request)
    hub.events.join_agent(agent.id, socket, record.token_hash)
    watch = asyncio.create_task(_close_when_the_session_ends(hub, socket, token))
    pending = hub.grace_tasks.pop(agent.id, None)
    if pending is not None:
        pending.cancel()
    if agent.presence == "offline":  # connecting the console means being at work
        agent = await agents.set_presence(hub, agent, "online")
        await tickets.announce_presence(hub, agent.id)
    elif pending is not None:  # back within the grace period: waiting customers count them again
        await tickets.refresh_waiting(hub)
    pending: set[asyncio.Task] = set()
    try:
        async for data in _frames(socket):
            # each frame in its own task: one slow write never holds up the agent's other chats
            task = asyncio.create_task(_answer_frame(socket, _client_id(data), _agent_frame(hub, agent, socket, data)))
            pending.add(task)
            task.add_done_callback(pending.discard)
    finally:
        watch.cancel()
        if hub.events.leave_agent(agent.id, socket) == 0:
            schedule_requeue(hub, agent.id)
            _in_background(hub, tickets.refresh_waiting(hub))  # they count for nobody's wait until they are back
    return socket


async def _close_when_the_session_ends(hub: Hub, socket: web.WebSocketResponse, token: str) -> None:
    """A console stays open only as long as its session: expired, signed out elsewhere, or the agent locked out
    (also from the command line, another process) ends it within SESSION_CHECK_S."""
    while not socket.closed:
        await asyncio.sleep(SESSION_CHECK_S)
        try:
            await agents.session_agent(hub, token)
        except Unauthorized as exc:
            await socket.close(code=WSCloseCode.POLICY_VIOLATION, message=exc.message.encode()[:120])
        except Exception:  # the database briefly away: check again next time
            log.warning("could not check an agent socket's session", exc_info=True)


async def _agent_frame(hub: Hub, agent, socket: web.WebSocketResponse, data: dict) -> None:
    kind = data.get("type")
    if kind == "ping":
        await _reply(socket, {"type": "pong"})
    elif kind == "typing":
        ticket_id = data.get("ticket_id")
        async with hub.sessions() as session:
            ticket = await session.get(tickets.Ticket, ticket_id) if is_id(ticket_id) else None
        if ticket is not None and ticket.agent_id == agent.id:
            await hub.events.to_conversation(
                ticket.conversation_id, {"type": "typing", "sender": "agent", "typing": bool(data.get("typing"))}
            )
    elif kind == "message":
        client_id = checked_client_id(data)
        text = data.get("text")
        if not isinstance(text, str) or not is_id(data.get("ticket_id")):
            raise Invalid("A message needs ticket_id (number) and text (string).", "invalid_message")
        if len(text) > hub.settings.max_message_chars:
            raise TooLarge(f"At most {hub.settings.max_message_chars} characters per message.", "message_too_large")
        # a socket's messages to a chat stay in order (its frames run as tasks); they all come to this instance
        async with hub.lock(f"ticket:{data['ticket_id']}", across_instances=False):
            message = await tickets.agent_message(hub, agent, data["ticket_id"], text, client_id=client_id)
        await _reply(socket, {"type": "ack", "client_id": client_id, "message": message})


def schedule_requeue(hub: Hub, agent_id: int, delay: float | None = None) -> None:
    """After the grace period without a socket, the agent's chats go back to the queue."""

    async def later() -> None:
        try:
            await asyncio.sleep(hub.settings.agent_grace_s if delay is None else delay)
            while hub.cluster is not None and hub.cluster.cut_off():
                await asyncio.sleep(1.0)  # Redis away: whether they are connected elsewhere is unknown until it is back
            if agent_id not in hub.events.connected_agents():
                await tickets.requeue_all(hub, agent_id)
                await tickets.announce_presence(hub, agent_id)
        finally:
            if hub.grace_tasks.get(agent_id) is asyncio.current_task():
                del hub.grace_tasks[agent_id]

    previous = hub.grace_tasks.pop(agent_id, None)
    if previous is not None:
        previous.cancel()
    hub.grace_tasks[agent_id] = asyncio.create_task(later())
