"""The hub's shared resources, handed to every service function (built once per app in `create_app`)."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from itsdangerous import Signer, URLSafeTimedSerializer
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.errors import StorageError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlalchemy.orm import sessionmaker

from bot.kb.service import KnowledgeBase
from bot.retrain import Retrainer
from bot.settings import Settings
from handoff.availability import OpeningHours, when_back
from handoff.cluster import UNAVAILABLE, Cluster, ClusterUnavailable
from handoff.errors import RateLimited
from handoff.events import Events
from handoff.rasa import RasaClient


@dataclass
class Hub:
    """Settings, database sessions, live events, the bot client, opening hours and rate limits."""

    settings: Settings
    sessions: async_sessionmaker
    events: Events
    rasa: RasaClient
    hours: OpeningHours
    knowledge_base: KnowledgeBase
    kb_sessions: sessionmaker | None = None  # synchronous sessions for imports of approved articles (in threads)
    cluster: Cluster | None = None  # the other hub instances (HUB_REDIS_URL); None: this is the only one
    retrainer: Retrainer | None = None  # background retrains after editors change training data
    # sliding window counter: two counters per key. limits' moving window keeps every hit and, in memory, sweeps
    # all keys with a thread hop each after every hit: relaying 10 chats at once took 6.9 instead of 4.5 CPU s
    limiter: SlidingWindowCounterRateLimiter = field(
        default_factory=lambda: SlidingWindowCounterRateLimiter(MemoryStorage())
    )
    grace_tasks: dict[int, asyncio.Task] = field(default_factory=dict)
    background: set[asyncio.Task] = field(default_factory=set)  # short tasks the hub cancels when it stops
    mail_due: datetime | None = None  # when the next queued e-mail to a customer is due (handoff/outbox.py)
    link_signer: URLSafeTimedSerializer | None = None  # signs the keys in e-mails' links (handoff/outbox.py)
    reply_signer: Signer | None = None  # signs the conversation in e-mails' Message-IDs (answers come back)
    token_hashes: OrderedDict[str, str] = field(default_factory=OrderedDict)  # conversation id -> its token's hash
    customers_seen: OrderedDict[str, datetime] = field(default_factory=OrderedDict)  # id -> their last request
    _locks: weakref.WeakValueDictionary = field(default_factory=weakref.WeakValueDictionary)

    def __post_init__(self) -> None:
        if self.cluster is not None:
            self.limiter = SlidingWindowCounterRateLimiter(self.cluster.limit_storage())

    def remember_token_hash(self, conversation_id: str, token_hash: str, keep: int = 50_000) -> None:
        """Remember a conversation's token hash (they never change); the least recently read are forgotten."""
        self.token_hashes[conversation_id] = token_hash
        self.token_hashes.move_to_end(conversation_id)
        while len(self.token_hashes) > keep:
            self.token_hashes.popitem(last=False)

    def saw_customer(self, conversation_id: str, keep: int = 50_000) -> None:
        """The customer of this conversation made a request (or closed their socket) just now."""
        self.customers_seen[conversation_id] = now = self.now()
        self.customers_seen.move_to_end(conversation_id)
        if self.cluster is not None:
            self.cluster.note_seen(conversation_id, now.timestamp())
        while len(self.customers_seen) > keep:
            self.customers_seen.popitem(last=False)

    def customer_last_seen(self, conversation_id: str) -> datetime | None:
        """When the customer last made a request or closed their socket, here or on another instance (kept in
        memory: None after a restart)."""
        seen = self.customers_seen.get(conversation_id)
        elsewhere = self.cluster.last_seen(conversation_id) if self.cluster is not None else None
        if elsewhere is not None:
            elsewhere = datetime.fromtimestamp(elsewhere, UTC)
            seen = elsewhere if seen is None else max(seen, elsewhere)
        return seen

    async def customer_last_visit(self, conversation_id: str) -> datetime | None:
        """`customer_last_seen`, and with several instances the last visit any of them wrote to Redis (the e-mails
        ask this: the visit may be long before the others' heartbeats tell)."""
        seen = self.customer_last_seen(conversation_id)
        if self.cluster is None:
            return seen
        elsewhere = await self.cluster.seen_at(conversation_id)
        if elsewhere is None:
            return seen
        elsewhere = datetime.fromtimestamp(elsewhere, UTC)
        return elsewhere if seen is None else max(seen, elsewhere)

    def customer_present(self, conversation_id: str) -> bool:
        """Whether the customer has the chat open: a socket now, or a request (a poll) a moment ago."""
        if self.events.is_watched(conversation_id):
            return True
        seen = self.customer_last_seen(conversation_id)
        return seen is not None and (self.now() - seen).total_seconds() < self.settings.customer_away_after_s

    def reconnecting_agents(self) -> frozenset[int]:
        """Agents whose last console closed, here or on another instance, within their grace period."""
        leaving = set(self.grace_tasks) | (self.cluster.leaving() if self.cluster is not None else set())
        return frozenset(leaving - self.events.connected_agents())

    def presence_here(self) -> dict:
        """Who is connected to this instance, as it tells the others (handoff/cluster.py)."""
        recent = self.now().timestamp() - self.settings.customer_away_after_s
        seen = {}
        for conversation_id, moment in reversed(self.customers_seen.items()):  # newest first
            if moment.timestamp() < recent:
                break
            seen[conversation_id] = moment.timestamp()
        return {
            "agents": sorted(self.events.agents_here()),
            "leaving": sorted(self.grace_tasks),  # their last console here closed; their grace period runs here
            "watched": sorted(self.events.watched_here()),
            "seen": seen,
        }

    @contextlib.asynccontextmanager
    async def lock(self, name: str, across_instances: bool = True) -> AsyncIterator[None]:
        """One holder at a time of `name` (a conversation: one customer message at a time; "content": one writer of
        data/ files), in this process and, with several instances and `across_instances`, across them."""
        lock = self._locks.get(name)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[name] = lock
        async with lock:
            if self.cluster is None or not across_instances:
                yield
            else:
                async with self.cluster.lock(name):
                    yield

    async def in_thread(self, function, *args):
        """Run blocking work (knowledge-base search, password hashing) off the event loop."""
        return await asyncio.get_running_loop().run_in_executor(None, function, *args)

    def now(self) -> datetime:
        return datetime.now(UTC)

    def is_open(self) -> bool:
        return self.hours.is_open(self.now())

    def next_opening(self) -> datetime | None:
        """When second level opens next (None while it is open)."""
        return self.hours.next_opening(self.now())

    def when_back(self, language: str) -> str:
        """When second level is back, as a customer reads it ("tomorrow at 08:00")."""
        return when_back(self.next_opening(), self.now(), language)

    async def limit(self, rule: str, key: str, what: str) -> None:
        """Raise RateLimited when `key` exceeded `rule` (e.g. '20/10 seconds')."""
        item = parse(rule)
        try:
            allowed = await self.limiter.hit(item, key)
            stats = None if allowed else await self.limiter.get_window_stats(item, key)
        except StorageError as exc:  # the instances' shared counters (Redis) are out of reach
            raise ClusterUnavailable(UNAVAILABLE) from exc
        if stats is not None:
            retry = max(1, int(stats.reset_time - self.now().timestamp()) + 1)
            raise RateLimited(f"Too many {what}. Please wait {retry} s and try again.", retry_after=retry)
