"""The customer's rating of the chat after a solved problem."""

from __future__ import annotations

from rasa_sdk import Action
from rasa_sdk.events import SlotSet

from actions import guide_runs
from actions.common import rating_buttons, say, step_buttons


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
        awaiting = tracker.get_slot("awaiting")
        if awaiting != "rating":  # nobody asked: a bare "3" mid-guide is no rating, and must not end the guide
            return not_asked_for(dispatcher, tracker, awaiting)
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


def not_asked_for(dispatcher, tracker, awaiting: str | None) -> list:
    """A number (or a rating-like message) when no rating was asked for: within a guide the step's question is
    asked again with its buttons; elsewhere the bot asks what it can help with. Nothing is stored."""
    if awaiting == "step":
        dispatcher.utter_message(text=say("step_unclear", tracker), buttons=step_buttons(tracker))
    else:
        dispatcher.utter_message(text=say("how_can_help", tracker))
    return []
