"""Support metrics over a period: what the bot contained and solved, the handoffs, and second level's speed.

**Who is counted.** Every figure is about the conversations that *started* in the period [from, to) and in
which the customer wrote at least once ("conversations"); their tickets, guide runs and ratings count with
them, whenever those happened. A conversation's **language** is the hub's (the latest the customer wrote);
its **device category** is that of its first ticket, else that of its first guide run, else `unknown`.

**Definitions** (one conversation may have several tickets: handed over, returned to the bot, handed over
again; ticket-level figures count each ticket):
- **contained**: conversations that never got a ticket, / conversations. Contained is not solved: a customer
  who gave up or got an answer without a guide is contained too. So also:
- **solved by bot**: conversations with a guide run the customer confirmed as solved (`kb_guide_runs`
  outcome `solved`) *and* no ticket at all, / conversations. A customer who confirmed a step and then still
  asked for a person credits second level, not the bot.
- **handoffs**: conversations with at least one ticket (and their rate), tickets, and tickets by
  `hub_tickets.reason` (rate = tickets of that reason / conversations).
- **queue wait** (p50, p90 over tickets that were claimed): from `queued_at` to the ticket's *first* claim
  from the queue (the `queued -> agent` transition; the hub resets `claimed_at` when a ticket is requeued,
  so the transitions are the record). A requeued ticket (agent left or sent it back) counts once with its
  first wait; the waits after each requeue, until the next claim, are reported apart as **requeue wait**.
- **first agent reply** (p50, p90): from the moment the agent who wrote first got the chat (their claim or
  the transfer to them) to the first message whose sender is `agent`. Bot and system messages never count
  (the "agent joined" notice included). Claimed tickets without any agent message are counted apart.
- **resolution** (p50, p90): `queued_at` to `closed_at` of tickets an agent resolved (not escalated, not
  returned to the bot).
- **abandoned in the queue**: tickets never claimed that were closed anyway (above all: the customer went
  back to the assistant instead of waiting, status `withdrawn`; or an agent closed the ticket of a customer who
  had left without an e-mail address, status `abandoned`), or are still queued while the customer has
  not been seen for QUEUE_ABANDON_AFTER_MIN minutes (no customer message since then, no open customer WebSocket
  now, and no e-mail address left for an answer), / tickets. The hub itself never closes a waiting ticket;
  still-waiting tickets are shown apart.
- **ratings**: the hub's rating (`hub_conversations.rating`) split by `rated_after` (agent or bot), and the
  bot's own 1-5 rating after a solved guide (`kb_guide_runs.rating`, recorded by the action server; the
  hub's widget only asks after an agent resolved). `bot` = both kinds of ratings of the bot, each counted.
- **percentiles**: linear interpolation between the two nearest ranks (as numpy's default), in seconds.

The queries load the cohort once; the figures are pure functions over plain records (`summarize`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import article_health
from bot.devices import CATEGORIES
from bot.guide_runs import GuideRun
from bot.kb.models import ArticleText
from bot.language import SUPPORTED
from handoff.errors import Invalid
from handoff.models import Conversation, Message, Ticket, Transition
from handoff.serialize import aware

UNKNOWN = "unknown"
CLOSED = ("resolved", "escalated", "returned", "withdrawn", "abandoned")
MAX_DAYS = 366


# -- the period --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """[start, end) in UTC-aware datetimes; `timezone` names the zone of the days (daily figures, dates)."""

    start: datetime
    end: datetime
    timezone: str

    @property
    def previous(self) -> Period:
        """The period of the same length right before this one."""
        return Period(self.start - (self.end - self.start), self.start, self.timezone)

    def days(self) -> list[date]:
        zone = ZoneInfo(self.timezone)
        first, last = self.start.astimezone(zone).date(), (self.end - timedelta(microseconds=1)).astimezone(zone).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def parse_period(raw_from: str | None, raw_to: str | None, timezone: str, now: datetime, days: int = 7) -> Period:
    """`from`/`to` as dates (YYYY-MM-DD, whole days in `timezone`, both inclusive) or ISO-8601 datetimes
    (`to` exclusive; without an offset in `timezone`). Defaults: the last `days` days up to today."""
    zone = ZoneInfo(timezone)
    try:
        today = now.astimezone(zone).date()
        end = _moment(raw_to, zone, "to", end_of_day=True) if raw_to else _midnight(today, zone, 1)
        start = _moment(raw_from, zone, "from") if raw_from else end - timedelta(days=days)
        start.astimezone(UTC), end.astimezone(UTC)
    except OverflowError as exc:  # e.g. to=9999-12-31: the day after it is past what Python's dates hold
        raise Invalid("from and to: dates well within the years 1 to 9999.", "invalid_period") from exc
    if start >= end:
        raise Invalid("from must be before to.", "invalid_period")
    if end - start > timedelta(days=MAX_DAYS):
        raise Invalid(f"The period may span at most {MAX_DAYS} days.", "period_too_long")
    return Period(start.astimezone(UTC), end.astimezone(UTC), timezone)  # SQLite keeps UTC without an offset


def _moment(raw: str, zone: ZoneInfo, name: str, end_of_day: bool = False) -> datetime:
    try:
        if len(raw) == 10:
            return _midnight(date.fromisoformat(raw), zone, 1 if end_of_day else 0)
        moment = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise Invalid(f"{name}: a date (YYYY-MM-DD) or an ISO-8601 date and time.", "invalid_period") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _midnight(day: date, zone: ZoneInfo, plus_days: int) -> datetime:
    return datetime.combine(day + timedelta(days=plus_days), time(), zone)


# -- records: what the figures need, read once ----------------------------------------------------------------
@dataclass
class TicketFacts:
    id: int
    reason: str
    status: str
    category: str | None
    queued_at: datetime
    closed_at: datetime | None = None
    claims: list[datetime] = field(default_factory=list)  # from the queue to an agent
    assignments: list[datetime] = field(default_factory=list)  # claims and transfers: an agent got the chat
    requeues: list[datetime] = field(default_factory=list)  # from an agent back to the queue
    first_agent_message: datetime | None = None  # the first message with sender "agent" while it was open


@dataclass
class RunFacts:
    outcome: str
    category: str
    rating: int | None = None


@dataclass
class ConversationFacts:
    id: str
    language: str
    created_at: datetime
    has_email: bool = False
    rating: int | None = None
    rated_after: str | None = None
    last_customer_at: datetime | None = None
    tickets: list[TicketFacts] = field(default_factory=list)
    runs: list[RunFacts] = field(default_factory=list)

    @property
    def category(self) -> str:
        """The first ticket's device category, else the first guide run's, else "unknown"."""
        for ticket in self.tickets:
            if ticket.category:
                return ticket.category
        return next((r.category for r in self.runs if r.category), UNKNOWN)


async def load(session: AsyncSession, period: Period, language: str | None = None) -> list[ConversationFacts]:
    """The period's conversations (with a customer message) and everything the figures need of them."""
    wrote = exists().where(Message.conversation_id == Conversation.id, Message.sender == "customer")
    cohort = select(Conversation.id).where(
        Conversation.created_at >= period.start, Conversation.created_at < period.end, wrote
    )
    if language:
        cohort = cohort.where(Conversation.language == language)
    rows = await session.execute(
        select(
            Conversation.id,
            Conversation.language,
            Conversation.created_at,
            Conversation.email,
            Conversation.rating,
            Conversation.rated_after,
        ).where(Conversation.id.in_(cohort))
    )
    facts = {
        cid: ConversationFacts(cid, lang, aware(created), email is not None, rating, rated_after)
        for cid, lang, created, email, rating, rated_after in rows.all()
    }
    if not facts:
        return []
    last_seen = await session.execute(
        select(Message.conversation_id, func.max(Message.created_at))
        .where(Message.conversation_id.in_(cohort), Message.sender == "customer")
        .group_by(Message.conversation_id)
    )
    for cid, moment in last_seen.all():
        facts[cid].last_customer_at = aware(moment)
    tickets = await session.execute(
        select(
            Ticket.conversation_id,
            Ticket.id,
            Ticket.reason,
            Ticket.status,
            Ticket.category,
            Ticket.queued_at,
            Ticket.closed_at,
            Ticket.claimed_at,
        )
        .where(Ticket.conversation_id.in_(cohort))
        .order_by(Ticket.queued_at, Ticket.id)
    )
    claimed_at: dict[int, datetime] = {}
    for cid, tid, reason, status, category, queued, closed, claimed in tickets.all():
        facts[cid].tickets.append(TicketFacts(tid, reason, status, category, aware(queued), _aware(closed)))
        if claimed is not None:
            claimed_at[tid] = aware(claimed)
    transitions = await session.execute(
        select(Transition.conversation_id, Transition.from_state, Transition.to_state, Transition.created_at)
        .where(
            Transition.conversation_id.in_(cohort),
            or_(Transition.to_state == "agent", Transition.from_state == "agent"),
        )
        .order_by(Transition.created_at, Transition.id)
    )
    agent_messages = await session.execute(
        select(Message.conversation_id, Message.created_at)
        .where(Message.conversation_id.in_(cohort), Message.sender == "agent")
        .order_by(Message.created_at, Message.id)
    )
    _attach(facts, transitions.all(), agent_messages.all(), claimed_at)
    runs = await session.execute(
        select(GuideRun.conversation_id, GuideRun.outcome, GuideRun.category, GuideRun.rating)
        .where(GuideRun.conversation_id.in_(cohort))
        .order_by(GuideRun.started_at, GuideRun.id)
    )
    for cid, outcome, category, rating in runs.all():
        facts[cid].runs.append(RunFacts(outcome, category, rating))
    return list(facts.values())


def _aware(moment: datetime | None) -> datetime | None:
    return aware(moment) if moment is not None else None


def _attach(facts: dict[str, ConversationFacts], transitions, agent_messages, claimed_at: dict[int, datetime]) -> None:
    """Give each ticket the owner changes and agent messages of its time: from its queued_at until the
    conversation's next ticket was queued (a conversation has at most one open ticket at a time)."""
    moves: dict[str, list[tuple[str, str, datetime]]] = defaultdict(list)
    for cid, from_state, to_state, moment in transitions:
        moves[cid].append((from_state, to_state, aware(moment)))
    written: dict[str, list[datetime]] = defaultdict(list)
    for cid, moment in agent_messages:
        written[cid].append(aware(moment))
    for conversation in facts.values():
        tickets = conversation.tickets
        for index, ticket in enumerate(tickets):
            until = tickets[index + 1].queued_at if index + 1 < len(tickets) else None
            for from_state, to_state, moment in moves.get(conversation.id, ()):
                if moment < ticket.queued_at or (until is not None and moment >= until):
                    continue
                if to_state == "agent":
                    ticket.assignments.append(moment)
                    if from_state == "queued":
                        ticket.claims.append(moment)
                elif from_state == "agent" and to_state == "queued":
                    ticket.requeues.append(moment)
            if not ticket.claims and ticket.id in claimed_at:  # rows without transitions (imported data)
                ticket.claims.append(claimed_at[ticket.id])
                ticket.assignments.append(claimed_at[ticket.id])
            if ticket.assignments:
                ends = [m for m in (ticket.closed_at, until) if m is not None]
                end = min(ends) if ends else None
                ticket.first_agent_message = next(
                    (
                        m
                        for m in written.get(conversation.id, ())
                        if m >= min(ticket.assignments) and (end is None or m <= end)
                    ),
                    None,
                )


# -- the figures: pure functions ----------------------------------------------------------------------------------
def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation between the nearest ranks; None without values."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def durations(seconds: list[float]) -> dict:
    """{"count", "p50", "p90"} of durations in seconds (rounded to 0.1 s)."""
    return {"count": len(seconds), "p50": _round(percentile(seconds, 0.5)), "p90": _round(percentile(seconds, 0.9))}


def share(count: int, total: int) -> dict:
    return {"count": count, "rate": round(count / total, 4) if total else None}


def mean_of(values: list[int]) -> dict:
    return {"count": len(values), "mean": round(sum(values) / len(values), 2) if values else None}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _seconds(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def first_reply_seconds(ticket: TicketFacts) -> float | None:
    """From the latest assignment at or before the first agent message to that message."""
    message = ticket.first_agent_message
    if message is None:
        return None
    return _seconds(max(a for a in ticket.assignments if a <= message), message)


def requeue_waits(ticket: TicketFacts) -> list[float]:
    """After each requeue, the time until the next claim (requeues never claimed again are left out)."""
    waits = []
    for requeue in ticket.requeues:
        following = [c for c in ticket.claims if c >= requeue]
        if following:
            waits.append(_seconds(requeue, min(following)))
    return waits


def abandoned_in_queue(
    ticket: TicketFacts, conversation: ConversationFacts, now: datetime, live: set[str], patience: timedelta
) -> bool:
    """Never claimed, and closed anyway or waiting for a customer who is gone (see the module docstring)."""
    if ticket.claims:
        return False
    if ticket.status in CLOSED:
        return True
    if ticket.status != "queued" or conversation.id in live or conversation.has_email:
        return False
    seen = max(m for m in (conversation.last_customer_at, ticket.queued_at) if m is not None)
    return now - seen > patience


def summarize(conversations: list[ConversationFacts], now: datetime, live: set[str], queue_patience: timedelta) -> dict:
    """Every figure of the module docstring over `conversations`."""
    total = len(conversations)
    tickets = [(t, c) for c in conversations for t in c.tickets]
    handed = [c for c in conversations if c.tickets]
    solved_by_bot = [c for c in conversations if not c.tickets and any(r.outcome == "solved" for r in c.runs)]
    reasons = Counter(t.reason for t, _ in tickets)
    abandoned = {t.id for t, c in tickets if abandoned_in_queue(t, c, now, live, queue_patience)}
    waiting = [t for t, _ in tickets if t.status == "queued" and not t.claims and t.id not in abandoned]
    claimed = [t for t, _ in tickets if t.claims]
    replies = [s for s in (first_reply_seconds(t) for t in claimed) if s is not None]
    requeued = [t for t in claimed if t.requeues]
    in_guide = [r.rating for c in conversations for r in c.runs if r.rating is not None]
    widget_bot = [c.rating for c in conversations if c.rating is not None and c.rated_after == "bot"]
    widget_agent = [c.rating for c in conversations if c.rating is not None and c.rated_after == "agent"]
    return {
        "conversations": total,
        "contained": share(total - len(handed), total),
        "solved_by_bot": share(len(solved_by_bot), total),
        "handoffs": {
            **share(len(handed), total),
            "tickets": len(tickets),
            "by_reason": {
                reason: {"tickets": count, "rate": round(count / total, 4) if total else None}
                for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], item[0]))
            },
        },
        "queue_wait_s": durations([_seconds(t.queued_at, min(t.claims)) for t in claimed]),
        "requeues": {"tickets": len(requeued), "wait_s": durations([w for t in requeued for w in requeue_waits(t)])},
        "first_agent_reply_s": {**durations(replies), "claimed_without_reply": len(claimed) - len(replies)},
        "resolution_s": durations(
            [_seconds(t.queued_at, t.closed_at) for t, _ in tickets if t.status == "resolved" and t.closed_at]
        ),
        "abandoned_in_queue": {**share(len(abandoned), len(tickets)), "tickets": len(tickets), "waiting": len(waiting)},
        "rating": {
            "bot": mean_of(in_guide + widget_bot),
            "agent": mean_of(widget_agent),
            "bot_in_guide": mean_of(in_guide),
            "bot_in_widget": mean_of(widget_bot),
        },
    }


def daily(conversations: list[ConversationFacts], period: Period) -> list[dict]:
    """Per day (in the period's time zone): conversations started, of them handed off and contained."""
    zone = ZoneInfo(period.timezone)
    started: Counter = Counter()
    handed: Counter = Counter()
    for conversation in conversations:
        day = conversation.created_at.astimezone(zone).date()
        started[day] += 1
        handed[day] += bool(conversation.tickets)
    return [
        {
            "date": day.isoformat(),
            "conversations": started[day],
            "handed_off": handed[day],
            "contained": started[day] - handed[day],
        }
        for day in period.days()
    ]


def report(
    conversations: list[ConversationFacts],
    period: Period,
    now: datetime,
    live: set[str],
    queue_patience: timedelta,
    category: str | None = None,
) -> dict:
    """The metrics document: overall, split by language and device category, and per day."""
    if category:
        conversations = [c for c in conversations if c.category == category]

    def figures(subset: list[ConversationFacts]) -> dict:
        return summarize(subset, now, live, queue_patience)

    languages = sorted({*SUPPORTED, *(c.language for c in conversations)})
    return {
        "overall": figures(conversations),
        "by_language": {lang: figures([c for c in conversations if c.language == lang]) for lang in languages},
        "by_category": {
            name: figures([c for c in conversations if c.category == name]) for name in (*CATEGORIES, UNKNOWN)
        },
        "daily": daily(conversations, period),
    }


async def support_metrics(
    sessions: async_sessionmaker,
    period: Period,
    *,
    now: datetime,
    live: set[str] | frozenset = frozenset(),
    queue_patience: timedelta = timedelta(minutes=30),
    language: str | None = None,
    category: str | None = None,
) -> dict:
    """The metrics of the conversations started in `period` (optionally one language and device category).
    `live`: conversations with a customer socket open now (their customers are present)."""
    async with sessions() as session:
        conversations = await load(session, period, language)
    return {
        "period": _period_json(period),
        "filters": {"language": language, "category": category},
        "generated_at": now.isoformat(),
        "settings": {"queue_abandon_after_min": queue_patience.total_seconds() / 60},
        **report(conversations, period, now, set(live), queue_patience, category),
    }


async def article_health_report(
    sessions: async_sessionmaker,
    period: Period,
    *,
    now: datetime,
    abandon_after: timedelta = timedelta(minutes=30),
    language: str | None = None,
    category: str | None = None,
) -> dict:
    """Per-article health of the guides started in `period` against the period before (bot/article_health.py)."""

    def query(p: Period):
        statement = article_health.runs_query(p.start, p.end)
        if language:
            statement = statement.where(GuideRun.language == language)
        if category:
            statement = statement.where(GuideRun.category == category)
        return statement

    async with sessions() as session:
        current = [article_health.RunFacts(*row) for row in (await session.execute(query(period))).all()]
        previous = [article_health.RunFacts(*row) for row in (await session.execute(query(period.previous))).all()]
        articles = article_health.report(current, previous, now, abandon_after)
        titles = await _titles(session, [a["article_id"] for a in articles])
    for article in articles:
        article["title"] = titles.get(article["article_id"], article["article_id"])
    return {
        "period": _period_json(period),
        "previous_period": _period_json(period.previous),
        "filters": {"language": language, "category": category},
        "generated_at": now.isoformat(),
        "rules": {
            "abandon_after_min": abandon_after.total_seconds() / 60,
            "solve_rate_drop": {
                "min_runs": article_health.MIN_RUNS_FOR_DROP,
                "drop_points": article_health.DROP_POINTS,
            },
            "high_handoff": {
                "min_runs": article_health.MIN_RUNS_FOR_HANDOFF,
                "share": article_health.HANDOFF_SHARE,
            },
        },
        "articles": articles,
    }


async def _titles(session: AsyncSession, article_ids: list[str]) -> dict[str, str]:
    """English titles (else any language's) of the articles that still exist."""
    if not article_ids:
        return {}
    rows = await session.execute(
        select(ArticleText.article_id, ArticleText.language, ArticleText.title).where(
            ArticleText.article_id.in_(article_ids)
        )
    )
    titles: dict[str, str] = {}
    for article_id, language, title in rows.all():
        if language == "en" or article_id not in titles:
            titles[article_id] = title
    return titles


def _period_json(period: Period) -> dict:
    return {"from": period.start.isoformat(), "to": period.end.isoformat(), "timezone": period.timezone}
