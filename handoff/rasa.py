"""Talking to the first-level bot: Rasa's REST channel, and its tracker for the bot's context."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import lru_cache

import aiohttp
import jsonschema

from bot.handoff_packet import SCHEMA_FILE
from handoff.errors import BotUnavailable

REST_AFTER_TIMEOUT_S = 5.0  # after Rasa timed out, messages are answered "not available" at once for this long
BACK_FROM_PERSON = "action_back_from_person"
LISTEN = {"event": "action", "name": "action_listen"}  # the rules expect a customer turn to follow a listen


@dataclass
class BotMessage:
    """One message of the bot's reply, with the step or handoff packet Rasa sent as `custom` after it."""

    text: str = ""
    buttons: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    packet: dict | None = None


class RasaClient:
    """Rasa's REST channel (customer messages) and HTTP API (tracker, slot events), with a hard timeout."""

    def __init__(self, base_url: str, token: str, timeout_s: float):
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
        self._resting_until = 0.0  # after a timeout Rasa is left alone briefly: customers are told at once

    async def close(self) -> None:
        await self._http.close()

    async def send(self, conversation_id: str, text: str, language: str) -> list[BotMessage]:
        """The bot's reply to `text`; raises BotUnavailable when Rasa or the action server fails or is slow."""
        body = {"sender": conversation_id, "message": text, "metadata": {"language": language}}
        if time.monotonic() < self._resting_until:
            raise BotUnavailable("Rasa did not answer in time a moment ago; not asked again yet")
        try:
            async with self._http.post(
                f"{self._base}/webhooks/rest/webhook", json=body, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise BotUnavailable(f"Rasa answered {response.status}")
                items = await response.json()
        except (TimeoutError, aiohttp.ClientError, json.JSONDecodeError) as exc:
            if isinstance(exc, TimeoutError):  # a hanging bot would make every message wait the whole timeout
                self._resting_until = time.monotonic() + REST_AFTER_TIMEOUT_S
            raise BotUnavailable(str(exc) or type(exc).__name__) from exc
        if not items:  # the bot always answers; Rasa answers 200 with nothing when a custom action failed
            raise BotUnavailable("Rasa answered with no message (a custom action failed: is the action server down?)")
        return parse_reply(items)

    async def tracker(self, conversation_id: str) -> dict:
        """The conversation's tracker (events and slots); raises BotUnavailable on failure."""
        return await self._api("GET", f"/conversations/{conversation_id}/tracker")

    async def set_slots(self, conversation_id: str, slots: dict) -> None:
        """Append slot events to the bot's tracker (e.g. when a person hands the conversation back)."""
        events = [{"event": "slot", "name": name, "value": value} for name, value in slots.items()]
        await self._api("POST", f"/conversations/{conversation_id}/tracker/events", json=events)

    async def take_back(self, conversation_id: str) -> list[BotMessage]:
        """A person handed the conversation back: the bot runs BACK_FROM_PERSON (actions/troubleshooting.py), which
        may offer to go on with its guide, and then listens, as after any turn of its own. Raises BotUnavailable.

        Rasa's execute endpoint runs one action and predicts nothing after it (it is deprecated in favour of
        external intents, which would put an intent without examples into the NLU model's labels)."""
        result = await self._api("POST", f"/conversations/{conversation_id}/execute", json={"name": BACK_FROM_PERSON})
        await self._api("POST", f"/conversations/{conversation_id}/tracker/events", json=[LISTEN])
        return parse_reply(result.get("messages") or [])

    async def _api(self, method: str, path: str, **kwargs) -> dict:
        try:
            async with self._http.request(
                method, f"{self._base}{path}", params={"token": self._token}, timeout=self._timeout, **kwargs
            ) as response:
                if response.status != 200:
                    raise BotUnavailable(f"Rasa API {path}: {response.status}")
                return await response.json()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BotUnavailable(str(exc) or type(exc).__name__) from exc


QUIET_ACTIONS = {"action_listen", "action_session_start", "action_unlikely_intent", None}


def parse_reply(items: list[dict]) -> list[BotMessage]:
    """Rasa's REST reply as messages: a `custom` item belongs to the text right before it."""
    messages: list[BotMessage] = []
    for item in items:
        custom = item.get("custom")
        if item.get("text") or item.get("buttons"):
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in item.get("buttons") or []
            ]
            messages.append(BotMessage(text=item.get("text") or "", buttons=buttons))
        if isinstance(custom, dict):
            if not messages:
                messages.append(BotMessage())
            target = messages[-1]
            if "handoff" in custom:
                target.packet = custom["handoff"]
            for key in ("kb_article", "step"):
                if key in custom:
                    target.meta[key] = custom[key]
    return messages


@lru_cache(maxsize=1)
def _packet_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def packet_errors(packet: object) -> list[str]:
    """Why `packet` does not match the committed handoff-packet schema (empty: valid)."""
    return [f"{'/'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in _packet_validator().iter_errors(packet)]


def bot_context(tracker: dict) -> dict:
    """The bot's view of the conversation for the agent: every customer turn with intent and confidence, slots.

    Each turn also carries what drafting knowledge-base content needs: the best intent that is not the
    fallback, the entities found, and the actions the bot ran in reply.
    """
    turns: list[dict] = []
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "action" and turns and event.get("name") not in QUIET_ACTIONS:
            turns[-1]["actions"].append(event.get("name"))
        if kind != "user":
            continue
        parse = event.get("parse_data") or {}
        intent = parse.get("intent") or {}
        ranking = [r.get("name") for r in parse.get("intent_ranking") or [] if r.get("name") != "nlu_fallback"]
        turns.append(
            {
                "text": event.get("text") or "",
                "intent": intent.get("name"),
                "confidence": round(float(intent.get("confidence") or 0.0), 3),
                "suggested": ranking[0] if ranking else None,
                "entities": [
                    {k: e.get(k) for k in ("entity", "value", "start", "end")} for e in parse.get("entities") or []
                ],
                "actions": [],
            }
        )
    slots = {
        k: v
        for k, v in (tracker.get("slots") or {}).items()
        if v not in (None, [], "") and k != "session_started_metadata"
    }
    return {"turns": turns, "slots": slots}
