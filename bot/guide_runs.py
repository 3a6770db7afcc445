"""Guide runs: every time the bot walks a customer through an article's steps, and how it ended.

The action server is the one place that knows when a guide starts, which step the customer is on, when they
confirm it solved the problem, and when the bot hands over; it writes one `kb_guide_runs` row per run
through `GuideRuns`. The hub reads the rows for the per-article health (`bot/article_health.py`) and the
support metrics (`handoff/metrics.py`).

Steps are the article's step *positions* (as in the article file, the messages' `step` and the handoff
packet's `steps_tried`), so a brand-specific guide that skips position 3 has positions 1, 2, 4.
A run's outcome is `open`, `solved` or `handoff`; "abandoned" is not stored: it is an open run whose last
step is older than GUIDE_ABANDON_AFTER_MIN minutes (derived when reading, `bot.article_health.status`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import DateTime, Index, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from bot.db import Base

OUTCOMES = ("open", "solved", "handoff")


def utcnow() -> datetime:
    return datetime.now(UTC)


class GuideRun(Base):
    """One run of one article's guide in one conversation (Rasa sender id = the hub's conversation id)."""

    __tablename__ = "kb_guide_runs"
    __table_args__ = (Index("ix_kb_guide_runs_article_started", "article_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conversation_id: Mapped[str] = mapped_column(String(100), index=True)
    article_id: Mapped[str] = mapped_column(String(100))  # no foreign key: history outlives a deleted article
    language: Mapped[str] = mapped_column(String(2))
    category: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    last_step_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    steps_total: Mapped[int] = mapped_column(Integer)  # steps that apply (to the customer's brand)
    last_step: Mapped[int] = mapped_column(Integer)  # highest step position presented
    outcome: Mapped[str] = mapped_column(String(10), default="open")  # open, solved, handoff
    solved_at_step: Mapped[int | None] = mapped_column(Integer, default=None)
    handoff_after_step: Mapped[int | None] = mapped_column(Integer, default=None)
    handoff_reason: Mapped[str | None] = mapped_column(String(30), default=None)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)  # the bot's 1-5 rating after "solved"


class GuideRuns:
    """Writes guide runs for the action server (synchronous sessions; safe to share between threads)."""

    def __init__(self, sessions: sessionmaker, clock: Callable[[], datetime] = utcnow):
        self._sessions = sessions
        self._now = clock

    def start(
        self,
        conversation_id: str,
        article_id: str,
        *,
        language: str,
        category: str,
        steps_total: int,
        first_step: int,
    ) -> bool:
        """The bot presented the guide's first step. Returns False when this article's run in the conversation
        was still open (the customer described the same problem again): that run goes on, no new one starts."""
        now = self._now()
        with self._sessions.begin() as session:
            run = _open_run(session, conversation_id, article_id)
            if run is not None:
                run.last_step_at = now
                return False
            session.add(
                GuideRun(
                    conversation_id=conversation_id,
                    article_id=article_id,
                    language=language,
                    category=category,
                    started_at=now,
                    last_step_at=now,
                    steps_total=steps_total,
                    last_step=first_step,
                    outcome="open",
                )
            )
            return True

    def step(self, conversation_id: str, article_id: str, position: int) -> None:
        """The bot presented step `position` of the open run."""
        with self._sessions.begin() as session:
            run = _open_run(session, conversation_id, article_id)
            if run is not None:
                run.last_step = max(run.last_step, position)
                run.last_step_at = self._now()

    def solved(self, conversation_id: str, article_id: str, position: int) -> bool:
        """The customer confirmed that step `position` solved the problem. False if no run was open."""
        with self._sessions.begin() as session:
            run = _open_run(session, conversation_id, article_id)
            if run is None:
                return False
            now = self._now()
            run.outcome, run.solved_at_step, run.ended_at, run.last_step_at = "solved", position, now, now
            return True

    def handed_off(self, conversation_id: str, article_id: str | None, reason: str) -> bool:
        """The bot handed the conversation to a person: the open run of the current article (`article_id`, the
        slot) ends there, after the step the customer was on (the last one presented). False without one."""
        if not article_id:
            return False
        with self._sessions.begin() as session:
            run = _open_run(session, conversation_id, article_id)
            if run is None:
                return False
            run.outcome, run.handoff_after_step, run.handoff_reason = "handoff", run.last_step, reason[:30]
            run.ended_at = self._now()
            return True

    def rated(self, conversation_id: str, rating: int) -> bool:
        """The customer's 1-5 rating after a solved guide, on the conversation's latest solved run."""
        with self._sessions.begin() as session:
            run = session.scalar(
                select(GuideRun)
                .where(GuideRun.conversation_id == conversation_id, GuideRun.outcome == "solved")
                .order_by(GuideRun.id.desc())
                .limit(1)
            )
            if run is None:
                return False
            run.rating = rating
            return True

    def of_conversation(self, conversation_id: str) -> list[GuideRun]:
        """The conversation's runs, oldest first."""
        with self._sessions() as session:
            query = select(GuideRun).where(GuideRun.conversation_id == conversation_id).order_by(GuideRun.id)
            return list(session.scalars(query).all())


def _open_run(session: Session, conversation_id: str, article_id: str | None = None) -> GuideRun | None:
    query = select(GuideRun).where(GuideRun.conversation_id == conversation_id, GuideRun.outcome == "open")
    if article_id is not None:
        query = query.where(GuideRun.article_id == article_id)
    return session.scalar(query.order_by(GuideRun.id.desc()).limit(1))
