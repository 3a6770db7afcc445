"""The agent API: sign-in, CSRF, routing, atomic claims, and every action on a chat."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
from aiohttp import WSServerHandshakeError
from sqlalchemy import select, update

from bot.db import make_engine, make_session_factory
from bot.kb.importer import import_articles
from bot.settings import PROJECT_DIR
from handoff.app import create_app
from handoff.keys import HUB, SETTINGS
from handoff.models import Agent, Ticket
from handoff.views import sockets
from tests.conftest import KB_DIR
from tests.hub.conftest import PASSWORD, AgentClient, early_in_a_window, new_agent, new_customer, queued_ticket


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client):
    await new_agent(client, "anna")
    wrong = await client.post("/api/v1/agent/session", json={"username": "anna", "password": "nope"})
    unknown = await client.post("/api/v1/agent/session", json={"username": "nobody", "password": "nope"})
    assert wrong.status == unknown.status == 401
    assert await wrong.json() == await unknown.json()


async def test_sign_ins_are_limited_per_address_whether_they_succeed_or_not(hub_settings, aiohttp_client):
    hub_settings.rate_logins_per_minute = 3
    client = await aiohttp_client(create_app(hub_settings))
    await early_in_a_window(60)  # (before new_agent: a sign-in in the window before counts a little less than one)
    await new_agent(client, "anna")  # one sign-in
    attempts = [("anna", "nope"), ("anna", PASSWORD), ("nobody", "nope")]
    statuses = []
    for username, password in attempts:
        response = await client.post("/api/v1/agent/session", json={"username": username, "password": password})
        statuses.append(response.status)
    assert statuses == [401, 200, 429]  # new_agent's sign-in was the first
    refused = await response.json()
    assert refused["error"]["code"] == "rate_limited" and "sign-ins" in refused["error"]["message"]
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/me"),
        ("GET", "/queue"),
        ("GET", "/chats"),
        ("GET", "/tickets/1"),
        ("POST", "/tickets/1/claim"),
        ("POST", "/tickets/1/messages"),
        ("POST", "/tickets/1/resolve"),
        ("GET", "/kb/search?q=akku"),
        ("GET", "/agents"),
        ("POST", "/agents"),
        ("PUT", "/presence"),
        ("PATCH", "/agents/1"),
    ],
)
async def test_every_agent_endpoint_requires_sign_in(client, method, path):
    response = await client.request(method, f"/api/v1/agent{path}", json={})
    assert response.status == 401
    assert (await response.json())["error"]["code"] == "not_signed_in"


async def test_cookie_sessions_need_the_csrf_token_for_changes(client):
    await new_agent(client, "anna", online=False)
    signed_in = await client.post("/api/v1/agent/session", json={"username": "anna", "password": PASSWORD})
    csrf = (await signed_in.json())["csrf_token"]
    assert "HttpOnly" in signed_in.headers["Set-Cookie"] and "SameSite=Strict" in signed_in.headers["Set-Cookie"]
    assert (await client.get("/api/v1/agent/me")).status == 200  # reading needs only the cookie
    refused = await client.put("/api/v1/agent/presence", json={"presence": "online"})
    assert refused.status == 403 and (await refused.json())["error"]["code"] == "csrf_failed"
    accepted = await client.put("/api/v1/agent/presence", json={"presence": "online"}, headers={"X-CSRF-Token": csrf})
    assert accepted.status == 200
    wrong = await client.put("/api/v1/agent/presence", json={"presence": "online"}, headers={"X-CSRF-Token": "ä" * 3})
    assert wrong.status == 403  # a token that is not ASCII failed with 500 (compare_digest takes ASCII text only)


async def test_signing_out_ends_the_session(client):
    anna = await new_agent(client, "anna")
    await anna.call("DELETE", "/session", expect=204)
    await anna.call("GET", "/me", expect=401)


async def test_signing_out_closes_the_consoles_of_that_session_only(client):
    anna = await new_agent(client, "anna")
    other = await client.post("/api/v1/agent/session", json={"username": "anna", "password": PASSWORD})
    other_token = (await other.json())["token"]
    this_console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    other_console = await client.ws_connect(f"/api/v1/agent/ws?token={other_token}")
    await anna.call("DELETE", "/session", expect=204)
    closing = await this_console.receive(timeout=5)
    assert (closing.type.name, closing.data, closing.extra) == ("CLOSE", 1008, "You signed out.")
    await other_console.send_json({"type": "ping"})
    assert (await other_console.receive_json(timeout=5))["type"] == "pong"


async def test_signing_out_passes_the_chats_back_to_the_queue_at_once(client):
    """Not after the grace period (a reload's), in which the customers would write to nobody; and the customer
    is told the agent is no longer available, not that they passed the chat on or lost the connection."""
    client.app[HUB].settings.agent_grace_s = 30
    customer, ticket_id = await queued_ticket(client, priority="high")
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    second = await client.post("/api/v1/agent/session", json={"username": "anna", "password": PASSWORD})
    elsewhere = AgentClient(client, anna.id, (await second.json())["token"])
    await elsewhere.call("DELETE", "/session", expect=204)  # another session remains: the chat stays hers
    assert (await customer.messages())["state"] == "agent"
    await anna.call("DELETE", "/session", expect=204)
    status = await customer.messages()
    assert status["state"] == "queued" and status["messages"][-1]["meta"]["kind"] == "agent_unavailable"
    assert "no longer available" in status["messages"][-1]["text"]
    ben = await new_agent(client, "ben")
    [ticket] = (await ben.json("GET", "/queue"))["tickets"]
    assert (ticket["id"], ticket["priority"]) == (ticket_id, "high")


async def _admin_and_anna_in_a_chat(client):
    """An admin, and agent Anna with a claimed chat and her console open."""
    admin = await new_agent(client, "root", role="admin")
    anna = await new_agent(client, "anna")
    customer, ticket_id = await queued_ticket(client)
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    return admin, anna, customer, ticket_id, console


async def test_an_admin_locks_an_agent_out_at_once_and_their_chats_go_back_to_the_queue(client):
    admin, anna, customer, ticket_id, console = await _admin_and_anna_in_a_chat(client)
    refused = await anna.json("PATCH", f"/agents/{anna.id}", {"active": False}, expect=403)
    assert refused["error"]["code"] == "admin_only"
    for loose in ("no", 0, "false"):  # JSON's types as documented: "no" was read as false
        await admin.call("PATCH", f"/agents/{anna.id}", {"active": loose}, expect=400)

    changed = await admin.json("PATCH", f"/agents/{anna.id}", {"active": False})
    assert changed["agent"]["active"] is False and changed["agent"]["presence"] == "offline"
    closing = await console.receive(timeout=5)
    assert (closing.type.name, closing.data) == ("CLOSE", 1008)
    await anna.call("GET", "/me", expect=401)
    again = await client.post("/api/v1/agent/session", json={"username": "anna", "password": PASSWORD})
    assert again.status == 401 and (await again.json())["error"]["code"] == "deactivated"
    assert (await customer.messages())["state"] == "queued"
    assert [t["id"] for t in (await admin.json("GET", "/queue"))["tickets"]] == [ticket_id]
    mine = await admin.json("PATCH", f"/agents/{admin.id}", {"active": False}, expect=409)
    assert mine["error"]["code"] == "self_deactivation"

    await admin.json("PATCH", f"/agents/{anna.id}", {"active": True, "password": "a brand new passphrase"})
    back = await client.post("/api/v1/agent/session", json={"username": "anna", "password": "a brand new passphrase"})
    assert back.status == 200


async def test_an_admin_changes_an_agents_skills_and_capacity_and_their_queue_follows_at_once(client):
    admin = await new_agent(client, "root", role="admin")
    anna = await new_agent(client, "anna", categories=["phone"], languages=["en"])
    _, camera_ticket = await queued_ticket(client, category="camera", language="de")
    console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    assert (await anna.json("GET", "/queue"))["tickets"] == []

    change = {"display_name": "  Anna (Kameras)  ", "categories": ["camera"], "languages": [], "capacity": 5}
    changed = (await admin.json("PATCH", f"/agents/{anna.id}", change))["agent"]
    assert (changed["display_name"], changed["categories"], changed["languages"], changed["capacity"]) == (
        "Anna (Kameras)",
        ["camera"],
        [],
        5,
    )
    event = await console.receive_json(timeout=5)  # her console hears of it (and reloads its queue)
    while event["type"] != "presence":
        event = await console.receive_json(timeout=5)
    assert event["agent"]["categories"] == ["camera"]
    assert [t["id"] for t in (await anna.json("GET", "/queue"))["tickets"]] == [camera_ticket]
    await anna.call("GET", "/me")  # still signed in: skills change at once, no new sign-in

    for bad in ({"capacity": 0}, {"capacity": 21}, {"categories": ["fridge"]}, {"display_name": "   "},
                {"role": "owner"}, {"capacity": "5"}):  # fmt: skip
        refused = await admin.json("PATCH", f"/agents/{anna.id}", bad, expect=400)
        assert refused["error"]["code"] in ("invalid_body", "invalid_display_name")
    assert (await anna.json("PATCH", f"/agents/{anna.id}", {"capacity": 20}, expect=403))["error"]["code"] == (
        "admin_only"
    )


async def test_a_new_role_signs_the_agent_out_and_an_editor_keeps_no_chats(client):
    admin, anna, customer, ticket_id, console = await _admin_and_anna_in_a_chat(client)

    changed = await admin.json("PATCH", f"/agents/{anna.id}", {"role": "editor"})
    assert changed["agent"]["role"] == "editor"
    closing = await console.receive(timeout=5)
    while closing.type.name != "CLOSE":
        closing = await console.receive(timeout=5)
    await anna.call("GET", "/me", expect=401)
    assert (await customer.messages())["state"] == "queued"
    assert [t["id"] for t in (await admin.json("GET", "/queue"))["tickets"]] == [ticket_id]

    own = await admin.json("PATCH", f"/agents/{admin.id}", {"role": "agent"}, expect=409)
    assert own["error"]["code"] == "self_demotion"
    await admin.json("PATCH", f"/agents/{admin.id}", {"role": "admin", "display_name": "Root"})  # no change: fine
    await admin.call("GET", "/me")


async def test_the_last_active_admin_stays_and_an_editors_new_name_leaves_them_as_they_were(client):
    first = await new_agent(client, "root", role="admin")
    second = await new_agent(client, "boss", role="admin")
    erik = await new_agent(client, "erik", role="editor", online=False)
    await first.json("PATCH", f"/agents/{second.id}", {"role": "agent"})  # two admins: fine
    demoted = await second.json("PATCH", f"/agents/{first.id}", {"role": "agent"}, expect=401)  # signed out
    assert demoted["error"]["code"] == "session_expired"
    changed = await first.json("PATCH", f"/agents/{erik.id}", {"display_name": "Erik E.", "languages": ["de", "de"]})
    assert (changed["agent"]["display_name"], changed["agent"]["languages"]) == ("Erik E.", ["de"])
    await erik.call("GET", "/me")  # a new name does not sign anyone out


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(client):
    first = await new_agent(client, "root", role="admin")
    second = await new_agent(client, "boss", role="admin")
    answers = await asyncio.gather(
        first.call("PATCH", f"/agents/{second.id}", {"role": "agent"}, expect=None),
        second.call("PATCH", f"/agents/{first.id}", {"role": "agent"}, expect=None),
    )
    # the second finds itself signed out (demoted a moment before) or, having waited, the last admin
    assert sorted(a.status for a in answers) in ([200, 401], [200, 409])
    async with client.app[HUB].sessions() as session:
        admins = (await session.scalars(select(Agent.username).where(Agent.role == "admin"))).all()
    assert len(admins) == 1


async def test_an_agent_deactivated_on_the_command_line_is_signed_out_and_their_console_closed(
    client, hub_db_url, monkeypatch
):
    monkeypatch.setattr(sockets, "SESSION_CHECK_S", 0.2)  # 30 s in production
    anna = await new_agent(client, "anna")
    console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "handoff", "agent", "deactivate", "anna",
        cwd=PROJECT_DIR, env=dict(os.environ, DATABASE_URL=hub_db_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await command.communicate()
    assert command.returncode == 0, err.decode()
    assert "anna (Anna): deactivated" in out.decode()
    closing = await console.receive(timeout=10)
    assert (closing.type.name, closing.data) == ("CLOSE", 1008)
    again = await client.post("/api/v1/agent/session", json={"username": "anna", "password": PASSWORD})
    assert (await again.json())["error"]["code"] == "deactivated"


async def test_the_queue_shows_only_tickets_the_agent_covers(client):
    await queued_ticket(client, category="phone", language="de")
    await queued_ticket(client, category="camera", language="en")
    camera_en = await new_agent(client, "ben", categories=["camera"], languages=["en"])
    tickets = (await camera_en.json("GET", "/queue"))["tickets"]
    assert [(t["category"], t["language"]) for t in tickets] == [("camera", "en")]


async def test_the_queue_puts_priority_first_then_waiting_time(client):
    _, older = await queued_ticket(client, priority="normal")
    _, newer_urgent = await queued_ticket(client, priority="urgent")
    _, newest = await queued_ticket(client, priority="normal")
    anna = await new_agent(client, "anna")
    assert [t["id"] for t in (await anna.json("GET", "/queue"))["tickets"]] == [newer_urgent, older, newest]


async def test_the_customer_sees_their_place_and_an_estimate_once_agents_are_online(client):
    first, _ = await queued_ticket(client)
    second, _ = await queued_ticket(client)
    await new_agent(client, "anna", capacity=1)
    queue = (await second.messages())["queue"]
    assert queue["position"] == 2 and queue["agents_online"] == 1
    assert queue["estimated_wait_s"] == 360  # one free slot for the first; the second waits one handling time
    assert (await first.messages())["queue"]["estimated_wait_s"] == 30


async def test_two_agents_claiming_at_once_exactly_one_gets_it(client):
    _, ticket_id = await queued_ticket(client)
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    responses = await asyncio.gather(
        anna.call("POST", f"/tickets/{ticket_id}/claim", expect=None),
        ben.call("POST", f"/tickets/{ticket_id}/claim", expect=None),
    )
    assert sorted(r.status for r in responses) == [200, 409]
    loser = next(r for r in responses if r.status == 409)
    assert (await loser.json())["error"] == {
        "code": "already_claimed",
        "message": "Another agent already took this ticket.",
    }


async def test_claiming_beyond_the_capacity_is_refused(client):
    _, first = await queued_ticket(client)
    _, second = await queued_ticket(client)
    anna = await new_agent(client, "anna", capacity=1)
    await anna.call("POST", f"/tickets/{first}/claim")
    response = await anna.call("POST", f"/tickets/{second}/claim", expect=409)
    assert (await response.json())["error"] == {
        "code": "capacity_reached",
        "message": "You already have 1 chat open (your limit). Close one first.",
    }


async def test_a_ticket_outside_the_agents_skills_cannot_be_claimed(client):
    _, ticket_id = await queued_ticket(client, category="phone")
    ben = await new_agent(client, "ben", categories=["camera"])
    await ben.call("POST", f"/tickets/{ticket_id}/claim", expect=403)


async def test_after_a_claim_the_customer_sees_the_agent_and_the_chat_goes_both_ways(client):
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    status = await customer.messages()
    assert status["state"] == "agent" and status["agent"] == {"display_name": "Anna"}
    assert status["messages"][-1]["meta"]["kind"] == "agent_joined"
    sent = await anna.json("POST", f"/tickets/{ticket_id}/messages", {"text": "Hi, I'm Anna."}, expect=201)
    assert sent["message"]["meta"]["agent"] == {"display_name": "Anna"}
    reply = await (await customer.say("Hi Anna, it still does not charge")).json()
    assert reply["messages"] == []  # the bot never speaks while a person owns the conversation
    transcript = (await anna.json("GET", f"/tickets/{ticket_id}"))["transcript"]
    assert [m["sender"] for m in transcript][-3:] == ["system", "agent", "customer"]


async def test_only_the_owner_can_write_in_a_chat(client):
    _, ticket_id = await queued_ticket(client)
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    response = await ben.call("POST", f"/tickets/{ticket_id}/messages", {"text": "me too"}, expect=409)
    assert (await response.json())["error"]["code"] == "not_your_chat"


async def test_resolving_closes_the_chat_keeps_the_note_and_asks_for_a_rating(client):
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.call("POST", f"/tickets/{ticket_id}/resolve", {"note": "", "kb_candidate": True}, expect=400)
    ticket = await anna.json("POST", f"/tickets/{ticket_id}/resolve", {"note": "Reset the SMC.", "kb_candidate": True})
    assert ticket["ticket"]["status"] == "resolved"
    status = await customer.messages()
    assert status["state"] == "closed"
    assert [m["meta"].get("kind") for m in status["messages"][-2:]] == ["resolved", "rating_request"]
    rating = await client.post(
        f"/api/v1/conversations/{customer.id}/rating", json={"score": 5, "comment": "quick"}, headers=customer.auth
    )
    assert rating.status == 200
    again = await client.post(f"/api/v1/conversations/{customer.id}/rating", json={"score": 1}, headers=customer.auth)
    assert again.status == 409
    assert (await customer.say("one more thing")).status == 409


async def test_escalation_tells_the_customer_who_takes_over(client):
    customer, ticket_id = await queued_ticket(client, language="de")
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.call("POST", f"/tickets/{ticket_id}/escalate", {"group": "moon", "note": "x"}, expect=400)
    await anna.json("POST", f"/tickets/{ticket_id}/escalate", {"group": "repair", "note": "Board fault, needs repair."})
    last = (await customer.messages())["messages"][-1]
    assert last["meta"]["kind"] == "escalated" and "Reparaturzentrum" in last["text"]


async def test_transfer_back_to_the_queue_keeps_priority_and_queue_time(client):
    customer, ticket_id = await queued_ticket(client, priority="high")
    anna = await new_agent(client, "anna")
    before = (await anna.json("GET", "/queue"))["tickets"][0]
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.json("POST", f"/tickets/{ticket_id}/transfer", {"agent_id": None})
    after = (await anna.json("GET", "/queue"))["tickets"][0]
    assert (after["id"], after["priority"], after["queued_at"]) == (ticket_id, "high", before["queued_at"])
    assert (await customer.messages())["messages"][-1]["meta"]["kind"] == "requeued"


async def test_transfer_to_another_online_agent(client):
    customer, ticket_id = await queued_ticket(client)
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    away = await new_agent(client, "carl", online=False)
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    refused = await anna.call("POST", f"/tickets/{ticket_id}/transfer", {"agent_id": away.id}, expect=409)
    assert (await refused.json())["error"]["code"] == "agent_not_online"
    handover = "Customer already reset the network settings; next: check the SIM."
    await anna.json("POST", f"/tickets/{ticket_id}/transfer", {"agent_id": ben.id, "note": handover})
    assert [t["id"] for t in (await ben.json("GET", "/chats"))["tickets"]] == [ticket_id]
    assert (await anna.json("GET", "/chats"))["tickets"] == []
    status = await customer.messages()
    assert status["agent"] == {"display_name": "Ben"}
    told = status["messages"][-1]
    assert told["meta"]["kind"] == "transferred" and "Anna" in told["text"] and "Ben" in told["text"]
    notes = (await ben.json("GET", f"/tickets/{ticket_id}"))["notes"]
    assert [(n["text"], n["agent"]) for n in notes] == [(handover, "Anna")]  # agents only
    assert handover not in str(status["messages"])


async def test_a_transfer_respects_the_receiving_agents_capacity(client):
    _, mine = await queued_ticket(client)
    _, bens = await queued_ticket(client)
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben", capacity=1)
    await anna.call("POST", f"/tickets/{mine}/claim")
    await ben.call("POST", f"/tickets/{bens}/claim")
    refused = await anna.json("POST", f"/tickets/{mine}/transfer", {"agent_id": ben.id}, expect=409)
    assert refused["error"] == {"code": "capacity_reached", "message": "Ben has reached their limit of open chats (1)."}
    assert [t["id"] for t in (await anna.json("GET", "/chats"))["tickets"]] == [mine]


async def test_return_to_bot_gives_the_conversation_back(client):
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.json("POST", f"/tickets/{ticket_id}/return-to-bot", {"note": "Customer wants to try the guide"})
    status = await customer.messages()
    assert status["state"] == "bot" and status["messages"][-1]["meta"]["kind"] == "returned_to_bot"
    detail = await anna.json("GET", f"/tickets/{ticket_id}")
    assert [h["to_state"] for h in detail["history"]] == ["queued", "agent", "bot"]
    assert detail["notes"][0]["text"] == "Customer wants to try the guide"


async def test_a_waiting_ticket_whose_customer_left_without_an_address_is_closed_in_one_step(client):
    client.app[SETTINGS].customer_away_after_s = 0.2
    gone, gone_ticket = await queued_ticket(client)
    waiting, _ = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await asyncio.sleep(0.3)  # longer than customer_away_after_s: both customers count as gone
    [first, _] = (await anna.json("GET", "/queue"))["tickets"]
    assert (first["id"], first["customer_present"], first["email"]) == (gone_ticket, False, None)
    assert (await waiting.messages())["queue"]["position"] == 2  # (this customer is back in the chat now)

    closed = await anna.json("POST", f"/tickets/{gone_ticket}/close-left")
    assert closed["ticket"]["status"] == "abandoned" and closed["ticket"]["agent"] is None
    assert [t["id"] for t in (await anna.json("GET", "/queue"))["tickets"]] != [gone_ticket]
    assert (await waiting.messages())["queue"]["position"] == 1
    back = await gone.messages()  # the customer comes back: with the assistant, told why
    assert back["state"] == "bot" and back["messages"][-1]["meta"]["kind"] == "closed_customer_left"
    detail = await anna.json("GET", f"/tickets/{gone_ticket}")
    assert [(h["to_state"], h["actor"]) for h in detail["history"]] == [("queued", "bot"), ("bot", "agent:anna")]
    again = await anna.json("POST", f"/tickets/{gone_ticket}/close-left", expect=409)
    assert again["error"]["code"] == "not_queued"


async def test_a_waiting_ticket_is_not_closed_while_its_customer_is_there_or_can_be_answered_by_email(client):
    anna = await new_agent(client, "anna")
    present, present_ticket = await queued_ticket(client)
    await present.messages()  # the widget polls: the customer is there
    refused = await anna.json("POST", f"/tickets/{present_ticket}/close-left", expect=409)
    assert refused["error"]["code"] == "customer_present"
    client.app[SETTINGS].customer_away_after_s = 0.2
    reachable, reachable_ticket = await queued_ticket(client)
    contact = await client.post(
        f"/api/v1/conversations/{reachable.id}/contact", json={"email": "kim@example.org"}, headers=reachable.auth
    )
    assert contact.status == 200
    await asyncio.sleep(0.3)
    refused = await anna.json("POST", f"/tickets/{reachable_ticket}/close-left", expect=409)
    assert refused["error"]["code"] == "has_email"
    outside = await new_agent(client, "carl", categories=["camera"])
    await outside.json("POST", f"/tickets/{present_ticket}/close-left", expect=403)
    queued = {t["id"] for t in (await anna.json("GET", "/queue"))["tickets"]}
    assert queued == {present_ticket, reachable_ticket}


async def test_of_a_claim_and_a_close_at_once_exactly_one_succeeds(client):
    client.app[SETTINGS].customer_away_after_s = 0.2
    _, ticket_id = await queued_ticket(client)
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    await asyncio.sleep(0.3)
    claimed, closed = await asyncio.gather(
        anna.call("POST", f"/tickets/{ticket_id}/claim", expect=None),
        ben.call("POST", f"/tickets/{ticket_id}/close-left", expect=None),
    )
    assert sorted([claimed.status, closed.status]) == [200, 409]
    status = (await anna.json("GET", f"/tickets/{ticket_id}"))["ticket"]["status"]
    assert status == ("assigned" if claimed.status == 200 else "abandoned")


@pytest.fixture
async def kb_client(hub_db_url, hub_settings, aiohttp_client):
    """A hub whose database holds the real knowledge base."""
    engine = make_engine(hub_db_url)
    with make_session_factory(engine)() as session:
        import_articles(session, KB_DIR)
    engine.dispose()
    return await aiohttp_client(create_app(hub_settings))


async def test_a_step_the_agent_sends_is_numbered_as_the_bot_numbers_it_for_the_customers_brand(kb_client):
    """camera-battery-drain's third step is for Canon and Nikon only: a Sony customer's guide has 3 steps, and the
    bot called the last one "Step 3 of 3". The agent's send said "Step 4 of 4"."""
    customer, ticket_id = await queued_ticket(kb_client, category="camera")
    async with kb_client.app[HUB].sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_id)
        ticket.packet = {"article_id": "camera-battery-drain", "device": {"category": "camera", "brand": "Sony"}}
    anna = await new_agent(kb_client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    sent = await anna.json(
        "POST", f"/tickets/{ticket_id}/messages", {"article_id": "camera-battery-drain", "step": 4}, 201
    )
    assert sent["message"]["text"].startswith("Step 3 of 3:")
    assert (sent["message"]["meta"]["kb_article"], sent["message"]["meta"]["step"]) == ("camera-battery-drain", 4)
    canon_only = await anna.json(
        "POST", f"/tickets/{ticket_id}/messages", {"article_id": "camera-battery-drain", "step": 3}, 201
    )
    assert canon_only["message"]["text"].startswith("Step 3 of 4:")  # another brand's step: among all steps


async def test_an_agent_lists_the_chats_they_closed_newest_first(client):
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    ids = []
    for _ in range(4):
        _, ticket_id = await queued_ticket(client)
        ids.append(ticket_id)
    resolved, returned, still_open, bens = ids
    for ticket_id in (resolved, returned, still_open):
        await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await ben.call("POST", f"/tickets/{bens}/claim")
    await anna.json("POST", f"/tickets/{resolved}/resolve", {"note": "Cable swapped.", "kb_candidate": False})
    await anna.json("POST", f"/tickets/{returned}/return-to-bot", {})
    await ben.json("POST", f"/tickets/{bens}/resolve", {"note": "Done.", "kb_candidate": False})
    closed = (await anna.json("GET", "/chats/closed"))["tickets"]
    assert [(t["id"], t["status"]) for t in closed] == [(returned, "returned"), (resolved, "resolved")]
    assert all(t["closed_at"] for t in closed) and closed[0]["closed_at"] >= closed[1]["closed_at"]
    assert (await anna.json("GET", f"/tickets/{resolved}"))["transcript"]  # and each stays readable
    [open_chat] = (await anna.json("GET", "/chats"))["tickets"]
    assert open_chat["id"] == still_open and open_chat["closed_at"] is None


async def test_internal_notes_are_never_shown_to_the_customer(client):
    customer, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.json("POST", f"/tickets/{ticket_id}/notes", {"text": "Customer sounds annoyed"}, expect=201)
    assert all("annoyed" not in m["text"] for m in (await customer.messages())["messages"])


async def test_notes_are_written_only_by_agents_who_may_read_the_ticket(client):
    _, ticket_id = await queued_ticket(client, category="camera")
    phones = await new_agent(client, "pia", categories=["phone"])
    refused = await phones.json("POST", f"/tickets/{ticket_id}/notes", {"text": "Not my device"}, expect=403)
    assert refused["error"]["code"] == "forbidden"
    cameras = await new_agent(client, "carl", categories=["camera"])
    await cameras.json("POST", f"/tickets/{ticket_id}/notes", {"text": "Lens error again"}, expect=201)


async def test_only_admins_create_agents_and_bad_details_are_explained(client):
    admin = await new_agent(client, "root", role="admin")
    anna = await new_agent(client, "anna")
    details = {"username": "dora", "display_name": "Dora", "password": "long enough password", "capacity": 2}
    await anna.call("POST", "/agents", details, expect=403)
    weak = await admin.call("POST", "/agents", {**details, "password": "short"}, expect=400)
    assert (await weak.json())["error"]["code"] == "weak_password"
    created = await admin.json("POST", "/agents", details, expect=201)
    assert created["agent"]["username"] == "dora"
    taken = await admin.call("POST", "/agents", details, expect=409)
    assert (await taken.json())["error"]["code"] == "username_taken"


async def test_a_disconnected_agents_chats_return_to_the_queue_after_the_grace_period(client):
    customer, ticket_id = await queued_ticket(client, priority="high")
    anna = await new_agent(client, "anna")
    socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await socket.close()
    async with asyncio.timeout(5):  # after the grace period (0.3 s in the tests), however busy the machine
        while (status := await customer.messages())["state"] != "queued":
            await asyncio.sleep(0.1)
    assert status["messages"][-1]["meta"]["kind"] == "agent_left"
    ben = await new_agent(client, "ben")
    [ticket] = (await ben.json("GET", "/queue"))["tickets"]
    assert (ticket["id"], ticket["priority"]) == (ticket_id, "high")


async def test_an_agent_who_reconnects_within_the_grace_period_keeps_the_chat(client):
    _, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    first = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await first.close()
    second = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    await asyncio.sleep(0.6)
    assert [t["id"] for t in (await anna.json("GET", "/chats"))["tickets"]] == [ticket_id]
    await second.close()


async def test_an_agent_whose_console_closed_counts_for_no_wait_until_they_are_back(client):
    """Within the grace period the agent's chats wait for them, but a waiting customer is not told that someone
    is there to take theirs: the estimate says nobody is available (so the widget offers the e-mail field)."""
    client.app[HUB].settings.agent_grace_s = 30
    customer, _ = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    watching = await client.ws_connect(f"/api/v1/conversations/{customer.id}/ws?token={customer.token}")
    console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    assert (await customer.messages())["queue"]["agents_online"] == 1
    await console.close()
    async with asyncio.timeout(5):  # the waiting customer's widget hears it at once
        while (event := await watching.receive_json()).get("type") != "state" or event["queue"]["agents_online"]:
            pass
    assert event["queue"]["estimated_wait_s"] is None
    assert (await customer.messages())["queue"]["agents_online"] == 0
    console = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    async with asyncio.timeout(5):
        while (event := await watching.receive_json()).get("type") != "state" or not event["queue"]["agents_online"]:
            pass
    assert event["queue"]["estimated_wait_s"] is not None
    await console.close()
    await watching.close()


async def test_customers_left_waiting_get_an_email_field_in_the_ticket(client):
    customer, ticket_id = await queued_ticket(client)
    await client.post(
        f"/api/v1/conversations/{customer.id}/contact", json={"email": "kim@example.org"}, headers=customer.auth
    )
    anna = await new_agent(client, "anna")
    assert (await anna.json("GET", "/queue"))["tickets"][0]["email"] == "kim@example.org"


async def test_ticket_detail_is_refused_for_an_unknown_ticket(client):
    anna = await new_agent(client, "anna")
    await anna.call("GET", "/tickets/999", expect=404)
    await anna.call("GET", "/tickets/abc", expect=400)


async def test_the_agent_sees_the_same_customers_earlier_tickets(client):
    anna = await new_agent(client, "anna")
    key = "browser-key-of-customer-1"
    first, first_ticket = await queued_ticket(client, customer=key)
    await first.client.post(
        f"/api/v1/conversations/{first.id}/contact", json={"email": "kim@example.org"}, headers=first.auth
    )
    await anna.call("POST", f"/tickets/{first_ticket}/claim")
    note = "Replaced the charging cable; the old one was frayed."
    await anna.call("POST", f"/tickets/{first_ticket}/resolve", {"note": note, "kb_candidate": False})

    _, again = await queued_ticket(client, customer=key)  # the same browser comes back
    stranger, stranger_ticket = await queued_ticket(client, customer="another-browser-key-000")
    by_mail, mail_ticket = await queued_ticket(client)  # another device, the same e-mail address
    await client.post(
        f"/api/v1/conversations/{by_mail.id}/contact", json={"email": "kim@example.org"}, headers=by_mail.auth
    )

    earlier = (await anna.json("GET", f"/tickets/{again}"))["earlier"]
    assert [e["id"] for e in earlier] == [first_ticket]
    assert earlier[0]["status"] == "resolved" and earlier[0]["resolution_note"] == note
    assert earlier[0]["agent"] == "Anna" and earlier[0]["summary"] == "The phone does not charge"
    assert earlier[0]["matched_by"] == ["browser"]
    by_address = (await anna.json("GET", f"/tickets/{mail_ticket}"))["earlier"]
    assert [(e["id"], e["matched_by"]) for e in by_address] == [(first_ticket, ["email"])]  # the console warns
    assert (await anna.json("GET", f"/tickets/{stranger_ticket}"))["earlier"] == []
    later = (await anna.json("GET", f"/tickets/{first_ticket}"))["earlier"]  # the other tickets, newest first
    assert [(e["id"], e["matched_by"]) for e in later] == [(mail_ticket, ["email"]), (again, ["browser"])]


@pytest.mark.parametrize("key", ["short", "has spaces in it, not allowed", "x" * 65])
async def test_a_malformed_customer_key_is_refused(client, key):
    response = await client.post("/api/v1/conversations", json={"customer": key})
    assert response.status == 400
    assert (await response.json())["error"]["message"].startswith("customer:")


# -- what schemathesis found (test_openapi_conformance.py): each failed with 500 on PostgreSQL, or on both ------
async def test_text_with_a_nul_character_is_refused_everywhere_before_it_reaches_the_database(client):
    """PostgreSQL cannot store U+0000: a note holding it used to fail with 500."""
    _, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    for path, body in (
        (f"/tickets/{ticket_id}/notes", {"text": "before\u0000after"}),
        (f"/tickets/{ticket_id}/resolve", {"note": "fixed\u0000"}),
        ("/presence", {"presence": "online", "\u0000": 1}),
    ):
        method = "PUT" if path == "/presence" else "POST"
        refused = await anna.call(method, path, body, expect=400)
        assert (await refused.json())["error"] == {
            "code": "invalid_characters",
            "message": "Text may not contain the NUL character (U+0000).",
        }
    for url in (f"/api/v1/agent/tickets/{ticket_id}%00/claim", "/api/v1/agent/kb/search?q=a%00b"):
        response = (
            await client.get(url, headers=anna.auth) if "search" in url else await client.post(url, headers=anna.auth)
        )
        assert response.status == 400 and (await response.json())["error"]["code"] == "invalid_characters"
    assert (await anna.json("GET", f"/tickets/{ticket_id}"))["notes"] == []


@pytest.mark.parametrize(
    "body, code",
    [
        ('{"text": "half a character \\ud83d"}', "invalid_characters"),  # a lone surrogate: no database stores it
        ("[" * 5000 + "]" * 5000, "too_deep"),
        ('{"text": "x", "client_id": ' + "[" * 40 + "]" * 40 + "}", "too_deep"),
        ('{"text": "x", "client_id": ' + "9" * 5000 + "}", "invalid_json"),  # past Python's 4,300 digits
    ],
)
async def test_bodies_python_cannot_read_or_no_database_can_store_are_refused_with_400(client, body, code):
    """Each failed with 500 (found in a review): UnicodeEncodeError in the database, RecursionError, ValueError."""
    customer = await new_customer(client)
    response = await client.post(
        f"/api/v1/conversations/{customer.id}/messages",
        data=body,
        headers={**customer.auth, "Content-Type": "application/json"},
    )
    assert response.status == 400 and (await response.json())["error"]["code"] == code
    _, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, f"anna{len(body)}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    headers = {**anna.auth, "Content-Type": "application/json"}
    response = await client.post(f"/api/v1/agent/tickets/{ticket_id}/messages", data=body, headers=headers)
    assert response.status == 400 and (await response.json())["error"]["code"] == code


@pytest.mark.parametrize("raw", ["2147483648", "99999999999999999999", "\u00b2", "\u0663", "-1", "1.0"])
async def test_a_ticket_id_out_of_the_databases_range_or_not_ascii_digits_is_refused_with_400(client, raw):
    """Ids are 32-bit in the database: 2^31 failed with 500 on PostgreSQL; '²' passed isdigit() and broke int()."""
    anna = await new_agent(client, "anna")
    response = await anna.call("GET", f"/tickets/{raw}", expect=400)
    assert (await response.json())["error"]["code"] == "invalid_ticket_id"


async def test_ids_in_a_body_out_of_the_databases_range_are_refused_with_400(client):
    """Label ids of 2^57 failed with 500 on PostgreSQL ("integer out of range"); a transfer too."""
    editor = await new_agent(client, "erik", role="editor", online=False)
    response = await client.post(
        "/api/v1/editor/inbox/label", json={"ids": [2**57, 1], "intent": None}, headers=editor.auth
    )
    assert response.status == 400 and (await response.json())["error"]["message"].startswith("ids.0:")
    _, ticket_id = await queued_ticket(client)
    anna = await new_agent(client, "anna")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    refused = await anna.call("POST", f"/tickets/{ticket_id}/transfer", {"agent_id": 2**31}, expect=400)
    assert (await refused.json())["error"]["message"].startswith("agent_id:")


async def test_an_editor_takes_no_chats_and_reads_no_customers_conversation(client):
    """Editors review content: they could read a ticket's transcript and claim it before (found in a review)."""
    erik = await new_agent(client, "erik", role="editor", online=False)
    customer, ticket_id = await queued_ticket(client)
    for method, path, body in [
        ("PUT", "/presence", {"presence": "online"}),
        ("GET", "/queue", None),
        ("GET", "/chats", None),
        ("GET", f"/tickets/{ticket_id}", None),
        ("POST", f"/tickets/{ticket_id}/claim", None),
        ("POST", f"/tickets/{ticket_id}/notes", {"text": "I was here"}),
    ]:
        response = await erik.call(method, path, body, expect=403)
        assert (await response.json())["error"]["code"] == "agents_only", path
    with pytest.raises(WSServerHandshakeError) as refused:  # the console's socket too
        await client.ws_connect(f"/api/v1/agent/ws?token={erik.token}")
    assert refused.value.status == 403
    async with client.app[HUB].sessions() as session, session.begin():  # online from before this check existed
        await session.execute(update(Agent).where(Agent.id == erik.id).values(presence="online"))
    status = await (await client.get(f"/api/v1/conversations/{customer.id}", headers=customer.auth)).json()
    assert status["queue"]["agents_online"] == 0  # the customer is not told someone could take their chat


async def test_a_knowledge_base_search_with_an_unknown_language_or_category_is_refused(client):
    anna = await new_agent(client, "anna")
    for query in ("q=battery&language=fr", "q=battery&category=toaster", "q=%20"):
        response = await client.get(f"/api/v1/agent/kb/search?{query}", headers=anna.auth)
        assert response.status == 400, query
