"""Handoff tickets: opening one, the agents' queue, claiming, and everything an agent does with a chat."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from bot.messages import text as catalogue_text
from handoff import drafts, outbox, serialize
from handoff.errors import BotUnavailable, Conflict, Forbidden, Invalid, NotFound, TooLarge
from handoff.hub import Hub
from handoff.models import Agent, Conversation, Message, Note, Ticket, Transition
from handoff.queue import PRIORITY_RANK, covers, snapshot
from handoff.transcript import insert_messages, move, new_message, system_message

log = logging.getLogger(__name__)
ESCALATION_GROUPS = ("repair", "engineering", "warranty")
BACK_TO_BOT = "/back_to_bot"  # the button that lets a waiting customer leave the queue for the assistant
SUMMARY_ONLY = (defer(Ticket.packet), defer(Ticket.bot_context))  # lists need neither


# -- opening a ticket (inside the caller's transaction) -----------------------------------------------------
def new_ticket(
    session: AsyncSession,
    conversation: Conversation,
    *,
    reason: str,
    priority: str,
    category: str | None,
    summary: str,
    packet: dict | None,
    actor: str,
) -> Ticket:
    """Queue the conversation for second level."""
    ticket = Ticket(
        conversation_id=conversation.id,
        status="queued",
        reason=reason,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        category=category,
        language=conversation.language,
        summary=summary[:300],
        packet=packet,
        bot_context={},
        kb_candidate=False,
    )
    session.add(ticket)
    move(session, conversation, "queued", actor, f"handoff: {reason}")
    return ticket


async def waiting_notice(session: AsyncSession, hub: Hub, conversation: Conversation, ticket: Ticket) -> Message:
    """Tell the customer honestly what happens now: queued, nobody online, or outside opening hours; they may go
    back to the assistant instead of waiting."""
    situation = await waiting_situation(session, hub, ticket)
    values = {"back": hub.when_back(conversation.language)} if situation == "closed_hours" else {}
    buttons = [back_to_bot_button(conversation.language)]
    return system_message(session, conversation, situation, buttons=buttons, **values)


def back_to_bot_button(language: str) -> dict:
    return {"title": catalogue_text("button_back_to_bot", language), "payload": BACK_TO_BOT}


async def waiting_situation(session: AsyncSession, hub: Hub, ticket: Ticket) -> str:
    """What a newly queued ticket waits for: "queued" (someone who covers it is online), "no_agent" (nobody
    is), or "closed_hours" (second level is outside its opening hours)."""
    await session.flush()
    info = (await queue_snapshot(session, hub)).info(ticket)
    if not info["open"]:
        return "closed_hours"
    if info["agents_online"] == 0:
        return "no_agent"
    return "queued"


async def queue_snapshot(session: AsyncSession, hub: Hub):
    return await snapshot(
        session,
        hub.is_open(),
        hub.settings.default_handle_time_s,
        hub.now(),
        hub.next_opening(),
        reconnecting=hub.reconnecting_agents(),
    )


OPEN = ("queued", "assigned")  # a ticket still with second level


def _latest_open(query, conversation_id):
    """`query` narrowed to the conversation's newest ticket that is still with second level."""
    open_ones = query.where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN))
    return open_ones.order_by(Ticket.id.desc()).limit(1)


async def open_ticket_of(session: AsyncSession, conversation_id: str) -> Ticket | None:
    """The conversation's ticket that is still with second level (queued or assigned)."""
    return await session.scalar(_latest_open(select(Ticket), conversation_id))


# built once: every customer message reads it, and building and caching a statement costs more than running it
_CONVERSATION_AND_OPEN_TICKET = select(
    Conversation, _latest_open(select(Ticket.id), Conversation.id).scalar_subquery()
).where(Conversation.id == bindparam("conversation_id"))


async def conversation_and_open_ticket(session: AsyncSession, conversation_id: str) -> tuple[Conversation, int | None]:
    """The conversation and the id of its open ticket if any, in one read."""
    row = (await session.execute(_CONVERSATION_AND_OPEN_TICKET, {"conversation_id": conversation_id})).one()
    return row[0], row[1]


async def queue_info(session: AsyncSession, hub: Hub, conversation: Conversation) -> dict | None:
    if conversation.state != "queued":
        return None
    ticket = await open_ticket_of(session, conversation.id)
    if ticket is None:
        return None
    return (await queue_snapshot(session, hub)).info(ticket)


# -- live updates ------------------------------------------------------------------------------------------
async def announce_ticket(hub: Hub, ticket: Ticket) -> None:
    """A ticket entered the queue: every connected agent who covers it sees it at once."""
    async with hub.sessions() as session:
        email = await session.scalar(select(Conversation.email).where(Conversation.id == ticket.conversation_id))
    event = {"type": "ticket_queued", "ticket": queued_summary(hub, ticket, email), "sent_at": _epoch()}
    await to_covering_agents(hub, ticket, event)
    await refresh_waiting(hub)


def queued_summary(hub: Hub, ticket: Ticket, email: str | None) -> dict:
    """A waiting ticket as the queue shows it: with whether its customer still has the chat open."""
    return {**serialize.ticket(ticket, email=email), "customer_present": hub.customer_present(ticket.conversation_id)}


async def to_covering_agents(hub: Hub, ticket: Ticket, event: dict) -> None:
    """An event about a waiting ticket to every connected agent whose skills cover it."""
    async with hub.sessions() as session:
        agents = (await session.scalars(select(Agent).where(Agent.id.in_(hub.events.connected_agents())))).all()
    await hub.events.to_agents([a.id for a in agents if covers(a, ticket)], event)


async def refresh_waiting(hub: Hub, here_only: bool = False) -> None:
    """Send every waiting customer who is connected their current place in line and wait estimate (`here_only`:
    only those connected to this hub instance)."""
    watched = hub.events.watched_here() if here_only else hub.events.watched_conversations()
    if not watched:
        return
    async with hub.sessions() as session:
        snap = await queue_snapshot(session, hub)
        waiting = [t for t in snap.queued if t.conversation_id in watched]
        languages = await _by_conversation(session, Conversation.language, [t.conversation_id for t in waiting])
    for ticket in waiting:
        language = languages[ticket.conversation_id]
        event = {"type": "state", "state": "queued", "queue": snap.info(ticket), "agent": None, "language": language}
        await hub.events.to_conversation(ticket.conversation_id, event)


async def announce_presence(hub: Hub, agent_id: int) -> None:
    """An agent's presence changed: every console shows it, and waiting customers get their estimate anew."""
    async with hub.sessions() as session:
        agent = await session.get(Agent, agent_id)
        chats = await open_chat_count(session, agent_id) if agent is not None else 0
    if agent is not None:
        event = {"type": "presence", "agent": serialize.agent(agent, chats)}
        await hub.events.to_agents(hub.events.connected_agents(), event)
    await refresh_waiting(hub)


async def publish_messages(hub: Hub, conversation: Conversation, messages: list[Message], ticket_id=None) -> list[dict]:
    """New messages to the customer's sockets and, while a person owns the chat, to that person; returns them
    as sent."""
    sent = []
    for message in messages:
        data = serialize.message(message)
        sent.append(data)
        await hub.events.to_conversation(conversation.id, {"type": "message", "message": data})
        if conversation.agent_id is not None and ticket_id is not None:
            await hub.events.to_agent(
                conversation.agent_id,
                {"type": "message", "ticket_id": ticket_id, "conversation_id": conversation.id, "message": data},
            )
    return sent


async def publish_state(hub: Hub, conversation: Conversation, agent: Agent | None = None) -> None:
    async with hub.sessions() as session:
        queue = await queue_info(session, hub, conversation)
    await hub.events.to_conversation(
        conversation.id,
        {
            "type": "state",
            "state": conversation.state,
            "queue": queue,
            "agent": {"display_name": agent.display_name} if agent else None,
            "language": conversation.language,
        },
    )


def _epoch() -> float:
    return datetime.now(UTC).timestamp()


# -- what an agent sees -------------------------------------------------------------------------------------
async def open_chat_count(session: AsyncSession, agent_id: int) -> int:
    return await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.agent_id == agent_id, Ticket.status == "assigned")
    )


async def list_queue(hub: Hub, agent: Agent, limit: int = 100) -> list[dict]:
    """The first `limit` queued tickets the agent covers (admins: all), priority first, then waiting time."""
    query = select(Ticket).options(*SUMMARY_ONLY).where(Ticket.status == "queued")
    if agent.role != "admin":
        if agent.categories:
            query = query.where(or_(Ticket.category.in_(agent.categories), Ticket.category.is_(None)))
        if agent.languages:
            query = query.where(Ticket.language.in_(agent.languages))
    query = query.order_by(Ticket.priority_rank.desc(), Ticket.queued_at, Ticket.id).limit(limit)
    async with hub.sessions() as session:
        tickets = (await session.scalars(query)).all()
        emails = await _emails(session, [t.conversation_id for t in tickets])
    return [queued_summary(hub, t, emails.get(t.conversation_id)) for t in tickets]


async def list_chats(hub: Hub, agent: Agent) -> list[dict]:
    async with hub.sessions() as session:
        tickets = (
            await session.scalars(
                select(Ticket)
                .options(*SUMMARY_ONLY)
                .where(Ticket.agent_id == agent.id, Ticket.status == "assigned")
                .order_by(Ticket.id)
            )
        ).all()
        emails = await _emails(session, [t.conversation_id for t in tickets])
    return [chat_summary(hub, t, agent, emails.get(t.conversation_id)) for t in tickets]


CLOSED_BY_AN_AGENT = ("resolved", "escalated", "returned")
RECENTLY_CLOSED = 20


async def recently_closed(hub: Hub, agent: Agent) -> list[dict]:
    """The chats this agent closed (resolved, escalated, returned to the bot), newest first: to look something up
    after the chat left the inbox (what was promised, the note) without searching for it."""
    async with hub.sessions() as session:
        tickets = (
            await session.scalars(
                select(Ticket)
                .options(*SUMMARY_ONLY)
                .where(Ticket.agent_id == agent.id, Ticket.status.in_(CLOSED_BY_AN_AGENT))
                .order_by(Ticket.closed_at.desc(), Ticket.id.desc())
                .limit(RECENTLY_CLOSED)
            )
        ).all()
        emails = await _emails(session, [t.conversation_id for t in tickets])
    return [serialize.ticket(t, agent, emails.get(t.conversation_id)) for t in tickets]


def chat_summary(hub: Hub, ticket: Ticket, agent: Agent, email: str | None) -> dict:
    """An open chat as its agent's list shows it: the TicketSummary, and whether the customer is still there."""
    return {**serialize.ticket(ticket, agent, email), "customer_present": hub.customer_present(ticket.conversation_id)}


async def _emails(session: AsyncSession, conversation_ids: list[str]) -> dict[str, str | None]:
    return await _by_conversation(session, Conversation.email, conversation_ids)


async def _by_conversation(session: AsyncSession, column, conversation_ids: list[str]) -> dict:
    """One column of these conversations, by id (one read)."""
    if not conversation_ids:
        return {}
    rows = await session.execute(select(Conversation.id, column).where(Conversation.id.in_(conversation_ids)))
    return dict(rows.all())


async def ticket_detail(hub: Hub, agent: Agent, ticket_id: int) -> dict:
    """Everything about a ticket: transcript, the bot's context, notes, and the history of owners."""
    async with hub.sessions() as session:
        ticket = await _visible_ticket(session, agent, ticket_id)
        conversation = await session.get(Conversation, ticket.conversation_id)
        assigned = await session.get(Agent, ticket.agent_id) if ticket.agent_id else None
        messages = (
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
            )
        ).all()
        notes = (await session.scalars(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id))).all()
        authors = {a.id: a for a in (await session.scalars(select(Agent))).all()}
        history = (
            await session.scalars(
                select(Transition).where(Transition.conversation_id == conversation.id).order_by(Transition.id)
            )
        ).all()
        emailed = await outbox.emailed_message_ids(session, conversation.id)
        earlier = await _earlier_tickets(session, conversation)
    packet = ticket.packet or {}
    context = ticket.bot_context or {}
    article_id = packet.get("article_id")
    return {
        "ticket": serialize.ticket(ticket, assigned, conversation.email),
        "transcript": [serialize.message(m) for m in messages],
        "context": {
            "packet": ticket.packet,
            "device": packet.get("device") or {"category": ticket.category, "brand": None, "model": None},
            "article": {"id": article_id, "title": context.get("article_title") or article_id} if article_id else None,
            "steps_tried": packet.get("steps_tried") or [],
            "step_shown": packet.get("step_shown"),
            "turns": context.get("turns", []),
            "slots": context.get("slots", {}),
            "reason": ticket.reason,
            "priority": ticket.priority,
            "language": ticket.language,
            "problems": context.get("problems", []),
        },
        "notes": [serialize.note(n, authors.get(n.agent_id)) for n in notes],
        "history": [serialize.transition(t) for t in history],
        "customer": {"present": hub.customer_present(conversation.id), "email": conversation.email},
        "emailed_message_ids": emailed,
        "earlier": earlier,
    }


async def _earlier_tickets(session: AsyncSession, conversation: Conversation, limit: int = 10) -> list[dict]:
    """The same customer's tickets from other conversations (same widget key or same e-mail), newest first, each
    with what matched: "browser" (the widget's key) and/or "email". Anyone can type any address, so a match by
    e-mail alone may be someone else's history: the console says so."""
    same = []
    if conversation.customer_hash:
        same.append(Conversation.customer_hash == conversation.customer_hash)
    if conversation.email:
        same.append(Conversation.email == conversation.email)
    if not same:
        return []
    rows = (
        await session.execute(
            select(Ticket, Agent.display_name, Conversation.customer_hash, Conversation.email)
            .join(Conversation, Conversation.id == Ticket.conversation_id)
            .outerjoin(Agent, Agent.id == Ticket.agent_id)
            .where(or_(*same), Conversation.id != conversation.id)
            .order_by(Ticket.id.desc())
            .limit(limit)
            .options(*SUMMARY_ONLY)
        )
    ).all()
    return [
        {
            "id": t.id,
            "status": t.status,
            "summary": t.summary,
            "category": t.category,
            "queued_at": serialize.iso(t.queued_at),
            "closed_at": serialize.iso(t.closed_at),
            "agent": name,
            "resolution_note": t.resolution_note,
            "escalation_group": t.escalation_group,
            "matched_by": [
                how
                for how, ours, theirs in (
                    ("browser", conversation.customer_hash, customer_hash),
                    ("email", conversation.email, email),
                )
                if ours and ours == theirs
            ],
        }
        for t, name, customer_hash, email in rows
    ]


async def _get_ticket(session: AsyncSession, ticket_id: int) -> Ticket:
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"There is no ticket {ticket_id}.")
    return ticket


async def _visible_ticket(session: AsyncSession, agent: Agent, ticket_id: int) -> Ticket:
    """A ticket the agent may read and annotate: one they cover (device and language), have, or any for admins."""
    ticket = await _get_ticket(session, ticket_id)
    if not (covers(agent, ticket) or agent.role == "admin" or ticket.agent_id == agent.id):
        raise Forbidden("This ticket is outside your skills.")
    return ticket


async def _check_capacity(session: AsyncSession, agent: Agent, refusal: str) -> None:
    """Refuses (409 capacity_reached) when `agent` already has as many open chats as they may. Their row is locked
    first (PostgreSQL), so two claims or transfers at once cannot both pass the count."""
    await session.execute(select(Agent.id).where(Agent.id == agent.id).with_for_update())
    if await open_chat_count(session, agent.id) >= agent.capacity:
        chats = "1 chat" if agent.capacity == 1 else f"{agent.capacity} chats"
        raise Conflict(
            refusal.format(name=agent.display_name, capacity=agent.capacity, chats=chats), "capacity_reached"
        )


# -- claiming ------------------------------------------------------------------------------------------------
async def claim(hub: Hub, agent: Agent, ticket_id: int) -> dict:
    """Take a queued ticket. Atomic: of several agents claiming at once exactly one wins, the others get 409."""
    async with hub.sessions() as session, session.begin():
        ticket = await _get_ticket(session, ticket_id)
        if not (covers(agent, ticket) or agent.role == "admin"):
            raise Forbidden("This ticket is outside your skills.")
        await _check_capacity(session, agent, "You already have {chats} open (your limit). Close one first.")
        now = hub.now()
        result = await session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.status == "queued")
            .values(status="assigned", agent_id=agent.id, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise Conflict("Another agent already took this ticket.", "already_claimed")
        await session.refresh(ticket)
        conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
        move(session, conversation, "agent", f"agent:{agent.username}", "claimed from the queue")
        conversation.agent_id = agent.id
        joined = system_message(session, conversation, "agent_joined", name=agent.display_name)
    await _after_assignment(hub, agent, ticket, conversation, [joined])
    return serialize.ticket(ticket, agent, conversation.email)


async def _after_assignment(hub, agent, ticket, conversation, messages) -> None:
    summary = chat_summary(hub, ticket, agent, conversation.email)
    await hub.events.to_agents(hub.events.connected_agents(), {"type": "ticket_taken", "ticket_id": ticket.id})
    await hub.events.to_agent(agent.id, {"type": "chat_assigned", "ticket": summary})
    await publish_messages(hub, conversation, messages, ticket.id)
    await publish_state(hub, conversation, agent)
    await refresh_waiting(hub)


# -- working a chat -----------------------------------------------------------------------------------------
# built once: every agent message reads it (as _CONVERSATION_AND_OPEN_TICKET, every customer message)
_TICKET_AND_CONVERSATION = (
    select(Ticket, Conversation)
    .join(Conversation, Conversation.id == Ticket.conversation_id)
    .where(Ticket.id == bindparam("ticket_id"))
)


async def _owned(session: AsyncSession, agent: Agent, ticket_id: int) -> tuple[Ticket, Conversation]:
    """The agent's open chat: its ticket and conversation (one read)."""
    row = (await session.execute(_TICKET_AND_CONVERSATION, {"ticket_id": ticket_id})).first()
    if row is None:
        raise NotFound(f"There is no ticket {ticket_id}.")
    ticket, conversation = row
    if ticket.status != "assigned" or ticket.agent_id != agent.id:
        raise Conflict("This chat is not assigned to you (any more).", "not_your_chat")
    return ticket, conversation


async def agent_message(
    hub: Hub,
    agent: Agent,
    ticket_id: int,
    text: str,
    *,
    meta: dict | None = None,
    client_id: str | None = None,
) -> dict:
    """The agent writes to the customer (stored first, then relayed)."""
    text = text.strip()
    if not text:
        raise Invalid("The message is empty.", "empty_message")
    try:
        async with hub.sessions() as session, session.begin():
            ticket, conversation = await _owned(session, agent, ticket_id)
            written = new_message(
                conversation.id,
                "agent",
                text,
                meta={**(meta or {}), "agent": {"display_name": agent.display_name}},
                agent_id=agent.id,
                client_id=client_id,
            )
            [message] = await insert_messages(session, [written])  # a retry's client_id fails here, not at commit
            if ticket.first_agent_reply_at is None:
                ticket.first_agent_reply_at = hub.now()
            await outbox.queue_reply(session, hub, conversation, message)
    except IntegrityError:  # the same client_id again (a retry): it was stored and relayed the first time
        if client_id is None:
            raise
        async with hub.sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            return serialize.message(
                await retried_message(session, ticket.conversation_id, client_id, "agent", agent.id)
            )
    [sent] = await publish_messages(hub, conversation, [message], ticket.id)
    return sent


async def stored_message(session: AsyncSession, conversation_id: str, client_id: str) -> Message | None:
    """The message a client already sent with this client_id (unique per conversation)."""
    query = select(Message).where(Message.conversation_id == conversation_id, Message.client_id == client_id)
    return await session.scalar(query)


async def retried_message(
    session: AsyncSession, conversation_id: str, client_id: str, sender: str, agent_id: int | None = None
) -> Message:
    """The message this sender already sent with this client_id: a retry, answered with what was stored. The
    key is unique per conversation, so it may also be the other side's: then this message was not stored, and
    the sender is told rather than handed the other side's message as its own."""
    stored = await stored_message(session, conversation_id, client_id)
    if stored is None or stored.sender != sender or stored.agent_id != agent_id:
        raise Conflict(
            "This client_id was already used for another message in this conversation; use a new one.",
            "client_id_taken",
        )
    return stored


async def step_message(hub: Hub, agent: Agent, ticket_id: int, article_id: str, step: int) -> dict:
    """Send one step of a knowledge-base article, in the conversation's language, numbered as the bot numbers it:
    among the steps that apply to the customer's brand (the handoff packet's), if the step is one of them."""
    async with hub.sessions() as session:
        ticket, conversation = await _owned(session, agent, ticket_id)
    article = await hub.in_thread(hub.knowledge_base.article, article_id, conversation.language)
    if article is None:
        raise NotFound(f"There is no article {article_id}.")
    chosen = next((s for s in article.steps if s.position == step), None)
    if chosen is None:
        raise Invalid(f"Article {article_id} has no step {step}.", "unknown_step")
    number, total = article.numbering(step, ((ticket.packet or {}).get("device") or {}).get("brand"))
    text = catalogue_text(
        "step", conversation.language, number=number, total=total, instruction=chosen.instruction, check=chosen.check
    )
    return await agent_message(hub, agent, ticket_id, text, meta={"kb_article": article_id, "step": step})


async def add_note(hub: Hub, agent: Agent, ticket_id: int, text: str) -> dict:
    text = text.strip()
    if not text:
        raise Invalid("The note is empty.", "empty_note")
    async with hub.sessions() as session, session.begin():
        await _visible_ticket(session, agent, ticket_id)
        note = Note(ticket_id=ticket_id, agent_id=agent.id, text=text)
        session.add(note)
    return serialize.note(note, agent)


async def resolve(hub: Hub, agent: Agent, ticket_id: int, note: str, kb_candidate: bool) -> dict:
    """Solved: the note is kept (and marked for the knowledge base if asked); the customer is asked to rate."""
    if not note.strip():
        raise Invalid("Write a resolution note: what solved the problem.", "note_required")
    async with hub.sessions() as session, session.begin():
        ticket, conversation = await _owned(session, agent, ticket_id)
        ticket.status, ticket.closed_at = "resolved", hub.now()
        ticket.resolution_note, ticket.kb_candidate = note.strip(), bool(kb_candidate)
        if ticket.kb_candidate:
            await drafts.draft_from_ticket(session, hub, ticket, agent)
        move(session, conversation, "closed", f"agent:{agent.username}", "resolved")
        messages = [
            system_message(session, conversation, "resolved", name=agent.display_name),
            system_message(session, conversation, "rating_request"),
        ]
        await outbox.queue_reply(session, hub, conversation, messages[0])
    return await _after_close(hub, agent, ticket, conversation, messages)


async def escalate(hub: Hub, agent: Agent, ticket_id: int, group: str, note: str) -> dict:
    """Hand the case to third level; the customer is told who takes it and how they will hear back."""
    if group not in ESCALATION_GROUPS:
        raise Invalid(f"Unknown group {group!r}; choose one of {', '.join(ESCALATION_GROUPS)}.", "unknown_group")
    if not note.strip():
        raise Invalid("Write a note for third level: what they need to know.", "note_required")
    async with hub.sessions() as session, session.begin():
        ticket, conversation = await _owned(session, agent, ticket_id)
        ticket.status, ticket.closed_at = "escalated", hub.now()
        ticket.escalation_group, ticket.escalation_note = group, note.strip()
        move(session, conversation, "closed", f"agent:{agent.username}", f"escalated to {group}")
        group_name = catalogue_text(f"hub_group_{group}", conversation.language)
        messages = [system_message(session, conversation, "escalated", name=agent.display_name, group=group_name)]
        await outbox.queue_reply(session, hub, conversation, messages[0])
    return await _after_close(hub, agent, ticket, conversation, messages)


async def return_to_bot(hub: Hub, agent: Agent, ticket_id: int, note: str | None = None) -> dict:
    """The bot takes over again and continues with the conversation's context (slots kept)."""
    async with hub.sessions() as session, session.begin():
        ticket, conversation = await _owned(session, agent, ticket_id)
        ticket.status, ticket.closed_at = "returned", hub.now()
        if note and note.strip():
            session.add(Note(ticket_id=ticket.id, agent_id=agent.id, text=note.strip()))
        move(session, conversation, "bot", f"agent:{agent.username}", "returned to the bot")
        conversation.agent_id = None
        messages = [system_message(session, conversation, "returned_to_bot")]
    result = await _after_close(hub, agent, ticket, conversation, messages)
    await _bot_takes_back(hub, conversation)
    return result


async def _bot_takes_back(hub: Hub, conversation: Conversation) -> None:
    """The bot listens again and, if its guide has steps left, offers to go on with them (stored and published
    after the hub's notice, as the customer reads them)."""
    async with hub.lock(conversation.id):  # a customer message sent meanwhile reaches the bot after its offer
        try:
            reply = await hub.rasa.take_back(conversation.id)
        except BotUnavailable as exc:  # the next customer message finds the bot, or is told it is unavailable
            log.warning("the bot could not take %s back: %s", conversation.id, exc)
            return
        if not reply:
            return
        async with hub.sessions() as session, session.begin():
            stored = await insert_messages(
                session, [new_message(conversation.id, "bot", m.text, buttons=m.buttons, meta=m.meta) for m in reply]
            )
        await publish_messages(hub, conversation, stored)


async def _bot_listens_again(hub: Hub, conversation_id: str) -> None:
    try:
        await hub.rasa.set_slots(conversation_id, {"handed_off": False})
    except Exception as exc:  # the bot still answers; only the informational slot stays stale
        log.warning("could not reset handed_off for %s: %s", conversation_id, exc)


async def withdraw(hub: Hub, conversation_id: str, ticket_id: int) -> list[Message]:
    """The waiting customer goes back to the assistant: the ticket leaves the queue. Atomic against a claim: if an
    agent took the ticket that moment, nothing changes (the customer's message went to them) and [] is returned."""
    async with hub.sessions() as session, session.begin():
        taken = await session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.status == "queued")
            .values(status="withdrawn", closed_at=hub.now())
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            return []
        conversation = await session.get(Conversation, conversation_id, with_for_update=True)
        move(session, conversation, "bot", "customer", "left the queue for the assistant")
        messages = [system_message(session, conversation, "back_to_bot")]
    await hub.events.to_agents(hub.events.connected_agents(), {"type": "ticket_taken", "ticket_id": ticket_id})
    await publish_messages(hub, conversation, messages)
    await publish_state(hub, conversation)
    await refresh_waiting(hub)
    await _bot_listens_again(hub, conversation_id)
    return messages


async def close_left(hub: Hub, agent: Agent, ticket_id: int) -> dict:
    """Close a waiting ticket whose customer left the chat without an e-mail address, without claiming it: nobody
    can answer it, and it held a place ahead of customers who wait. The customer, if they come back, is with the
    assistant and reads why. Atomic against a claim; refused while the customer is in the chat again or once they
    left an address (then a person claims it and answers by e-mail)."""
    async with hub.sessions() as session, session.begin():
        ticket = await _get_ticket(session, ticket_id)
        if not (covers(agent, ticket) or agent.role == "admin"):
            raise Forbidden("This ticket is outside your skills.")
        not_queued = Conflict("This ticket is no longer waiting in the queue.", "not_queued")
        if ticket.status != "queued":
            raise not_queued
        if (await session.get(Conversation, ticket.conversation_id)).email:
            raise Conflict("The customer left an e-mail address: claim the chat to answer by e-mail.", "has_email")
        if hub.customer_present(ticket.conversation_id):
            raise Conflict("The customer is back in the chat: claim it to help them.", "customer_present")
        taken = await session.execute(  # the ticket's row first, then the conversation's, as a claim locks them
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.status == "queued")
            .values(status="abandoned", closed_at=hub.now())
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            raise not_queued
        await session.refresh(ticket)
        conversation = await session.get(Conversation, ticket.conversation_id, with_for_update=True)
        move(
            session, conversation, "bot", f"agent:{agent.username}", "closed: the customer had left without an address"
        )
        messages = [system_message(session, conversation, "closed_customer_left")]
    await hub.events.to_agents(hub.events.connected_agents(), {"type": "ticket_taken", "ticket_id": ticket_id})
    await publish_messages(hub, conversation, messages)
    await publish_state(hub, conversation)
    await refresh_waiting(hub)
    await _bot_listens_again(hub, conversation.id)
    return serialize.ticket(ticket, None, None)


async def _after_close(hub, agent, ticket, conversation, messages) -> dict:
    await hub.events.to_agent(agent.id, {"type": "chat_closed", "ticket_id": ticket.id, "status": ticket.status})
    await publish_messages(hub, conversation, messages)
    await publish_state(hub, conversation)
    await refresh_waiting(hub)
    return serialize.ticket(ticket, agent, conversation.email)


async def transfer(hub: Hub, agent: Agent, ticket_id: int, to_agent_id: int | None, note: str | None = None) -> dict:
    """To another agent (who covers the ticket and is online), or back to the queue (priority and queue time kept);
    `note`, for whoever takes it next, is kept as an internal note."""
    note = (note or "").strip()
    if len(note) > hub.settings.max_message_chars:
        raise TooLarge(f"The note is longer than {hub.settings.max_message_chars} characters.", "note_too_large")
    handover = [Note(ticket_id=ticket_id, agent_id=agent.id, text=note)] if note else []
    if to_agent_id is None:
        async with hub.sessions() as session, session.begin():
            ticket, conversation = await _owned(session, agent, ticket_id)
            session.add_all(handover)
            messages = _requeue(session, ticket, conversation, agent, "requeued", f"agent:{agent.username}")
        await hub.events.to_agent(agent.id, {"type": "chat_closed", "ticket_id": ticket.id, "status": "queued"})
        await publish_messages(hub, conversation, messages)
        await publish_state(hub, conversation)
        await announce_ticket(hub, ticket)
        return serialize.ticket(ticket, None, conversation.email)
    async with hub.sessions() as session, session.begin():
        ticket, conversation = await _owned(session, agent, ticket_id)
        target = await session.get(Agent, to_agent_id)
        if target is None:
            raise NotFound(f"There is no agent {to_agent_id}.")
        if target.id == agent.id:
            raise Invalid("This chat is already yours.", "same_agent")
        if target.presence != "online":
            raise Conflict(f"{target.display_name} is not online.", "agent_not_online")
        if not (covers(target, ticket) or target.role == "admin"):
            raise Conflict(f"{target.display_name} does not cover this ticket's device or language.", "not_covered")
        await _check_capacity(session, target, "{name} has reached their limit of open chats ({capacity}).")
        ticket.agent_id = target.id
        conversation.agent_id = target.id
        session.add_all(handover)
        move(session, conversation, "agent", f"agent:{agent.username}", f"transferred to {target.username}")
        handed = {"name": target.display_name, "previous": agent.display_name}
        messages = [system_message(session, conversation, "transferred", **handed)]
    await hub.events.to_agent(agent.id, {"type": "chat_closed", "ticket_id": ticket.id, "status": "transferred"})
    summary = chat_summary(hub, ticket, target, conversation.email)
    await hub.events.to_agent(target.id, {"type": "chat_assigned", "ticket": summary})
    await publish_messages(hub, conversation, messages, ticket.id)
    await publish_state(hub, conversation, target)
    return serialize.ticket(ticket, target, conversation.email)


def _requeue(session, ticket: Ticket, conversation: Conversation, agent: Agent, kind: str, actor: str) -> list:
    ticket.status, ticket.agent_id, ticket.claimed_at = "queued", None, None
    conversation.agent_id = None
    move(session, conversation, "queued", actor, "agent disconnected" if kind == "agent_left" else "back to the queue")
    button = back_to_bot_button(conversation.language)
    return [system_message(session, conversation, kind, buttons=[button], name=agent.display_name)]


async def requeue_all(hub: Hub, agent_id: int, kind: str = "agent_left") -> int:
    """The agent is gone (disconnected past the grace period; `kind` "agent_unavailable": signed out, locked out or
    no longer taking chats): their chats go back to the queue, and the agent is offline."""
    async with hub.sessions() as session, session.begin():
        agent = await session.get(Agent, agent_id)
        if agent is None:
            return 0
        agent.presence = "offline"
        tickets = (
            await session.scalars(  # locked: with several hub instances, two may end the same grace period
                select(Ticket).where(Ticket.agent_id == agent_id, Ticket.status == "assigned").with_for_update()
            )
        ).all()
        moved = []
        for ticket in tickets:
            conversation = await session.get(Conversation, ticket.conversation_id)
            moved.append((ticket, conversation, _requeue(session, ticket, conversation, agent, kind, "system")))
    for ticket, conversation, messages in moved:
        await publish_messages(hub, conversation, messages)
        await publish_state(hub, conversation)
        await announce_ticket(hub, ticket)
    if moved:
        log.info("agent %s disconnected: %d chats back in the queue", agent.username, len(moved))
    return len(moved)
