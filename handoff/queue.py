"""The second-level queue: who may take a ticket, its place in line and an honest wait estimate."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handoff.models import Agent, Ticket
from handoff.serialize import aware

PRIORITY_RANK = {"low": 0, "normal": 1, "high": 2, "urgent": 3}


TAKES_CHATS = ("agent", "admin")


def covers(agent: Agent, ticket: Ticket) -> bool:
    """Routing: the agent's skills (device categories, languages; empty = all) include the ticket's. Editors
    review content and take no chats."""
    if agent.role not in TAKES_CHATS:
        return False
    category_ok = not agent.categories or ticket.category is None or ticket.category in agent.categories
    language_ok = not agent.languages or ticket.language in agent.languages
    return category_ok and language_ok


def queue_order(ticket: Ticket) -> tuple:
    """Priority first, then waiting time (earliest first), then arrival."""
    return (-ticket.priority_rank, aware(ticket.queued_at), ticket.id)


SOON_S = 30  # the estimate when a slot is free now, or a chat has run past the usual handling time
ROUND_TO_S = 10  # estimates are rounded up to this: customers read minutes, and live updates stay calm


@dataclass
class Snapshot:
    """The queue and second level's availability at one moment (one read, many positions)."""

    queued: list[Ticket]
    agents: list[Agent]  # online agents
    open_chats: dict[int, list[float]]  # agent id -> seconds each of their open chats has run so far
    handle_time_s: float
    is_open: bool
    opens_at: datetime | None = None  # while closed: when second level opens next

    def info(self, ticket: Ticket) -> dict:
        """{"position", "estimated_wait_s", "agents_online", "open", "opens_at"} for a queued ticket.

        Position counts the tickets ahead that the same agents would take first. The estimate: each chat slot of
        the online agents who cover the ticket is free now, or frees when its chat has run the usual handling
        time (`handle_time_s`, counting what it has run already); the customers ahead take the slots in the
        order they free, each for one handling time. So the estimate shrinks as the chats in progress go on.
        None when nobody who could take the ticket is online or second level is closed.
        """
        pool = [a for a in self.agents if covers(a, ticket)]
        ahead = [t for t in self.queued if queue_order(t) < queue_order(ticket) and _same_pool(t, ticket, pool)]
        position = len(ahead) + 1
        estimate = None
        slots = sorted(free_in for agent in pool for free_in in self._slots(agent))
        if slots and self.is_open:
            rounds, slot = divmod(position - 1, len(slots))
            estimate = slots[slot] + rounds * self.handle_time_s
            estimate = max(SOON_S, int(math.ceil(estimate / ROUND_TO_S) * ROUND_TO_S))
        return {
            "position": position,
            "estimated_wait_s": estimate,
            "agents_online": len(pool),
            "open": self.is_open,
            "opens_at": self.opens_at.isoformat() if self.opens_at and not self.is_open else None,
        }

    def _slots(self, agent: Agent) -> list[float]:
        """Seconds until each of the agent's chat slots is free: 0 for a free one, the rest of the usual handling
        time for a chat in progress (soon, once it has run longer than that)."""
        running = self.open_chats.get(agent.id, [])
        busy = [max(SOON_S, self.handle_time_s - ran) for ran in running]
        return busy + [0.0] * max(0, agent.capacity - len(running))


def _same_pool(other: Ticket, ticket: Ticket, pool: list[Agent]) -> bool:
    """Would the agents who can take `ticket` also be busy with `other`? (Nobody online: same device and language.)"""
    if not pool:
        return (other.category, other.language) == (ticket.category, ticket.language)
    return any(covers(a, other) for a in pool)


async def snapshot(
    session: AsyncSession,
    is_open: bool,
    default_handle_time_s: float,
    now: datetime,
    opens_at: datetime | None = None,
    reconnecting: frozenset[int] = frozenset(),
) -> Snapshot:
    """`reconnecting`: online agents whose console closed and who have not come back yet (their grace period
    runs). They count for nobody's wait: a customer is not told "under a minute" while nobody is there."""
    queued = list((await session.scalars(select(Ticket).where(Ticket.status == "queued"))).all())
    online = select(Agent).where(Agent.presence == "online", Agent.role.in_(TAKES_CHATS))
    agents = [a for a in (await session.scalars(online)).all() if a.id not in reconnecting]
    return Snapshot(
        queued=sorted(queued, key=queue_order),
        agents=agents,
        open_chats=await open_chat_ages(session, now),
        handle_time_s=await handle_time(session, default_handle_time_s),
        is_open=is_open,
        opens_at=opens_at,
    )


async def open_chats(session: AsyncSession) -> dict[int, int]:
    """Agent id -> how many chats the agent has open now."""
    rows = await session.execute(
        select(Ticket.agent_id, func.count()).where(Ticket.status == "assigned").group_by(Ticket.agent_id)
    )
    return dict(rows.all())


async def open_chat_ages(session: AsyncSession, now: datetime) -> dict[int, list[float]]:
    """Agent id -> seconds each of the agent's open chats has run since it was claimed."""
    rows = await session.execute(select(Ticket.agent_id, Ticket.claimed_at).where(Ticket.status == "assigned"))
    ages: dict[int, list[float]] = {}
    for agent_id, claimed_at in rows.all():
        ran = (now - aware(claimed_at)).total_seconds() if claimed_at is not None else 0.0
        ages.setdefault(agent_id, []).append(max(0.0, ran))
    return ages


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
