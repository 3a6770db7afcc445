"""The customer API: conversations, tokens, limits, and what happens when the bot is down."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from handoff.app import create_app
from tests.hub.conftest import early_in_a_window, new_agent, new_customer, queued_ticket


async def test_a_conversation_starts_with_the_bot_in_the_chosen_language(client):
    response = await client.post("/api/v1/conversations", json={"language": "de"})
    assert response.status == 201
    data = await response.json()
    assert set(data) == {"id", "token", "language", "state"}
    assert (data["language"], data["state"]) == ("de", "bot")


async def test_every_answer_says_the_conversations_language_which_follows_the_customer(client):
    """The widget switches its own texts with it at once (found in a review: it stayed English until a reload
    while the bot and the hub's notices had switched to German)."""
    response = await client.post("/api/v1/conversations", json={"language": "en"})
    data = await response.json()
    auth = {"Authorization": f"Bearer {data['token']}"}
    url = f"/api/v1/conversations/{data['id']}/messages"
    german = {"text": "Mein Handy lädt seit gestern nicht mehr"}
    reply = await (await client.post(url, json=german, headers=auth)).json()
    assert reply["language"] == "de"
    assert (await (await client.get(url, headers=auth)).json())["language"] == "de"
    socket = await client.ws_connect(f"/api/v1/conversations/{data['id']}/ws?token={data['token']}")
    await client.post(url, json={"payload": "/request_human"}, headers=auth)
    async with asyncio.timeout(5):
        while (event := await socket.receive_json())["type"] != "state":
            pass
    assert (event["state"], event["language"]) == ("queued", "de")
    await socket.close()


async def test_the_language_defaults_to_the_browser_language(client):
    response = await client.post("/api/v1/conversations", headers={"Accept-Language": "de-AT,de;q=0.9"})
    assert (await response.json())["language"] == "de"


async def test_an_unsupported_language_is_refused_with_the_field_named(client):
    response = await client.post("/api/v1/conversations", json={"language": "fr"})
    assert response.status == 400
    assert (await response.json())["error"]["message"].startswith("language:")


async def test_a_token_opens_only_its_own_conversation(client):
    alice, bob = await new_customer(client), await new_customer(client)
    response = await client.get(f"/api/v1/conversations/{alice.id}/messages", headers=bob.auth)
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "token_invalid"
    assert (await client.get(f"/api/v1/conversations/{alice.id}")).status == 401


async def test_a_message_over_the_limit_is_refused_with_413_and_nothing_is_stored(client):
    customer = await new_customer(client)
    response = await customer.say("x" * 2001)
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "message_too_large" and "2000" in error["message"]
    escaped = json.dumps({"text": "\U0001f600" * 2001})  # 12 bytes a character: 24 KB, and still the precise error
    response = await client.post(
        f"/api/v1/conversations/{customer.id}/messages",
        data=escaped,
        headers={**customer.auth, "Content-Type": "application/json"},
    )
    assert response.status == 413 and (await response.json())["error"]["code"] == "message_too_large"
    assert (await customer.messages())["messages"] == []


async def test_an_oversized_body_is_refused_with_413(client):
    customer = await new_customer(client)
    response = await client.post(
        f"/api/v1/conversations/{customer.id}/messages",
        data=b'{"text": "' + b"a" * 40000 + b'"}',
        headers={**customer.auth, "Content-Type": "application/json"},
    )
    assert response.status == 413
    assert (await response.json())["error"]["code"] == "too_large"


async def test_malformed_json_gets_a_precise_error(client):
    customer = await new_customer(client)
    response = await client.post(
        f"/api/v1/conversations/{customer.id}/messages", data=b"{text: hi", headers=customer.auth
    )
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "invalid_json"


async def test_unknown_fields_and_missing_text_are_refused(client):
    customer = await new_customer(client)
    assert (await customer.say("hi", evil=True)).status == 400
    response = await client.post(f"/api/v1/conversations/{customer.id}/messages", json={}, headers=customer.auth)
    assert (await response.json())["error"]["code"] == "text_or_payload"


async def test_a_button_that_was_never_offered_is_refused(client):
    customer = await new_customer(client)
    response = await customer.say(payload='/rate{"rating": "5"}')
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "unknown_button"


async def test_when_the_bot_is_down_the_message_is_kept_and_a_person_offered_within_two_seconds(client):
    customer = await new_customer(client)
    started = time.perf_counter()
    response = await customer.say("My camera shows a lens error")
    elapsed = time.perf_counter() - started
    assert response.status == 200 and elapsed < 2.0
    data = await response.json()
    assert data["customer_message"]["text"] == "My camera shows a lens error"
    [notice] = data["messages"]
    assert notice["meta"]["kind"] == "bot_unavailable"
    assert notice["buttons"] == [{"title": "Talk to a person", "payload": "/request_human"}]
    stored = (await customer.messages())["messages"]
    assert [m["sender"] for m in stored] == ["customer", "system"]


async def test_when_the_bot_hangs_only_the_first_message_waits_for_the_timeout(hub_settings, aiohttp_client):
    """A Rasa that accepts connections and never answers: after one timeout the next messages are told at once."""
    hanging: list[asyncio.StreamWriter] = []

    async def never_answer(_reader, writer):
        hanging.append(writer)

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    hub_settings.rasa_port = server.sockets[0].getsockname()[1]
    hub_settings.rasa_timeout_s = 0.5
    client = await aiohttp_client(create_app(hub_settings))
    customer = await new_customer(client)
    waits = []
    for text in ("My camera shows a lens error", "Hello?", "Anyone there?"):
        started = time.perf_counter()
        reply = await (await customer.say(text)).json()
        waits.append(time.perf_counter() - started)
        assert reply["messages"][-1]["meta"]["kind"] == "bot_unavailable"
    assert waits[0] >= 0.5 and max(waits[1:]) < 0.5, waits
    server.close()
    for writer in hanging:
        writer.close()


async def test_asking_for_a_person_while_the_bot_is_down_queues_a_ticket_honestly(client):
    customer = await new_customer(client, "de")
    await customer.say("Meine Kamera zeigt einen Objektivfehler")
    data = await (await customer.say(payload="/request_human")).json()
    assert data["state"] == "queued"
    assert data["queue"] == {
        "position": 1,
        "estimated_wait_s": None,
        "agents_online": 0,
        "open": True,
        "opens_at": None,
    }
    notice = data["messages"][-1]
    assert notice["meta"]["kind"] == "no_agent" and "E-Mail" in notice["text"]
    assert notice["meta"]["handoff"]["reason"] == "bot_unavailable"
    assert data["customer_message"]["text"] == "Mit einem Menschen sprechen"


async def test_outside_service_hours_the_customer_is_told_when_second_level_is_back(hub_settings, aiohttp_client):
    tomorrow = (datetime.now(ZoneInfo(hub_settings.hub_timezone)) + timedelta(days=1)).strftime("%a").lower()
    hub_settings.opening_hours = f"{tomorrow} 09:30-10:00"  # closed today, whatever the time
    client = await aiohttp_client(create_app(hub_settings))
    customer = await new_customer(client, "de")
    data = await (await customer.say(payload="/request_human")).json()
    notice = data["messages"][-1]
    assert notice["meta"]["kind"] == "closed_hours"
    assert "ab morgen 09:30 Uhr wieder für Sie da" in notice["text"]
    opens = datetime.fromisoformat(data["queue"]["opens_at"]).astimezone(ZoneInfo(hub_settings.hub_timezone))
    assert (opens.hour, opens.minute, data["queue"]["open"]) == (9, 30, False)


async def test_while_queued_the_customer_can_keep_writing_and_the_bot_stays_silent(client):
    customer = await new_customer(client)
    await customer.say(payload="/request_human")
    data = await (await customer.say("It is a Nikon Z6")).json()
    assert data["messages"] == [] and data["state"] == "queued"


async def test_a_waiting_customer_can_go_back_to_the_assistant_and_the_ticket_leaves_the_queue(client):
    customer = await new_customer(client, "de")
    queued = await (await customer.say(payload="/request_human")).json()
    ticket_id = queued["messages"][-1]["meta"]["handoff"]["ticket_id"]
    offered = queued["messages"][-1]["buttons"]
    assert {"title": "Zurück zum Assistenten", "payload": "/back_to_bot"} in offered
    anna = await new_agent(client, "anna")
    socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")

    data = await (await customer.say(payload="/back_to_bot")).json()
    assert data["state"] == "bot" and data["queue"] is None
    assert data["customer_message"]["text"] == "Zurück zum Assistenten"
    assert [m["meta"]["kind"] for m in data["messages"]] == ["back_to_bot"]
    assert "Warteschlange verlassen" in data["messages"][0]["text"]
    while (event := await socket.receive_json(timeout=5))["type"] != "ticket_taken":
        pass
    assert event["ticket_id"] == ticket_id
    assert (await anna.json("GET", "/queue"))["tickets"] == []
    refused = await anna.json("POST", f"/tickets/{ticket_id}/claim", expect=409)
    assert refused["error"]["code"] == "already_claimed"
    history = await anna.json("GET", f"/tickets/{ticket_id}")
    assert history["ticket"]["status"] == "withdrawn"
    again = await (await customer.say("Hallo, ist da jemand?")).json()  # the bot is asked again (here: it is down)
    assert again["messages"][-1]["meta"]["kind"] == "bot_unavailable"


async def test_going_back_to_the_assistant_and_a_claim_at_the_same_moment_end_with_one_owner(client):
    for _ in range(5):
        customer = await new_customer(client)
        queued = await (await customer.say(payload="/request_human")).json()
        ticket_id = queued["messages"][-1]["meta"]["handoff"]["ticket_id"]
        anna = await new_agent(client, f"anna{customer.id[:8]}")
        leave, claim = await asyncio.gather(
            customer.say(payload="/back_to_bot"), anna.call("POST", f"/tickets/{ticket_id}/claim", expect=None)
        )
        state = (await leave.json())["state"]
        assert (state, claim.status) in (("bot", 409), ("agent", 200)), (state, claim.status)


async def test_a_retried_message_with_the_same_client_id_is_stored_once(client):
    customer = await new_customer(client)
    first = await (await customer.say("hello", client_id="abc")).json()
    second = await (await customer.say("hello", client_id="abc")).json()
    assert first["customer_message"]["id"] == second["customer_message"]["id"]
    customer_messages = [m for m in (await customer.messages())["messages"] if m["sender"] == "customer"]
    assert len(customer_messages) == 1


async def test_a_client_id_the_other_side_used_is_refused_not_taken_for_a_retry(client):
    """Found in a review: an agent's message with the customer's client_id was answered 201 with the customer's
    message, and the agent's own text ("do not open the device") was never stored."""
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    assert (await customer.say("my phone is hot", client_id="msg-1")).status == 200
    body = {"text": "IMPORTANT: do not open the device", "client_id": "msg-1"}
    refused = await anna.call("POST", f"/tickets/{ticket_id}/messages", body, expect=409)
    assert (await refused.json())["error"]["code"] == "client_id_taken"
    await anna.call("POST", f"/tickets/{ticket_id}/messages", {**body, "client_id": "agent-1"}, expect=201)
    again = await anna.json("POST", f"/tickets/{ticket_id}/messages", {**body, "client_id": "agent-1"}, expect=201)
    assert again["message"]["text"] == body["text"]  # a true retry still gets its own message back
    texts = [m["text"] for m in (await customer.messages())["messages"] if m["sender"] == "agent"]
    assert texts == [body["text"]]
    refused = await customer.say("again", client_id="agent-1")
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "client_id_taken"


async def test_a_rating_is_a_whole_number_as_json_has_it(client):
    """true was stored as a rating of 1, "5" as 5: the body's types are now held to the document."""
    customer = await new_customer(client)
    url = f"/api/v1/conversations/{customer.id}/rating"
    for loose in (True, "5", 4.5):  # (4.0 is a whole number, as JSON Schema counts)
        response = await client.post(url, json={"score": loose}, headers=customer.auth)
        assert response.status == 400, loose
    assert (await client.post(url, json={"score": 4}, headers=customer.auth)).status == 200


async def test_polling_returns_only_messages_after_the_given_id(client):
    customer = await new_customer(client)
    first = (await (await customer.say("one")).json())["customer_message"]["id"]
    later = (await customer.messages(after=first))["messages"]
    assert later and all(m["id"] > first for m in later)


async def test_too_many_messages_get_429_with_retry_after(hub_settings, aiohttp_client):
    hub_settings.rate_messages_per_10s = 3
    client = await aiohttp_client(create_app(hub_settings))
    customer = await new_customer(client)
    await early_in_a_window(10)
    statuses = [(await customer.say(f"message {i}")).status for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = await customer.say("again")
    assert int(response.headers["Retry-After"]) >= 1


async def test_messages_are_limited_per_address_over_all_its_conversations(hub_settings, aiohttp_client):
    hub_settings.rate_address_messages_per_minute = 4
    client = await aiohttp_client(create_app(hub_settings))
    first, second = await new_customer(client), await new_customer(client)
    await early_in_a_window(60)
    statuses = [(await customer.say("hello")).status for customer in (first, second, first, second, first)]
    assert statuses == [200, 200, 200, 200, 429]
    refused = await (await second.say("hello")).json()
    assert refused["error"]["code"] == "rate_limited" and "from your address" in refused["error"]["message"]


async def test_behind_a_trusted_proxy_the_customers_address_and_the_public_origin_count(hub_settings, aiohttp_client):
    """X-Forwarded-* are believed from TRUSTED_PROXIES only; the customer's address is the rightmost untrusted one."""
    hub_settings.rate_conversations_per_minute = 1
    hub_settings.trusted_proxies = "127.0.0.1, 10.0.0.0/8"
    client = await aiohttp_client(create_app(hub_settings))

    async def start(forwarded_for: str) -> int:
        headers = {"X-Forwarded-For": forwarded_for}
        return (await client.post("/api/v1/conversations", json={}, headers=headers)).status

    assert await start("203.0.113.7") == 201
    assert await start("198.51.100.9, 10.1.2.3") == 201  # through a second proxy of ours
    assert await start("1.2.3.4, 203.0.113.7") == 429  # what the client wrote itself does not count
    public = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "support.example", "Origin": "https://support.example"}
    agent = await new_agent(client, "anna")
    socket = await client.ws_connect(f"/api/v1/agent/ws?token={agent.token}", headers=public)
    await socket.close()


async def test_without_trusted_proxies_forwarded_headers_are_ignored(hub_settings, aiohttp_client):
    hub_settings.rate_conversations_per_minute = 1
    client = await aiohttp_client(create_app(hub_settings))
    statuses = [
        (await client.post("/api/v1/conversations", json={}, headers={"X-Forwarded-For": address})).status
        for address in ("203.0.113.7", "198.51.100.9")
    ]
    assert statuses == [201, 429]


async def test_new_conversations_are_limited_per_address(hub_settings, aiohttp_client):
    hub_settings.rate_conversations_per_minute = 2
    client = await aiohttp_client(create_app(hub_settings))
    statuses = [(await client.post("/api/v1/conversations")).status for _ in range(3)]
    assert statuses == [201, 201, 429]


async def test_an_email_address_can_be_left_and_a_bad_one_is_explained(client):
    customer = await new_customer(client)
    url = f"/api/v1/conversations/{customer.id}/contact"
    bad = await client.post(url, json={"email": "not an address"}, headers=customer.auth)
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "invalid_email"
    good = await client.post(url, json={"email": "kim@example.org"}, headers=customer.auth)
    assert good.status == 200
    status = await (await client.get(f"/api/v1/conversations/{customer.id}", headers=customer.auth)).json()
    assert status["email"] == "kim@example.org"


@pytest.mark.parametrize(
    "hostile",
    [
        "a:b@x;c.com",  # group syntax: the mail header could not be written, which stopped every e-mail
        "kim@example.org,postmaster",  # a second recipient
        "kim@example.org?cc=someone%40evil.example&body=hi",  # a Cc and a text in the console's mailto: link
        "Kim <kim@example.org>",  # a display name
        "kim..x@example.org",
        "kim@-example.org",
        "kim@localhost",
    ],
)
async def test_an_email_address_is_one_plain_address(client, hostile):
    customer = await new_customer(client)
    url = f"/api/v1/conversations/{customer.id}/contact"
    response = await client.post(url, json={"email": hostile}, headers=customer.auth)
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_email"


async def test_a_conversation_may_leave_only_a_few_email_addresses_an_hour(hub_settings, aiohttp_client):
    hub_settings.rate_contact_per_hour = 2
    client = await aiohttp_client(create_app(hub_settings))
    customer = await new_customer(client)
    url = f"/api/v1/conversations/{customer.id}/contact"
    statuses = [
        (await client.post(url, json={"email": f"kim{i}@example.org"}, headers=customer.auth)).status for i in range(3)
    ]
    assert statuses == [200, 200, 429]


async def test_a_restart_of_the_hub_loses_nothing(hub_settings, aiohttp_client):
    first = await aiohttp_client(create_app(hub_settings))
    customer = await new_customer(first)
    await customer.say("my notebook will not start")
    await customer.say(payload="/request_human")
    before = await customer.messages()
    await first.close()

    second = await aiohttp_client(create_app(hub_settings))
    customer.client = second
    after = await customer.messages()
    assert after["messages"] == before["messages"]
    assert after["state"] == "queued" and after["queue"]["position"] == 1


async def test_errors_never_show_a_traceback(client):
    response = await client.get("/api/v1/conversations/nope/messages", headers={"Authorization": "Bearer x"})
    assert response.status == 404
    assert await response.json() == {
        "error": {"code": "conversation_not_found", "message": "There is no such conversation."}
    }


async def test_a_json_null_body_is_refused_where_an_object_is_expected(client):
    """Found by schemathesis: `null` was taken for "no body"."""
    response = await client.post("/api/v1/conversations", data=b"null", headers={"Content-Type": "application/json"})
    assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_body"
    assert (await client.post("/api/v1/conversations")).status == 201  # no body at all: the defaults


async def test_polling_after_an_id_beyond_the_databases_range_is_refused(client):
    customer = await new_customer(client)
    for after in ("2147483648", "\u00b2", "-1"):
        response = await client.get(
            f"/api/v1/conversations/{customer.id}/messages?after={after}", headers=customer.auth
        )
        assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_after"


async def test_a_plain_request_to_a_websocket_address_is_told_what_it_takes(client):
    customer = await new_customer(client)
    response = await client.get(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    assert response.status == 400
    assert (await response.json())["error"]["code"] == "websocket_expected"
