"""Low-confidence input: ask to rephrase once (a question for the shop: say whom to ask), hand over on the second
fallback in a row."""

from __future__ import annotations

import logging

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet

from actions.common import language, latest_text, say
from actions.handoff import hand_over
from actions.services import app_sessions
from actions.troubleshooting import ActionStepFeedback, shop_matter
from bot import review
from bot.shop import is_shop_matter
from bot.troubleshooting import reports_no_change

FALLBACK_INTENT = review.FALLBACK_INTENT
log = logging.getLogger(__name__)


def remember_for_review(tracker: Tracker) -> None:
    """Put the misunderstood message into the editors' inbox (never fails the conversation)."""
    message = tracker.latest_message or {}
    intent, confidence, suggested = review.suggestion(message)
    try:
        with app_sessions()() as session:
            review.record(
                session,
                conversation_id=tracker.sender_id,
                language=language(tracker),
                text=message.get("text") or "",
                intent=intent,
                confidence=confidence,
                suggested=suggested,
                source="fallback",
            )
    except Exception:  # the inbox is a nice-to-have; the customer's conversation goes on
        log.exception("could not record a fallback message for review")


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
        remember_for_review(tracker)
        text = latest_text(tracker)
        if tracker.get_slot("awaiting") == "step" and reports_no_change(text):  # a step's answer, in other words
            return await ActionStepFeedback().run(dispatcher, tracker, domain)
        if consecutive_fallbacks(tracker) >= 2:
            return hand_over(dispatcher, tracker, "repeated_fallback")
        if is_shop_matter(text):  # not understood as a device problem, and it is none: say whom to ask
            return [SlotSet("problem_text", text), *shop_matter(dispatcher, tracker)]
        dispatcher.utter_message(text=say("fallback_rephrase", tracker))
        return []
