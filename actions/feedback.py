"""The customer's rating of the chat after a solved problem."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from actions import guide_runs
from actions.common import rating_buttons, say


def parse_rating(value: object) -> int | None:
    """A rating from 1 to 5, or None."""
    try:
        rating = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return rating if 1 <= rating <= 5 else None


class ActionRate(Action):
    """Store the rating (slot `rating`, and on the conversation's solved guide run) and thank the customer."""

    def name(self) -> str:
        return "action_rate"

    async def run(self, dispatcher, tracker, domain):
        entity = next(
            (e.get("value") for e in (tracker.latest_message or {}).get("entities", []) if e.get("entity") == "rating"),
            None,
        )
        rating = parse_rating(entity if entity is not None else tracker.get_slot("rating"))
        if rating is None:
            dispatcher.utter_message(text=say("rating_invalid", tracker), buttons=rating_buttons())
            return [SlotSet("awaiting", "rating")]
        guide_runs.rated(tracker, rating)
        dispatcher.utter_message(text=say("rating_thanks", tracker))
        return [SlotSet("rating", str(rating)), SlotSet("awaiting", None)]
