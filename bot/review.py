"""The inbox of customer messages the bot did not understand well, for editors to label as training examples.

The action server records every message that ended in the NLU fallback; the hub adds the low-confidence
turns of handed-off conversations. Editors label them in bulk in the console; labelled items are written
into the NLU files (see bot/content/nlu.py) and leave the inbox.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime, Float, Integer, String, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from bot.db import Base
from bot.language import DEFAULT, SUPPORTED

FALLBACK_INTENT = "nlu_fallback"
LOW_CONFIDENCE = 0.6  # below this an understood turn is still worth an editor's look
MAX_TEXT = 500


class ReviewItem(Base):
    """One customer message waiting for (or having got) an editor's label."""

    __tablename__ = "nlu_review_items"
    __table_args__ = (UniqueConstraint("conversation_id", "text", name="uq_nlu_review_conversation_text"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(2))
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str | None] = mapped_column(String(50), default=None)  # what the NLU predicted
    confidence: Mapped[float] = mapped_column(Float)
    suggested_intent: Mapped[str | None] = mapped_column(String(50), default=None)  # best real intent
    source: Mapped[str] = mapped_column(String(10))  # "fallback" or "handoff"
    status: Mapped[str] = mapped_column(String(10), default="open", index=True)  # open, labelled, dismissed
    label: Mapped[str | None] = mapped_column(String(50), default=None)
    labelled_by: Mapped[str | None] = mapped_column(String(50), default=None)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=lambda: datetime.now(UTC))
    labelled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


def suggestion(parse_data: dict) -> tuple[str | None, float, str | None]:
    """(predicted intent, its confidence, best intent that is not the fallback) from Rasa's parse data."""
    intent = parse_data.get("intent") or {}
    ranking = [r for r in parse_data.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT]
    return intent.get("name"), float(intent.get("confidence") or 0.0), (ranking[0]["name"] if ranking else None)


def needs_review(intent: str | None, confidence: float) -> bool:
    """Whether a customer turn belongs in the inbox."""
    return intent in (None, FALLBACK_INTENT) or confidence < LOW_CONFIDENCE


def review_item(
    conversation_id: str,
    language: str,
    text: str,
    intent: str | None,
    confidence: float,
    suggested: str | None,
    source: str,
) -> dict:
    """The column values of a new inbox item (shared by the sync and the async writers)."""
    return {
        "conversation_id": conversation_id[:64],
        "language": language if language in SUPPORTED else DEFAULT,
        "text": " ".join(text.split())[:MAX_TEXT],
        "intent": intent,
        "confidence": round(confidence, 3),
        "suggested_intent": suggested,
        "source": source,
        "status": "open",
        "created_at": datetime.now(UTC),
    }


def record(session: Session, **fields) -> bool:
    """Add a message to the inbox unless it is already there for that conversation; True if added."""
    item = review_item(**fields)
    if not item["text"] or item["text"].startswith("/"):
        return False
    exists = session.scalar(
        select(ReviewItem.id).where(
            ReviewItem.conversation_id == item["conversation_id"], ReviewItem.text == item["text"]
        )
    )
    if exists:
        return False
    session.add(ReviewItem(**item))
    session.commit()
    return True
