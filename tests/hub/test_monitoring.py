"""Prometheus /metrics of the hub: request metrics by route, sockets, and the database figures."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.settings import Settings
from handoff.app import create_app
from tests.hub.conftest import new_agent, new_customer, queued_ticket


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, parsed like Prometheus does."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def key(name: str, **labels: str) -> tuple[str, tuple]:
    return name, tuple(sorted(labels.items()))


async def scrape(client, **headers) -> dict:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(await response.text())


async def test_metrics_show_requests_by_route_queue_states_and_handoffs(client):
    anna = await new_agent(client, "anna")
    await queued_ticket(client, priority="high")
    await queued_ticket(client, priority="high")
    await new_customer(client)
    await anna.json("GET", "/queue")
    await client.get("/no/such/page")
    async with client.ws_connect(f"/api/v1/agent/ws?token={anna.token}"):
        found = await scrape(client)
    assert found[key("hub_http_requests_total", method="GET", route="/api/v1/agent/queue", status="200")] == 1
    assert found[key("hub_http_requests_total", method="GET", route="unmatched", status="404")] == 1
    assert found[key("hub_http_request_duration_seconds_count", method="POST", route="/api/v1/conversations")] == 3
    assert found[key("hub_queue_length", priority="high")] == 2
    assert found[key("hub_queue_length", priority="urgent")] == 0
    assert found[key("hub_conversations", state="queued")] == 2 and found[key("hub_conversations", state="bot")] == 1
    assert found[key("hub_handoffs_total", reason="steps_exhausted")] == 2
    assert found[key("hub_open_websockets", side="agent")] == 1
    assert found[key("hub_open_websockets", side="customer")] == 0


async def test_websocket_upgrades_are_counted_but_not_timed(client):
    anna = await new_agent(client, "anna")
    async with client.ws_connect(f"/api/v1/agent/ws?token={anna.token}"):
        pass
    found = await scrape(client)
    assert found[key("hub_http_requests_total", method="GET", route="/api/v1/agent/ws", status="101")] == 1
    assert key("hub_http_request_duration_seconds_count", method="GET", route="/api/v1/agent/ws") not in found


@pytest.fixture
async def guarded(hub_settings: Settings, aiohttp_client):
    return await aiohttp_client(create_app(hub_settings.model_copy(update={"metrics_token": "scrape-me"})))


async def test_a_metrics_token_keeps_strangers_out(guarded):
    assert (await guarded.get("/metrics")).status == 401
    assert (await guarded.get("/metrics", headers={"Authorization": "Bearer wrong"})).status == 401
    found = await scrape(guarded, Authorization="Bearer scrape-me")
    assert key("hub_queue_length", priority="normal") in found
