"""Dialogue decisions of the guided troubleshooting, as plain functions over search results and state.

The actions in `actions/` read slots, call these, and turn the result into messages and events.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from bot.devices import CATEGORIES
from bot.kb.search import Match, SearchIndex

AMBIGUITY_MARGIN = 0.06  # fused-score gap under which two candidates count as equally likely


@dataclass(frozen=True)
class Choice:
    """What to do with a problem description."""

    kind: Literal["article", "ask_category", "ask_brand", "suggest", "no_match"]
    article_id: str | None = None
    options: tuple[str, ...] = ()  # categories or brands to offer
    candidates: tuple[str, ...] = field(default=())


def choose_article(
    matches: list[Match],
    index: SearchIndex,
    category: str | None,
    brand: str | None,
    min_score: float,
    suggest_score: float = 1.0,
    urgent: frozenset[str] = frozenset(),
) -> Choice:
    """Pick the article for the search result, or say which fact is missing to pick one.

    The device category is asked for only when the top candidates are equally likely and belong to
    different categories; the brand only when they differ in the brands they apply to. A top score between
    `suggest_score` and `min_score` offers the candidates to choose from; below it nothing matches.
    `urgent`: safety articles to take first, whatever scored higher (the text describes a sign of danger, and
    safety advice that was not needed costs less than safety advice missed).
    """
    first_urgent = next((m for m in matches if m.article_id in urgent), None)
    if first_urgent is not None:
        return Choice("article", article_id=first_urgent.article_id)
    if not matches or matches[0].score < min(min_score, suggest_score):
        return Choice("no_match")
    top = matches[0]
    rivals = [m for m in matches[1:] if top.fused - m.fused < AMBIGUITY_MARGIN]
    if not category:
        categories = [c for c in dict.fromkeys(m.category for m in (top, *rivals)) if c in CATEGORIES]
        if len(categories) > 1:
            return Choice(
                "ask_category", options=tuple(categories), candidates=tuple(m.article_id for m in (top, *rivals))
            )
    if not brand:
        by_id = {a.id: a for a in index.articles}
        restricted = [
            by_id[m.article_id]
            for m in (top, *rivals)
            if by_id[m.article_id].brands or by_id[m.article_id].exclude_brands
        ]
        if len(restricted) > 1:
            brands = tuple(dict.fromkeys(b for a in restricted for b in (*a.brands, *a.exclude_brands)))
            return Choice("ask_brand", options=brands, candidates=tuple(a.id for a in restricted))
    if top.score < min_score:
        return Choice("suggest", candidates=tuple(m.article_id for m in matches[:3]))
    return Choice("article", article_id=top.article_id)


def handoff_reason_for(handoff: str, priority: str) -> str | None:
    """The handoff reason an article implies on its own: safety, human_topic, or None for guides."""
    if handoff != "immediately":
        return None
    return "safety" if priority == "urgent" else "human_topic"


def next_position(positions: list[int], current: int | None) -> int | None:
    """The step after `current` among the applicable step positions, or None when the guide is exhausted."""
    later = [p for p in positions if current is None or p > current]
    return later[0] if later else None


_NO_CHANGE = re.compile(
    r"""\b(?:
      nothing(?!\s+else) | no\ (?:change|difference|luck|effect|improvement)
    | (?:didn'?t|did\ not|doesn'?t|does\ not|hasn'?t|has\ not)\ (?:\w+\ )?(?:help|work|change|fix)
    | still\ (?:the\ same|not|no|broken|nothing|doesn'?t|won'?t|isn'?t|can'?t) | same\ (?:problem|as\ before)
    | nichts | nix | kein(?:en)?\ unterschied | keine\ (?:änderung|aenderung|veränderung|veraenderung|besserung|wirkung)
    | unverändert | unveraendert | immer\ noch | nach\ wie\ vor
    | (?:hat|hats|hat's)\ (?:\w+\ )?nicht\ (?:geholfen|funktioniert|geklappt|gebracht) | hilft\ nicht
    | (?:geht|klappt|funktioniert|läuft)\ (?:immer\ )?noch\ nicht | nicht\ geholfen
    )\b""",
    re.VERBOSE,
)


def reports_no_change(text: str) -> bool:
    """True when a typed answer to a step says it changed nothing ("ok did that, nothing", "ja gemacht, immer noch
    schwarz", "habs zweimal probiert, kein unterschied"), however the NLU read it: as a yes ("ok, did that"), as a
    new problem, or not at all. The step must not count as the one that solved the problem, and the guide must go
    on. Button presses ("/affirm") are not checked."""
    return not text.startswith("/") and bool(_NO_CHANGE.search(text.lower()))
