"""Live events to connected WebSockets: per conversation (customers) and per agent (the console).

Each socket is open on one hub instance. With several instances (`Cluster`, handoff/cluster.py) every event is
also forwarded to the others, which deliver it to their own sockets, and "who is connected" covers them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable

from aiohttp import WSCloseCode, web

from handoff.cluster import Cluster

log = logging.getLogger(__name__)
SEND_TIMEOUT_S = 10.0  # how long sending one event may wait on a client that reads nothing; then it is closed


class Events:
    """Who is listening, and delivery of JSON events to them."""

    def __init__(self, cluster: Cluster | None = None) -> None:
        self.cluster = cluster  # None: this is the only instance
        self._conversations: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._agents: dict[int, set[web.WebSocketResponse]] = defaultdict(set)
        self._agent_sessions: dict[web.WebSocketResponse, str] = {}  # socket -> hash of the session that opened it

    # -- subscriptions -------------------------------------------------------------------------------
    def join_conversation(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        sockets = self._conversations[conversation_id]
        sockets.add(socket)
        if len(sockets) == 1:
            self._changed()

    def leave_conversation(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        sockets = self._conversations.get(conversation_id)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._conversations[conversation_id]
                self._changed()

    def join_agent(self, agent_id: int, socket: web.WebSocketResponse, session: str) -> None:
        self._agents[agent_id].add(socket)
        self._agent_sessions[socket] = session
        self._changed()

    def leave_agent(self, agent_id: int, socket: web.WebSocketResponse) -> int:
        """Forget the socket; returns how many sockets the agent still has open."""
        self._agent_sessions.pop(socket, None)
        sockets = self._agents.get(agent_id)
        if sockets is None:
            return 0
        sockets.discard(socket)
        if not sockets:
            del self._agents[agent_id]
            self._changed()
            return 0
        return len(sockets)

    def _changed(self) -> None:
        if self.cluster is not None:
            self.cluster.changed()

    def connected_agents(self) -> set[int]:
        """Agents with a console open (on any instance)."""
        here = set(self._agents)
        return here if self.cluster is None else here | self.cluster.agents()

    def agents_here(self) -> set[int]:
        return set(self._agents)

    def conversation_sockets(self, conversation_id: str) -> int:
        return len(self._conversations.get(conversation_id, ()))

    def is_watched(self, conversation_id: str) -> bool:
        """Whether a customer socket of this conversation is open (on any instance)."""
        if self._conversations.get(conversation_id):
            return True
        return self.cluster is not None and self.cluster.is_watched(conversation_id)

    def watched_conversations(self) -> set[str]:
        """Conversations with a customer socket open (on any instance)."""
        here = set(self._conversations)
        return here if self.cluster is None else here | self.cluster.watched()

    def watched_here(self) -> set[str]:
        return set(self._conversations)

    def socket_counts(self) -> dict[str, int]:
        """Open sockets of customers and of agents (for /metrics)."""
        return {
            "customer": sum(len(s) for s in self._conversations.values()),
            "agent": sum(len(s) for s in self._agents.values()),
        }

    def all_sockets(self) -> list[web.WebSocketResponse]:
        return [s for group in (*self._conversations.values(), *self._agents.values()) for s in group]

    async def close_agent_sockets(self, agent_id: int, session: str | None = None, reason: str = "") -> None:
        """End the agent's open consoles (only those of `session`, a session token hash, if given): after
        signing out or being locked out nobody may keep receiving or sending on an open socket."""
        self._forward({"kind": "close_agent", "agent": agent_id, "session": session, "reason": reason})
        await self._close_agent_sockets_here(agent_id, session, reason)

    async def _close_agent_sockets_here(self, agent_id: int, session: str | None, reason: str) -> None:
        ending = [
            s for s in self._agents.get(agent_id, ()) if session is None or self._agent_sessions.get(s) == session
        ]
        await asyncio.gather(
            *(s.close(code=WSCloseCode.POLICY_VIOLATION, message=reason.encode()) for s in ending),
            return_exceptions=True,
        )

    # -- delivery --------------------------------------------------------------------------------------
    async def to_conversation(self, conversation_id: str, event: dict) -> None:
        self._forward({"kind": "conversation", "id": conversation_id, "event": event})
        await _send(self._conversations.get(conversation_id, ()), event)

    async def to_agent(self, agent_id: int, event: dict) -> None:
        await self.to_agents([agent_id], event)

    async def to_agents(self, agent_ids: Iterable[int], event: dict) -> None:
        agent_ids = list(agent_ids)
        self._forward({"kind": "agents", "ids": agent_ids, "event": event})
        await _send([s for a in agent_ids for s in self._agents.get(a, ())], event)

    def _forward(self, message: dict) -> None:
        """The other instances deliver it to their sockets (`deliver_forwarded`); queued, this never waits."""
        if self.cluster is not None:
            self.cluster.forward(message)

    async def deliver_forwarded(self, message: dict) -> None:
        """What another instance sent: to this instance's sockets only."""
        kind = message.get("kind")
        if kind == "conversation":
            await _send(self._conversations.get(message["id"], ()), message["event"])
        elif kind == "agents":
            await _send([s for a in message["ids"] for s in self._agents.get(a, ())], message["event"])
        elif kind == "close_agent":
            await self._close_agent_sockets_here(message["agent"], message["session"], message["reason"])


async def _send(sockets: Iterable[web.WebSocketResponse], event: dict) -> None:
    targets = [s for s in list(sockets) if not s.closed]
    if not targets:
        return
    results = await asyncio.gather(*(_send_one(s, event) for s in targets), return_exceptions=True)
    for result in results:
        if isinstance(result, Exception):
            log.debug("dropping an event for a closing socket: %s", result)


async def _send_one(socket: web.WebSocketResponse, event: dict) -> None:
    """One event to one socket; a client that stopped reading (its buffers full) is closed after SEND_TIMEOUT_S
    instead of holding up the sender (an agent's message, the wait-estimate refresh) for ever."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await socket.send_json(event)
    except TimeoutError:
        log.warning("closing a socket that has read nothing for %s s", SEND_TIMEOUT_S)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):
                await socket.close(code=WSCloseCode.POLICY_VIOLATION, message=b"not reading")
        raise
