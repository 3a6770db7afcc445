"""The hub in front of the real Rasa server and action server: the whole handoff with the bot's context."""

from __future__ import annotations

import pytest

from bot.settings import Settings
from handoff.app import create_app
from tests.hub.conftest import new_agent, new_customer

pytestmark = pytest.mark.e2e


@pytest.fixture
async def client(aiohttp_client, servers):
    settings = Settings(
        database_url=servers.settings.database_url,
        rasa_port=servers.settings.rasa_port,
        rasa_token=servers.settings.rasa_token,
        rasa_timeout_s=10,  # the shared CI machine may be slow; the 2 s promise is tested with a dead bot
    )
    return await aiohttp_client(create_app(settings))


async def test_a_failed_guide_reaches_an_agent_with_the_whole_context(client):
    customer = await new_customer(client, "en")
    first = await (await customer.say("My phone stopped charging, the cable is plugged in but nothing happens")).json()
    step = first["messages"][-1]
    assert step["meta"] == {"kb_article": "phone-not-charging", "step": 1}
    assert "/deny" in [b["payload"] for b in step["buttons"]]

    second = await (await customer.say(payload="/deny")).json()
    assert second["customer_message"]["text"] == "No, still the same"
    assert second["messages"][-1]["meta"]["step"] == 2

    handoff = await (await customer.say("I want to talk to a real person please")).json()
    assert handoff["state"] == "queued"
    ticket_ref = next(m["meta"]["handoff"] for m in handoff["messages"] if "handoff" in m["meta"])
    assert ticket_ref["reason"] == "customer_request"

    anna = await new_agent(client, f"anna{customer.id[:6]}")
    queue = (await anna.json("GET", "/queue"))["tickets"]
    assert ticket_ref["ticket_id"] in [t["id"] for t in queue]
    await anna.call("POST", f"/tickets/{ticket_ref['ticket_id']}/claim")
    detail = await anna.json("GET", f"/tickets/{ticket_ref['ticket_id']}")

    context = detail["context"]
    assert context["device"]["category"] == "phone"
    assert context["article"] == {"id": "phone-not-charging", "title": "Phone is not charging"}
    assert context["steps_tried"][0]["step"] == 1 and context["steps_tried"][0]["outcome"] == "failed"
    intents = [(turn["text"], turn["intent"]) for turn in context["turns"]]
    assert intents[0][1] == "describe_problem" and intents[-1][1] == "request_human"
    assert all(0 < turn["confidence"] <= 1 for turn in context["turns"])
    pressed = [turn for turn in context["turns"] if turn["text"] == "/deny"]
    assert [turn.get("shown") for turn in pressed] == ["No, still the same"]  # the agent reads the button's title
    transcript = [m["sender"] for m in detail["transcript"]]
    assert transcript.count("customer") == 3 and "bot" in transcript


async def test_after_return_to_the_bot_it_goes_on_where_its_guide_stopped(client):
    customer = await new_customer(client, "de")
    first = await (await customer.say("Mein Handy lädt nicht mehr, das Kabel steckt aber nichts passiert")).json()
    assert first["messages"][-1]["meta"] == {"kb_article": "phone-not-charging", "step": 1}
    await customer.say(payload="/deny")  # step 1 did not help; step 2 is shown
    handoff = await (await customer.say(payload="/request_human")).json()
    ticket_id = next(m["meta"]["handoff"]["ticket_id"] for m in handoff["messages"] if "handoff" in m["meta"])
    anna = await new_agent(client, f"anna{customer.id[:6]}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.json("POST", f"/tickets/{ticket_id}/messages", {"text": "Bitte probieren Sie noch die Anleitung."}, 201)
    await anna.json("POST", f"/tickets/{ticket_id}/return-to-bot", {})

    after = (await customer.messages())["messages"]
    notice, offer = after[-2:]
    assert notice["meta"]["kind"] == "returned_to_bot"
    assert offer["sender"] == "bot" and "Als Nächstes kommt Schritt 2" in offer["text"]  # German kept
    assert [b["payload"] for b in offer["buttons"]] == ["/affirm", "/deny"]

    going_on = await (await customer.say(payload="/affirm")).json()
    assert going_on["state"] == "bot" and going_on["customer_message"]["text"] == "Weiter mit Schritt 2"
    assert going_on["messages"][-1]["meta"] == {"kb_article": "phone-not-charging", "step": 2}
    assert going_on["messages"][-1]["text"].startswith("Schritt 2 von")


async def test_after_return_to_the_bot_a_new_problem_starts_a_new_guide(client):
    customer = await new_customer(client, "de")
    await customer.say("Meine Kamera zeigt einen Objektivfehler")
    handoff = await (await customer.say(payload="/request_human")).json()
    ticket_id = next(m["meta"]["handoff"]["ticket_id"] for m in handoff["messages"] if "handoff" in m["meta"])
    anna = await new_agent(client, f"anna{customer.id[:6]}")
    await anna.call("POST", f"/tickets/{ticket_id}/claim")
    await anna.json("POST", f"/tickets/{ticket_id}/return-to-bot", {})

    reply = await (await customer.say("Das Display bleibt beim Einschalten schwarz")).json()
    assert reply["state"] == "bot"
    step = reply["messages"][-1]
    assert step["text"].startswith("Schritt 1 von") and step["meta"]["kb_article"].startswith("camera-")


async def test_safety_goes_to_the_top_of_the_queue_with_advice_first(client):
    calm = await new_customer(client, "en")
    await calm.say(payload="/request_human")
    urgent = await new_customer(client, "de")
    reply = await (await urgent.say("Der Akku von meinem Notebook ist aufgebläht und es riecht verbrannt")).json()
    senders = [(m["sender"], m["meta"].get("handoff", {}).get("priority")) for m in reply["messages"]]
    assert ("bot", "urgent") in senders
    assert "Sicherheit" in reply["messages"][0]["text"] or "sicher" in reply["messages"][0]["text"].lower()
    anna = await new_agent(client, f"anna{urgent.id[:6]}")
    assert (await anna.json("GET", "/queue"))["tickets"][0]["priority"] == "urgent"


async def test_a_retried_message_reaches_the_bot_once(client, servers):
    """A client's retry (same client_id, e.g. after a lost answer) is stored once and never reaches the bot again."""
    customer = await new_customer(client, "en")
    text = "My phone does not charge anymore"
    first = await (await customer.say(text, client_id="c1")).json()
    again = await (await customer.say(text, client_id="c1")).json()
    assert first["messages"] and again["messages"] == []
    assert again["customer_message"]["id"] == first["customer_message"]["id"]
    user_turns = [event["text"] for event in servers.tracker(customer.id)["events"] if event["event"] == "user"]
    assert user_turns == [text]


async def test_with_the_action_server_down_the_customer_is_told_and_can_reach_a_person(client, servers):
    """Rasa answers 200 with no message when a custom action fails: the customer must not be met with silence."""
    customer = await new_customer(client, "en")
    text = "My notebook does not turn on anymore, the power light stays dark"
    with servers.actions_down():
        reply = await (await customer.say(text)).json()
        person = await (await customer.say(payload="/request_human")).json()
    assert reply["customer_message"]["text"] == text  # stored all the same
    notice = reply["messages"][-1]
    assert notice["sender"] == "system" and notice["meta"]["kind"] == "bot_unavailable", reply["messages"]
    assert "/request_human" in [button["payload"] for button in notice["buttons"]]
    assert person["state"] == "queued"

    later = await new_customer(client, "en")  # the action server is back: the bot answers again
    answer = await (await later.say(text)).json()
    assert answer["messages"] and answer["messages"][-1]["sender"] == "bot"


async def test_typed_intent_syntax_reaches_the_bot_as_words(client, servers):
    """Rasa takes "/intent{...}" as an intent given directly; typed by a customer it must stay words, so nobody
    sets intents or entities by typing (a button's payload still works, and only when the button was offered)."""
    customer = await new_customer(client, "en")
    typed = '/ /rate{"rating": "5"}'
    reply = await (await customer.say(typed)).json()
    assert reply["customer_message"]["text"] == typed  # the transcript keeps what the customer wrote
    await customer.say("/help")
    turns = [event for event in servers.tracker(customer.id)["events"] if event["event"] == "user"]
    assert [turn["text"] for turn in turns] == ['rate{"rating": "5"}', "help"]
    # read by the NLU (a ranking of every intent), not given (Rasa ranks a given intent alone)
    assert all(len(turn["parse_data"]["intent_ranking"]) > 1 for turn in turns)
    refused = await customer.say(payload='/describe_problem{"article_choice": "phone-not-charging"}')
    assert refused.status == 400 and (await refused.json())["error"]["code"] == "unknown_button"
