"""Run by tests/e2e/test_rasa_server.py in the Rasa server's environment: `python check_rasa_server.py <url>`,
or `python check_rasa_server.py --model <model.tar.gz>` for the payload shortcut against the real NLU graph.

Exercises bot.rasa_server against a real database (SQLite file or PostgreSQL) the way Rasa's processor uses
a tracker store, with two store instances standing for two Rasa workers. Exits non-zero on the first failure.
"""

import asyncio
import gc
import sys

from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy.engine import make_url

from bot.rasa_server import CachedSQLTrackerStore


def store(url: str, domain: Domain, cache_size: int = 1000) -> CachedSQLTrackerStore:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return CachedSQLTrackerStore(domain=domain, dialect="sqlite", db=parsed.database, cache_size=cache_size)
    return CachedSQLTrackerStore(
        domain=domain,
        dialect="postgresql",
        host=parsed.host,
        port=parsed.port,
        db=parsed.database,
        username=parsed.username,
        password=parsed.password or "",
        cache_size=cache_size,
    )


def rows(s: CachedSQLTrackerStore, sender: str) -> int:
    with s.session_scope() as session:
        return session.query(s.SQLEvent).filter(s.SQLEvent.sender_id == sender).count()


def events(tracker) -> list[dict]:
    return [e.as_dict() for e in tracker.events]


async def turn(s: CachedSQLTrackerStore, sender: str, text: str, save: bool = True):
    """What the processor does per message: retrieve (or create), change, save."""
    tracker = await s.get_or_create_tracker(sender)
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(SlotSet("language", "en"))
    tracker.update(ActionExecuted("action_listen"))
    if save:
        await s.save(tracker)
    return tracker


async def main(url: str) -> None:
    domain = Domain.load("domain.yml")
    a, b = store(url, domain), store(url, domain)

    first = await turn(a, "c1", "hello")
    second = await turn(a, "c1", "again")
    assert second is first, "the second turn should get the cached tracker"
    assert rows(a, "c1") == len(second.events), f"{rows(a, 'c1')} rows for {len(second.events)} events"

    # another worker reads the database and agrees, then writes a turn of its own
    other = await turn(b, "c1", "from worker b")
    assert events(other)[: len(second.events)] == events(second), "worker b sees what worker a wrote"
    # worker a must notice that its cached tracker is stale
    third = await turn(a, "c1", "back on a")
    assert third is not first, "a stale cached tracker was handed out"
    said = [e["text"] for e in events(third) if e["event"] == "user"]
    assert said == ["hello", "again", "from worker b", "back on a"], said
    assert rows(a, "c1") == len(third.events)

    # a message that fails before its save: the unsaved change must not come back
    await turn(a, "c1", "lost", save=False)
    after = await a.retrieve("c1")
    assert "lost" not in [e.get("text") for e in events(after)], "an unsaved change leaked from the cache"
    await a.save(after)
    assert rows(a, "c1") == len(after.events)

    # a fresh process (restart) rebuilds the same conversation from the database
    fresh = await store(url, domain).retrieve("c1")
    assert events(fresh) == events(after), "the database does not hold what the cache held"
    assert fresh.get_slot("language") == "en"

    # the cache keeps at most cache_size conversations
    small = store(url, domain, cache_size=2)
    for i in range(5):
        await turn(small, f"lru{i}", "hi")
        await turn(small, f"lru{i}", "hi again")
    assert len(small._cache) == 2 and list(small._cache) == ["lru3", "lru4"]

    # action-server responses: compiled schema, the same verdicts and error text as Rasa's
    action = RemoteAction("action_x", None)
    assert getattr(RemoteAction._validate_action_result, "compiled_schema", False)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "x", "value": 1}], "responses": []})
    try:
        action._validate_action_result({"events": [{"name": "x"}], "responses": "not a list"})
    except Exception as exc:  # jsonschema.ValidationError
        assert "Failed to validate Action server response" in str(exc), str(exc)
    else:
        raise AssertionError("an invalid action-server response was accepted")
    # the event-by-event check gives the full schema's verdict
    from bot.rasa_server import ActionResponseValidator

    schema = RemoteAction.action_response_format_spec()
    fast = ActionResponseValidator(schema)
    assert fast.by_event, "the schema no longer has one alternative per event type"
    user = {
        "event": "user",
        "text": "hi",
        "parse_data": {
            "intent": {"name": "greet", "confidence": 1.0},
            "entities": [{"entity": "brand", "value": "Canon", "start": 0, "end": 5}],
        },
    }
    samples = [
        {},
        {"events": [], "responses": []},
        {"events": [user], "responses": [{"text": "hi", "buttons": []}]},
        {"events": [{"event": "slot", "name": "x", "value": None}, {"event": "followup", "name": "a"}]},
        {"events": [{"event": "slot", "name": "x"}]},
        {"events": [{"event": "nope"}]},
        {"events": [{"name": "x"}]},
        {"events": [{"event": 3}]},
        {"events": ["slot"]},
        {"events": {"event": "slot"}},
        {"responses": "x"},
        {"responses": ["x"]},
        [],
        "x",
        {"events": [{**user, "parse_data": {"entities": [{"entity": "b"}]}}]},
        {"events": [{"event": "slot", "name": "x", "value": 1, "timestamp": "now"}]},
        {"events": [{"event": "entities", "entities": [{"entity": "e", "value": 1, "start": "0"}]}]},
        {"events": [{"event": "action", "name": "a", "hide_rule_turn": "no"}]},
    ]
    for sample in samples:
        assert fast.is_valid(sample) == fast.full.is_valid(sample), sample
    assert sum(fast.is_valid(sample) for sample in samples) == 4
    print("ok")


def payloads(model: str) -> None:
    """The shortcut gives exactly what the model's whole NLU graph gives for payloads, and leaves text alone."""
    from rasa.core.agent import Agent
    from rasa.core.channels import UserMessage
    from rasa.core.processor import MessageProcessor

    processor = Agent.load(model).processor
    frozen = gc.get_freeze_count()  # the loaded model is out of the garbage collector's way (bot/gc_pauses.py)
    assert frozen > 100_000, f"only {frozen} objects frozen after the model was loaded"
    graph = MessageProcessor._parse_message_with_graph.graph
    tracker = DialogueStateTracker.from_events("payloads", [])
    shortcut = 0
    for text in [
        "/affirm",
        "/deny",
        '/rate{"rating": "5"}',
        "/request_human",
        "/greet",
        " /deny ",
        "/no_such_intent",
        "/affirm{broken",
        "hello there",
        "mein Handy lädt nicht",
    ]:
        message = UserMessage(text, sender_id="payloads")
        fast = processor._parse_message_with_graph(message, tracker)
        slow = graph(processor, message, tracker)
        assert fast == slow, f"{text!r}: shortcut {fast} != graph {slow}"
        shortcut += fast["intent"].get("name") is not None and text.strip().startswith("/")
    assert shortcut >= 5, shortcut
    print("ok")


if __name__ == "__main__":
    if sys.argv[1] == "--model":
        payloads(sys.argv[2])
    else:
        asyncio.run(main(sys.argv[1]))
