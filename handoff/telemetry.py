"""The hub's Prometheus metrics, served at /metrics (handoff/views/monitoring.py).

Kept in the app's own registry (one per `create_app`, so several apps in one process never collide):
- `hub_http_requests_total{method, route, status}` and `hub_http_request_duration_seconds{method, route}`
  (route = the route's template, e.g. /api/v1/agent/tickets/{ticket_id}; WebSocket upgrades are counted but
  not timed, since the handler lasts as long as the socket);
- `hub_open_websockets{side}` (customer, agent), from this process's live sockets;
- read from the database at each scrape, so every hub instance reports the same, restarts included:
  `hub_queue_length{priority}` (queued tickets), `hub_conversations{state}` and the counter
  `hub_handoffs_total{reason}` (tickets ever opened, by reason: tickets are never deleted, so it only grows),
  `hub_outbox_emails{status}` (e-mails to customers who left the chat: pending, sent, skipped, failed; alert on
  failed, whose reason is in `hub_outbox.last_error`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from handoff.hub import Hub
from handoff.models import Conversation, OutgoingMail, Ticket
from handoff.queue import PRIORITY_RANK

STATES = ("bot", "queued", "agent", "closed")
MAIL_STATES = ("pending", "sent", "skipped", "failed")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)


@dataclass
class Snapshot:
    """What a scrape reads from the database and the live sockets."""

    sockets: dict[str, int] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)
    states: dict[str, int] = field(default_factory=dict)
    handoffs: dict[str, int] = field(default_factory=dict)
    emails: dict[str, int] = field(default_factory=dict)


class _SnapshotCollector(Collector):
    def __init__(self) -> None:
        self.snapshot = Snapshot()

    def collect(self):
        snap = self.snapshot
        sockets = GaugeMetricFamily("hub_open_websockets", "Open WebSockets in this hub process.", labels=["side"])
        for side in ("customer", "agent"):
            sockets.add_metric([side], snap.sockets.get(side, 0))
        queue = GaugeMetricFamily("hub_queue_length", "Tickets waiting in the queue, by priority.", labels=["priority"])
        for priority in PRIORITY_RANK:
            queue.add_metric([priority], snap.queue.get(priority, 0))
        states = GaugeMetricFamily("hub_conversations", "Conversations by state.", labels=["state"])
        for state in sorted({*STATES, *snap.states}):
            states.add_metric([state], snap.states.get(state, 0))
        handoffs = CounterMetricFamily("hub_handoffs", "Handoffs to second level, by reason.", labels=["reason"])
        for reason, count in sorted(snap.handoffs.items()):
            handoffs.add_metric([reason], count)
        emails = GaugeMetricFamily(
            "hub_outbox_emails", "E-mails to customers who left the chat, by status.", labels=["status"]
        )
        for status in MAIL_STATES:
            emails.add_metric([status], snap.emails.get(status, 0))
        yield from (sockets, queue, states, handoffs, emails)


class HubMetrics:
    """The registry of one hub app: request metrics as they happen, the rest read at scrape time."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "hub_http_requests", "HTTP requests, by route.", ["method", "route", "status"], registry=self.registry
        )
        self._latency = Histogram(
            "hub_http_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._snapshot = _SnapshotCollector()
        self.registry.register(self._snapshot)

    def observe(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One answered request (`seconds` None: not timed, e.g. a WebSocket)."""
        self._requests.labels(method, route, str(status)).inc()
        if seconds is not None:
            self._latency.labels(method, route).observe(seconds)

    async def exposition(self, hub: Hub) -> bytes:
        """The text exposition, with the database figures read now."""
        snapshot = await read_snapshot(hub)
        self._snapshot.snapshot = snapshot  # no await between this and the rendering: scrapes never mix
        return generate_latest(self.registry)


async def read_snapshot(hub: Hub) -> Snapshot:
    async with hub.sessions() as session:
        queue = await session.execute(
            select(Ticket.priority, func.count()).where(Ticket.status == "queued").group_by(Ticket.priority)
        )
        states = await session.execute(select(Conversation.state, func.count()).group_by(Conversation.state))
        handoffs = await session.execute(select(Ticket.reason, func.count()).group_by(Ticket.reason))
        emails = await session.execute(select(OutgoingMail.status, func.count()).group_by(OutgoingMail.status))
        return Snapshot(
            sockets=hub.events.socket_counts(),
            queue=dict(queue.all()),
            states=dict(states.all()),
            handoffs=dict(handoffs.all()),
            emails=dict(emails.all()),
        )
