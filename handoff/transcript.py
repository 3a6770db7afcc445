"""Writing to a conversation's log: messages and owner transitions (inside the caller's transaction)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import text as catalogue_text
from handoff.models import Conversation, Message, Transition, utcnow


def add_message(
    session: AsyncSession,
    conversation_id: str,
    sender: str,
    text: str,
    *,
    buttons: list[dict] | None = None,
    meta: dict | None = None,
    agent_id: int | None = None,
    client_id: str | None = None,
) -> Message:
    message = Message(
        conversation_id=conversation_id,
        sender=sender,
        text=text,
        buttons=buttons or [],
        meta=meta or {},
        agent_id=agent_id,
        client_id=client_id,
    )
    session.add(message)
    return message


def system_message(
    session: AsyncSession, conversation: Conversation, kind: str, buttons: list[dict] | None = None, **values
) -> Message:
    """A notice to the customer in the conversation's language (texts in data/messages.yml, key hub_<kind>)."""
    return add_message(
        session,
        conversation.id,
        "system",
        catalogue_text(f"hub_{kind}", conversation.language, **values),
        buttons=buttons,
        meta={"kind": kind},
    )


def move(session: AsyncSession, conversation: Conversation, to_state: str, actor: str, reason: str) -> None:
    """Change who owns the conversation and record who did it and why."""
    session.add(
        Transition(
            conversation_id=conversation.id,
            from_state=conversation.state,
            to_state=to_state,
            actor=actor,
            reason=reason[:200],
        )
    )
    conversation.state = to_state
    conversation.updated_at = utcnow()


async def messages_after(session: AsyncSession, conversation_id: str, after: int | None) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id)
    if after is not None:
        query = query.where(Message.id > after)
    return list((await session.scalars(query.order_by(Message.id))).all())
