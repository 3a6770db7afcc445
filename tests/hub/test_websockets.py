"""The two WebSockets with real clients: live relay both ways, typing, acknowledgements, origin checks."""

from __future__ import annotations

import asyncio

from aiohttp import WSServerHandshakeError

from handoff.keys import SETTINGS
from tests.hub.conftest import new_agent, new_customer, queued_ticket


async def _next(socket, kind: str, timeout: float = 5.0) -> dict:
    """The next event of `kind` (other events are skipped)."""
    async with asyncio.timeout(timeout):
        while True:
            event = await socket.receive_json()
            if event["type"] == kind:
                return event


async def _claimed_chat(client):
    """A queued ticket claimed by agent Anna, with her console socket and the customer's socket open."""
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    agent_socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    customer_socket = await client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    return customer, ticket_id, agent_socket, customer_socket


async def test_a_new_ticket_appears_live_in_the_queue_of_agents_who_cover_it(client):
    anna = await new_agent(client, "anna", categories=["phone"])
    ben = await new_agent(client, "ben", categories=["camera"])
    anna_socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    ben_socket = await client.ws_connect(f"/api/v1/agent/ws?token={ben.token}")
    _, ticket_id = await queued_ticket(client, category="phone")
    event = await _next(anna_socket, "ticket_queued")
    assert event["ticket"]["id"] == ticket_id and event["ticket"]["category"] == "phone"
    await ben_socket.send_json({"type": "ping"})
    assert (await ben_socket.receive_json())["type"] == "pong"  # nothing about the phone ticket came before


async def test_the_queue_shows_live_whether_a_waiting_customer_still_has_the_chat_open(client):
    client.app[SETTINGS].customer_away_after_s = 0.2
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    agent_socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    customer_socket = await client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    assert (await _next(agent_socket, "customer_presence")) == {
        "type": "customer_presence",
        "ticket_id": ticket_id,
        "present": True,
    }
    [waiting] = (await anna.json("GET", "/queue"))["tickets"]
    assert waiting["customer_present"] is True
    await customer_socket.close()
    gone = await _next(agent_socket, "customer_presence")
    assert (gone["ticket_id"], gone["present"]) == (ticket_id, False)
    [waiting] = (await anna.json("GET", "/queue"))["tickets"]
    assert waiting["customer_present"] is False


async def test_agent_and_customer_chat_live_over_websockets_both_ways(client):
    customer, ticket_id, agent_socket, customer_socket = await _claimed_chat(client)
    state = await _next(customer_socket, "state")
    assert state["state"] == "agent" and state["agent"] == {"display_name": "Anna"}

    await agent_socket.send_json({"type": "message", "ticket_id": ticket_id, "text": "Hello!", "client_id": "a1"})
    ack = await _next(agent_socket, "ack")
    assert ack["client_id"] == "a1" and ack["message"]["sender"] == "agent"
    received = await _next(customer_socket, "message")
    while received["message"]["sender"] != "agent":
        received = await _next(customer_socket, "message")
    assert received["message"]["text"] == "Hello!"

    await customer_socket.send_json({"type": "message", "text": "Hi, <b>it</b> still fails", "client_id": "c1"})
    assert (await _next(customer_socket, "ack"))["client_id"] == "c1"
    relayed = await _next(agent_socket, "message")
    assert relayed["ticket_id"] == ticket_id
    assert relayed["message"] | {"id": 0, "created_at": ""} == {
        "id": 0,
        "sender": "customer",
        "text": "Hi, <b>it</b> still fails",
        "buttons": [],
        "created_at": "",
        "meta": {},
    }


async def test_a_resent_message_with_the_same_client_id_is_stored_and_relayed_once(client):
    customer, ticket_id, agent_socket, customer_socket = await _claimed_chat(client)
    for _ in range(2):  # e.g. the connection dropped before the ack, and the client sent it again
        await agent_socket.send_json({"type": "message", "ticket_id": ticket_id, "text": "Try this", "client_id": "a1"})
        first_ack = await _next(agent_socket, "ack")
        await customer_socket.send_json({"type": "message", "text": "Did that", "client_id": "c1"})
        second_ack = await _next(customer_socket, "ack")
    assert first_ack["message"]["text"] == "Try this" and second_ack["message"]["text"] == "Did that"
    history = await customer.messages()
    texts = [m["text"] for m in history["messages"]]
    assert texts.count("Try this") == 1 and texts.count("Did that") == 1
    assert history["state"] == "agent"


async def test_typing_is_forwarded_to_the_other_side(client):
    customer, ticket_id, agent_socket, customer_socket = await _claimed_chat(client)
    await customer_socket.send_json({"type": "typing", "typing": True})
    assert (await _next(agent_socket, "typing")) == {"type": "typing", "ticket_id": ticket_id, "typing": True}
    await agent_socket.send_json({"type": "typing", "ticket_id": ticket_id, "typing": True})
    assert (await _next(customer_socket, "typing")) == {"type": "typing", "sender": "agent", "typing": True}


async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(client):
    customer = await new_customer(client)
    socket = await client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    await socket.send_str("{not json")
    assert (await socket.receive_json())["error"]["code"] == "invalid_json"
    await socket.send_json({"type": "message", "text": "nul \u0000 inside", "client_id": "nul"})
    refused = await socket.receive_json()
    assert (refused["client_id"], refused["error"]["code"]) == ("nul", "invalid_characters")
    await socket.send_json({"type": "message", "text": "x" * 2001, "client_id": "big"})
    error = await _next(socket, "error")
    assert (error["client_id"], error["error"]["code"]) == ("big", "message_too_large")


async def test_hostile_frames_on_either_socket_are_answered_and_neither_socket_closes(client):
    """Found in a review: a client_id that was no string, a lone surrogate or deep nesting ended the customer's
    socket with an HTTP error page written into the stream (close code 1002), and the agent got no answer."""
    customer, ticket_id, agent_socket, customer_socket = await _claimed_chat(client)
    hostile = [
        ('{"type": "message", "text": "hi", "client_id": {"a": 1}}', "invalid_client_id"),
        ('{"type": "message", "text": "hi", "client_id": ["l"]}', "invalid_client_id"),
        ('{"type": "message", "text": "hi", "client_id": "' + "k" * 65 + '"}', "invalid_client_id"),
        ('{"type": "message", "text": "hi \\ud800", "client_id": "s"}', "invalid_characters"),
        ('{"type": "message", "text": "hi", "client_id": "hi\\ud800"}', "invalid_characters"),
        ("[" * 5000 + "]" * 5000, "too_deep"),
        ('{"type": "message", "a": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
    ]
    for raw, code in hostile:
        for socket in (customer_socket, agent_socket):
            frame = raw if socket is customer_socket else raw.replace('"text"', f'"ticket_id": {ticket_id}, "text"')
            await socket.send_str(frame)
            assert (await _next(socket, "error"))["error"]["code"] == code, (frame[:80], socket is customer_socket)
    await customer_socket.send_json({"type": "message", "text": "still here", "client_id": "ok"})
    assert (await _next(customer_socket, "ack"))["client_id"] == "ok"
    assert (await _next(agent_socket, "message"))["message"]["text"] == "still here"
    await agent_socket.send_json({"type": "message", "ticket_id": ticket_id, "text": "me too", "client_id": "a"})
    assert (await _next(agent_socket, "ack"))["client_id"] == "a"


async def test_a_conversation_opens_in_at_most_ten_windows(client):
    customer = await new_customer(client)
    url = f"/api/v1/conversations/{customer.id}/ws?token={customer.token}"
    sockets = [await client.ws_connect(url) for _ in range(10)]
    try:
        await client.ws_connect(url)
    except WSServerHandshakeError as exc:
        assert exc.status == 429
    else:
        raise AssertionError("an eleventh socket was accepted")
    await sockets[0].close()
    await asyncio.sleep(0.05)
    await (await client.ws_connect(url)).close()  # a closed window makes room


async def test_a_websocket_needs_the_conversations_token(client):
    customer, other = await new_customer(client), await new_customer(client)
    try:
        await client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={other.token}")
    except WSServerHandshakeError as exc:
        assert exc.status == 401
    else:
        raise AssertionError("the socket opened with another conversation's token")


async def test_websocket_origins_are_checked(client):
    customer = await new_customer(client)
    anna = await new_agent(client, "anna")
    foreign = {"Origin": "https://evil.example"}
    for url in (
        f"/api/v1/conversations/{customer.id}/ws?token={customer.token}",
        f"/api/v1/agent/ws?token={anna.token}",
    ):
        try:
            await client.ws_connect(url, headers=foreign)
        except WSServerHandshakeError as exc:
            assert exc.status == 403
        else:
            raise AssertionError(f"{url} accepted a foreign origin")
    own = {"Origin": str(client.make_url("")).rstrip("/")}
    socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}", headers=own)
    await socket.close()


async def test_the_widget_api_answers_cors_only_for_allowed_origins(client):
    denied = await client.options("/api/v1/conversations", headers={"Origin": "https://evil.example"})
    assert denied.status == 403
    client.app[SETTINGS].widget_origins = "https://shop.example"
    allowed = await client.options(
        "/api/v1/conversations",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
    )
    assert allowed.status == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"


async def test_the_widget_api_errors_carry_cors_headers_so_an_embedding_site_can_read_them(client):
    """A widget on another site must read a refusal (401, 429 with Retry-After), not see a network error."""
    client.app[SETTINGS].widget_origins = "https://shop.example"
    client.app[SETTINGS].rate_messages_per_10s = 1
    shop = {"Origin": "https://shop.example"}
    customer = await new_customer(client)
    unauthorized = await client.get(
        f"/api/v1/conversations/{customer.id}/messages", headers={**shop, "Authorization": "Bearer wrong"}
    )
    assert unauthorized.status == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert unauthorized.headers["X-Content-Type-Options"] == "nosniff"
    statuses = []
    for text in ("one", "two"):
        response = await client.post(
            f"/api/v1/conversations/{customer.id}/messages", json={"text": text}, headers={**shop, **customer.auth}
        )
        statuses.append(response.status)
    assert statuses[-1] == 429, statuses
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "Retry-After" in response.headers["Access-Control-Expose-Headers"]
    assert int(response.headers["Retry-After"]) >= 1
