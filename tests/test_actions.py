"""Every action, run on a tracker against the real knowledge base: returned events and uttered messages."""

from __future__ import annotations

import asyncio
import gc
import json
import uuid
from pathlib import Path

import jsonschema
import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import guide_runs as recording
from actions import services
from actions.fallback import ActionFallback
from actions.feedback import ActionRate
from actions.handoff import ActionHandoff
from actions.troubleshooting import ActionBackFromPerson, ActionFindArticle, ActionStepFeedback
from bot.db import make_engine, make_session_factory
from bot.guide_runs import GuideRuns
from bot.handoff_packet import SCHEMA_FILE
from bot.settings import get_settings

SCHEMA = json.loads(Path(SCHEMA_FILE).read_text())


@pytest.fixture(autouse=True)
def _actions_use_test_database(loaded_db_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", loaded_db_url)
    _forget_services()
    yield
    _forget_services()


def _forget_services() -> None:
    get_settings.cache_clear()
    for service in (services.knowledge_base, services.guide_runs, services.app_sessions):
        service.cache_clear()


def tracker(text="", intent="describe_problem", entities=(), slots=None, events=None, sender="conv-1") -> Tracker:
    slots = {"language": "en", **(slots or {})}
    message = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities)}
    return Tracker(
        sender,
        slots,
        message,
        events or [{"event": "user", "text": text, "parse_data": message}],
        False,
        None,
        {},
        "action_listen",
    )


def run(action, t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return events, dispatcher.messages


def slot(events, name):
    values = [e["value"] for e in events if e.get("event") == "slot" and e.get("name") == name]
    return values[-1] if values else None


def handoff_of(messages) -> dict:
    packets = [m["custom"]["handoff"] for m in messages if "handoff" in (m.get("custom") or {})]
    assert len(packets) == 1
    jsonschema.validate(packets[0], SCHEMA)
    return packets[0]


# -- action_find_article ------------------------------------------------------------------------------------
def test_clear_german_problem_starts_the_guide_at_step_one():
    events, messages = run(
        ActionFindArticle(), tracker("Mein Handy lädt nicht mehr, wenn ich es einstecke", slots={"language": "de"})
    )
    assert slot(events, "article_id") == "phone-not-charging"
    assert slot(events, "step") == 1 and slot(events, "awaiting") == "step"
    assert slot(events, "problem_text").startswith("Mein Handy")
    step = messages[-1]
    assert step["text"].startswith("Schritt 1 von") and step["custom"] == {
        "kb_article": "phone-not-charging",
        "step": 1,
    }
    assert [b["payload"] for b in step["buttons"]] == ["/affirm", "/deny", "/request_human"]
    assert any("Anleitung" in m["text"] for m in messages)


def test_ambiguous_problem_asks_for_the_device_category():
    events, messages = run(ActionFindArticle(), tracker("it won't turn on at all"))
    assert slot(events, "awaiting") == "category"
    payloads = [b["payload"] for b in messages[-1]["buttons"]]
    assert any('"device_category": "camera"' in p for p in payloads)
    assert any('"device_category": "phone"' in p for p in payloads)


@pytest.mark.parametrize(
    ("text", "article"),
    [("my Fairphone 5 won't turn on at all", "phone-wont-turn-on"), ("Mein Laptop geht gar nicht an", None)],
)
def test_a_device_the_text_names_is_not_asked_for(text, article):
    """The NLU may miss a device word ("Fairphone" read as a brand only); the text still says which device."""
    events, messages = run(ActionFindArticle(), tracker(text))
    assert slot(events, "awaiting") != "category"
    if article:
        assert slot(events, "device_category") == "phone" and slot(events, "article_id") == article


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("camera", "inform_device"),
        ("the one from Canon, not sure which", "inform_device"),  # more than a device name: still no new problem
        ("Canon EOS R6", "describe_problem"),  # a bare device name read as a description
    ],
)
def test_device_answer_reruns_the_search_for_the_described_problem(text, intent):
    t = tracker(
        text,
        intent=intent,
        slots={"problem_text": "it won't turn on at all", "device_category": "camera", "awaiting": "category"},
    )
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "problem_text") is None  # the described problem stays
    assert slot(events, "article_id") == "camera-wont-turn-on"
    assert messages[-1]["custom"]["step"] == 1


def test_a_bare_device_name_read_as_a_description_asks_for_the_problem():
    t = tracker("Pixel 7a", entities=[{"entity": "model", "value": "Pixel 7a", "start": 0, "end": 8}])
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "awaiting") == "problem" and slot(events, "problem_text") is None
    assert "What is the problem" in messages[-1]["text"]


def test_device_and_problem_in_one_message_read_as_naming_the_device_is_still_searched():
    text = "Samsung Galaxy does not charge anymore"
    events, messages = run(ActionFindArticle(), tracker(text, intent="inform_device"))
    assert slot(events, "problem_text") == text
    assert "phone-not-charging" in slot(events, "candidates")  # searched, not "what is the problem?"


def test_a_device_named_with_words_that_match_no_guide_asks_for_the_problem():
    t = tracker("I have a Nikon Z6 that my uncle gave me", intent="inform_device")
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "awaiting") == "problem" and slot(events, "problem_text") is None
    assert slot(events, "clarifications") is None
    assert "What is the problem" in messages[-1]["text"]


def test_unknown_problem_asks_to_rephrase_once_then_hands_over():
    events, messages = run(ActionFindArticle(), tracker("flibber jabber wobble"))
    assert slot(events, "awaiting") == "rephrase" and slot(events, "clarifications") == 1
    assert "other words" in messages[-1]["text"]
    t = tracker(
        "it is doing the other thing now",
        slots={"clarifications": 1.0, "awaiting": "rephrase", "problem_text": "flibber jabber wobble"},
    )
    events, messages = run(ActionFindArticle(), t)
    assert handoff_of(messages)["reason"] == "no_article"
    assert slot(events, "handed_off") is True


def test_safety_topic_gives_safety_advice_and_hands_over_at_once_with_urgent_priority():
    events, messages = run(ActionFindArticle(), tracker("my laptop battery is swollen and the case is bulging"))
    assert "safety" in messages[0]["text"].lower()
    packet = handoff_of(messages)
    assert packet["reason"] == "safety" and packet["priority"] == "urgent"
    assert packet["article_id"] == "safety-battery-swollen"


def test_a_sign_of_danger_goes_to_the_safety_guidance_even_where_a_harmless_guide_scores_higher():
    events, messages = run(ActionFindArticle(), tracker("the back of my phone is bulging a bit and it gets warm"))
    packet = handoff_of(messages)
    assert packet["reason"] == "safety" and packet["priority"] == "urgent"
    assert packet["article_id"] == "safety-battery-swollen"


@pytest.mark.parametrize("text", ["my samsung tv has no sound since yesterday", "Meine AirPods verbinden sich nicht"])
def test_a_device_the_product_does_not_support_gets_no_guide_but_the_offer_of_a_person(text):
    events, messages = run(ActionFindArticle(), tracker(text))
    assert slot(events, "article_id") is None and slot(events, "problem_text") is None
    assert len(messages) == 1 and "phones, cameras and notebooks" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/request_human"]


def test_a_guides_note_that_is_no_danger_is_not_called_a_safety_warning():
    events, messages = run(ActionFindArticle(), tracker("the software update on my phone fails every time"))
    assert slot(events, "article_id") == "phone-update-fails"
    assert messages[0]["text"].startswith("Please note: Don't switch the phone off")
    assert "safety" not in " ".join(m["text"] for m in messages).lower()


def test_always_a_person_topic_asks_for_the_device_then_hands_over():
    events, messages = run(ActionFindArticle(), tracker("I dropped my phone into the bathtub"))
    assert slot(events, "article_id") == "liquid-damage" and slot(events, "awaiting") == "details"
    assert not any("handoff" in (m.get("custom") or {}) for m in messages)
    t = tracker(
        "It's a Pixel 7",
        intent="inform_device",
        entities=[{"entity": "model", "value": "Pixel 7"}],
        slots={
            "article_id": "liquid-damage",
            "awaiting": "details",
            "model": "Pixel 7",
            "brand": "Google",
            "device_category": "phone",
            "problem_text": "I dropped my phone into the bathtub",
        },
    )
    events, messages = run(ActionFindArticle(), t)
    packet = handoff_of(messages)
    assert packet["reason"] == "human_topic" and packet["device"] == {
        "category": "phone",
        "brand": "Google",
        "model": "Pixel 7",
    }


@pytest.mark.parametrize(
    ("text", "lang", "said"),
    [
        ("I placed an order last week and the package never came", "en", "shop team"),
        ("Where is my order? I have been waiting for ten days now", "en", "shop team"),
        ("Which laptop should I buy for photo editing?", "en", "shop team"),
        ("Wo bleibt meine Bestellung? Ich warte schon zwei Wochen", "de", "Shop-Team"),
        ("Ich brauche eine Rechnung für meine Kamera", "de", "Shop-Team"),
        ("Welche Kamera für Anfänger bis 600 €?", "de", "Shop-Team"),  # the search found a firmware guide
    ],
)
def test_a_question_for_the_shop_gets_no_guide_and_the_offer_of_a_person(text, lang, said):
    events, messages = run(ActionFindArticle(), tracker(text, slots={"language": lang}))
    [answer] = messages
    assert said in answer["text"] and [b["payload"] for b in answer["buttons"]] == ["/request_human"]
    assert slot(events, "article_id") is None and slot(events, "awaiting") is None
    assert slot(events, "problem_text") == text  # what a person is asked about, if the customer asks for one


@pytest.mark.parametrize(
    ("text", "lang", "article"),
    [
        ("I ordered a new laptop and the screen stays black", "en", "notebook-display"),
        ("Das Handy, das ich bestellt habe, lädt nicht", "de", "phone-not-charging"),
    ],
)
def test_a_device_problem_that_names_an_order_still_gets_its_guide(text, lang, article):
    events, messages = run(ActionFindArticle(), tracker(text, slots={"language": lang}))
    assert slot(events, "article_id") == article  # (the notebook guide asks for the brand first)
    assert not any("Shop" in m["text"] or "shop" in m["text"] for m in messages)


# -- action_step_feedback -----------------------------------------------------------------------------------
GUIDE = {"article_id": "phone-not-charging", "step": 1.0, "awaiting": "step", "problem_text": "phone won't charge"}


def test_yes_after_a_step_closes_as_solved_and_asks_for_a_rating():
    events, messages = run(ActionStepFeedback(), tracker("yes it works now", intent="affirm", slots=GUIDE))
    assert slot(events, "steps_tried")[0]["outcome"] == "solved" and slot(events, "awaiting") == "rating"
    assert [b["payload"] for b in messages[0]["buttons"]][-1] == '/rate{"rating": "5"}'


def test_a_typed_yes_that_says_nothing_changed_presents_the_next_step():
    events, messages = run(ActionStepFeedback(), tracker("ok did that, nothing", intent="affirm", slots=GUIDE))
    assert slot(events, "steps_tried")[0]["outcome"] == "failed" and slot(events, "step") == 2
    assert messages[0]["text"].startswith("Step 2 of")


@pytest.mark.parametrize(
    ("action", "intent"), [(ActionFindArticle(), "describe_problem"), (ActionFallback(), "nlu_fallback")]
)
def test_an_answer_to_a_step_read_as_a_new_problem_or_not_understood_still_moves_the_guide_on(action, intent):
    text = "habs zweimal probiert, kein unterschied"
    events, messages = run(action, tracker(text, intent=intent, slots={**GUIDE, "language": "de"}))
    assert slot(events, "steps_tried")[0]["outcome"] == "failed" and slot(events, "step") == 2
    assert messages[0]["text"].startswith("Schritt 2 von")


def test_no_after_a_step_presents_the_next_step():
    events, messages = run(ActionStepFeedback(), tracker("no, still the same", intent="deny", slots=GUIDE))
    assert slot(events, "step") == 2 and slot(events, "steps_tried")[0]["outcome"] == "failed"
    assert messages[0]["text"].startswith("Step 2 of")


def test_no_after_the_last_step_hands_over_with_every_step_tried():
    slots = dict(GUIDE, step=1.0)
    tried = []
    for _ in range(10):
        t = tracker("didn't help", intent="deny", slots={**slots, "steps_tried": tried})
        events, messages = run(ActionStepFeedback(), t)
        tried = slot(events, "steps_tried")
        if slot(events, "handed_off"):
            break
        slots["step"] = slot(events, "step")
    packet = handoff_of(messages)
    assert packet["reason"] == "steps_exhausted" and packet["article_id"] == "phone-not-charging"
    assert [s["outcome"] for s in packet["steps_tried"]] == ["failed"] * len(packet["steps_tried"])
    assert len(packet["steps_tried"]) >= 3 and packet["summary"] == "phone won't charge"


def test_yes_without_a_guide_asks_how_to_help():
    events, messages = run(ActionStepFeedback(), tracker("yes", intent="affirm"))
    assert events == [] and "What can I help you with" in messages[0]["text"]


# -- action_back_from_person (the hub runs it when a person hands the chat back) -------------------------------
HANDED_BACK = {
    **GUIDE,
    "step": 2.0,
    "awaiting": None,
    "handed_off": True,
    "steps_tried": [{"step": 1, "instruction": "Check the cable", "outcome": "failed"}],
}


def test_back_from_a_person_the_bot_offers_the_first_step_not_tried():
    events, messages = run(ActionBackFromPerson(), tracker("", intent=None, slots={**HANDED_BACK, "language": "de"}))
    assert slot(events, "handed_off") is False and slot(events, "awaiting") == "resume" and slot(events, "step") == 2
    [offer] = messages
    title = services.knowledge_base().article("phone-not-charging", "de").title
    assert f"„{title}“" in offer["text"] and "Als Nächstes kommt Schritt 2 von" in offer["text"]
    assert [(b["title"], b["payload"]) for b in offer["buttons"]] == [
        ("Weiter mit Schritt 2", "/affirm"),
        ("Etwas anderes", "/deny"),
    ]


def test_going_on_after_a_person_presents_the_offered_step_and_something_else_asks_what():
    resumed = {**HANDED_BACK, "handed_off": False, "awaiting": "resume"}
    events, messages = run(ActionStepFeedback(), tracker("/affirm", intent="affirm", slots=resumed))
    assert messages[0]["text"].startswith("Step 2 of") and messages[0]["custom"]["step"] == 2
    assert slot(events, "awaiting") == "step" and not slot(events, "steps_tried")  # nothing was answered yet
    events, messages = run(ActionStepFeedback(), tracker("Something else", intent="deny", slots=resumed))
    assert "What can I help you with" in messages[0]["text"] and events == [SlotSet("awaiting", None)]


@pytest.mark.parametrize(
    "slots",
    [
        {"handed_off": True},  # no guide: handed over at once
        {**HANDED_BACK, "steps_tried": [{"step": 1, "instruction": "Check the cable", "outcome": "solved"}]},
        {**HANDED_BACK, "article_id": "safety-battery-swollen"},  # a safety article is no guide to go on with
    ],
)
def test_back_from_a_person_without_a_guide_to_go_on_with_the_bot_only_listens(slots):
    events, messages = run(ActionBackFromPerson(), tracker("", intent=None, slots=slots))
    assert messages == [] and events == [SlotSet("handed_off", False), SlotSet("awaiting", None)]


def test_back_from_a_person_after_every_step_the_bot_only_listens():
    article = services.knowledge_base().article("phone-not-charging", "en")
    tried = [{"step": s.position, "instruction": s.instruction, "outcome": "failed"} for s in article.steps_for(None)]
    events, messages = run(
        ActionBackFromPerson(), tracker("", intent=None, slots={**HANDED_BACK, "steps_tried": tried})
    )
    assert messages == [] and slot(events, "awaiting") is None


# -- action_handoff, action_fallback, action_rate --------------------------------------------------------------
def test_request_for_a_person_hands_over_with_the_context():
    events, messages = run(
        ActionHandoff(), tracker("I want to talk to a human", intent="request_human", slots={**GUIDE, "language": "de"})
    )
    packet = handoff_of(messages)
    assert packet["reason"] == "customer_request" and packet["language"] == "de"
    assert packet["topic"] == "not_charging" and packet["conversation_id"] == "conv-1"
    assert "Support-Team" in messages[0]["text"]
    assert SlotSet("handed_off", True) in events


def test_first_fallback_asks_to_rephrase():
    t = tracker("asdf qwer", intent="nlu_fallback")
    events, messages = run(ActionFallback(), t)
    assert events == [] and "other words" in messages[0]["text"]


def test_a_question_for_the_shop_the_nlu_did_not_understand_gets_the_shop_answer():
    text = "Ich brauche für meine Steuererklärung eine Rechnung für das Notebook"
    events, messages = run(ActionFallback(), tracker(text, intent="nlu_fallback", slots={"language": "de"}))
    assert "Shop-Team" in messages[0]["text"] and [b["payload"] for b in messages[0]["buttons"]] == ["/request_human"]
    assert slot(events, "problem_text") == text


def test_second_consecutive_fallback_hands_over():
    fallback = {"event": "user", "text": "xx", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    t = tracker("yy", intent="nlu_fallback", events=[fallback, {"event": "bot", "text": "?"}, fallback])
    events, messages = run(ActionFallback(), t)
    assert handoff_of(messages)["reason"] == "repeated_fallback"


def test_fallback_after_an_understood_message_is_a_first_fallback():
    ok = {"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet"}}}
    fallback = {"event": "user", "text": "xx", "parse_data": {"intent": {"name": "nlu_fallback"}}}
    t = tracker("xx", intent="nlu_fallback", events=[fallback, ok, fallback])
    _, messages = run(ActionFallback(), t)
    assert not messages[0]["custom"] and "other words" in messages[0]["text"]


def test_rating_is_stored_and_thanked_for():
    events, messages = run(
        ActionRate(),
        tracker(
            "/rate",
            intent="rate",
            entities=[{"entity": "rating", "value": "4"}],
            slots={"awaiting": "rating", "language": "de"},
        ),
    )
    assert slot(events, "rating") == "4" and "Bewertung" in messages[0]["text"]


def test_rating_outside_one_to_five_is_asked_again():
    events, messages = run(
        ActionRate(),
        tracker("9 stars", intent="rate", entities=[{"entity": "rating", "value": "9"}], slots={"awaiting": "rating"}),
    )
    assert slot(events, "rating") is None and len(messages[0]["buttons"]) == 5


def test_a_number_mid_guide_is_no_rating_and_the_step_is_asked_again():
    t = tracker("3", intent="rate", entities=[{"entity": "rating", "value": "3"}], slots=GUIDE)
    events, messages = run(ActionRate(), t)
    assert events == [] and "Did the step help?" in messages[0]["text"]
    assert [b["payload"] for b in messages[0]["buttons"]][:2] == ["/affirm", "/deny"]


def test_a_rating_nobody_asked_for_is_not_stored():
    t = tracker("5", intent="rate", entities=[{"entity": "rating", "value": "5"}], slots={"awaiting": None})
    events, messages = run(ActionRate(), t)
    assert slot(events, "rating") is None and "What can I help you with?" in messages[0]["text"]


def test_picking_a_suggested_guide_starts_it():
    t = tracker(
        '/describe_problem{"article_choice": "phone-wifi"}',
        entities=[{"entity": "article_choice", "value": "phone-wifi"}],
        slots={
            "awaiting": "choice",
            "candidates": ["phone-wifi", "notebook-wifi-drops"],
            "problem_text": "internet weg",
        },
    )
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "article_id") == "phone-wifi" and messages[-1]["custom"]["step"] == 1


def test_none_of_the_suggestions_asks_to_rephrase():
    t = tracker("none of these", intent="deny", slots={"awaiting": "choice", "candidates": ["phone-wifi"]})
    events, messages = run(ActionStepFeedback(), t)
    assert slot(events, "awaiting") == "rephrase" and "other words" in messages[0]["text"]


def test_guide_with_brand_specific_steps_asks_for_the_brand_first():
    t = tracker("how do I get the photos from my camera onto my computer", slots={"device_category": "camera"})
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "awaiting") == "brand" and slot(events, "candidates") == ["camera-transfer-photos"]
    assert '/inform_device{"brand": "Canon"}' in [b["payload"] for b in messages[-1]["buttons"]]
    t = tracker(
        "Canon",
        intent="inform_device",
        slots={
            "device_category": "camera",
            "brand": "Canon",
            "problem_text": "how do I get the photos from my camera onto my computer",
            "awaiting": "brand",
        },
    )
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "article_id") == "camera-transfer-photos" and messages[-1]["custom"]["step"] == 1


def test_the_brand_asked_for_after_picking_a_suggested_guide_starts_that_guide():
    """The customer picked a guide whose steps differ by brand; their brand starts it (not the suggestions again,
    as a new search of the vague description would)."""
    t = tracker(
        '/describe_problem{"article_choice": "phone-wont-turn-on"}',
        entities=[{"entity": "article_choice", "value": "phone-wont-turn-on"}],
        slots={
            "awaiting": "choice",
            "candidates": ["phone-wont-turn-on", "physical-damage", "phone-touchscreen-frozen"],
            "problem_text": "its my phone. screen is black but i can hear notification sounds",
        },
    )
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "awaiting") == "brand" and slot(events, "candidates") == ["phone-wont-turn-on"]
    t = tracker(
        '/inform_device{"brand": "Samsung"}',
        intent="inform_device",
        entities=[{"entity": "brand", "value": "Samsung"}],
        slots={
            "brand": "Samsung",
            "article_id": "phone-wont-turn-on",
            "awaiting": "brand",
            "candidates": ["phone-wont-turn-on"],
            "problem_text": "its my phone. screen is black but i can hear notification sounds",
        },
    )
    events, messages = run(ActionFindArticle(), t)
    assert slot(events, "article_id") == "phone-wont-turn-on" and messages[-1]["custom"]["step"] == 1


def test_no_outside_a_guide_that_describes_a_problem_is_searched():
    events, messages = run(
        ActionStepFeedback(), tracker("mein WLAN am Laptop geht nicht", intent="deny", slots={"language": "de"})
    )
    assert slot(events, "problem_text") == "mein WLAN am Laptop geht nicht"
    assert messages and "Wobei kann ich helfen" not in messages[0]["text"]


# -- guide runs: what the actions record for the per-article health and the support metrics ------------------
def new_sender() -> str:
    return f"conv-{uuid.uuid4().hex}"


def runs_of(sender: str) -> list:
    return services.guide_runs().of_conversation(sender)


CHARGING_DE = "Mein Handy lädt nicht mehr, wenn ich es einstecke"


def test_a_guide_run_is_recorded_from_its_first_step_to_solved_and_rated():
    sender = new_sender()
    run(ActionFindArticle(), tracker(CHARGING_DE, slots={"language": "de"}, sender=sender))
    [started] = runs_of(sender)
    assert (started.article_id, started.language, started.category) == ("phone-not-charging", "de", "phone")
    assert (started.outcome, started.last_step, started.solved_at_step) == ("open", 1, None)
    assert started.steps_total == len(services.knowledge_base().article("phone-not-charging", "de").steps)

    guide = {**GUIDE, "language": "de"}
    _, messages = run(ActionStepFeedback(), tracker("nein", intent="deny", slots=guide, sender=sender))
    assert messages[0]["custom"]["step"] == 2 and runs_of(sender)[0].last_step == 2
    events, _ = run(ActionStepFeedback(), tracker("ja", intent="affirm", slots={**guide, "step": 2.0}, sender=sender))
    assert slot(events, "awaiting") == "rating"
    [solved] = runs_of(sender)
    assert (solved.outcome, solved.solved_at_step, solved.handoff_after_step) == ("solved", 2, None)
    assert solved.ended_at is not None

    rating = [{"entity": "rating", "value": "4"}]
    rate = tracker("/rate", intent="rate", entities=rating, slots={"awaiting": "rating"}, sender=sender)
    events, _ = run(ActionRate(), rate)
    assert slot(events, "rating") == "4" and runs_of(sender)[0].rating == 4


def test_describing_the_same_problem_again_continues_the_open_run():
    sender = new_sender()
    run(ActionFindArticle(), tracker("my phone does not charge when I plug it in", sender=sender))
    run(ActionFindArticle(), tracker("my phone won't charge at all when plugged in", sender=sender))
    assert [r.article_id for r in runs_of(sender)] == ["phone-not-charging"]


def test_a_guide_that_runs_out_of_steps_records_the_handoff_after_the_last_step():
    sender = new_sender()
    run(ActionFindArticle(), tracker("phone won't charge", sender=sender))
    slots, tried = dict(GUIDE), []
    for _ in range(10):
        t = tracker("didn't help", intent="deny", slots={**slots, "steps_tried": tried}, sender=sender)
        events, messages = run(ActionStepFeedback(), t)
        tried = slot(events, "steps_tried")
        if slot(events, "handed_off"):
            break
        slots["step"] = slot(events, "step")
    last = handoff_of(messages)["steps_tried"][-1]["step"]
    assert handoff_of(messages)["step_shown"] is None  # every step shown was answered
    [ended] = runs_of(sender)
    assert (ended.outcome, ended.handoff_reason, ended.handoff_after_step) == ("handoff", "steps_exhausted", last)
    assert ended.last_step == last and ended.solved_at_step is None


def test_asking_for_a_person_mid_guide_records_the_step_the_customer_was_on():
    sender = new_sender()
    run(ActionFindArticle(), tracker("phone won't charge", sender=sender))
    run(ActionStepFeedback(), tracker("no", intent="deny", slots=GUIDE, sender=sender))
    first = {"step": 1, "instruction": "Use a wall socket.", "outcome": "failed"}
    slots = {**GUIDE, "step": 2.0, "steps_tried": [first]}
    _, messages = run(ActionHandoff(), tracker("a human please", intent="request_human", slots=slots, sender=sender))
    packet = handoff_of(messages)
    assert packet["reason"] == "customer_request"
    assert [s["step"] for s in packet["steps_tried"]] == [1]
    assert packet["step_shown"]["step"] == 2 and packet["step_shown"]["instruction"]  # the agent sees where they were
    [ended] = runs_of(sender)
    assert (ended.outcome, ended.handoff_reason, ended.handoff_after_step) == ("handoff", "customer_request", 2)


def test_a_safety_handoff_starts_no_guide_run():
    sender = new_sender()
    _, messages = run(ActionFindArticle(), tracker("my laptop battery is swollen and bulging", sender=sender))
    assert handoff_of(messages)["reason"] == "safety" and runs_of(sender) == []


def test_the_customer_gets_the_same_answer_when_runs_cannot_be_recorded(monkeypatch, tmp_path):
    broken = GuideRuns(make_session_factory(make_engine(f"sqlite:///{tmp_path / 'no-tables.db'}")))
    monkeypatch.setattr(recording, "guide_runs", lambda: broken)
    events, messages = run(ActionFindArticle(), tracker(CHARGING_DE, slots={"language": "de"}, sender=new_sender()))
    assert slot(events, "article_id") == "phone-not-charging" and messages[-1]["custom"]["step"] == 1


def test_the_action_server_builds_the_search_index_once_it_listens_and_freezes_what_start_up_built():
    from actions.server import warm_up

    try:
        asyncio.run(warm_up(None))
        assert gc.get_freeze_count() > 0
        index = services.knowledge_base().index()
        assert not any(o is index for o in gc.get_objects())  # built before the freeze, so it is frozen
    finally:
        gc.unfreeze()
