"""Writing to a conversation's log: messages and owner transitions (inside the caller's transaction)."""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import text as catalogue_text
from handoff.models import Conversation, Message, Transition, utcnow


def new_message(
    conversation_id: str,
    sender: str,
    text: str,
    *,
    buttons: list[dict] | None = None,
    meta: dict | None = None,
    agent_id: int | None = None,
    client_id: str | None = None,
) -> Message:
    """A message not yet written: `add_message` writes it with the session's other changes, `insert_messages`
    at once."""
    return Message(
        conversation_id=conversation_id,
        sender=sender,
        text=text,
        buttons=buttons or [],
        meta=meta or {},
        agent_id=agent_id,
        client_id=client_id,
        created_at=utcnow(),
    )


def add_message(session: AsyncSession, conversation_id: str, sender: str, text: str, **fields) -> Message:
    """A message written when the session flushes (with the ticket or state change it belongs to)."""
    message = new_message(conversation_id, sender, text, **fields)
    session.add(message)
    return message


_MESSAGES = Message.__table__
_INSERT_MESSAGE = insert(_MESSAGES).returning(_MESSAGES.c.id)  # built once: building it costs more than running it
_COLUMNS = tuple(column.name for column in _MESSAGES.columns if column.name != "id")


async def insert_messages(session: AsyncSession, messages: list[Message]) -> list[Message]:
    """Write messages from `new_message` now, one prepared INSERT each, and give them their ids.

    The path of every customer message and bot reply. It skips the session's unit of work, which costs more
    CPU than the inserts (hub CPU per message down by about a sixth, BENCHMARKS.md "Where the hub's time
    goes"). The messages stay outside the session: read them, do not change them."""
    for message in messages:
        values = {column: getattr(message, column) for column in _COLUMNS}
        message.id = (await session.execute(_INSERT_MESSAGE, values)).scalar_one()
    return messages


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
