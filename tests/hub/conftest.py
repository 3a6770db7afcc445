"""The hub through its app factory on a real server (pytest-aiohttp), on fresh SQLite and PostgreSQL databases.

Without the e2e fixtures the bot is really unreachable (a closed port): that is the hub's "bot down" path.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bot.db import migrate
from bot.settings import Settings
from handoff import tickets
from handoff.agents import create_agent
from handoff.app import create_app
from handoff.keys import HUB
from handoff.models import Conversation
from tests.conftest import postgres_database

PASSWORD = "correct horse battery staple"


def closed_port() -> int:
    """A local port nobody listens on (the bot is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def hub_db_url(request, tmp_path) -> Iterator[str]:
    """A fresh, migrated app database for one test."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'hub.db'}"
        migrate(url)
        yield url
    else:
        for url in postgres_database():
            migrate(url)
            yield url


@pytest.fixture
def hub_settings(hub_db_url) -> Settings:
    return Settings(
        database_url=hub_db_url,
        rasa_port=closed_port(),
        rasa_token="test-token",
        agent_grace_s=0.3,
        rate_conversations_per_minute=1000,
    )


@pytest.fixture
async def client(hub_settings, aiohttp_client):  # the database first: it is torn down after the hub
    return await aiohttp_client(create_app(hub_settings))


@dataclass
class Customer:
    """A customer's conversation as the widget holds it: id and token."""

    client: object
    id: str
    token: str

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    async def say(self, text: str | None = None, payload: str | None = None, **extra):
        body = {"text": text} if payload is None else {"payload": payload}
        return await self.client.post(
            f"/api/v1/conversations/{self.id}/messages", json={**body, **extra}, headers=self.auth
        )

    async def messages(self, after: int | None = None) -> dict:
        query = "" if after is None else f"?after={after}"
        response = await self.client.get(f"/api/v1/conversations/{self.id}/messages{query}", headers=self.auth)
        assert response.status == 200, await response.text()
        return await response.json()


async def new_customer(client, language: str = "en", customer: str | None = None) -> Customer:
    body = {"language": language} | ({"customer": customer} if customer else {})
    response = await client.post("/api/v1/conversations", json=body)
    assert response.status == 201, await response.text()
    data = await response.json()
    return Customer(client, data["id"], data["token"])


@dataclass
class AgentClient:
    """A signed-in agent using the Bearer token (no cookie, so several agents share one test client)."""

    client: object
    id: int
    token: str

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    async def call(self, method: str, path: str, json: object = None, expect: int | None = 200):
        response = await self.client.request(method, f"/api/v1/agent{path}", json=json, headers=self.auth)
        if expect is not None:
            assert response.status == expect, await response.text()
        return response

    async def json(self, method: str, path: str, json: object = None, expect: int = 200) -> dict:
        return await (await self.call(method, path, json, expect)).json()


async def new_agent(client, username: str, role: str = "agent", online: bool = True, **skills) -> AgentClient:
    await create_agent(
        client.app[HUB].sessions,
        username=username,
        display_name=username.title(),
        password=PASSWORD,
        role=role,
        **skills,
    )
    response = await client.post("/api/v1/agent/session", json={"username": username, "password": PASSWORD})
    assert response.status == 200, await response.text()
    data = await response.json()
    agent = AgentClient(client, data["agent"]["id"], data["token"])
    if online:
        await agent.json("PUT", "/presence", {"presence": "online"})
    return agent


async def queued_ticket(
    client,
    *,
    category: str | None = "phone",
    priority: str = "normal",
    language: str = "en",
    customer: str | None = None,
):
    """A customer whose conversation waits in the queue (as the bot would hand it over), and the ticket id.

    `customer`: the widget's key for its customer (links the customer's conversations)."""
    customer = await new_customer(client, language, customer)
    hub = client.app[HUB]
    async with hub.sessions() as session, session.begin():
        conversation = await session.get(Conversation, customer.id)
        ticket = tickets.new_ticket(
            session,
            conversation,
            reason="steps_exhausted",
            priority=priority,
            category=category,
            summary="The phone does not charge",
            packet=None,
            actor="bot",
        )
    await tickets.announce_ticket(hub, ticket)
    return customer, ticket.id


async def early_in_a_window(seconds: int) -> None:
    """The limits are sliding window counters over fixed windows (epoch multiples of `seconds`): a burst that
    straddles a window's end is weighted down and may pass one more request (the test failed so once in CI)."""
    into = time.time() % seconds
    if into > seconds - 5:  # a burst takes about a second here
        await asyncio.sleep(seconds - into + 0.05)
