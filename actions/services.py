"""The services the actions share, created on first use (never at import time)."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.orm import sessionmaker

from bot.db import make_engine, make_session_factory
from bot.guide_runs import GuideRuns
from bot.kb.service import KnowledgeBase
from bot.settings import get_settings


@lru_cache(maxsize=1)
def app_sessions() -> sessionmaker:
    """Sessions on the configured app database (one engine per action server)."""
    return make_session_factory(make_engine(get_settings().database_url))


@lru_cache(maxsize=1)
def knowledge_base() -> KnowledgeBase:
    """The knowledge base over the configured app database."""
    return KnowledgeBase(app_sessions())


@lru_cache(maxsize=1)
def guide_runs() -> GuideRuns:
    """Where the actions record each guide run and its outcome (the app database)."""
    return GuideRuns(app_sessions())


def min_score() -> float:
    """Calibrated score below which a search result counts as no match."""
    return get_settings().search_min_score


def suggest_score() -> float:
    """Calibrated score from which the top articles are offered to choose from."""
    return get_settings().search_suggest_score
