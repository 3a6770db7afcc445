"""Handing a conversation to second level: the message to the customer and the handoff packet."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import guide_runs
from actions.common import language, latest_text, say
from actions.services import knowledge_base
from bot.handoff_packet import Device, HandoffPacket, StepOutcome, StepShown, summarize
from bot.kb.service import ArticleView


def build_packet(tracker: Tracker, reason: str, article: ArticleView | None = None) -> HandoffPacket:
    """The handoff packet for the conversation as it stands (`article`: the current one, if already read).

    Priority: the article's (never below normal), urgent for safety, else normal.
    """
    article_id = tracker.get_slot("article_id")
    if article is None and article_id:
        article = knowledge_base().article(article_id, language(tracker))
    if reason == "safety":
        priority = "urgent"
    else:
        priority = article.priority if article and article.priority != "low" else "normal"
    category = tracker.get_slot("device_category")
    brand = tracker.get_slot("brand")
    steps_tried = [StepOutcome(**s) for s in tracker.get_slot("steps_tried") or []]
    return HandoffPacket(
        conversation_id=tracker.sender_id,
        reason=reason,
        priority=priority,
        language=language(tracker),
        device=Device(
            category=category if category in ("phone", "camera", "notebook") else None,
            brand=brand if brand != "other" else None,
            model=tracker.get_slot("model"),
        ),
        topic=article.topic if article else None,
        article_id=article_id,
        steps_tried=steps_tried,
        step_shown=_step_shown(tracker, article, steps_tried),
        summary=summarize(tracker.get_slot("problem_text") or latest_text(tracker) or "-"),
    )


def _step_shown(tracker: Tracker, article: ArticleView | None, tried: list[StepOutcome]) -> StepShown | None:
    """The step the customer was asked about and had not answered (they asked for a person instead)."""
    position = tracker.get_slot("step")
    if article is None or tracker.get_slot("awaiting") != "step" or position is None:
        return None
    position = int(position)
    if any(outcome.step == position for outcome in tried):
        return None
    step = next((s for s in article.steps if s.position == position), None)
    return StepShown(step=position, instruction=step.instruction) if step else None


def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, reason: str, article: ArticleView | None = None
) -> list[dict[str, Any]]:
    """Tell the customer what happens next, attach the packet, and mark the conversation handed off
    (the current article's open guide run, if any, ends with this handoff)."""
    packet = build_packet(tracker, reason, article)
    guide_runs.handed_off(tracker, reason)
    dispatcher.utter_message(text=say(f"handoff_{reason}", tracker), json_message=packet.as_payload())
    return [SlotSet("handed_off", True), SlotSet("awaiting", None)]


class ActionHandoff(Action):
    """The customer asks for a person."""

    def name(self) -> str:
        return "action_handoff"

    async def run(self, dispatcher, tracker, domain):
        return hand_over(dispatcher, tracker, "customer_request")
