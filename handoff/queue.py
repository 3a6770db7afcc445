"""The second-level queue: who may take a ticket, its place in line and an honest wait estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Agent, Ticket
from handoff.serialize import aware

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


def covers(agent: Agent, ticket: Ticket) -> bool:
    """Routing: the agent's skills (device categories, languages; empty = all) include the ticket's."""
    category_ok = not agent.categories or ticket.category is None or ticket.category in agent.categories
    language_ok = not agent.languages or ticket.language in agent.languages
    return category_ok and language_ok


def queue_order(ticket: Ticket) -> tuple:
    """Priority first, then waiting time (earliest first), then arrival."""
    return (-ticket.priority_rank, aware(ticket.queued_at), ticket.id)


@dataclass
class Snapshot:
    """The queue and second level's availability at one moment (one read, many positions)."""

    queued: list[Ticket]
    agents: list[Agent]  # online agents
    open_chats: dict[int, int]
    handle_time_s: float
    is_open: bool

    def info(self, ticket: Ticket) -> dict:
        """{"position", "estimated_wait_s", "agents_online", "open"} for a queued ticket.

        Position counts the tickets ahead that the same agents would take first. The estimate assumes the
        online agents who cover the ticket free a slot every `handle_time_s / capacity` seconds each; it is
        None when nobody who could take the ticket is online or second level is closed.
        """
        pool = [a for a in self.agents if covers(a, ticket)]
        ahead = [t for t in self.queued if queue_order(t) < queue_order(ticket) and _same_pool(t, ticket, pool)]
        position = len(ahead) + 1
        estimate = None
        if pool and self.is_open:
            free = sum(max(0, a.capacity - self.open_chats.get(a.id, 0)) for a in pool)
            if free >= position:
                estimate = 30
            else:
                capacity = max(1, sum(a.capacity for a in pool))
                estimate = int(math.ceil((position - free) / capacity) * self.handle_time_s)
        return {"position": position, "estimated_wait_s": estimate, "agents_online": len(pool), "open": self.is_open}


def _same_pool(other: Ticket, ticket: Ticket, pool: list[Agent]) -> bool:
    """Would the agents who can take `ticket` also be busy with `other`? (Nobody online: same device and language.)"""
    if not pool:
        return (other.category, other.language) == (ticket.category, ticket.language)
    return any(covers(a, other) for a in pool)


async def snapshot(session: AsyncSession, is_open: bool, default_handle_time_s: float) -> Snapshot:
    queued = list((await session.scalars(select(Ticket).where(Ticket.status == "queued"))).all())
    agents = list((await session.scalars(select(Agent).where(Agent.presence == "online"))).all())
    return Snapshot(
        queued=sorted(queued, key=queue_order),
        agents=agents,
        open_chats=await open_chats(session),
        handle_time_s=await handle_time(session, default_handle_time_s),
        is_open=is_open,
    )


async def open_chats(session: AsyncSession) -> dict[int, int]:
    """Agent id -> how many chats the agent has open now."""
    rows = await session.execute(
        select(Ticket.agent_id, func.count()).where(Ticket.status == "assigned").group_by(Ticket.agent_id)
    )
    return dict(rows.all())


async def handle_time(session: AsyncSession, default: float, recent: int = 50) -> float:
    """Average seconds an agent spent per chat over the last `recent` closed chats (default until 5 exist)."""
    rows = (
        await session.execute(
            select(Ticket.claimed_at, Ticket.closed_at)
            .where(Ticket.claimed_at.is_not(None), Ticket.closed_at.is_not(None))
            .order_by(Ticket.closed_at.desc())
            .limit(recent)
        )
    ).all()
    if len(rows) < 5:
        return default
    return sum((aware(end) - aware(start)).total_seconds() for start, end in rows) / len(rows)
