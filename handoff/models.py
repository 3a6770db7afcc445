"""The hub's tables: conversations, their messages and state transitions, tickets, agents and their sessions."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint, true
from sqlalchemy.orm import Mapped, mapped_column

from bot.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class Conversation(Base):
    """One customer conversation; `state` says who answers: bot, queued (nobody yet), agent, closed."""

    __tablename__ = "hub_conversations"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(2))
    state: Mapped[str] = mapped_column(String(10), default="bot", index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("hub_agents.id"), default=None)
    email: Mapped[str | None] = mapped_column(String(254), default=None, index=True)
    customer_hash: Mapped[str | None] = mapped_column(String(64), default=None, index=True)  # same customer's chats
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    rating_comment: Mapped[str | None] = mapped_column(Text, default=None)
    rated_after: Mapped[str | None] = mapped_column(String(10), default=None)  # "bot" or "agent"
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)  # last change of owner


class Message(Base):
    """Every message of a conversation, stored before it is acknowledged or relayed."""

    __tablename__ = "hub_messages"
    __table_args__ = (UniqueConstraint("conversation_id", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("hub_conversations.id"), index=True)
    sender: Mapped[str] = mapped_column(String(10))  # customer, bot, agent, system
    text: Mapped[str] = mapped_column(Text, default="")
    buttons: Mapped[list[dict]] = mapped_column(JSON, default=list)
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("hub_agents.id"), default=None)
    client_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Transition(Base):
    """One change of a conversation's owner: who did it, when and why."""

    __tablename__ = "hub_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("hub_conversations.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    actor: Mapped[str] = mapped_column(String(100))  # "bot", "customer", "system", "agent:<username>"
    reason: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Ticket(Base):
    """A handoff to second level: the packet, the bot's context, and what the agents did with it."""

    __tablename__ = "hub_tickets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("hub_conversations.id"), index=True)
    status: Mapped[str] = mapped_column(
        String(10), index=True
    )  # queued assigned resolved escalated returned withdrawn abandoned
    reason: Mapped[str] = mapped_column(String(30))
    priority: Mapped[str] = mapped_column(String(10))
    priority_rank: Mapped[int] = mapped_column(Integer)  # 3 urgent .. 0 low: the queue sorts on it
    category: Mapped[str | None] = mapped_column(String(20), default=None)
    language: Mapped[str] = mapped_column(String(2))
    summary: Mapped[str] = mapped_column(String(300), default="")
    packet: Mapped[dict | None] = mapped_column(JSON, default=None)
    bot_context: Mapped[dict] = mapped_column(JSON, default=dict)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("hub_agents.id"), default=None, index=True)
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    first_agent_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    resolution_note: Mapped[str | None] = mapped_column(Text, default=None)
    kb_candidate: Mapped[bool] = mapped_column(Boolean, default=False)
    escalation_group: Mapped[str | None] = mapped_column(String(30), default=None)
    escalation_note: Mapped[str | None] = mapped_column(Text, default=None)


class Note(Base):
    """An agent's internal note on a ticket (never shown to the customer)."""

    __tablename__ = "hub_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("hub_tickets.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("hub_agents.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Agent(Base):
    """A second-level person (role agent) or an administrator (role admin, also manages agents)."""

    __tablename__ = "hub_agents"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(10), default="agent")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every category
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty: every language
    capacity: Mapped[int] = mapped_column(Integer, default=3)
    presence: Mapped[str] = mapped_column(String(10), default="offline")  # online, away, offline
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # False: locked out
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AgentSession(Base):
    """A signed-in browser or API client; the token itself is never stored, only its hash."""

    __tablename__ = "hub_agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("hub_agents.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Draft(Base):
    """Knowledge-base content drafted from a resolved ticket, for an editor to review.

    `kind` "article" proposes a new article, "step" a new step for the article the bot tried. `content`
    holds the proposal: `article` (the article file's fields) or `step` (en/de do/check), `examples`
    (NLU examples with intent and entities) and `story` (a Rasa test story); see handoff/drafts.py.
    """

    __tablename__ = "hub_drafts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("hub_tickets.id"), index=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("hub_conversations.id"))
    kind: Mapped[str] = mapped_column(String(10))  # article, step
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)  # pending approved rejected
    article_id: Mapped[str] = mapped_column(String(100))
    language: Mapped[str] = mapped_column(String(2))  # the language of the source conversation
    content: Mapped[dict] = mapped_column(JSON)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("hub_agents.id"), default=None)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("hub_agents.id"), default=None)
    reject_reason: Mapped[str | None] = mapped_column(Text, default=None)
    result: Mapped[dict | None] = mapped_column(JSON, default=None)  # files written, KB revision, retrain
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class OutgoingMail(Base):
    """An e-mail to a customer who left the chat: the replies after `after_message_id`, gathered until `send_after`.

    One pending e-mail per conversation at a time; `status` pending -> sent, skipped (the customer came back and
    read them in the chat) or failed (the mail server refused it `attempts` times; `last_error` says why)."""

    __tablename__ = "hub_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("hub_conversations.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    after_message_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    send_after: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    message_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # what the sent e-mail contained
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
