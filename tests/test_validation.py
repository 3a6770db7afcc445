"""`python -m bot validate`: each kind of problem, injected into a copy of the real files, is reported at its
file and line by the right check; the repository itself is clean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import PROJECT_DIR
from bot.validation import Problem, run_all
from bot.validation.rasa_data import rasa_python

RASA_MISSING = None if rasa_python().exists() else f"Rasa's environment is missing ({rasa_python()}): run make install"


# -- helpers -----------------------------------------------------------------------------------------------------
def copy_project(target: Path) -> Path:
    """A copy of data/, domain.yml, config.yml and tests/stories, the files `validate` reads."""
    shutil.copytree(PROJECT_DIR / "data", target / "data")
    for name in ("domain.yml", "config.yml"):
        shutil.copy(PROJECT_DIR / name, target / name)
    shutil.copytree(PROJECT_DIR / "tests" / "stories", target / "tests" / "stories")
    return target


@pytest.fixture
def root(tmp_path) -> Path:
    return copy_project(tmp_path / "project")


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of `path` that contains `text`."""
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if text in line)


def replace_line(path: Path, old: str, new: str) -> int:
    """Replace the first line containing `old` by `new`; returns its line number."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = line_of(path, old)
    lines[number - 1] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return number


def insert_after(path: Path, anchor: str, *new: str) -> int:
    """Insert lines after the first line containing `anchor`; returns the number of the first inserted line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    number = line_of(path, anchor)
    lines[number:number] = new
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return number + 1


def append(path: Path, *new: str) -> int:
    """Append lines; returns the number of the first appended line."""
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines + list(new)) + "\n", encoding="utf-8")
    return len(lines) + 1


def at(problems: list[Problem], path: str, line: int, check: str) -> list[Problem]:
    return [p for p in problems if (p.path, p.line, p.check) == (path, line, check)]


def found(root: Path, path: str, line: int, check: str, *words: str) -> Problem:
    """The one problem `check` reports at `path:line`, whose message contains every word (fails otherwise)."""
    problems = run_all(root, rasa=False)
    matching = [p for p in at(problems, path, line, check) if all(w in p.message for w in words)]
    assert len(matching) == 1, "\n".join(str(p) for p in problems)
    return matching[0]


# -- the repository ------------------------------------------------------------------------------------------------
def test_the_repository_is_clean():
    problems = run_all(PROJECT_DIR, rasa=False)
    assert problems == [], "\n".join(str(p) for p in problems)


@pytest.mark.skipif(RASA_MISSING is not None, reason=RASA_MISSING or "")
def test_the_repository_passes_rasa_data_validate():
    problems = [p for p in run_all(PROJECT_DIR) if p.check == "rasa"]
    assert problems == [], "\n".join(str(p) for p in problems)


# -- yaml -------------------------------------------------------------------------------------------------------
def test_invalid_yaml_is_reported_on_its_line(root):
    path = root / "data/kb/phone/wifi.yml"
    line = replace_line(path, "category: phone", "category: [phone")
    problem = found(root, "data/kb/phone/wifi.yml", line + 1, "yaml", "invalid YAML")
    assert not [p for p in run_all(root, rasa=False) if p.check == "article-schema"], problem


def test_a_key_written_twice_is_reported_where_it_repeats(root):
    path = root / "data/messages.yml"
    line = insert_after(path, '  de: "Wichtig für Ihre Sicherheit', '  de: "Sicherheit: {safety}"')
    found(root, "data/messages.yml", line, "yaml", "'de' appears twice", f"line {line - 1}")


# -- article-schema ------------------------------------------------------------------------------------------------
def test_an_invalid_value_is_reported_on_its_key(root):
    line = replace_line(root / "data/kb/phone/wifi.yml", "handoff:", "handoff: sometimes")
    found(root, "data/kb/phone/wifi.yml", line, "article-schema", "handoff", "'never', 'after_steps' or 'immediately'")


def test_an_unknown_key_inside_a_step_is_reported_on_that_key(root):
    path = root / "data/kb/camera/flash.yml"
    line = insert_after(path, "      check:", "      hint: try it twice")
    found(root, "data/kb/camera/flash.yml", line, "article-schema", "steps.0.en.hint", "Extra inputs")


def test_a_rule_over_several_fields_points_at_the_first_field_it_names(root):
    line = replace_line(root / "data/kb/phone/wifi.yml", "priority:", "priority: urgent")
    found(root, "data/kb/phone/wifi.yml", line, "article-schema", "priority 'urgent'")


def test_an_id_used_twice_is_reported_in_the_second_file(root):
    path = root / "data/kb/phone/wifi.yml"
    line = replace_line(path, "id: phone-wifi", "id: phone-bluetooth")
    found(root, "data/kb/phone/wifi.yml", line, "article-schema", "'phone-bluetooth'", "data/kb/phone/bluetooth.yml:")


# -- bilingual -----------------------------------------------------------------------------------------------------
def test_an_article_text_without_german_names_the_language(root):
    path = root / "data/kb/camera/flash.yml"
    title = line_of(path, "title:")
    german = line_of(path, "  de:")
    assert german == title + 2, "the fixture expects title's de on the second line below it"
    lines = path.read_text(encoding="utf-8").splitlines()
    del lines[german - 1]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    problem = found(root, "data/kb/camera/flash.yml", title, "bilingual", "title", "German text (de) is missing")
    assert "article-schema" not in str(problem)


def test_an_intent_with_examples_in_one_language_only(root):
    path = root / "data/nlu/en/handoff.yml"
    line = append(path, "- intent: ask_price", "  examples: |", "    - how much does a repair cost", "    - price?")
    found(root, "data/nlu/en/handoff.yml", line, "bilingual", "'ask_price'", "no German", "data/nlu/de/")


def test_a_response_without_a_german_variant(root):
    path = root / "domain.yml"
    line = line_of(path, "  utter_goodbye:")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "value: de" in lines[line] and "text:" in lines[line + 1]
    del lines[line : line + 2]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found(root, "domain.yml", line, "bilingual", "'utter_goodbye'", "no German variant")


def test_a_message_without_its_german_text(root):
    path = root / "data/messages.yml"
    key = line_of(path, "rating_invalid:")
    replace_line(path, '  de: "Bitte bewerten Sie den Chat mit einer Zahl', '  fr: "Veuillez noter de 1 à 5."')
    found(root, "data/messages.yml", key, "bilingual", "'rating_invalid'", "no German text")


def test_a_translation_that_lost_a_placeholder(root):
    path = root / "data/messages.yml"
    key = line_of(path, "hub_agent_joined:")
    replace_line(path, '  de: "{name} aus unserem Support-Team', '  de: "Jemand aus unserem Support-Team ist da."')
    found(root, "data/messages.yml", key, "bilingual", "placeholders differ", "{name}")


# -- duplicates ----------------------------------------------------------------------------------------------------
def test_an_example_twice_in_one_intent_ignoring_annotations_case_and_spaces(root):
    path = root / "data/nlu/en/problems.yml"
    first = line_of(path, "- my [phone](device_category) won't charge anymore")
    line = insert_after(
        path, "- screen cracked", '    - My  [Phone]{"entity": "device_category"} WON\'T charge anymore'
    )
    problem = found(root, "data/nlu/en/problems.yml", line, "duplicates", "duplicate example", "'describe_problem'")
    assert f"line {first}" in problem.message


def test_an_example_in_two_intents_is_reported_at_both(root):
    greet = root / "data/nlu/en/basics.yml"
    affirm = root / "data/nlu/en/feedback.yml"
    original = line_of(greet, "    - hello there")
    line = insert_after(affirm, "- intent: affirm", "  examples: |", "    - Hello there") + 1
    lines = affirm.read_text(encoding="utf-8").splitlines()
    del lines[line]  # the affirm block's own `examples: |` line, now below the inserted one
    affirm.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found(root, "data/nlu/en/feedback.yml", line, "duplicates", "'affirm'", f"data/nlu/en/basics.yml:{original}")
    found(root, "data/nlu/en/basics.yml", original, "duplicates", "'greet'", f"data/nlu/en/feedback.yml:{line}")


def test_an_example_in_both_language_files_is_a_duplicate(root):
    german = root / "data/nlu/de/basics.yml"
    line = insert_after(german, "    - hallo", "    - good morning")
    english = line_of(root / "data/nlu/en/basics.yml", "    - good morning")
    # files are read in path order, so the English one (data/nlu/en/ after data/nlu/de/) is the repetition
    problem = found(root, "data/nlu/en/basics.yml", english, "duplicates", "duplicate example", "'greet'")
    assert f"line {line} of data/nlu/de/basics.yml" in problem.message


def test_a_symptom_in_two_articles_for_the_same_devices(root):
    wifi = root / "data/kb/phone/wifi.yml"
    symptom = line_of(wifi, "symptoms:") + 2  # the first English symptom
    text = wifi.read_text(encoding="utf-8").splitlines()[symptom - 1].strip().removeprefix("- ")
    bluetooth = root / "data/kb/phone/bluetooth.yml"
    line = insert_after(bluetooth, "    - bluetooth headphones won't pair", f"    - {json.dumps(text.upper())}")
    found(root, "data/kb/phone/bluetooth.yml", line, "duplicates", "'phone-bluetooth'", "'phone-wifi'")
    found(root, "data/kb/phone/wifi.yml", symptom, "duplicates", "'phone-wifi'", "'phone-bluetooth'")


def test_a_symptom_shared_by_articles_for_different_brands_is_allowed(root):
    # the real iPhone (brands: [Apple]) and Android (exclude_brands: [Apple]) articles share "forgot my passcode"
    assert "forgot my passcode" in (root / "data/kb/phone/forgotten-pin-android.yml").read_text()
    assert "forgot my passcode" in (root / "data/kb/phone/forgotten-passcode-iphone.yml").read_text()
    assert not [p for p in run_all(root, rasa=False) if p.check == "duplicates"]
    path = root / "data/kb/phone/forgotten-pin-android.yml"
    replace_line(path, "exclude_brands: [Apple]", "  exclude_brands: []")
    line = line_of(path, "forgot my passcode")
    found(root, "data/kb/phone/forgotten-pin-android.yml", line, "duplicates", "'phone-forgotten-passcode-iphone'")


# -- stories -------------------------------------------------------------------------------------------------------
def test_a_test_story_with_an_undeclared_intent(root):
    path = root / "tests/stories/stories_de.yml"
    line = line_of(path, "intent: request_human")
    replace_line(path, "intent: request_human", "        intent: ask_for_human")
    found(root, "tests/stories/stories_de.yml", line, "stories", "'ask_for_human'", "not declared in domain.yml")


def test_a_rule_with_an_undefined_response(root):
    path = root / "data/rules/conversation.yml"
    line = replace_line(path, "{action: utter_goodbye}", "    steps: [{intent: goodbye}, {action: utter_bye}]")
    found(root, "data/rules/conversation.yml", line, "stories", "response 'utter_bye'", "rule 'say goodbye'")


def test_undeclared_slots_forms_actions_and_unknown_step_keys_are_reported_on_their_step(root):
    path = root / "data/rules/handoff.yml"
    first = append(
        path,
        "  - rule: person asked while a form runs",
        "    condition:",
        "      - active_loop: contact_form",
        "    steps:",
        "      - intent: request_human",
        "      - slot_was_set: [{handed_off: true}, {ticket: 7}]",
        "      - action: action_hand_off",
        "      - acton: action_listen",
    )
    found(root, "data/rules/handoff.yml", first + 2, "stories", "form 'contact_form'")
    found(root, "data/rules/handoff.yml", first + 5, "stories", "slot 'ticket'")
    found(root, "data/rules/handoff.yml", first + 6, "stories", "action 'action_hand_off'")
    found(root, "data/rules/handoff.yml", first + 7, "stories", "unknown step key 'acton'")
    assert not at(run_all(root, rasa=False), "data/rules/handoff.yml", first + 4, "stories")


# -- rasa ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rasa_problems(tmp_path_factory) -> tuple[Path, list[Problem], dict[str, int]]:
    """One Rasa run on a copy with three problems only Rasa's validator reports this way."""
    if RASA_MISSING:
        pytest.skip(RASA_MISSING)
    root = copy_project(tmp_path_factory.mktemp("rasa") / "project")
    lines = {
        # an intent the domain lists but no example or rule uses
        "domain": insert_after(root / "domain.yml", "  - out_of_scope", "  - ask_price"),
        # a response nothing uses
        "response": insert_after(root / "domain.yml", "responses:", "  utter_unused:", '    - text: "unused"'),
        # examples for an intent the domain does not list (in both languages, so only Rasa complains)
        "nlu": append(root / "data/nlu/en/handoff.yml", "- intent: ask_warranty", "  examples: |", "    - warranty?"),
    }
    append(root / "data/nlu/de/handoff.yml", "- intent: ask_warranty", "  examples: |", "    - Garantie?")
    return root, [p for p in run_all(root) if p.check == "rasa"], lines


def test_rasa_reports_a_domain_intent_without_examples_on_its_domain_line(rasa_problems):
    _, problems, lines = rasa_problems
    matching = at(problems, "domain.yml", lines["domain"], "rasa")
    assert any("'ask_price'" in p.message and "not found in the NLU" in p.message for p in matching), problems


def test_rasa_reports_an_unused_response_on_its_domain_line(rasa_problems):
    _, problems, lines = rasa_problems
    matching = at(problems, "domain.yml", lines["response"], "rasa")
    assert any("'utter_unused' is not used" in p.message for p in matching), problems


def test_rasa_reports_an_intent_missing_from_the_domain_on_its_nlu_line(rasa_problems):
    _, problems, lines = rasa_problems
    matching = at(problems, "data/nlu/en/handoff.yml", lines["nlu"], "rasa")
    assert any("'ask_warranty'" in p.message and "not listed in your domain" in p.message for p in matching), problems


@pytest.mark.skipif(RASA_MISSING is not None, reason=RASA_MISSING or "")
def test_rasa_reports_a_schema_error_on_the_line_it_names(root):
    path = root / "data/rules/conversation.yml"
    line = replace_line(path, "{action: utter_goodbye}", "    steps: [{intent: goodbye}, {acton: utter_goodbye}]")
    problems = at(run_all(root), "data/rules/conversation.yml", line, "rasa")
    assert any("Key 'acton' was not defined" in p.message for p in problems), problems


# -- the command ---------------------------------------------------------------------------------------------------
def test_the_command_prints_one_sorted_line_per_problem_and_fails(root, monkeypatch):
    later = append(root / "data/nlu/en/handoff.yml", "- intent: ask_price", "  examples: |", "    - price?")
    earlier = replace_line(root / "data/kb/phone/wifi.yml", "handoff:", "handoff: sometimes")
    monkeypatch.setattr("bot.settings.PROJECT_DIR", root)
    result = CliRunner().invoke(app, ["validate", "--no-rasa"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"data/kb/phone/wifi.yml:{earlier}: handoff:"), result.stdout
    assert lines[1].startswith(f"data/nlu/en/handoff.yml:{later}: intent 'ask_price'"), result.stdout
    assert lines[0].endswith("[article-schema]") and lines[1].endswith("[bilingual]")
    assert len(lines) == 2


def test_the_command_summarises_a_clean_tree_with_its_time(root, monkeypatch):
    monkeypatch.setattr("bot.settings.PROJECT_DIR", root)
    result = CliRunner().invoke(app, ["validate", "--no-rasa"])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.count("\n") == 1 and " valid " in result.stdout and result.stdout.rstrip().endswith(" s")
