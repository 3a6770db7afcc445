"""Plain functions of the hub: opening hours, queue positions and estimates, Rasa replies, the OpenAPI document."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import WSCloseCode
from openapi_spec_validator import validate

from handoff import events, schemas
from handoff.app import create_app
from handoff.availability import parse_opening_hours, when_back
from handoff.conversations import as_typed
from handoff.models import Agent, Ticket
from handoff.openapi import document
from handoff.queue import Snapshot
from handoff.rasa import bot_context, packet_errors, parse_reply
from handoff.views.sockets import TypingRelay
from tests.hub.conftest import closed_port

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_opening_hours_follow_the_local_time_zone():
    hours = parse_opening_hours("mon-fri 08:00-18:00; sat 09:00-13:00", "Europe/Berlin")
    monday_7_30_utc = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)  # 08:30 in Berlin
    assert hours.is_open(monday_7_30_utc)
    assert not hours.is_open(monday_7_30_utc.replace(hour=17, minute=30))  # 18:30 in Berlin
    assert not hours.is_open(datetime(2026, 11, 29, 10, 0, tzinfo=UTC))  # Sunday


def test_a_closed_second_level_says_when_it_is_back_in_the_customers_language():
    hours = parse_opening_hours("mon-fri 08:00-18:00; sat 09:00-13:00", "Europe/Berlin")
    berlin = ZoneInfo("Europe/Berlin")
    friday_evening = datetime(2026, 11, 27, 19, 0, tzinfo=berlin)
    saturday_nine = datetime(2026, 11, 28, 9, 0, tzinfo=berlin)
    assert hours.next_opening(friday_evening) == saturday_nine
    assert when_back(saturday_nine, friday_evening, "en") == "tomorrow at 09:00"
    assert when_back(saturday_nine, friday_evening, "de") == "ab morgen 09:00 Uhr"
    saturday_evening = datetime(2026, 11, 28, 14, 0, tzinfo=berlin)
    monday_eight = datetime(2026, 11, 30, 8, 0, tzinfo=berlin)
    assert hours.next_opening(saturday_evening) == monday_eight  # Sunday is closed
    assert when_back(monday_eight, saturday_evening, "en") == "on Monday at 08:00"
    assert when_back(monday_eight, saturday_evening, "de") == "ab Montag 08:00 Uhr"
    early = datetime(2026, 11, 30, 6, 0, tzinfo=berlin)
    assert when_back(hours.next_opening(early), early, "de") == "ab heute 08:00 Uhr"
    assert hours.next_opening(monday_eight) is None  # open now
    closed = Snapshot([_ticket(1)], [_agent(1)], {}, 300, False, opens_at=monday_eight)
    assert closed.info(_ticket(1))["opens_at"] == monday_eight.isoformat()


@pytest.mark.parametrize("spec", ["mon-fri 8-18", "xyz 08:00-09:00", "mon 18:00-08:00", "mon 25:00-26:00"])
def test_unreadable_opening_hours_are_refused(spec):
    with pytest.raises(ValueError, match="opening hours"):
        parse_opening_hours(spec, "UTC")


def _ticket(id_, priority_rank=1, minutes_ago=0, category="phone", language="en"):
    return Ticket(
        id=id_,
        priority_rank=priority_rank,
        queued_at=T0 - timedelta(minutes=minutes_ago),
        category=category,
        language=language,
    )


def _agent(id_, capacity=2, categories=(), languages=()):
    return Agent(id=id_, role="agent", capacity=capacity, categories=list(categories), languages=list(languages))


def test_the_place_in_line_counts_only_tickets_ahead_for_the_same_agents():
    urgent, old, new, camera = _ticket(1, 3, 0), _ticket(2, 1, 10), _ticket(3, 1, 5), _ticket(4, 1, 20, "camera")
    snap = Snapshot([urgent, old, new, camera], [_agent(1, categories=["phone"])], {}, 300, True)
    assert [snap.info(t)["position"] for t in (urgent, old, new)] == [1, 2, 3]
    assert snap.info(camera) == {
        "position": 1,
        "estimated_wait_s": None,
        "agents_online": 0,
        "open": True,
        "opens_at": None,
    }


def test_the_wait_estimate_uses_free_slots_then_handling_time_per_capacity():
    queued = [_ticket(i, 1, 10 - i) for i in range(1, 6)]
    snap = Snapshot(queued, [_agent(1, capacity=2)], {1: [0.0]}, 300, True)  # one free slot, a chat just begun
    assert [snap.info(t)["estimated_wait_s"] for t in queued] == [30, 300, 300, 600, 600]


def test_the_wait_estimate_shrinks_as_the_chats_in_progress_go_on():
    queued = [_ticket(i, 1, 10 - i) for i in range(1, 4)]
    agents = [_agent(1, capacity=1), _agent(2, capacity=1)]
    for ran, expected in [((0, 0), [300, 300, 600]), ((120, 200), [100, 180, 400]), ((400, 500), [30, 30, 330])]:
        snap = Snapshot(queued, agents, {1: [float(ran[0])], 2: [float(ran[1])]}, 300, True)
        assert [snap.info(t)["estimated_wait_s"] for t in queued] == expected, ran


def test_no_estimate_outside_opening_hours():
    ticket = _ticket(1)
    assert Snapshot([ticket], [_agent(1)], {}, 300, False).info(ticket)["estimated_wait_s"] is None


def test_custom_payloads_belong_to_the_text_before_them():
    reply = parse_reply(
        [
            {"recipient_id": "c", "text": "Step 1 of 3: ...", "buttons": [{"title": "Yes", "payload": "/affirm"}]},
            {"recipient_id": "c", "custom": {"kb_article": "phone-not-charging", "step": 1}},
            {"recipient_id": "c", "text": "Handing over"},
            {"recipient_id": "c", "custom": {"handoff": {"reason": "safety"}}},
        ]
    )
    assert [(m.text[:6], m.meta, m.packet) for m in reply] == [
        ("Step 1", {"kb_article": "phone-not-charging", "step": 1}, None),
        ("Handin", {}, {"reason": "safety"}),
    ]
    assert reply[0].buttons == [{"title": "Yes", "payload": "/affirm"}]


def test_packets_are_checked_against_the_committed_schema():
    assert any("reason" in problem for problem in packet_errors({"schema_version": "1.0"}))


def test_the_bot_context_lists_every_customer_turn_with_intent_and_confidence():
    tracker = {
        "slots": {"device_category": "camera", "brand": None, "session_started_metadata": {"x": 1}},
        "events": [
            {"event": "action", "name": "action_listen"},
            {
                "event": "user",
                "text": "lens error",
                "parse_data": {
                    "intent": {"name": "nlu_fallback", "confidence": 0.41234},
                    "intent_ranking": [{"name": "nlu_fallback"}, {"name": "describe_problem"}, {"name": "deny"}],
                    "entities": [{"entity": "device_category", "value": "camera", "start": 3, "end": 9, "x": 1}],
                },
            },
            {"event": "action", "name": "action_fallback"},
            {"event": "bot", "text": "..."},
            {"event": "action", "name": "action_listen"},
        ],
    }
    assert bot_context(tracker) == {
        "turns": [
            {
                "text": "lens error",
                "intent": "nlu_fallback",
                "confidence": 0.412,
                "suggested": "describe_problem",
                "entities": [{"entity": "device_category", "value": "camera", "start": 3, "end": 9}],
                "actions": ["action_fallback"],
            }
        ],
        "slots": {"device_category": "camera"},
    }


def test_the_openapi_document_is_valid_and_covers_every_api_route(tmp_path):
    from bot.settings import Settings

    validate(document(2000))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", rasa_port=closed_port()))
    routes = {
        (r.method.lower(), r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None
        and r.resource.canonical.startswith("/api/v1/")
        and r.method not in ("HEAD", "OPTIONS")
    }
    documented = {(method, path) for path, ops in document(2000)["paths"].items() for method in ops}
    assert routes - {("get", "/api/v1/openapi.json")} == documented


def test_the_documented_patterns_mean_white_space_as_the_hub_strips_it():
    """JSON Schema's \\s (ECMA-262) is not Python's: "\\x85" passed the document's "not blank" and the hub
    refused it as empty (found by schemathesis). The patterns spell out str.strip()'s white space instead."""
    for blank in ("\x85", "\x1e", "\u3000", " \t\n"):
        assert not blank.strip() and re.search(schemas.NOT_BLANK, blank) is None
    assert "\ufeff".strip() and re.search(schemas.NOT_BLANK, "\ufeff")
    assert schemas.EMAIL.fullmatch("kim@example.org") and not schemas.EMAIL.fullmatch("k\x1eim@example.org")
    assert not schemas.USERNAME.fullmatch("anna\n")  # ECMA-262's $ allows no newline at the end either


def test_a_customers_typing_reaches_the_agent_on_every_change_and_repeats_at_most_every_two_seconds():
    relay = TypingRelay()
    seen = [
        relay.due(typing, at)
        for typing, at in [(True, 0.0), (True, 0.5), (True, 1.9), (True, 2.1), (False, 2.2), (False, 2.3), (True, 2.4)]
    ]
    assert seen == [True, False, False, True, True, False, True]


def test_typing_that_alternates_as_fast_as_a_script_can_is_passed_on_a_few_times_a_second():
    """A review sent 4,000 alternating frames in 3 s and the agent's console got 3,057 typing events."""
    relay = TypingRelay()
    passed = [at for n in range(4000) if relay.due(n % 2 == 0, at := n * 0.00075)]
    assert len(passed) <= 10 + 3 * 5 + 1  # the burst, then 5 a second
    assert passed[-1] > 2.5  # and still passed on, at that pace, while it lasts


async def test_an_event_for_a_client_that_stopped_reading_gives_up_and_closes_its_socket(monkeypatch):
    """A client that never reads fills its buffers; sending to it used to wait for ever, holding up the agent
    whose message it was, or the wait-estimate refresh for every other customer."""

    class Stuck:  # a socket whose buffers are full: a send never finishes
        closed, close_code = False, None

        async def send_json(self, event: dict) -> None:
            await asyncio.Event().wait()

        async def close(self, code: int, message: bytes) -> None:
            self.close_code = code

    monkeypatch.setattr(events, "SEND_TIMEOUT_S", 0.2)
    listening = events.Events()
    stuck = Stuck()
    listening.join_conversation("c", stuck)
    started = time.monotonic()
    await listening.to_conversation("c", {"type": "message"})
    assert time.monotonic() - started < 1.5 and stuck.close_code == WSCloseCode.POLICY_VIOLATION


@pytest.mark.parametrize(
    ("typed", "bot_reads"),
    [
        ("/help", "help"),
        ('/rate{"rating": "5"}', 'rate{"rating": "5"}'),
        ("/ \u00a0//request_human", "request_human"),  # Rasa strips spaces before it looks for the slash
        ("///", "///"),  # nothing but slashes: no intent name Rasa knows, so the NLU reads it
        ("and/or 1/2", "and/or 1/2"),
    ],
)
def test_typed_text_reaches_the_bot_as_words_not_as_an_intent(typed, bot_reads):
    assert as_typed(typed) == bot_reads
