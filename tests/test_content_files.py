"""The writers of the editors' files: round trips keep every file byte for byte; additions change only themselves."""

from __future__ import annotations

import shutil

import pytest
import yaml

from bot.content import articles, nlu, stories, yamlio
from bot.content.articles import ContentError
from bot.kb.files import ArticleFile, StepFile, load_article
from bot.settings import PROJECT_DIR

DATA = PROJECT_DIR / "data"
ARTICLE_FILES = sorted((DATA / "kb").rglob("*.yml"))


@pytest.mark.parametrize(
    ("files", "style"),
    [
        (ARTICLE_FILES, "indented"),
        (sorted((DATA / "nlu").rglob("*.yml")), "flat"),
        (sorted((PROJECT_DIR / "tests" / "stories").glob("*.yml")), "indented"),
    ],
    ids=["articles", "nlu", "stories"],
)
def test_every_file_reads_and_writes_back_byte_for_byte(files, style):
    assert files
    for path in files:
        assert yamlio.dumps(yamlio.load(path, style), style) == path.read_text(encoding="utf-8"), path


@pytest.mark.parametrize("path", ARTICLE_FILES, ids=lambda p: p.stem)
def test_a_rendered_article_reads_back_identical_and_renders_the_same_again(path, tmp_path):
    article = load_article(path).article
    text = articles.render(article)
    written = tmp_path / "a.yml"
    written.write_text(text, encoding="utf-8")
    again = load_article(written).article
    assert again == article
    assert articles.render(again) == text


def new_article() -> ArticleFile:
    return ArticleFile.model_validate(
        {
            "id": "camera-zoom-grinds",
            "category": "camera",
            "topic": "zoom_noise",
            "handoff": "after_steps",
            "title": {"en": "Zoom grinds", "de": "Zoom knirscht"},
            "symptoms": {"en": ["zoom makes a grinding noise"], "de": ['der Zoom knirscht: "laut"']},
            "steps": [
                {
                    "en": {"do": "Blow the sand out: rubber blower, lens extended.", "check": "No noise."},
                    "de": {"do": "Sand ausblasen: Blasebalg, Objektiv ausgefahren.", "check": "Kein Geräusch."},
                }
            ],
        }
    )


def test_a_new_article_lands_in_its_category_folder_and_ids_are_never_reused(tmp_path):
    shutil.copytree(DATA / "kb", tmp_path / "kb")
    path = articles.write_new(tmp_path / "kb", new_article())
    assert path == tmp_path / "kb" / "camera" / "zoom-grinds.yml"
    assert path.read_text().startswith(articles.HEADER)
    assert load_article(path).article == new_article()
    with pytest.raises(ContentError, match="already exists"):
        articles.write_new(tmp_path / "kb", new_article())
    taken = new_article().model_copy(update={"id": "camera-lens-error"})
    with pytest.raises(ContentError, match="camera-lens-error"):
        articles.write_new(tmp_path / "kb", taken)


def test_adding_a_step_changes_nothing_else_and_refuses_a_duplicate(tmp_path):
    source = DATA / "kb" / "notebook" / "no-sound.yml"
    path = tmp_path / "no-sound.yml"
    shutil.copy(source, path)
    step = StepFile.model_validate(
        {"en": {"do": "Reinstall the audio driver.", "check": "Sound."}, "de": {"do": "Treiber neu.", "check": "Ton."}}
    )
    position = articles.add_step(path, step)
    before, after = source.read_text(), path.read_text()
    assert after.startswith(before) and position == len(yaml.safe_load(after)["steps"])
    assert after[len(before) :].count("\n") == 6  # "- en:", do, check, "de:", do, check
    with pytest.raises(ContentError, match="already in the article"):
        articles.add_step(path, step)
    assert path.read_text() == after
    articles.add_step(path, _other_step(), position=1)
    assert yaml.safe_load(path.read_text())["steps"][0]["en"]["do"] == "Check the mute key first."


def _other_step() -> StepFile:
    return StepFile.model_validate(
        {
            "en": {"do": "Check the mute key first.", "check": "Sound."},
            "de": {"do": "Stummtaste prüfen.", "check": "Ton."},
        }
    )


def test_examples_are_appended_once_and_conflicts_across_intents_are_refused(tmp_path):
    shutil.copytree(DATA / "nlu", tmp_path / "nlu")
    path = tmp_path / "nlu" / "en" / "problems.yml"
    before = path.read_text()
    report = nlu.add_examples(
        tmp_path / "nlu",
        "en",
        "describe_problem",
        [
            "my [camera](device_category) lens grinds when zooming",
            "My camera lens   grinds when zooming",  # the same example again, other case and spacing
            "hello",  # already a greeting
        ],
    )
    assert report.added == {str(path): ["my [camera](device_category) lens grinds when zooming"]}
    assert report.skipped == [
        ("My camera lens grinds when zooming", "already an example"),
        ("hello", "conflict: already an example of 'greet'"),
    ]
    after = path.read_text()
    assert len(after.splitlines()) == len(before.splitlines()) + 1
    assert "    - my [camera](device_category) lens grinds when zooming\n" in after
    assert yamlio.dumps(yamlio.load(path, "flat"), "flat") == after  # still in the house format
    intents = {b["intent"] for b in yaml.safe_load(after)["nlu"]}
    assert {"describe_problem", "inform_device"} <= intents
    nlu.add_examples(tmp_path / "nlu", "en", "ask_opening_hours", ["when are you open"])
    learned = yaml.safe_load((tmp_path / "nlu" / "en" / "learned.yml").read_text())
    assert learned["nlu"] == [{"intent": "ask_opening_hours", "examples": "- when are you open\n"}]


def test_entities_are_annotated_where_they_occur():
    ents = [{"entity": "device_category", "value": "camera", "text": "cam"}, {"entity": "brand", "text": "Canon"}]
    assert nlu.annotate("my Canon cam is stuck", ents) == (
        'my [Canon](brand) [cam]{"entity": "device_category", "value": "camera"} is stuck'
    )


def test_stories_are_appended_with_unique_names(tmp_path):
    story = {
        "story": "en zoom grinds",
        "steps": [{"user": "zoom grinds", "intent": "describe_problem"}, {"action": "action_find_article"}],
    }
    path = stories.add_story(tmp_path, "en", story)
    text = path.read_text()
    assert text.startswith(stories.HEADER)
    assert yaml.safe_load(text)["stories"] == [
        {
            "story": "en zoom grinds",
            "steps": [{"user": "zoom grinds\n", "intent": "describe_problem"}, {"action": "action_find_article"}],
        }
    ]
    with pytest.raises(ContentError, match="already exists"):
        stories.add_story(tmp_path, "en", story)
    stories.add_story(tmp_path, "en", {**story, "story": "en second"})
    assert path.read_text().startswith(text)
