"""Drafts from resolved handoffs and the editors' review: real database, real files in a copy of data/."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import yaml

from bot.db import make_engine, make_session_factory
from bot.kb.importer import import_articles
from bot.review import ReviewItem
from bot.settings import PROJECT_DIR, Settings
from handoff.app import create_app
from handoff.drafts import draft_examples, draft_story, missing, slug
from handoff.keys import HUB
from handoff.models import Draft, Ticket
from tests.hub.conftest import closed_port, new_agent, new_customer, queued_ticket

ARTICLES = ("camera/lens-error.yml", "phone/not-charging.yml")


@pytest.fixture
def data_copy(tmp_path):
    """A small copy of the editors' files: two articles, the NLU files, the test stories, the domain."""
    for name in ARTICLES:
        (tmp_path / "kb" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT_DIR / "data" / "kb" / name, tmp_path / "kb" / name)
    shutil.copytree(PROJECT_DIR / "data" / "nlu", tmp_path / "nlu")
    shutil.copytree(PROJECT_DIR / "tests" / "stories", tmp_path / "stories")
    shutil.copy(PROJECT_DIR / "domain.yml", tmp_path / "domain.yml")
    return tmp_path


@pytest.fixture
async def client(hub_db_url, data_copy, aiohttp_client):
    with make_session_factory(make_engine(hub_db_url))() as session:
        import_articles(session, data_copy / "kb")
    settings = Settings(
        database_url=hub_db_url,
        rasa_port=closed_port(),
        rasa_token="test-token",
        rate_conversations_per_minute=1000,
        kb_dir=data_copy / "kb",
        nlu_dir=data_copy / "nlu",
        test_stories_dir=data_copy / "stories",
        domain_file=data_copy / "domain.yml",
        auto_retrain=False,
    )
    return await aiohttp_client(create_app(settings))


TURNS = [
    {
        "text": "hi",
        "intent": "greet",
        "confidence": 0.99,
        "suggested": "greet",
        "entities": [],
        "actions": ["utter_greet"],
    },
    {
        "text": "the zoom lever of my camera makes a grinding noise",
        "intent": "nlu_fallback",
        "confidence": 0.41,
        "suggested": "describe_problem",
        "entities": [{"entity": "device_category", "value": "camera", "start": 21, "end": 27}],
        "actions": ["action_fallback"],
    },
    {
        "text": "grinding sound when zooming in",
        "intent": "describe_problem",
        "confidence": 0.88,
        "suggested": "describe_problem",
        "entities": [],
        "actions": ["action_find_article"],
    },
]


async def resolved_ticket(client, agent, *, packet: dict | None, note: str, language: str = "en") -> int:
    customer, ticket_id = await queued_ticket(client, category="camera", language=language)
    async with client.app[HUB].sessions() as session, session.begin():
        ticket = await session.get(Ticket, ticket_id)
        ticket.packet, ticket.bot_context = packet, {"turns": TURNS, "slots": {"device_category": "camera"}}
    await agent.json("POST", f"/tickets/{ticket_id}/claim")
    await customer.say("it started after I dropped it in the sand")
    await agent.json("POST", f"/tickets/{ticket_id}/resolve", {"note": note, "kb_candidate": True})
    return ticket_id


async def editor_call(client, editor, method: str, path: str, json=None, expect: int = 200):
    response = await client.request(method, f"/api/v1/editor{path}", json=json, headers=editor.auth)
    assert response.status == expect, await response.text()
    return await response.json()


def test_drafted_examples_correct_the_misunderstood_turns_and_keep_the_entities():
    examples = draft_examples({"turns": TURNS}, "en")
    assert [(e["text"], e["intent"]) for e in examples] == [
        ("the zoom lever of my camera makes a grinding noise", "describe_problem"),
        ("grinding sound when zooming in", "describe_problem"),  # the turn the bot handed off on
    ]
    assert examples[0]["entities"] == [{"entity": "device_category", "value": "camera", "text": "camera"}]


def test_the_drafted_story_stops_after_the_first_corrected_turn():
    story = draft_story({"turns": TURNS}, "en", "en zoom noise")
    assert story["steps"] == [
        {"user": "hi", "intent": "greet"},
        {"action": "utter_greet"},
        {"user": "the zoom lever of my camera makes a grinding noise", "intent": "describe_problem"},
        {"action": "action_find_article"},
    ]


def test_slugs_and_missing_languages():
    assert slug("Die Speicherkarte wird nicht erkannt, Größe 128 GB") == "speicherkarte-wird-erkannt-groesse-128"
    assert slug("My phone doesn't vibrate when someone calls", 4, ("phone",)) == "doesn-vibrate-someone-calls"
    content = {"step": {"en": {"do": "x", "check": "y"}, "de": {"do": "", "check": "z"}}}
    assert missing("step", content) == ["step.de.do"]


async def test_a_resolved_ticket_without_an_article_becomes_a_bilingual_article_draft(client, data_copy):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    note = "Blow out the sand with a rubber blower while the lens is extended; never use compressed air."
    ticket_id = await resolved_ticket(
        client, agent, packet={"summary": "grinding noise from the zoom lever", "device": {"category": "camera"}},
        note=note,
    )  # fmt: skip
    listed = await editor_call(client, editor, "GET", "/drafts")
    assert [(d["ticket_id"], d["kind"], d["article_id"]) for d in listed["drafts"]] == [
        (ticket_id, "article", "camera-grinding-noise-zoom-lever")
    ]
    draft = await editor_call(client, editor, "GET", f"/drafts/{listed['drafts'][0]['id']}")
    article = draft["content"]["article"]
    assert article["steps"][0]["en"]["do"] == note
    assert article["symptoms"]["en"] == [t["text"] for t in TURNS[1:]]
    assert "article.title.de" in draft["missing"] and "article.steps.1.de.do" in draft["missing"]
    assert draft["source"]["ticket"]["resolution_note"] == note
    assert any(m["text"] == "it started after I dropped it in the sand" for m in draft["source"]["transcript"])

    refused = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/approve", expect=400)
    assert refused["error"]["code"] == "missing_language" and "article.title.de" in refused["error"]["fields"]

    article["title"]["de"] = "Zoomhebel knirscht"
    article["symptoms"]["de"] = ["Objektiv knirscht beim Zoomen", "der Zoom macht ein mahlendes Geräusch"]
    article["steps"][0]["de"] = {
        "do": "Blasen Sie den Sand bei ausgefahrenem Objektiv mit einem Blasebalg heraus, nie mit Druckluft.",
        "check": "Das Objektiv zoomt ohne Geräusch.",
    }
    await editor_call(client, editor, "PUT", f"/drafts/{draft['id']}", {"content": draft["content"]})
    approved = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/approve")
    assert approved["status"] == "approved" and approved["result"]["retrain"] == "disabled"

    written = data_copy / "kb" / "camera" / "grinding-noise-zoom-lever.yml"
    assert str(written) in approved["result"]["files"]
    on_disk = yaml.safe_load(written.read_text())
    assert on_disk["title"] == {"en": "grinding noise from the zoom lever", "de": "Zoomhebel knirscht"}
    hub = client.app[HUB]
    matches = await hub.in_thread(hub.knowledge_base.search, "sand in the zoom, it crunches", "en", "camera")
    assert matches[0].article_id == "camera-grinding-noise-zoom-lever"
    nlu_text = (data_copy / "nlu" / "en" / "problems.yml").read_text()
    assert "- the zoom lever of my [camera](device_category) makes a grinding noise\n" in nlu_text
    assert "learned" in approved["result"]["files"][-1]
    again = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/approve", expect=409)
    assert again["error"]["code"] == "already_decided"


@pytest.mark.parametrize(
    "story",
    [
        {"story": "en broken", "steps": [{"user": "hello"}]},  # no intent: approving wrote the article, then 500
        {"story": "en broken", "steps": [{"user": "hello", "intent": "greet"}], "language": "../../etc"},
        {"story": "", "steps": [{"action": "utter_greet"}]},
        {"story": "en broken", "steps": "not a list"},
    ],
)
async def test_a_story_that_cannot_be_written_is_refused_before_anything_is(client, data_copy, story):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    packet = {"summary": "zoom lever grinds", "device": {"category": "camera"}}
    await resolved_ticket(client, agent, packet=packet, note="Cleaned the lever with a blower.")
    (listed,) = (await editor_call(client, editor, "GET", "/drafts"))["drafts"]
    draft = await editor_call(client, editor, "GET", f"/drafts/{listed['id']}")
    refused = await editor_call(
        client, editor, "PUT", f"/drafts/{draft['id']}", {"content": {**draft["content"], "story": story}}, expect=400
    )
    assert refused["error"]["code"] == "invalid_draft"
    before = sorted(str(p) for p in data_copy.rglob("*"))
    async with client.app[HUB].sessions() as session, session.begin():  # stored before the check existed
        stored = await session.get(Draft, draft["id"])
        stored.content = {**draft["content"], "story": story}
    refused = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/approve", expect=400)
    assert refused["error"]["code"] == "invalid_draft"
    assert sorted(str(p) for p in data_copy.rglob("*")) == before  # nothing written


async def test_a_button_the_customer_pressed_is_no_symptom_of_the_drafted_article(client):
    """The bot is down here, so the draft's symptoms come from what the customer wrote: not from the title of
    the "Talk to a person" button they pressed."""
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    customer = await new_customer(client)
    offered = await (await customer.say("my camera shows a lens error after the update")).json()
    assert offered["messages"][0]["meta"]["kind"] == "bot_unavailable"
    handed = await (await customer.say(payload="/request_human")).json()
    assert handed["customer_message"]["text"] == "Talk to a person"
    ticket_id = next(m["meta"]["handoff"]["ticket_id"] for m in handed["messages"] if m["meta"].get("handoff"))
    await agent.json("POST", f"/tickets/{ticket_id}/claim")
    await agent.json("POST", f"/tickets/{ticket_id}/resolve", {"note": "Reset the lens.", "kb_candidate": True})
    (draft,) = (await editor_call(client, editor, "GET", "/drafts"))["drafts"]
    assert draft["content"]["article"]["symptoms"]["en"] == ["my camera shows a lens error after the update"]


async def test_a_resolved_ticket_after_a_tried_article_drafts_a_new_step_for_it(client, data_copy):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    path = data_copy / "kb" / "camera" / "lens-error.yml"
    before = path.read_text()
    packet = {
        "summary": "lens error",
        "article_id": "camera-lens-error",
        "steps_tried": [{"step": 1, "instruction": "Switch off and on.", "outcome": "failed"}],
        "device": {"category": "camera"},
    }
    await resolved_ticket(client, agent, packet=packet, note="Hold the shutter button while switching on.")
    [draft] = (await editor_call(client, editor, "GET", "/drafts"))["drafts"]
    assert draft["kind"] == "step" and draft["article_id"] == "camera-lens-error"
    draft["content"]["step"]["de"]["do"] = "Halten Sie beim Einschalten den Auslöser gedrückt."
    await editor_call(client, editor, "PUT", f"/drafts/{draft['id']}", {"content": draft["content"]})
    approved = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/approve")
    after = path.read_text()
    assert after.startswith(before)  # only appended: the rest of the file is untouched, byte for byte
    assert "Hold the shutter button while switching on." in after[len(before) :]
    steps = yaml.safe_load(after)["steps"]
    assert approved["result"]["step_position"] == len(steps)


async def test_an_article_chosen_but_never_tried_gives_an_article_draft_and_the_editor_may_switch(client):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    packet = {"summary": "zoom grinds", "article_id": "camera-lens-error", "device": {"category": "camera"}}
    await resolved_ticket(client, agent, packet=packet, note="Blow out the sand.")
    [draft] = (await editor_call(client, editor, "GET", "/drafts"))["drafts"]
    assert (draft["kind"], draft["article_id"]) == ("article", "camera-zoom-grinds")  # no step was tried
    assert draft["content"]["article"]["steps"][0]["en"]["do"] == "Blow out the sand."
    path = f"/drafts/{draft['id']}/convert"
    step = await editor_call(client, editor, "POST", path, {"kind": "step"})
    assert (step["kind"], step["article_id"]) == ("step", "camera-lens-error")
    article = await editor_call(client, editor, "POST", path, {"kind": "article"})
    assert article["kind"] == "article"
    await editor_call(client, editor, "POST", path, {"kind": "poem"}, expect=400)


async def test_only_editors_review_and_a_rejection_needs_a_reason(client):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    await resolved_ticket(client, agent, packet={"summary": "x y z"}, note="Did a thing.")
    forbidden = await editor_call(client, agent, "GET", "/drafts", expect=403)
    assert forbidden["error"]["code"] == "editor_only"
    [draft] = (await editor_call(client, editor, "GET", "/drafts"))["drafts"]
    await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/reject", {"reason": " "}, expect=400)
    rejected = await editor_call(client, editor, "POST", f"/drafts/{draft['id']}/reject", {"reason": "Duplicate."})
    assert rejected["status"] == "rejected"
    assert (await editor_call(client, editor, "GET", "/drafts"))["drafts"] == []
    assert len((await editor_call(client, editor, "GET", "/drafts?status=rejected"))["drafts"]) == 1


async def test_the_author_sees_the_verdict_on_their_suggestion_live_and_in_their_list(client):
    anna, ben = await new_agent(client, "anna"), await new_agent(client, "ben")
    editor = await new_agent(client, "erik", role="editor", online=False)
    ticket_id = await resolved_ticket(client, anna, packet={"summary": "zoom grinds"}, note="Blow out the sand.")
    [mine] = (await anna.json("GET", "/suggestions"))["suggestions"]
    summary = (await anna.json("GET", f"/tickets/{ticket_id}"))["ticket"]["summary"]
    assert (mine["ticket_id"], mine["summary"], mine["status"]) == (ticket_id, summary, "pending") and summary
    assert mine["reviewer"] is None
    assert (await ben.json("GET", "/suggestions"))["suggestions"] == []  # only one's own
    client.session.cookie_jar.clear()  # signing in set a cookie; the calls here use Bearer tokens
    assert (await client.get("/api/v1/agent/suggestions")).status == 401

    socket = await client.ws_connect(f"/api/v1/agent/ws?token={anna.token}")
    reason = "We have this already: see camera-lens-error, step 3."
    await editor_call(client, editor, "POST", f"/drafts/{mine['id']}/reject", {"reason": reason})
    async with asyncio.timeout(5):
        while (event := await socket.receive_json())["type"] != "suggestion_decided":
            pass
    decided = event["suggestion"]
    assert (decided["id"], decided["status"], decided["reject_reason"], decided["reviewer"]) == (
        mine["id"], "rejected", reason, "Erik"
    )  # fmt: skip
    [listed] = (await anna.json("GET", "/suggestions"))["suggestions"]
    assert listed == decided and listed["decided_at"] is not None
    await socket.close()


async def test_misunderstood_messages_are_labelled_in_bulk_into_the_nlu_files(client, data_copy):
    editor = await new_agent(client, "erik", role="editor", online=False)
    hub = client.app[HUB]
    async with hub.sessions() as session, session.begin():
        for n, text in enumerate(["my cam makes clicking sounds", "kamera klackert", "what's the weather"]):
            session.add(
                ReviewItem(
                    conversation_id=f"c{n}", language="de" if "kamera" in text else "en", text=text,
                    intent="nlu_fallback", confidence=0.3, suggested_intent="describe_problem", source="fallback",
                )
            )  # fmt: skip
    inbox = await editor_call(client, editor, "GET", "/inbox")
    assert inbox["open"] == 3
    ids = {i["text"]: i["id"] for i in inbox["items"]}
    await editor_call(client, editor, "POST", "/inbox/label", {"ids": [1], "intent": "no_such_intent"}, expect=400)
    result = await editor_call(
        client, editor, "POST", "/inbox/label",
        {"ids": [ids["my cam makes clicking sounds"], ids["kamera klackert"]], "intent": "describe_problem"},
    )  # fmt: skip
    assert result["labelled"] == 2 and len(result["files"]) == 2
    assert "- kamera klackert\n" in (data_copy / "nlu" / "de" / "problems.yml").read_text()
    dismissed = await editor_call(client, editor, "POST", "/inbox/label", {"ids": [ids["what's the weather"]]})
    assert dismissed["dismissed"] == 1
    assert (await editor_call(client, editor, "GET", "/inbox"))["open"] == 0


async def test_the_inbox_and_draft_filters_name_what_they_take(client):
    editor = await new_agent(client, "erik", role="editor", online=False)
    refused = await editor_call(client, editor, "GET", "/inbox?language=fr", expect=400)
    assert refused["error"] == {
        "code": "invalid_filter",
        "message": "status: one of open, labelled, dismissed; language: one of en, de.",
    }
    refused = await editor_call(client, editor, "GET", "/drafts?status=done", expect=400)
    assert refused["error"]["message"] == "status: one of pending, approved, rejected."
    assert (await editor_call(client, editor, "GET", "/inbox?status=dismissed&language=de"))["items"] == []


async def test_editors_see_the_retrain_state(client):
    agent = await new_agent(client, "anna")
    editor = await new_agent(client, "erik", role="editor", online=False)
    state = await editor_call(client, editor, "GET", "/retrain")
    assert state == {"state": "idle", "auto": False}
    await editor_call(client, agent, "GET", "/retrain", expect=403)


async def test_the_weak_turns_of_a_handed_off_conversation_join_the_inbox_once(client):
    from handoff.inbox import add_from_context

    hub = client.app[HUB]
    context = {"turns": [*TURNS, {"text": "/rate", "intent": "rate", "confidence": 0.1}]}
    async with hub.sessions() as session, session.begin():
        assert await add_from_context(session, "conv-1", "en", context) == 1  # only the fallback turn
    async with hub.sessions() as session, session.begin():
        assert await add_from_context(session, "conv-1", "en", context) == 0
    editor = await new_agent(client, "erik", role="editor", online=False)
    [item] = (await editor_call(client, editor, "GET", "/inbox"))["items"]
    assert (item["text"], item["suggested_intent"], item["source"]) == (TURNS[1]["text"], "describe_problem", "handoff")
