"""The customer side: conversations, their messages, and who answers them (bot, queue or a person)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handoff_packet import summarize
from bot.language import DEFAULT, SUPPORTED, detect_language
from bot.messages import text as catalogue_text
from handoff import inbox, outbox, serialize, tickets
from handoff.errors import BotUnavailable, Conflict, Invalid, NotFound, TooLarge, Unauthorized
from handoff.hub import Hub
from handoff.models import Agent, Conversation, Message, Transition
from handoff.rasa import BotMessage, bot_context, packet_errors
from handoff.schemas import EMAIL, MAX_EMAIL
from handoff.transcript import insert_messages, messages_after, new_message, system_message

log = logging.getLogger(__name__)
REQUEST_HUMAN = "/request_human"
_LEADING_SLASHES = re.compile(r"^[\s/]+")  # "/ /request_human" too: Rasa strips spaces before it looks
BOT_REASONS = {"customer_request", "repeated_fallback", "steps_exhausted", "no_article", "human_topic", "safety"}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create(hub: Hub, language: str | None, customer_key: str | None = None) -> tuple[Conversation, str]:
    """A new conversation owned by the bot; returns it and the customer's secret token (shown once).

    `customer_key`: the client's random key for its customer (kept as a hash), linking their conversations."""
    if language is not None and language not in SUPPORTED:
        raise Invalid(f"language must be one of {', '.join(SUPPORTED)}", "invalid_language")
    token = secrets.token_urlsafe(32)
    conversation = Conversation(
        id=uuid.uuid4().hex,
        token_hash=_hash(token),
        language=language or DEFAULT,
        state="bot",
        customer_hash=_hash(customer_key) if customer_key else None,
    )
    async with hub.sessions() as session, session.begin():
        session.add(conversation)
    hub.remember_token_hash(conversation.id, conversation.token_hash)
    return conversation, token


async def authenticate(hub: Hub, conversation_id: str, token: str | None) -> str:
    """The id of the conversation the token opens; a token opens only its own conversation.

    A conversation's token hash never changes, so the hub remembers the hashes it has read (no read per request).
    The signed key of an e-mail's link (handoff/outbox.py) opens the conversation too, until it expires."""
    if not token:
        raise Unauthorized("Send the conversation's token as 'Authorization: Bearer <token>'.", "token_missing")
    known = hub.token_hashes.get(conversation_id)
    if known is None:
        async with hub.sessions() as session:
            known = await session.scalar(select(Conversation.token_hash).where(Conversation.id == conversation_id))
        if known is None:
            raise NotFound("There is no such conversation.", "conversation_not_found")
    hub.remember_token_hash(conversation_id, known)
    if not (hmac.compare_digest(known, _hash(token)) or outbox.link_opens(hub, conversation_id, token)):
        raise Unauthorized("This token does not open this conversation.", "token_invalid")
    hub.saw_customer(conversation_id)
    return conversation_id


async def status(hub: Hub, conversation_id: str) -> dict:
    """State, place in the queue and the person answering, as the widget shows them."""
    async with hub.sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        queue = await tickets.queue_info(session, hub, conversation)
        agent = await session.get(Agent, conversation.agent_id) if conversation.agent_id else None
    return {
        "id": conversation.id,
        "language": conversation.language,
        "state": conversation.state,
        "queue": queue,
        "agent": {"display_name": agent.display_name} if agent else None,
        "rated": conversation.rating is not None,
        "email": conversation.email,
    }


async def history(hub: Hub, conversation_id: str, after: int | None) -> dict:
    async with hub.sessions() as session:
        messages = await messages_after(session, conversation_id, after)
    return {"messages": [serialize.message(m) for m in messages], **_brief(await status(hub, conversation_id))}


def _brief(state: dict) -> dict:
    """What every answer says of the conversation: its state, queue place and agent, and its language (the bot
    follows the customer's, and the widget switches with it at once, not only after a reload)."""
    return {key: state[key] for key in ("state", "queue", "agent", "language")}


# -- a customer message --------------------------------------------------------------------------------------
async def post(
    hub: Hub,
    conversation_id: str,
    *,
    text: str | None = None,
    payload: str | None = None,
    client_id: str | None = None,
    with_state: bool = True,
    meta: dict | None = None,
) -> dict:
    """Store the customer's message, then route it to whoever owns the conversation; returns the replies
    (and, `with_state`, the conversation's state, queue place and agent, as the HTTP answer carries them).
    `meta` is kept with the customer's message (e.g. that it came by e-mail, handoff/inbound.py)."""
    text = _checked_text(hub, text, payload)
    async with hub.lock(conversation_id):
        try:
            async with hub.sessions() as session, session.begin():
                conversation, ticket_id = await tickets.conversation_and_open_ticket(session, conversation_id)
                if conversation.state == "closed":
                    raise Conflict("This conversation has ended. Start a new one to ask something else.", "closed")
                stored = await _store_customer_message(session, hub, conversation, text, payload, client_id, meta)
            retried = False
        except IntegrityError:  # the same client_id again (a client's retry): it was stored and answered already
            if client_id is None:
                raise
            async with hub.sessions() as session:  # the rollback expired what the transaction had read
                conversation = await session.get(Conversation, conversation_id)
                stored = await tickets.retried_message(session, conversation_id, client_id, "customer")
            retried = True
        if retried:
            replies = []
        else:
            # while a person owns the conversation this relays the message to them, and the bot stays silent
            await tickets.publish_messages(hub, conversation, [stored], ticket_id)
            replies = await _route(hub, conversation, ticket_id, text, payload)
    result = {"customer_message": serialize.message(stored), "messages": [serialize.message(m) for m in replies]}
    if not with_state:
        return result
    if conversation.state == "bot":  # the common case needs no further read
        return {**result, "state": "bot", "queue": None, "agent": None, "language": conversation.language}
    return {**result, **_brief(await status(hub, conversation_id))}


async def _route(hub: Hub, conversation: Conversation, ticket_id: int | None, text: str, payload: str | None):
    """The replies to a stored customer message: the bot's while it owns the conversation; none while a person
    does (the message went to them); a waiting customer's "back to the assistant" takes the ticket from the queue."""
    if payload == tickets.BACK_TO_BOT:
        return await tickets.withdraw(hub, conversation.id, ticket_id) if conversation.state == "queued" else []
    if conversation.state == "bot":
        return await _ask_bot(hub, conversation, payload or as_typed(text), payload)
    return []


def as_typed(text: str) -> str:
    """Typed text as the bot must read it: words. Rasa takes a message that starts with "/" as an intent given
    directly (`/request_human`, `/rate{"rating": "5"}`), the way a button's payload reaches it; a customer who
    types "/help" or "/start" (as chat apps teach) means the words, and must not be able to set intents and
    entities. So the leading slashes go; the transcript keeps what the customer wrote."""
    return _LEADING_SLASHES.sub("", text) or text


async def _store_customer_message(
    session: AsyncSession,
    hub: Hub,
    conversation: Conversation,
    text: str,
    payload: str | None,
    client_id: str | None,
    meta: dict | None = None,
) -> Message:
    """The customer's message as shown (a button's title for its payload); clear text may switch the language."""
    shown = await _button_title(session, conversation.id, payload, conversation.language) if payload else text
    if text and _clearly(text) and (detected := detect_language(text)):
        conversation.language = detected
    meta = {**(meta or {}), **({"payload": payload} if payload else {})}
    message = new_message(conversation.id, "customer", shown, meta=meta, client_id=client_id)
    return (await insert_messages(session, [message]))[0]


def _checked_text(hub: Hub, text: str | None, payload: str | None) -> str:
    if (text is None) == (payload is None):
        raise Invalid('Send either "text" or "payload".', "text_or_payload")
    value = text if text is not None else payload
    if not isinstance(value, str):
        raise Invalid("The message must be a string.", "not_a_string")
    if len(value) > hub.settings.max_message_chars:
        raise TooLarge(
            f"The message has {len(value)} characters; at most {hub.settings.max_message_chars} are allowed.",
            "message_too_large",
        )
    if "\x00" in value:
        raise Invalid("The message contains a NUL character.", "invalid_characters")
    if text is not None and not text.strip():
        raise Invalid("The message is empty.", "empty_message")
    return text.strip() if text is not None else ""


def _clearly(text: str) -> bool:
    return len(text.split()) >= 3  # one or two words ("ok", "danke") do not switch the conversation's language


async def _button_title(session: AsyncSession, conversation_id: str, payload: str, language: str) -> str:
    """The title of the button with this payload among the recent messages; unknown payloads are refused.

    "Talk to a person" is always allowed: the widget and the hub's own notices offer it at any time; so is "Back
    to the assistant" (it acts only while the customer waits in the queue)."""
    recent = (
        await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id, Message.sender.in_(("bot", "system")))
            .order_by(Message.id.desc())
            .limit(20)
        )
    ).all()
    for message in recent:
        for button in message.buttons or []:
            if button.get("payload") == payload:
                return button.get("title") or payload
    if payload == REQUEST_HUMAN:
        return catalogue_text("button_person", language)
    if payload == tickets.BACK_TO_BOT:
        return catalogue_text("button_back_to_bot", language)
    raise Invalid("This button is not (or no longer) offered in this conversation.", "unknown_button")


async def _ask_bot(hub: Hub, conversation: Conversation, text: str, payload: str | None) -> list[Message]:
    """The bot answers; a handoff packet in its reply opens a ticket. If the bot is down, the customer is told."""
    try:
        reply = await hub.rasa.send(conversation.id, text, conversation.language)
    except BotUnavailable as exc:
        log.warning("bot unavailable for %s: %s", conversation.id, exc)
        if payload == REQUEST_HUMAN:
            return await _hub_handoff(hub, conversation)
        return await _bot_unavailable(hub, conversation)
    packet = next((m.packet for m in reply if m.packet is not None), None)
    if packet is not None:
        return await _bot_handoff(hub, conversation, reply, packet)
    async with hub.sessions() as session, session.begin():
        stored = await insert_messages(session, [_bot_message(conversation, m) for m in reply])
    await tickets.publish_messages(hub, conversation, stored)
    return stored


def _bot_message(conversation: Conversation, message: BotMessage, extra: dict | None = None) -> Message:
    meta = {**message.meta, **(extra or {})}
    return new_message(conversation.id, "bot", message.text, buttons=message.buttons, meta=meta)


async def _bot_unavailable(hub: Hub, conversation: Conversation) -> list[Message]:
    person = {"title": catalogue_text("button_person", conversation.language), "payload": REQUEST_HUMAN}
    async with hub.sessions() as session, session.begin():
        notice = system_message(session, conversation, "bot_unavailable", buttons=[person])
    await tickets.publish_messages(hub, conversation, [notice])
    return [notice]


async def _bot_handoff(hub: Hub, conversation: Conversation, reply: list[BotMessage], packet: dict) -> list[Message]:
    """The bot handed over: store its messages, open a ticket from the packet, tell the customer how long."""
    problems = packet_errors(packet)
    if packet.get("conversation_id") != conversation.id:
        problems.append("conversation_id does not match the conversation")
    if problems:
        log.error("invalid handoff packet for %s: %s", conversation.id, "; ".join(problems))
    reason = packet.get("reason") if packet.get("reason") in BOT_REASONS else "customer_request"
    priority = packet.get("priority") if packet.get("priority") in tickets.PRIORITY_RANK else "normal"
    device = packet.get("device") if isinstance(packet.get("device"), dict) else {}
    if packet.get("language") in SUPPORTED:
        conversation.language = packet["language"]
    async with hub.sessions() as session, session.begin():
        session.add(conversation)
        ticket = tickets.new_ticket(
            session,
            conversation,
            reason=reason,
            priority=priority,
            category=device.get("category"),
            summary=str(packet.get("summary") or ""),
            packet=packet,
            actor="bot",
        )
        await session.flush()
        handoff = {"reason": reason, "priority": priority, "ticket_id": ticket.id}
        bot_messages = [_bot_message(conversation, m, {"handoff": handoff} if m.packet else None) for m in reply]
        stored = await insert_messages(session, bot_messages)
        stored.append(await tickets.waiting_notice(session, hub, conversation, ticket))
        if problems:
            ticket.bot_context = {"problems": problems}
    await announce(hub, conversation, ticket, stored)
    await _attach_bot_context(hub, ticket, problems)
    return stored


async def _hub_handoff(hub: Hub, conversation: Conversation) -> list[Message]:
    """The bot is down and the customer wants a person: the hub opens the ticket itself."""
    async with hub.sessions() as session, session.begin():
        session.add(conversation)
        first = await session.scalar(
            select(Message.text)
            .where(
                Message.conversation_id == conversation.id, Message.sender == "customer", ~Message.text.startswith("/")
            )
            .order_by(Message.id)
            .limit(1)
        )
        ticket = tickets.new_ticket(
            session,
            conversation,
            reason="bot_unavailable",
            priority="normal",
            category=None,
            summary=summarize(first or "-"),
            packet=None,
            actor="system",
        )
        await session.flush()
        notice = await tickets.waiting_notice(session, hub, conversation, ticket)
        notice.meta = {
            **notice.meta,
            "handoff": {"reason": "bot_unavailable", "priority": "normal", "ticket_id": ticket.id},
        }
    await announce(hub, conversation, ticket, [notice])
    return [notice]


async def announce(hub: Hub, conversation: Conversation, ticket, stored: list[Message]) -> None:
    await tickets.publish_messages(hub, conversation, stored)
    await tickets.announce_ticket(hub, ticket)
    await tickets.publish_state(hub, conversation)


async def _attach_bot_context(hub: Hub, ticket, problems: list[str]) -> None:
    """Intent and confidence of every customer turn and the slots, from Rasa's tracker, onto the ticket."""
    try:
        context = bot_context(await hub.rasa.tracker(ticket.conversation_id))
    except BotUnavailable as exc:
        log.warning("no bot context for ticket %s: %s", ticket.id, exc)
        return
    article_id = (ticket.packet or {}).get("article_id")
    if article_id:
        article = await hub.in_thread(hub.knowledge_base.article, article_id, ticket.language)
        if article is not None:
            context["article_title"] = article.title
    if problems:
        context["problems"] = problems
    async with hub.sessions() as session, session.begin():
        await _show_pressed_buttons(session, ticket.conversation_id, context["turns"])
        stored = await session.get(type(ticket), ticket.id)
        stored.bot_context = context
        await inbox.add_from_context(session, ticket.conversation_id, ticket.language, context)


async def _show_pressed_buttons(session: AsyncSession, conversation_id: str, turns: list[dict]) -> None:
    """A turn that was a button press reached the bot as its payload ("/deny"): each such turn gets `shown`, the
    button's title as the customer saw it ("No, still the same"), from the hub's own transcript."""
    customer_said = (Message.conversation_id == conversation_id, Message.sender == "customer")
    pressed = await session.execute(select(Message.meta, Message.text).where(*customer_said))
    titles = {meta["payload"]: text for meta, text in pressed if (meta or {}).get("payload")}
    for turn in turns:
        if turn["text"] in titles:
            turn["shown"] = titles[turn["text"]]


# -- contact details and rating ------------------------------------------------------------------------------
async def save_email(hub: Hub, conversation_id: str, email: str) -> dict:
    address = email.strip()
    if len(email) > MAX_EMAIL or not EMAIL.fullmatch(address):
        raise Invalid("Please enter a valid e-mail address (name@example.com).", "invalid_email")
    async with hub.sessions() as session, session.begin():
        conversation = await session.get(Conversation, conversation_id)
        conversation.email = address
        notice = system_message(session, conversation, "email_saved", email=address)
    await tickets.publish_messages(hub, conversation, [notice], await _ticket_id(hub, conversation))
    return {"email": address}


async def _ticket_id(hub: Hub, conversation: Conversation) -> int | None:
    async with hub.sessions() as session:
        ticket = await tickets.open_ticket_of(session, conversation.id)
    return ticket.id if ticket else None


async def rate(hub: Hub, conversation_id: str, score: int, comment: str | None) -> dict:
    """The customer's rating; it counts for the agent if a person helped, otherwise for the bot."""
    if not isinstance(score, int) or isinstance(score, bool) or not 1 <= score <= 5:
        raise Invalid("score must be a whole number from 1 to 5.", "invalid_score")
    if comment is not None and len(comment) > hub.settings.max_message_chars:
        raise TooLarge(f"The comment is longer than {hub.settings.max_message_chars} characters.", "comment_too_large")
    async with hub.sessions() as session, session.begin():
        conversation = await session.get(Conversation, conversation_id)
        if conversation.rating is not None:
            raise Conflict("This conversation was already rated.", "already_rated")
        had_agent = await session.scalar(
            select(Transition.id)
            .where(Transition.conversation_id == conversation.id, Transition.to_state == "agent")
            .limit(1)
        )
        conversation.rating, conversation.rating_comment = score, (comment or "").strip() or None
        conversation.rated_after = "agent" if had_agent else "bot"
        notice = system_message(session, conversation, "rating_saved")
    await tickets.publish_messages(hub, conversation, [notice])
    return {"score": score}
