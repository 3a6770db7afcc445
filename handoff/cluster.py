"""Several hub instances side by side (`HUB_REDIS_URL`): what one instance does, the others learn through Redis.

Instances that share the app database form one cluster (the Redis keys and channel are named after the database:
its host, port and name). Over one pub/sub channel each instance
- forwards every live event it sends, so that a customer's socket on one instance hears the agent on another (in
  the order they were sent, from a queue: a slow or absent Redis never holds up this instance's own sockets);
- says every HEARTBEAT_S (and at once when it changes) which agents have a console open on it, which conversations
  have a customer socket on it, and which customers polled it lately: so every instance knows who is connected
  anywhere (the grace period after an agent's last console closes, the queue's notifications, e-mail only to
  customers who are away);
- says goodbye when it stops. An instance that stops without a word is taken as gone after STALE_S; the agents it
  had get the grace period to reconnect elsewhere before their chats go back to the queue. Only an instance that
  hears its own heartbeat judges the others: while Redis is away nobody is taken as gone, and no grace period ends.
When the channel comes back after Redis was away, each instance closes its sockets (code 1012): the widget and the
console reconnect and fetch what they missed. Locks (one customer message at a time per conversation, one writer of
data/ files), the rate limits and each customer's last visit (for the e-mails) live in Redis too. Without
HUB_REDIS_URL the hub is one instance and none of this exists (handoff/events.py, handoff/hub.py).
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
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy.engine import make_url

from handoff.errors import HubError

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0  # how often an instance says who is connected to it
STALE_S = 3 * HEARTBEAT_S  # an instance not heard of for this long is gone
REDIS_TIMEOUT_S = 1.0  # one Redis command (connect, send, answer): then it counts as failed
LOCK_EXPIRY_S = 120.0  # a lock whose holder died frees itself after this (longer than any bot call may take)
LOCK_WAIT_S = 30.0  # how long a request waits for a lock another instance holds before it is answered 503
OUTGOING_MAX = 10_000  # forwarded events waiting for Redis; more are dropped (the clients resync on reconnect)
SEEN_KEEP_S = 7 * 86400  # how long a customer's last visit is kept (e-mails are retried for hours at most)
UNAVAILABLE = "The service is briefly unavailable. Please try again in a moment."


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


@dataclass
class Hooks:
    """What the hub does for the cluster (handoff/app.py)."""

    deliver: Callable[[dict], Awaitable[None]]  # a forwarded event to this instance's sockets
    snapshot: Callable[[], dict]  # who is connected here
    gone: Callable[[set[int]], None]  # agents of an instance that went away: their grace period starts here
    arrived: Callable[[set[int]], None]  # agents with a console on another instance: no grace period for them here
    resync: Callable[[], Awaitable[None]]  # the channel is back after Redis was away: clients must catch up


def cluster_key(database_url: str) -> str:
    """The same database, however its URL names the driver or the user, gives the same key."""
    url = make_url(database_url)
    return f"{url.get_backend_name()}://{url.host or ''}:{url.port or ''}/{url.database or ''}"


class Channel(PubSub):
    """The pub/sub connection. redis-py reconnects it by itself, silently; what was published meanwhile is lost,
    so a reconnect calls `reconnected` (the clients resync)."""

    reconnected: Callable[[], None] | None = None  # set once subscribed: later connections are reconnections

    async def on_connect(self, connection) -> None:
        await super().on_connect(connection)  # subscribes anew
        if self.reconnected is not None:
            log.warning("the channel to the other hub instances was reconnected: clients resync")
            self.reconnected()


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
        self.instance = uuid.uuid4().hex[:12]
        self.redis = redis.from_url(
            redis_url,
            client_name=f"hub-{self.instance}",  # CLIENT LIST shows which instance a connection is
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
            retry=Retry(NoBackoff(), 1),  # one quick retry (a dropped pooled connection), not seconds of them
        )
        self.prefix = f"hub:{hashlib.sha256(cluster_key(database_url).encode()).hexdigest()[:12]}:"
        self.channel = f"{self.prefix}events"
        self.peers: dict[str, Peer] = {}
        self._hooks: Hooks | None = None
        self._changed = asyncio.Event()
        self._outgoing: asyncio.Queue[tuple] = asyncio.Queue(maxsize=OUTGOING_MAX)
        self._incoming: asyncio.Queue[dict] = asyncio.Queue()
        self._heard_self = time.monotonic()
        self._seen_noted: dict[str, float] = {}  # conversation -> when its last visit was last written to Redis
        self._tasks: list[asyncio.Task] = []
        self.pubsub = None  # the channel's own connection (pub/sub)
        self._background: set[asyncio.Task] = set()

    # -- life --------------------------------------------------------------------------------------------------
    async def start(self, hooks: Hooks) -> None:
        """Listen to the others and start forwarding (fails at once if Redis cannot be reached)."""
        self._hooks = hooks
        pubsub = Channel(self.redis.connection_pool, ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
        except (RedisError, OSError) as exc:  # the hub does not start without the others' news
            raise RuntimeError(f"HUB_REDIS_URL: Redis at {self.url} cannot be reached ({exc})") from exc
        pubsub.reconnected = lambda: self._in_background(self._hooks.resync())
        self.pubsub = pubsub
        self._tasks = [
            asyncio.create_task(self._listen(pubsub)),
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._send_outgoing()),
            asyncio.create_task(self._deliver_incoming()),
        ]

    async def stop(self) -> None:
        """Say goodbye: the others take over the grace periods of this instance's agents at once (not after
        STALE_S). Call it before this instance's own grace periods are cancelled."""
        for task in self._tasks:
            task.cancel()
        await asyncio.wait(self._tasks, timeout=2 * REDIS_TIMEOUT_S)
        await self._publish({"kind": "bye", **self._hooks.snapshot()})
        await self.redis.aclose()

    # -- events ------------------------------------------------------------------------------------------------
    def forward(self, message: dict) -> None:
        """Send a message to every other instance, in order, without waiting for Redis."""
        self._queue(("publish", message))

    def _queue(self, item: tuple) -> None:
        try:
            self._outgoing.put_nowait(item)
        except asyncio.QueueFull:
            log.warning("Redis is not keeping up: a %s for the other hub instances is dropped", item[0])

    async def _send_outgoing(self) -> None:
        while True:
            kind, *what = await self._outgoing.get()
            if kind == "publish":
                await self._publish(what[0])
            else:  # "seen"
                conversation_id, moment = what
                with contextlib.suppress(RedisError, OSError):
                    await self.redis.set(f"{self.prefix}seen:{conversation_id}", moment, ex=int(SEEN_KEEP_S))

    async def _publish(self, message: dict) -> None:
        """Redis away: the others miss it (their sockets are closed and resync when the channel is back)."""
        try:
            await self.redis.publish(self.channel, json.dumps({**message, "from": self.instance}))
        except (RedisError, OSError) as exc:
            log.warning("could not reach the other hub instances: %s", exc)

    async def _listen(self, pubsub) -> None:
        while True:
            try:
                async for raw in pubsub.listen():
                    self._receive(json.loads(raw["data"]))
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(REDIS_TIMEOUT_S):
                        await pubsub.aclose()
                raise
            except Exception:  # Redis away, or one bad message: listen again (reconnecting subscribes anew)
                log.warning("listening to the other hub instances failed; again in a moment", exc_info=True)
                await asyncio.sleep(0.5)
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.subscribe(self.channel)

    def _in_background(self, work) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _receive(self, message: dict) -> None:
        """Presence at once; events to the sockets by a task of their own (a slow client delays only them)."""
        sender = message.pop("from", None)
        kind = message.get("kind")
        if sender == self.instance:
            if kind == "presence":
                self._heard_self = time.monotonic()
            return
        if kind in ("presence", "bye"):
            peer = Peer(set(message["agents"]), set(message["leaving"]), set(message["watched"]), message["seen"])
            if self.peers.get(sender) is None and message.get("hello"):
                self._changed.set()  # a new instance: it hears from this one at once
            self.peers[sender] = peer
            if kind == "bye":
                self._forget(sender)
            elif peer.agents:
                self._hooks.arrived(peer.agents)
        else:
            self._incoming.put_nowait(message)

    async def _deliver_incoming(self) -> None:
        while True:
            message = await self._incoming.get()
            try:
                await self._hooks.deliver(message)
            except Exception:
                log.exception("a forwarded event could not be delivered")

    # -- who is connected where ------------------------------------------------------------------------------
    def changed(self) -> None:
        """Who is connected here changed: the others hear of it at once."""
        self._changed.set()

    def cut_off(self) -> bool:
        """Whether this instance has not heard its own heartbeat for STALE_S (Redis away): it cannot tell who is
        connected elsewhere."""
        return time.monotonic() - self._heard_self > STALE_S

    async def _heartbeat(self) -> None:
        hello = True
        while True:
            await self._publish({"kind": "presence", "hello": hello, **self._hooks.snapshot()})
            hello = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), HEARTBEAT_S)
            await asyncio.sleep(0.05)  # a burst of changes (a reload, many customers arriving) is said once
            self._changed.clear()
            if self.cut_off():
                continue  # it is this instance that hears nobody: the others are not gone for that
            now = time.monotonic()
            for instance in [i for i, peer in self.peers.items() if now - peer.heard > STALE_S]:
                log.warning("hub instance %s has not been heard of for %s s: taken as gone", instance, STALE_S)
                self._forget(instance)

    def _forget(self, instance: str) -> None:
        peer = self.peers.pop(instance, None)
        if peer is not None and (peer.agents or peer.leaving):
            self._hooks.gone(peer.agents | peer.leaving)

    def agents(self) -> set[int]:
        """Agents with a console open on another instance."""
        return {a for peer in self.peers.values() for a in peer.agents}

    def leaving(self) -> set[int]:
        """Agents whose grace period runs on another instance."""
        return {a for peer in self.peers.values() for a in peer.leaving}

    def watched(self) -> set[str]:
        """Conversations with a customer socket open on another instance."""
        return {c for peer in self.peers.values() for c in peer.watched}

    def is_watched(self, conversation_id: str) -> bool:
        return any(conversation_id in peer.watched for peer in self.peers.values())

    def last_seen(self, conversation_id: str) -> float | None:
        """When the customer last made a request to another instance (epoch seconds), as far as it said lately."""
        return max((p.seen[conversation_id] for p in self.peers.values() if conversation_id in p.seen), default=None)

    # -- a customer's last visit, for the e-mails (handoff/outbox.py) ------------------------------------------
    def note_seen(self, conversation_id: str, moment: float, every_s: float = 5.0) -> None:
        """Keep the customer's last visit in Redis (at most every `every_s` per conversation)."""
        if moment - self._seen_noted.get(conversation_id, 0.0) < every_s:
            return
        self._seen_noted[conversation_id] = moment
        if len(self._seen_noted) > 50_000:
            self._seen_noted.clear()
        self._queue(("seen", conversation_id, moment))

    async def seen_at(self, conversation_id: str) -> float | None:
        """The customer's last visit to any instance as kept in Redis (epoch seconds; up to 5 s old)."""
        try:
            value = await self.redis.get(f"{self.prefix}seen:{conversation_id}")
        except (RedisError, OSError):
            return None
        return float(value) if value is not None else None

    # -- shared locks and limits -------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lock(self, name: str) -> AsyncIterator[None]:
        """Held by one instance at a time (after the caller's own in-process lock, so an instance waits here for
        the others only)."""
        lock = self.redis.lock(
            f"{self.prefix}lock:{name}", timeout=LOCK_EXPIRY_S, sleep=0.01, blocking_timeout=LOCK_WAIT_S
        )
        try:
            acquired = await lock.acquire()
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(UNAVAILABLE) from exc
        if not acquired:
            raise ClusterUnavailable("Your previous message is still being handled. Please try again in a moment.")
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
            socket_timeout=REDIS_TIMEOUT_S,
            socket_connect_timeout=REDIS_TIMEOUT_S,
        )
