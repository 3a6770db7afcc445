"""Handing a conversation to second level: the message to the customer and the handoff packet."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import language, latest_text, say
from actions.services import knowledge_base
from bot.handoff_packet import Device, HandoffPacket, StepOutcome, summarize

DEFAULT_PRIORITY = {
    "safety": "urgent",
    "steps_exhausted": "normal",
    "human_topic": "normal",
    "customer_request": "normal",
    "repeated_fallback": "normal",
    "no_article": "normal",
}


def build_packet(tracker: Tracker, reason: str, priority: str | None = None) -> HandoffPacket:
    """The handoff packet for the conversation as it stands."""
    article_id = tracker.get_slot("article_id")
    article = knowledge_base().article(article_id, language(tracker)) if article_id else None
    if priority is None:
        priority = article.priority if article and article.priority != "low" else DEFAULT_PRIORITY[reason]
    category = tracker.get_slot("device_category")
    return HandoffPacket(
        conversation_id=tracker.sender_id,
        reason=reason,
        priority=priority,
        language=language(tracker),
        device=Device(
            category=category if category in ("phone", "camera", "notebook") else None,
            brand=tracker.get_slot("brand") if tracker.get_slot("brand") != "other" else None,
            model=tracker.get_slot("model"),
        ),
        topic=article.topic if article else None,
        article_id=article_id,
        steps_tried=[StepOutcome(**s) for s in tracker.get_slot("steps_tried") or []],
        summary=summarize(tracker.get_slot("problem_text") or latest_text(tracker) or "-"),
    )


def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, priority: str | None = None
) -> list[dict[str, Any]]:
    """Tell the customer what happens next, attach the packet, and mark the conversation handed off."""
    packet = build_packet(tracker, reason, priority)
    dispatcher.utter_message(text=say(f"handoff_{reason}", tracker), json_message=packet.as_payload())
    return [SlotSet("handed_off", True), SlotSet("awaiting", None)]


class ActionHandoff(Action):
    """The customer asks for a person."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain):
        return hand_over(dispatcher, tracker, "customer_request")
