"""Two hub instances side by side on one PostgreSQL database and a real Redis (HUB_REDIS_URL): a customer on one
and an agent on the other chat live, presence and grace periods span both, an instance that stops hands its agents'
grace periods to the other, locks and rate limits are shared, and an e-mail goes out once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
import redis
import redis.asyncio
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from bot.settings import Settings
from handoff import cluster as cluster_module
from handoff import outbox
from handoff.app import create_app
from handoff.cluster import Cluster, ClusterUnavailable
from handoff.keys import HUB
from handoff.models import Conversation, OutgoingMail
from handoff.views import sockets
from tests.conftest import postgres_database
from tests.hub.conftest import closed_port, early_in_a_window, new_agent, new_customer, queued_ticket
from tests.hub.test_websockets import _next

REDIS_URL = "redis://127.0.0.1:6379/0"
pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module", autouse=True)
def _redis_running():
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {exc}")


@pytest.fixture
def shared_db_url():
    from bot.db import migrate

    for url in postgres_database():
        migrate(url)
        yield url


@pytest.fixture
def cluster_settings(shared_db_url, monkeypatch) -> Callable[[], Settings]:
    monkeypatch.setattr(cluster_module, "HEARTBEAT_S", 0.2)
    monkeypatch.setattr(cluster_module, "STALE_S", 0.8)
    rasa_port = closed_port()
    return lambda: Settings(
        database_url=shared_db_url,
        hub_redis_url=REDIS_URL,
        rasa_port=rasa_port,
        rasa_token="test-token",
        agent_grace_s=1.0,
        rate_conversations_per_minute=1000,
    )


@pytest.fixture
async def two_hubs(cluster_settings, aiohttp_client):
    first = await aiohttp_client(create_app(cluster_settings()))
    second = await aiohttp_client(create_app(cluster_settings()))
    await _until(lambda: len(first.app[HUB].cluster.peers) == 1 and len(second.app[HUB].cluster.peers) == 1)
    return first, second


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


async def _state(customer) -> str:
    return (await customer.messages())["state"]


async def _agent_known_to(client, agent_id: int) -> None:
    await _until(lambda: agent_id in client.app[HUB].events.connected_agents())


async def test_a_customer_on_one_instance_and_an_agent_on_the_other_chat_live_both_ways(two_hubs):
    first, second = two_hubs
    anna = await new_agent(second, "anna")
    agent_socket = await second.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await _agent_known_to(first, anna.id)

    customer, ticket_id = await queued_ticket(first)  # announced by the first instance
    assert (await _next(agent_socket, "ticket_queued"))["ticket"]["id"] == ticket_id
    customer_socket = await first.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    presence = await _next(agent_socket, "customer_presence")
    assert (presence["ticket_id"], presence["present"]) == (ticket_id, True)

    await anna.call("POST", f"/tickets/{ticket_id}/claim")  # on the second instance
    state = await _next(customer_socket, "state")
    assert state["state"] == "agent" and state["agent"] == {"display_name": "Anna"}

    await agent_socket.send_json({"type": "typing", "ticket_id": ticket_id, "typing": True})
    assert (await _next(customer_socket, "typing"))["sender"] == "agent"
    await agent_socket.send_json({"type": "message", "ticket_id": ticket_id, "text": "Hello!", "client_id": "a1"})
    received = await _next(customer_socket, "message")
    while received["message"]["sender"] != "agent":
        received = await _next(customer_socket, "message")
    assert received["message"]["text"] == "Hello!"

    await customer_socket.send_json({"type": "message", "text": "It still fails", "client_id": "c1"})
    assert (await _next(customer_socket, "ack"))["client_id"] == "c1"
    relayed = await _next(agent_socket, "message")
    while relayed["message"]["sender"] != "customer":  # the notice that Anna joined came first
        relayed = await _next(agent_socket, "message")
    assert (relayed["ticket_id"], relayed["message"]["text"]) == (ticket_id, "It still fails")
    # the chat as the agent's instance sees it: the customer is present (their socket is on the other one)
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert detail["customer"]["present"] is True


async def _claim_then_move(left, joined):
    """Anna claims a chat with her console on instance `left`, closes it there (a grace period starts there) and
    opens one on `joined`: the customer, and her socket on `joined`."""
    customer, ticket_id = await queued_ticket(left)
    anna = await new_agent(left, "anna")
    before = await left.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await before.close()
    return customer, anna, await joined.ws_connect(f"/api/v1/agent/ws?token={anna.token}")


async def test_an_agent_who_reconnects_to_the_other_instance_within_the_grace_period_keeps_the_chat(two_hubs):
    first, second = two_hubs
    customer, _, on_first = await _claim_then_move(second, first)
    await asyncio.sleep(1.5)  # past the grace period (1 s) the second instance started
    assert await _state(customer) == "agent"

    await on_first.close()  # now connected nowhere: the first instance's grace period ends it
    async with asyncio.timeout(5):
        while await _state(customer) != "queued":
            await asyncio.sleep(0.1)
    kinds = [m["meta"].get("kind") for m in (await customer.messages())["messages"]]
    assert kinds.count("agent_left") == 1  # once, though both instances ran a grace period for her


@pytest.mark.parametrize("how", ["stops", "dies"])
async def test_the_agents_of_an_instance_that_goes_away_get_their_grace_period_on_the_other(two_hubs, how):
    first, second = two_hubs
    customer, ticket_id = await queued_ticket(first)
    anna = await new_agent(second, "anna")
    await second.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await _agent_known_to(first, anna.id)
    if how == "stops":
        await second.close()  # says goodbye
    else:  # no goodbye: the instance falls silent (its listener and heartbeat end, its sockets stay open)
        for task in second.app[HUB].cluster._tasks:
            task.cancel()
    await _until(lambda: not first.app[HUB].cluster.peers)
    assert await _state(customer) == "agent"  # the grace period runs first
    async with asyncio.timeout(5):
        while await _state(customer) != "queued":
            await asyncio.sleep(0.1)
    assert (await customer.messages())["messages"][-1]["meta"]["kind"] == "agent_left"


async def test_a_lock_is_held_by_one_instance_at_a_time(two_hubs):
    first, second = two_hubs
    order = []

    async def hold(client, name):
        async with client.app[HUB].lock("conversation-x"):
            order.append(f"{name} in")
            await asyncio.sleep(0.3)
            order.append(f"{name} out")

    await asyncio.gather(hold(first, "first"), hold(second, "second"))
    assert order in (
        ["first in", "first out", "second in", "second out"],
        ["second in", "second out", "first in", "first out"],
    )


async def test_rate_limits_count_the_messages_sent_through_both_instances(cluster_settings, aiohttp_client):
    settings = cluster_settings()
    settings.rate_messages_per_10s = 3
    first = await aiohttp_client(create_app(settings))
    second = await aiohttp_client(create_app(settings))
    customer = await new_customer(first)
    await early_in_a_window(10)
    statuses = []
    for client in (first, second, first, second):
        customer.client = client
        statuses.append((await customer.say("hello")).status)
    assert statuses == [200, 200, 200, 429]


async def test_a_due_email_is_sent_once_though_both_instances_look_at_the_same_moment(two_hubs):
    first, second = two_hubs
    customer = await new_customer(first)
    hub = first.app[HUB]
    async with hub.sessions() as session, session.begin():
        conversation = await session.get(Conversation, customer.id)
        conversation.email = "kim@example.org"
        session.add(
            OutgoingMail(
                conversation_id=customer.id, to_address="kim@example.org", after_message_id=0, send_after=hub.now()
            )
        )
    claims = await asyncio.gather(*(outbox._claim(c.app[HUB], 1) for c in (first, second, first, second)))
    assert sorted(claims) == [False, False, False, True]


def test_several_instances_need_postgresql():
    with pytest.raises(ValueError, match="need PostgreSQL"):
        Cluster.for_settings(Settings(database_url="sqlite:///var/x.db", hub_redis_url=REDIS_URL))
    assert Cluster.for_settings(Settings(database_url="sqlite:///var/x.db")) is None


@pytest.mark.parametrize("away", ["locks", "rate limits"])
async def test_while_redis_is_away_a_message_is_refused_with_503_and_nothing_is_stored(two_hubs, away):
    first, _ = two_hubs
    customer = await new_customer(first)
    hub = first.app[HUB]
    gone = f"redis://127.0.0.1:{closed_port()}/0"  # as if Redis went down
    reachable = hub.cluster.redis, hub.limiter
    if away == "locks":
        hub.cluster.redis = redis.asyncio.from_url(gone)
    else:
        hub.cluster.url = gone
        hub.limiter = SlidingWindowCounterRateLimiter(hub.cluster.limit_storage())
    try:
        refused = await customer.say("Is anybody there?")
        assert refused.status == 503
        assert (await refused.json())["error"]["code"] == "temporarily_unavailable"
        assert [m["text"] for m in (await customer.messages())["messages"]] == []
    finally:
        hub.cluster.redis, hub.limiter = reachable
    assert (await customer.say("Is anybody there?")).status == 200


async def test_a_hub_whose_redis_cannot_be_reached_does_not_start(cluster_settings, aiohttp_client):
    settings = cluster_settings()
    settings.hub_redis_url = f"redis://127.0.0.1:{closed_port()}/0"
    with pytest.raises(RuntimeError, match="HUB_REDIS_URL: Redis at .* cannot be reached"):
        await aiohttp_client(create_app(settings))


async def test_an_agent_who_leaves_one_instance_and_then_another_gets_a_full_grace_period_after_the_last(two_hubs):
    first, second = two_hubs
    customer, anna, on_second = await _claim_then_move(first, second)  # the first instance's grace period starts
    await _until(lambda: anna.id not in first.app[HUB].grace_tasks)  # it ended: she is on the second instance
    await asyncio.sleep(0.6)
    await on_second.close()  # 0.4 s before the first grace period would have ended
    await asyncio.sleep(0.7)
    assert await _state(customer) == "agent"  # the second instance's grace period runs
    async with asyncio.timeout(5):
        while await _state(customer) != "queued":
            await asyncio.sleep(0.1)


async def test_an_instance_that_cannot_reach_redis_takes_nobody_as_gone_and_ends_no_grace_period(two_hubs):
    first, second = two_hubs
    hub = first.app[HUB]
    customer, ticket_id = await queued_ticket(first)
    ben = await new_agent(first, "ben")
    await ben.call("POST", f"/tickets/{ticket_id}/claim")  # Ben has the chat and no console open anywhere
    reachable = hub.cluster.redis
    hub.cluster.redis = redis.asyncio.from_url(f"redis://127.0.0.1:{closed_port()}/0")  # it cannot publish
    try:
        await _until(hub.cluster.cut_off)
        sockets.schedule_requeue(hub, ben.id, delay=0.1)
        await asyncio.sleep(cluster_module.STALE_S + 0.5)
        assert hub.cluster.peers  # the second instance is not taken as gone: it is this one that hears nobody
        assert await _state(customer) == "agent"  # and Ben's grace period does not end while it cannot tell
    finally:
        hub.cluster.redis = reachable
    async with asyncio.timeout(5):
        while await _state(customer) != "queued":  # heard again: Ben is connected nowhere, the chat goes back
            await asyncio.sleep(0.1)


async def _drop_channel(cluster: Cluster) -> None:
    """Redis ends the instance's pub/sub connection (the others are untouched)."""
    admin = redis.asyncio.from_url(REDIS_URL)
    try:
        clients = await admin.client_list(_type="pubsub")
        [channel] = [c for c in clients if c["name"] == f"hub-{cluster.instance}"]
        await admin.client_kill_filter(_id=channel["id"])
    finally:
        await admin.aclose()


async def test_when_redis_is_back_the_sockets_close_so_that_the_clients_catch_up(two_hubs):
    first, _ = two_hubs
    customer = await new_customer(first)
    socket = await first.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    await _drop_channel(first.app[HUB].cluster)  # as when Redis restarts
    closing = await socket.receive(timeout=5)
    while closing.type.name != "CLOSE":
        closing = await socket.receive(timeout=5)
    assert closing.data == 1012  # service restart: the widget reconnects and fetches what it missed


async def test_a_customers_visit_to_one_instance_is_known_to_the_other_for_the_emails(two_hubs):
    first, second = two_hubs
    customer = await new_customer(first)
    customer.client = second
    await customer.messages()  # a poll on the second instance
    hub = first.app[HUB]
    hub.cluster.peers.clear()  # long after the second instance's heartbeats stopped mentioning it
    async with asyncio.timeout(5):
        while (seen := await hub.customer_last_visit(customer.id)) is None:
            await asyncio.sleep(0.05)
    assert abs((hub.now() - seen).total_seconds()) < 5


async def test_a_lock_held_too_long_elsewhere_answers_503(two_hubs, monkeypatch):
    first, second = two_hubs
    monkeypatch.setattr(cluster_module, "LOCK_WAIT_S", 0.3)
    async with second.app[HUB].lock("conversation-y"):
        with pytest.raises(ClusterUnavailable, match="still being handled"):
            async with first.app[HUB].lock("conversation-y"):
                pass
