"""Several hub instances side by side (`HUB_REDIS_URL`): what one instance does, the others learn through Redis.

Instances that share the app database form one cluster (the Redis keys and channel are named after the database).
Over one pub/sub channel each instance
- forwards every live event it sends, so that a customer's socket on one instance hears the agent on another;
- says every HEARTBEAT_S (and at once when it changes) which agents have a console open on it, which conversations
  have a customer socket on it, and which customers polled it lately: so every instance knows who is connected
  anywhere (the grace period after an agent's last console closes, the queue's notifications, e-mail only to
  customers who are away);
- says goodbye when it stops. An instance that stops without a word is taken as gone after STALE_S; the agents it
  had get the grace period to reconnect elsewhere before their chats go back to the queue.
Locks (one customer message at a time per conversation, one writer of data/ files) and the rate limits live in
Redis too. Without HUB_REDIS_URL the hub is one instance and none of this exists (handoff/events.py, handoff/hub.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import redis.asyncio as redis
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

from handoff.errors import HubError

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # how often an instance says who is connected to it
STALE_S = 3 * HEARTBEAT_S  # an instance not heard of for this long is gone
LOCK_EXPIRY_S = 120.0  # a lock whose holder died frees itself after this (longer than any bot call may take)


class ClusterUnavailable(HubError):
    """Redis cannot be reached: nothing is stored, and the client is told to try again."""

    status, code = 503, "temporarily_unavailable"


@dataclass
class Peer:
    """What another instance last said about itself."""

    agents: set[int] = field(default_factory=set)
    leaving: set[int] = field(default_factory=set)  # agents whose grace period runs there
    watched: set[str] = field(default_factory=set)
    seen: dict[str, float] = field(default_factory=dict)  # conversation -> epoch seconds of the customer's last request
    heard: float = field(default_factory=time.monotonic)


Deliver = Callable[[dict], Awaitable[None]]


class Cluster:
    """This instance's link to the others: forwarded events, who is connected where, shared locks and limits."""

    @classmethod
    def for_settings(cls, settings) -> Cluster | None:
        """The cluster HUB_REDIS_URL asks for, or None for a single instance."""
        if not settings.hub_redis_url:
            return None
        if not settings.database_url.startswith("postgresql"):
            raise ValueError(
                "Several hub instances (HUB_REDIS_URL) need PostgreSQL as DATABASE_URL: SQLite lets one process write "
                "at a time and refuses a transaction that read before another wrote."
            )
        return cls(settings.hub_redis_url, settings.database_url)

    def __init__(self, redis_url: str, database_url: str) -> None:
        self.url = redis_url
        self.redis = redis.from_url(redis_url)
        self.instance = uuid.uuid4().hex[:12]
        self.prefix = f"hub:{hashlib.sha256(database_url.encode()).hexdigest()[:12]}:"
        self.channel = f"{self.prefix}events"
        self.peers: dict[str, Peer] = {}
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._snapshot: Callable[[], dict] = dict
        self._deliver: Deliver | None = None
        self._gone: Callable[[set[int]], None] = lambda _agents: None

    # -- life --------------------------------------------------------------------------------------------------
    async def start(self, deliver: Deliver, snapshot: Callable[[], dict], gone: Callable[[set[int]], None]) -> None:
        """Listen to the others; `deliver` hands a forwarded event to this instance's sockets, `snapshot` says who is
        connected here, `gone` is told the agents of an instance that went away."""
        self._deliver, self._snapshot, self._gone = deliver, snapshot, gone
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except (RedisError, OSError) as exc:  # the hub does not start without the others' news
            raise RuntimeError(f"HUB_REDIS_URL: Redis at {self.url} cannot be reached ({exc})") from exc
        self._tasks = [asyncio.create_task(self._listen(pubsub)), asyncio.create_task(self._heartbeat())]

    async def stop(self) -> None:
        """Say goodbye: the others take over the grace periods of this instance's agents at once (not after
        STALE_S). Call it before this instance's own grace periods are cancelled."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.publish({"kind": "bye", **self._snapshot()})
        await self.redis.aclose()

    # -- events ------------------------------------------------------------------------------------------------
    async def publish(self, message: dict) -> None:
        """Send a message to every other instance. Redis away: the others miss it (their clients catch up on
        reconnect or poll), and this instance's own work goes on."""
        try:
            await self.redis.publish(self.channel, json.dumps({**message, "from": self.instance}))
        except (RedisError, OSError) as exc:
            log.warning("could not reach the other hub instances: %s", exc)

    async def _listen(self, pubsub) -> None:
        while True:
            try:
                async for raw in pubsub.listen():
                    await self._receive(json.loads(raw["data"]))
            except asyncio.CancelledError:
                await pubsub.aclose()
                raise
            except Exception:  # Redis restarted, or one bad message: listen again
                log.warning("listening to the other hub instances failed; again in a moment", exc_info=True)
                await asyncio.sleep(0.5)
                with contextlib.suppress(Exception):
                    await pubsub.subscribe(self.channel)

    async def _receive(self, message: dict) -> None:
        sender = message.pop("from", None)
        if sender == self.instance:
            return
        kind = message.get("kind")
        if kind in ("presence", "bye"):
            peer = Peer(set(message["agents"]), set(message["leaving"]), set(message["watched"]), message["seen"])
            if self.peers.get(sender) is None and message.get("hello"):
                self._changed.set()  # a new instance: it hears from this one at once
            self.peers[sender] = peer
            if kind == "bye":
                self._forget(sender)
        elif self._deliver is not None:
            await self._deliver(message)

    # -- who is connected where ------------------------------------------------------------------------------
    def changed(self) -> None:
        """Who is connected here changed: the others hear of it at once."""
        self._changed.set()

    async def _heartbeat(self) -> None:
        hello = True
        while True:
            await self.publish({"kind": "presence", "hello": hello, **self._snapshot()})
            hello = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT_S)
            await asyncio.sleep(0.05)  # a burst of changes (a reload, many customers arriving) is said once
            self._changed.clear()
            now = time.monotonic()
            for instance in [i for i, peer in self.peers.items() if now - peer.heard > STALE_S]:
                log.warning("hub instance %s has not been heard of for %s s: taken as gone", instance, STALE_S)
                self._forget(instance)

    def _forget(self, instance: str) -> None:
        peer = self.peers.pop(instance, None)
        if peer is not None and (peer.agents or peer.leaving):
            self._gone(peer.agents | peer.leaving)

    def agents(self) -> set[int]:
        """Agents with a console open on another instance."""
        return {a for peer in self.peers.values() for a in peer.agents}

    def watched(self) -> set[str]:
        """Conversations with a customer socket open on another instance."""
        return {c for peer in self.peers.values() for c in peer.watched}

    def is_watched(self, conversation_id: str) -> bool:
        return any(conversation_id in peer.watched for peer in self.peers.values())

    def last_seen(self, conversation_id: str) -> float | None:
        """When the customer last made a request to another instance (epoch seconds), as far as it said."""
        return max((p.seen[conversation_id] for p in self.peers.values() if conversation_id in p.seen), default=None)

    # -- shared locks and limits -------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """Held by one instance at a time (after the caller's own in-process lock, so an instance waits here for
        the others only)."""
        lock = self.redis.lock(f"{self.prefix}lock:{name}", timeout=LOCK_EXPIRY_S, sleep=0.01)
        try:
            await lock.acquire()
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable("The service is briefly unavailable. Please try again in a moment.") from exc
        try:
            yield
        finally:
            with contextlib.suppress(RedisError, OSError):
                await lock.release()

    def limit_storage(self) -> RedisStorage:
        """Rate limits counted across the instances."""
        return RedisStorage(
            self.url.replace("redis://", "async+redis://", 1).replace("rediss://", "async+rediss://", 1),
            implementation="redispy",
            key_prefix=f"{self.prefix}limits",
            wrap_exceptions=True,  # limits.errors.StorageError: Hub.limit answers 503
        )
