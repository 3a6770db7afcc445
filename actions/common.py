"""Small helpers the actions share: language, buttons, slot access."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from bot import messages
from bot.language import DEFAULT


def language(tracker: Tracker) -> str:
    """The conversation's language (set from every clear customer message by the NLU)."""
    return tracker.get_slot("language") or DEFAULT


def say(key: str, tracker: Tracker, **values: Any) -> str:
    """Message `key` in the conversation's language."""
    return messages.text(key, language(tracker), **values)


def button(title_key: str, payload: str, tracker: Tracker) -> dict[str, str]:
    """A button whose title is message `title_key` in the conversation's language."""
    return {"title": say(title_key, tracker), "payload": payload}


def step_buttons(tracker: Tracker) -> list[dict[str, str]]:
    """Answers offered after each troubleshooting step."""
    return [
        button("button_worked", "/affirm", tracker),
        button("button_not_worked", "/deny", tracker),
        button("button_person", "/request_human", tracker),
    ]


def rating_buttons() -> list[dict[str, str]]:
    """1 to 5 stars."""
    return [{"title": "★" * n, "payload": f'/rate{{"rating": "{n}"}}'} for n in range(1, 6)]


def latest_text(tracker: Tracker) -> str:
    """Text of the customer's latest message."""
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> str | None:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name")
