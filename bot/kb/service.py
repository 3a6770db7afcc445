"""The knowledge base as the action server (and later the hub) uses it: search and read articles.

Keeps one search index in memory and rebuilds it when an import changed the knowledge base's revision,
so new articles take effect without retraining or restarting anything.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from bot.kb.importer import current_revision
from bot.kb.models import Article
from bot.kb.search import Match, SearchIndex


@dataclass(frozen=True)
class StepView:
    """One step in one language."""

    position: int
    instruction: str
    check: str
    brands: tuple[str, ...]


@dataclass(frozen=True)
class ArticleView:
    """An article in one language, ready to present."""

    id: str
    category: str
    topic: str
    handoff: str
    priority: str
    brands: tuple[str, ...]
    exclude_brands: tuple[str, ...]
    title: str
    safety: str | None
    steps: tuple[StepView, ...]

    def steps_for(self, brand: str | None) -> tuple[StepView, ...]:
        """The steps that apply to `brand` (steps restricted to brands are kept when the brand is unknown)."""
        if not brand:
            return self.steps
        b = brand.casefold()
        return tuple(s for s in self.steps if not s.brands or b in {x.casefold() for x in s.brands})

    def numbering(self, position: int, brand: str | None) -> tuple[int, int]:
        """(number, total) of step `position` as the customer reads it, "Step 2 of 4": among the steps for `brand`;
        among all steps when it is another brand's step (an agent may send one)."""
        positions = [s.position for s in self.steps_for(brand)]
        if position not in positions:
            positions = [s.position for s in self.steps]
        return positions.index(position) + 1, len(positions)


class KnowledgeBase:
    """Search and article lookup over the app database; safe to share between threads."""

    def __init__(self, sessions: sessionmaker, revision_check_interval: float = 0.5):
        self._sessions = sessions
        self._index: SearchIndex | None = None
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._interval = revision_check_interval

    def index(self) -> SearchIndex:
        """The current index, rebuilt if the knowledge base changed since it was built."""
        now = time.monotonic()
        if self._index is not None and now - self._checked_at < self._interval:
            return self._index
        with self._lock, self._sessions() as session:
            self._checked_at = now
            if self._index is None or current_revision(session) != self._index.revision:
                self._index = SearchIndex.from_session(session)
            return self._index

    def refresh(self) -> None:
        """Check the revision on the next use (after an import in this process)."""
        self._checked_at = float("-inf")

    def search(
        self,
        text: str,
        language: str | None = None,
        category: str | None = None,
        brand: str | None = None,
        limit: int = 3,
    ) -> list[Match]:
        """Ranked articles for a problem description (see SearchIndex.search)."""
        return self.index().search(text, language=language, category=category, brand=brand, limit=limit)

    def title(self, article_id: str, language: str) -> str:
        """An article's title in `language`, from the search index (no database read)."""
        article = next(a for a in self.index().articles if a.id == article_id)
        phrases = article.phrases
        return (phrases.get(language) or next(iter(phrases.values())))[0]

    def article(self, article_id: str, language: str) -> ArticleView | None:
        """The article in `language`, or None if it does not exist (any more)."""
        with self._sessions() as session:
            return _view(session, article_id, language)


def _view(session: Session, article_id: str, language: str) -> ArticleView | None:
    row = session.get(Article, article_id)
    if row is None:
        return None
    text = next((t for t in row.texts if t.language == language), row.texts[0])
    steps = tuple(
        StepView(s.position, s.instruction, s.check, tuple(s.brands)) for s in row.steps if s.language == text.language
    )
    return ArticleView(
        id=row.id,
        category=row.category,
        topic=row.topic,
        handoff=row.handoff,
        priority=row.priority,
        brands=tuple(row.brands),
        exclude_brands=tuple(row.exclude_brands),
        title=text.title,
        safety=text.safety,
        steps=steps,
    )
