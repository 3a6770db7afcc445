"""What the Rasa server loads from this project at start (through `endpoints.yml`), for speed.

Imported only by the Rasa server's own Python 3.10 environment, never by the main one.

1. `CachedSQLTrackerStore`: Rasa's SQL tracker store rebuilds a conversation's tracker from all its events
   before every message (a query plus a replay) and counts the stored events again before every save
   (another query). This store keeps each conversation's tracker in memory between its turns and checks with
   one indexed query (the newest event id) that nobody else wrote to it meanwhile. Every event is still
   written to SQL before the reply leaves, so a restart loses nothing.
2. Rasa 3.6 checks each action-server response with `jsonschema.validate`, which first checks the *schema*
   against the JSON-Schema meta-schema: ~20 ms per custom action call with jsonschema 4.17, about half of
   all the Rasa server's work per message. `install_fast_action_validation` compiles the (constant) schema
   once and checks each event only against the alternative its type names (`ActionResponseValidator`); the
   verdicts are the same as before, and errors read the same.
3. Rasa 3.6 runs the whole NLU graph (featurizers, DIET, ...) on button payloads such as `/affirm` and then
   throws its result away: the last node, RegexMessageHandler, replaces it with the intent and entities
   written in the payload. `install_payload_shortcut` produces that same result without the graph (as
   Rasa 3.0 and 3.1 did); free text still goes through the graph.
4. `install_gc_freeze_after_model_load`: the objects of a loaded model are frozen out of the garbage
   collector's way (`bot/gc_pauses.py`); full collections had stalled the server for 0.2-0.6 s under load.
5. `install_model_loading_in_background`: `PUT /model` (a retrain's swap) loads the new model in a worker
   thread while the current one keeps answering, instead of inside the event loop (~20 s of silence).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from bot import gc_pauses

log = logging.getLogger(__name__)


@dataclass
class _Cached:
    tracker: DialogueStateTracker | None  # None: lent for a conversation the database does not have yet
    stored: int  # how many of tracker.events are in the database
    last_id: int | None  # id of the conversation's newest event row when we last read or wrote it


class CachedSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store with the latest tracker of up to `cache_size` conversations kept in memory.

    A tracker handed out by `retrieve` leaves the cache (the processor changes it while it handles the
    message) and comes back on `save`. Whatever is not the object we handed out (a tracker built elsewhere,
    a second handler of the same conversation) is saved Rasa's own way and not cached, so the database
    always stays the truth; a tracker that was never saved (the message failed) is read from it again.
    """

    def __init__(self, *args: Any, cache_size: int = 1000, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self._keep_sqlite_connections()
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._lent: dict[str, _Cached] = {}

    def _keep_sqlite_connections(self) -> None:
        """SQLAlchemy 1.4 opens an SQLite file anew for every session (NullPool): keep connections open instead,
        with write-ahead logging (like the hub's database: nothing is lost when a process dies)."""
        url = self.engine.url
        self.engine.dispose()
        engine = sa.create_engine(
            url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8, connect_args={"check_same_thread": False}
        )

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        self.engine = engine
        self.sessionmaker = sa.orm.session.sessionmaker(bind=engine)

    @property
    def _caching(self) -> bool:
        # an event broker makes Rasa's save retrieve the stored tracker to diff against: keep Rasa's way then
        return self.cache_size > 0 and self.event_broker is None

    def _last_event_id(self, connection: Any, sender_id: str) -> int | None:
        table = self.SQLEvent.__table__
        query = sa.select(sa.func.max(table.c.id)).where(table.c.sender_id == sender_id)
        return connection.execute(query).scalar()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        if not self._caching:
            return await super().retrieve(sender_id)
        cached = self._cache.pop(sender_id, None)
        with self.engine.connect() as connection:
            last_id = self._last_event_id(connection, sender_id)
        if cached is not None and cached.last_id == last_id and last_id is not None:
            self._lend(sender_id, cached)
            return cached.tracker
        if last_id is None:  # a new conversation: Rasa creates its tracker and saves it
            self._lend(sender_id, _Cached(None, 0, None))
            return None
        tracker = await super().retrieve(sender_id)
        if tracker is not None and tracker.events.maxlen is None:
            self._lend(sender_id, _Cached(tracker, len(tracker.events), last_id))
        return tracker

    def _lend(self, sender_id: str, entry: _Cached) -> None:
        self._lent[sender_id] = entry
        if len(self._lent) > max(self.cache_size, 100):  # never saved (failed messages): forget the oldest
            self._lent.pop(next(iter(self._lent)))

    async def save(self, tracker: DialogueStateTracker) -> None:
        sender_id = tracker.sender_id
        lent = self._lent.pop(sender_id, None) if self._caching else None
        new_conversation = lent is not None and lent.tracker is None
        ours = lent is not None and (lent.tracker is tracker or new_conversation) and tracker.events.maxlen is None
        if not ours:
            self._cache.pop(sender_id, None)
            await super().save(tracker)
            if self._caching and tracker.events.maxlen is None:
                # e.g. a tracker built from posted events: ours from now on
                with self.engine.connect() as connection:
                    last_id = self._last_event_id(connection, sender_id)
                self._lend(sender_id, _Cached(tracker, len(tracker.events), last_id))
            return
        new_events = list(itertools.islice(tracker.events, lent.stored, None))
        last_id = lent.last_id
        if new_events:
            with self.engine.begin() as connection:  # one transaction: the rows, then the newest id
                connection.execute(self.SQLEvent.__table__.insert(), [self._row(sender_id, e) for e in new_events])
                last_id = self._last_event_id(connection, sender_id)
        saved = _Cached(tracker, len(tracker.events), last_id)
        if new_conversation:  # Rasa goes on with the object it just saved: it stays lent
            self._lend(sender_id, saved)
            return
        self._cache[sender_id] = saved
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    @staticmethod
    def _row(sender_id: str, event: Any) -> dict:
        """The same row as Rasa's SQLTrackerStore.save writes."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }


class ActionResponseValidator:
    """Rasa's action-response schema with the same verdicts, compiled once and checked event by event.

    The schema says each event must match exactly one of ~25 alternatives (`oneOf`), one per event type,
    each fixing `event` to its own constant: so an event is valid exactly when the alternative its `event`
    names accepts it, and only that one is tried (the rest of the response is checked as before).
    """

    def __init__(self, schema: dict) -> None:
        from jsonschema import validators

        compile_ = validators.validator_for(schema)
        self.full = compile_(schema)
        self.by_event: dict[str, Any] | None = {}
        item = schema["properties"]["events"]["items"]
        base = {key: value for key, value in item.items() if key != "oneOf"}
        for alternative in item.get("oneOf", []):
            name = alternative.get("properties", {}).get("event", {}).get("const")
            if not isinstance(name, str) or name in self.by_event:  # not the shape this relies on: check it all
                self.by_event = None
                break
            self.by_event[name] = compile_({"allOf": [base, alternative]})
        outer = {**schema, "properties": {**schema["properties"], "events": {"type": "array"}}}
        self.outer = compile_(outer)

    def is_valid(self, result: Any) -> bool:
        if self.by_event is None:
            return self.full.is_valid(result)
        if not self.outer.is_valid(result):
            return False
        for event in result.get("events", []):
            name = event.get("event") if isinstance(event, dict) else None
            validator = self.by_event.get(name) if isinstance(name, str) else None
            if validator is None or not validator.is_valid(event):
                return False
        return True


def install_fast_action_validation() -> None:
    """Validate action-server responses with `ActionResponseValidator`; invalid ones go through Rasa's own check,
    which raises its usual error."""
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "compiled_schema", False):
        return
    original = RemoteAction._validate_action_result
    validator = ActionResponseValidator(RemoteAction.action_response_format_spec())

    def _validate_action_result(self: RemoteAction, result: dict) -> bool:
        return True if validator.is_valid(result) else original(self, result)

    _validate_action_result.compiled_schema = True  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def install_payload_shortcut() -> None:
    """Parse `/intent{...}` payloads of known intents the way the graph's RegexMessageHandler does, directly."""
    from rasa.core.processor import MessageProcessor
    from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_NAME_KEY, PREDICTED_CONFIDENCE_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message

    if getattr(MessageProcessor._parse_message_with_graph, "payload_shortcut", False):
        return
    original = MessageProcessor._parse_message_with_graph

    def _parse_message_with_graph(
        self: MessageProcessor, message: Any, tracker: DialogueStateTracker, only_output_properties: bool = True
    ) -> dict:
        text = (message.text or "").strip()
        if text.startswith("/"):
            unpacked = YAMLStoryReader.unpack_regex_message(
                Message({TEXT: text}), self.domain, entity_extractor_name=RegexMessageHandler.__name__
            )
            if unpacked.get(INTENT) is not None:  # a known intent: exactly what the graph's last node returns
                parse_data = {TEXT: "", INTENT: {INTENT_NAME_KEY: None, PREDICTED_CONFIDENCE_KEY: 0.0}, ENTITIES: []}
                parse_data.update(unpacked.as_dict(only_output_properties=only_output_properties))
                return parse_data
        return original(self, message, tracker, only_output_properties)

    _parse_message_with_graph.payload_shortcut = True  # type: ignore[attr-defined]
    _parse_message_with_graph.graph = original  # type: ignore[attr-defined]
    MessageProcessor._parse_message_with_graph = _parse_message_with_graph  # type: ignore[method-assign]


_background_load = threading.local()  # set in the worker thread of a `PUT /model` load


def install_gc_freeze_after_model_load() -> None:
    """Freeze what a loaded model consists of (bot/gc_pauses.py); before a model is replaced, thaw it so the
    old one can be freed. A `PUT /model` load in the background leaves both to the moment after the swap
    (`_refreeze`): the current model stays frozen while it keeps answering, and the collector runs once."""
    from rasa.core.agent import Agent

    if getattr(Agent.load_model, "freezes_gc", False):
        return
    original = Agent.load_model

    def load_model(self: Agent, *args: Any, **kwargs: Any) -> None:
        if getattr(_background_load, "active", False):
            original(self, *args, **kwargs)
            return
        gc_pauses.thaw()
        original(self, *args, **kwargs)
        gc_pauses.freeze_long_lived("Rasa model loaded")

    load_model.freezes_gc = True  # type: ignore[attr-defined]
    Agent.load_model = load_model  # type: ignore[method-assign]


def install_model_loading_in_background() -> None:
    """`PUT /model` loads the new model in a worker thread while the current one keeps answering; the server's
    handler then swaps the two as before. Rasa 3.6 loaded it inside the event loop: ~20 s without any answer,
    after every retrain."""
    import rasa.server

    if getattr(rasa.server._load_agent, "in_background", False):
        return
    original = rasa.server._load_agent

    def load_in_thread(*args: Any, **kwargs: Any) -> Any:
        _background_load.active = True  # the executor's threads are reused: unset afterwards
        try:
            return asyncio.run(original(*args, **kwargs))
        finally:
            _background_load.active = False

    async def _load_agent(*args: Any, **kwargs: Any) -> Any:
        agent = await asyncio.to_thread(load_in_thread, *args, **kwargs)
        # once the handler has swapped the agents (it does so right after this returns, without awaiting), the
        # old model's objects are unreachable: thaw so the collector frees them, then freeze the new model again
        asyncio.get_running_loop().call_soon(_refreeze)
        return agent

    _load_agent.in_background = True  # type: ignore[attr-defined]
    rasa.server._load_agent = _load_agent


def _refreeze() -> None:
    gc_pauses.thaw()
    gc_pauses.freeze_long_lived("Rasa model swapped")


install_fast_action_validation()
install_payload_shortcut()
install_gc_freeze_after_model_load()
install_model_loading_in_background()
