"""The services the actions share, created on first use (never at import time)."""

from __future__ import annotations

from functools import lru_cache

from bot.db import make_engine, make_session_factory
from bot.kb.service import KnowledgeBase
from bot.settings import get_settings


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The knowledge base over the configured app database."""
    return KnowledgeBase(make_session_factory(make_engine(get_settings().database_url)))


def min_score() -> float:
    """Calibrated score below which a search result counts as no match."""
    return get_settings().search_min_score


def suggest_score() -> float:
    """Calibrated score from which the top articles are offered to choose from."""
    return get_settings().search_suggest_score
