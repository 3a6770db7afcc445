"""Dialogue decisions over search results: start, ask category/brand, suggest, no match."""

from __future__ import annotations

import numpy as np
import pytest

from bot.kb.search import IndexedArticle, Match
from bot.troubleshooting import choose_article, handoff_reason_for, next_position, reports_no_change


class _Index:
    def __init__(self, *articles):
        self.articles = list(articles)


def article(id_, category="phone", brands=(), exclude=()):
    return IndexedArticle(id_, category, tuple(brands), tuple(exclude), (("en", id_),), np.zeros((1, 384)))


def match(id_, score, fused, category="phone"):
    return Match(id_, category, score, fused, 0.0, 0.0)


INDEX = _Index(
    article("phone-a"),
    article("camera-a", "camera"),
    article("pin-android", exclude=["Apple"]),
    article("pin-iphone", brands=["Apple"]),
    article("liquid", "any"),
)


def test_clear_winner_is_started():
    choice = choose_article(
        [match("phone-a", 0.9, 0.8), match("camera-a", 0.1, 0.5, "camera")], INDEX, None, None, 0.45
    )
    assert choice.kind == "article" and choice.article_id == "phone-a"


def test_close_candidates_in_different_categories_ask_for_the_category():
    choice = choose_article(
        [match("phone-a", 0.6, 0.60), match("camera-a", 0.2, 0.58, "camera")], INDEX, None, None, 0.45
    )
    assert choice.kind == "ask_category" and set(choice.options) == {"phone", "camera"}


def test_known_category_is_not_asked_again():
    choice = choose_article(
        [match("phone-a", 0.6, 0.60), match("camera-a", 0.2, 0.58, "camera")], INDEX, "phone", None, 0.45
    )
    assert choice.kind == "article"


def test_close_candidates_for_different_brands_ask_for_the_brand():
    choice = choose_article([match("pin-android", 0.6, 0.60), match("pin-iphone", 0.3, 0.59)], INDEX, None, None, 0.45)
    assert choice.kind == "ask_brand" and "Apple" in choice.options


def test_articles_for_any_device_never_trigger_a_category_question():
    choice = choose_article([match("liquid", 0.7, 0.60, "any"), match("phone-a", 0.3, 0.59)], INDEX, None, None, 0.45)
    assert choice.kind == "article" and choice.article_id == "liquid"


def test_middling_score_suggests_the_top_candidates():
    matches = [match("phone-a", 0.3, 0.6), match("pin-android", 0.1, 0.4), match("liquid", 0.05, 0.3, "any")]
    choice = choose_article(matches, INDEX, "phone", None, 0.45, suggest_score=0.15)
    assert choice.kind == "suggest" and choice.candidates == ("phone-a", "pin-android", "liquid")


def test_low_score_is_no_match():
    assert choose_article([match("phone-a", 0.1, 0.3)], INDEX, None, None, 0.45, 0.15).kind == "no_match"
    assert choose_article([], INDEX, None, None, 0.45, 0.15).kind == "no_match"


def test_handoff_reason_of_an_article():
    assert handoff_reason_for("immediately", "urgent") == "safety"
    assert handoff_reason_for("immediately", "high") == "human_topic"
    assert handoff_reason_for("after_steps", "urgent") is None


def test_next_position_skips_to_the_following_applicable_step():
    assert next_position([1, 3, 4], None) == 1
    assert next_position([1, 3, 4], 1) == 3
    assert next_position([1, 3, 4], 4) is None


@pytest.mark.parametrize(
    "text",
    [
        "ok did that, nothing",
        "done, no change",
        "Tried it twice, no difference at all",
        "yes I did it but it still doesn't charge",
        "ok, didn't help",
        "ja gemacht, immer noch schwarz",
        "Ja, hat aber nichts gebracht",
        "ok, hat leider nicht geholfen",
        "erledigt, geht immer noch nicht",
        "gemacht, unverändert",
        "habs zweimal probiert, kein unterschied",
        "steht auf dem tisch, lueftungsschlitze frei. bringt nix",
        "router neu gestartet, keine aenderung",
    ],
)
def test_a_typed_answer_that_says_nothing_changed_is_no_solution(text):
    assert reports_no_change(text)


@pytest.mark.parametrize(
    "text",
    ["yes it works now", "Yes! Nothing else to do, thanks", "ja, jetzt geht es wieder", "perfect", "/affirm", ""],
)
def test_a_yes_is_a_yes(text):
    assert not reports_no_change(text)
