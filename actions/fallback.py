"""Low-confidence input: ask to rephrase once, hand over on the second fallback in a row."""

from __future__ import annotations

from rasa_sdk import Action, Tracker

from actions.common import say
from actions.handoff import hand_over

FALLBACK_INTENT = "nlu_fallback"


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the customer's latest messages in a row were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != FALLBACK_INTENT:
            break
        count += 1
    return count


class ActionFallback(Action):
    """The NLU was not confident about the customer's message."""

    def name(self) -> str:
        return "action_fallback"

    async def run(self, dispatcher, tracker, domain):
        if consecutive_fallbacks(tracker) >= 2:
            return hand_over(dispatcher, tracker, "repeated_fallback")
        dispatcher.utter_message(text=say("fallback_rephrase", tracker))
        return []
