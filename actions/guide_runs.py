"""Recording guide runs from the actions: the row in the app database (bot service) and the counters.

Recording never fails the conversation: a database error is logged and the customer gets the same answer.
"""

from __future__ import annotations

import logging

from rasa_sdk import Tracker
from sqlalchemy.exc import SQLAlchemyError

from actions.common import language
from actions.metrics import GUIDE_HANDOFFS, GUIDE_SOLVES, GUIDE_STARTS
from actions.services import guide_runs
from bot.kb.service import ArticleView

log = logging.getLogger(__name__)


def step_presented(tracker: Tracker, article: ArticleView, position: int, number: int, total: int) -> None:
    """The bot showed step `position` (the `number`-th of `total` applicable steps); the first starts a run."""
    try:
        if number == 1:
            if guide_runs().start(
                tracker.sender_id,
                article.id,
                language=language(tracker),
                category=article.category,
                steps_total=total,
                first_step=position,
            ):
                GUIDE_STARTS.labels(article.id).inc()
        else:
            guide_runs().step(tracker.sender_id, article.id, position)
    except SQLAlchemyError:
        log.exception("could not record step %s of %s", position, article.id)


def solved(tracker: Tracker, article_id: str, position: int) -> None:
    """The customer confirmed step `position` solved it."""
    try:
        if guide_runs().solved(tracker.sender_id, article_id, position):
            GUIDE_SOLVES.labels(article_id).inc()
    except SQLAlchemyError:
        log.exception("could not record %s as solved", article_id)


def handed_off(tracker: Tracker, reason: str) -> None:
    """The bot hands over: the current article's open run (if any) ends with a handoff."""
    article_id = tracker.get_slot("article_id")
    try:
        if guide_runs().handed_off(tracker.sender_id, article_id, reason):
            GUIDE_HANDOFFS.labels(article_id, reason).inc()
    except SQLAlchemyError:
        log.exception("could not record the handoff of %s", article_id)


def rated(tracker: Tracker, rating: int) -> None:
    """The customer's 1-5 rating after a solved guide."""
    try:
        guide_runs().rated(tracker.sender_id, rating)
    except SQLAlchemyError:
        log.exception("could not record the rating")
