"""Article files: the real knowledge base is valid and complete; invalid files are reported precisely."""

from __future__ import annotations

import pytest

from bot.kb.files import ArticleFileError, load_article, load_articles
from tests.conftest import KB_DIR, write_article

REQUIRED_TOPICS = {
    "phone": {
        "not_charging",
        "battery_drain",
        "wont_turn_on",
        "touchscreen_frozen",
        "no_network_sim",
        "wifi",
        "bluetooth",
        "storage_full",
        "overheating",
        "update_fails",
    },
    "camera": {
        "wont_turn_on",
        "lens_error",
        "memory_card",
        "blurry_photos",
        "transfer_photos",
        "firmware_update",
        "flash",
        "spots_on_photos",
        "battery_drain",
    },
    "notebook": {
        "no_power",
        "battery_not_charging",
        "overheating_fan",
        "slow",
        "wifi_drops",
        "display",
        "keyboard_touchpad",
        "no_sound",
        "external_monitor",
        "crashes_bsod",
    },
}


def test_every_article_in_the_repository_is_valid_and_bilingual():
    articles = load_articles(KB_DIR)
    assert len(articles) >= 38
    for item in articles:
        a = item.article
        assert len(a.symptoms.en) >= 4 and len(a.symptoms.de) >= 4, a.id
        if a.handoff != "immediately":
            assert 2 <= len(a.steps) <= 10, a.id


def test_the_knowledge_base_covers_the_required_topics():
    articles = [item.article for item in load_articles(KB_DIR)]
    for category, topics in REQUIRED_TOPICS.items():
        present = {a.id.removeprefix(f"{category}-").replace("-", "_") for a in articles if a.category == category}
        assert topics <= present, f"{category}: missing {topics - present}"
    ids = {a.id for a in articles}
    assert {"phone-forgotten-pin-android", "phone-forgotten-passcode-iphone"} <= ids
    assert {"physical-damage", "liquid-damage", "warranty-repair-return", "data-recovery"} <= ids
    safety = [a for a in articles if a.priority == "urgent"]
    assert len(safety) >= 3 and all(a.handoff == "immediately" and a.safety for a in safety)


def test_missing_translation_is_reported_with_file_and_field(tmp_path):
    path = write_article(tmp_path, title={"en": "Only English"})
    with pytest.raises(ArticleFileError) as exc:
        load_article(path)
    assert str(path) in exc.value.problems[0] and "title.de" in exc.value.problems[0]


def test_guide_without_steps_is_rejected(tmp_path):
    path = write_article(tmp_path, steps=[])
    with pytest.raises(ArticleFileError, match="needs at least one step"):
        load_article(path)


def test_urgent_article_needs_immediate_handoff_and_safety_note(tmp_path):
    path = write_article(tmp_path, priority="urgent", handoff="immediately")
    with pytest.raises(ArticleFileError, match="safety"):
        load_article(path)


def test_unknown_field_and_bad_enum_are_rejected(tmp_path):
    path = write_article(tmp_path, category="toaster", colour="red")
    with pytest.raises(ArticleFileError) as exc:
        load_article(path)
    text = "\n".join(exc.value.problems)
    assert "category" in text and "colour" in text


def test_invalid_yaml_is_reported_with_its_file(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("id: [unclosed\n")
    with pytest.raises(ArticleFileError, match="invalid YAML") as exc:
        load_article(path)
    assert str(path) in exc.value.problems[0]


def test_duplicate_ids_across_files_are_reported(tmp_path):
    write_article(tmp_path, "phone-same")
    (tmp_path / "sub").mkdir()
    write_article(tmp_path / "sub", "phone-same")
    with pytest.raises(ArticleFileError, match="already used"):
        load_articles(tmp_path)
