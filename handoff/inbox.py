"""The editors' second inbox: customer messages the bot did not understand well, to label in bulk.

The action server records fallback messages (bot/review.py); the hub adds the low-confidence turns of every
handed-off conversation. Labelling writes the texts as examples of the chosen intent into the NLU files and
starts a retrain; dismissing just removes them from the inbox.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.content import nlu
from bot.review import ReviewItem, needs_review, review_item
from handoff import serialize
from handoff.drafts import RetrainTrigger, require_editor
from handoff.errors import Invalid
from handoff.hub import Hub
from handoff.models import Agent
from handoff.schemas import MAX_LABEL_BATCH

STATUSES = ("open", "labelled", "dismissed")  # an inbox item's; the editor's inbox filters by them


async def add_from_context(session: AsyncSession, conversation_id: str, language: str, context: dict) -> int:
    """Queue the low-confidence customer turns of a handed-off conversation for review; returns how many."""
    added = 0
    for turn in context.get("turns") or []:
        text = str(turn.get("text") or "")
        confidence = float(turn.get("confidence") or 0.0)
        if text.startswith("/") or not text.strip() or not needs_review(turn.get("intent"), confidence):
            continue
        item = review_item(
            conversation_id, language, text, turn.get("intent"), confidence, turn.get("suggested"), "handoff"
        )
        exists = await session.scalar(
            select(ReviewItem.id).where(ReviewItem.conversation_id == conversation_id, ReviewItem.text == item["text"])
        )
        if not exists:
            session.add(ReviewItem(**item))
            added += 1
    return added


def describe(item: ReviewItem) -> dict:
    return {
        "id": item.id,
        "conversation_id": item.conversation_id,
        "language": item.language,
        "text": item.text,
        "intent": item.intent,
        "confidence": item.confidence,
        "suggested_intent": item.suggested_intent,
        "source": item.source,
        "status": item.status,
        "label": item.label,
        "created_at": serialize.iso(item.created_at),
    }


async def list_items(hub: Hub, agent: Agent, status: str = "open", language: str | None = None) -> dict:
    require_editor(agent)
    query = select(ReviewItem).where(ReviewItem.status == status)
    if language:
        query = query.where(ReviewItem.language == language)
    async with hub.sessions() as session:
        items = (await session.scalars(query.order_by(ReviewItem.confidence, ReviewItem.id).limit(500))).all()
        total = await session.scalar(select(func.count()).select_from(ReviewItem).where(ReviewItem.status == "open"))
    return {"items": [describe(i) for i in items], "open": total or 0}


async def label(
    hub: Hub, agent: Agent, ids: list[int], intent: str | None, retrain: RetrainTrigger | None = None
) -> dict:
    """Label the items as examples of `intent` (written into the NLU files), or dismiss them (`intent` None)."""
    require_editor(agent)
    if not ids or len(ids) > MAX_LABEL_BATCH:
        raise Invalid(f"Choose between 1 and {MAX_LABEL_BATCH} messages.", "invalid_selection")
    if intent is not None and intent not in await hub.in_thread(known_intents, hub):
        raise Invalid(f"Unknown intent {intent!r}: choose one from the list.", "unknown_intent")
    async with hub.sessions() as session:
        items = (
            await session.scalars(select(ReviewItem).where(ReviewItem.id.in_(ids), ReviewItem.status == "open"))
        ).all()
    if len(items) != len(set(ids)):
        raise Invalid("Some of these messages are no longer open; reload the inbox.", "stale_selection")
    result: dict = {"labelled": 0, "dismissed": 0, "files": [], "skipped": [], "retrain": "not needed"}
    if intent is not None:
        async with hub.lock("content"):
            for language in sorted({i.language for i in items}):
                texts = [i.text for i in items if i.language == language]
                report = await hub.in_thread(nlu.add_examples, Path(hub.settings.nlu_dir), language, intent, texts)
                result["files"].extend(report.added)
                result["skipped"].extend({"text": t, "reason": r} for t, r in report.skipped)
        if result["files"]:
            result["retrain"] = "disabled" if retrain is None else (await retrain("labelled examples")).get("state")
    async with hub.sessions() as session, session.begin():
        for item in (await session.scalars(select(ReviewItem).where(ReviewItem.id.in_(ids)))).all():
            item.status = "labelled" if intent else "dismissed"
            item.label, item.labelled_by, item.labelled_at = intent, agent.username, hub.now()
    result["labelled" if intent else "dismissed"] = len(items)
    return result


def known_intents(hub: Hub) -> list[str]:
    """The intents the domain declares (what an editor may label with)."""
    data = yaml.safe_load(Path(hub.settings.domain_file).read_text(encoding="utf-8"))
    return [i if isinstance(i, str) else next(iter(i)) for i in data.get("intents") or []]
