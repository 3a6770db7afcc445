"""JSON shapes of the API (see docs/hub-api.md): messages, tickets, agents."""

from __future__ import annotations

from datetime import UTC, datetime

from handoff.models import Agent, Message, Note, Ticket, Transition


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:  # SQLite hands back naive datetimes; they are stored as UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def message(m: Message) -> dict:
    return {
        "id": m.id,
        "sender": m.sender,
        "text": m.text,
        "buttons": m.buttons or [],
        "created_at": iso(m.created_at),
        "meta": m.meta or {},
    }


def agent(a: Agent, open_chats: int | None = None) -> dict:
    data = {
        "id": a.id,
        "username": a.username,
        "display_name": a.display_name,
        "role": a.role,
        "categories": a.categories or [],
        "languages": a.languages or [],
        "capacity": a.capacity,
        "presence": a.presence,
        "active": a.active is not False,
    }
    if open_chats is not None:
        data["open_chats"] = open_chats
    return data


def ticket(t: Ticket, assigned: Agent | None = None, email: str | None = None, now: datetime | None = None) -> dict:
    now = now or datetime.now(UTC)
    end = t.claimed_at if t.status != "queued" and t.claimed_at else now
    return {
        "id": t.id,
        "conversation_id": t.conversation_id,
        "status": t.status,
        "priority": t.priority,
        "reason": t.reason,
        "category": t.category,
        "language": t.language,
        "summary": t.summary,
        "queued_at": iso(t.queued_at),
        "wait_s": max(0, int((aware(end) - aware(t.queued_at)).total_seconds())),
        "agent": {"id": assigned.id, "display_name": assigned.display_name} if assigned else None,
        "email": email,
        "closed_at": iso(t.closed_at) if t.closed_at else None,
    }


def note(n: Note, author: Agent | None) -> dict:
    return {
        "id": n.id,
        "agent": author.display_name if author else None,
        "text": n.text,
        "created_at": iso(n.created_at),
    }


def transition(t: Transition) -> dict:
    return {
        "from_state": t.from_state,
        "to_state": t.to_state,
        "actor": t.actor,
        "reason": t.reason,
        "at": iso(t.created_at),
    }
