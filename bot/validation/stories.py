"""Check "stories": rules, stories and test stories only name what domain.yml declares.

Covers data/rules/, data/stories/ and tests/stories/ (Rasa's own validation does not read the test stories):
intents, actions (an `utter_*` action needs a response), slots, forms and entities of every step and rule
condition, and step keys Rasa does not know. Each problem is reported on the line of the step's key (or list
item) at fault.
"""

from __future__ import annotations

from yaml.nodes import Node

from bot.validation.problem import Problem
from bot.validation.project import DomainIndex, Project, items, line_of, pairs, scalar

CHECK = "stories"
# Rasa 3.6's built-ins (rasa.shared.core.constants), which a domain never lists.
DEFAULT_INTENTS = {"restart", "back", "out_of_scope", "session_start", "nlu_fallback"}
DEFAULT_ACTIONS = {
    "action_listen",
    "action_restart",
    "action_session_start",
    "action_default_fallback",
    "action_deactivate_loop",
    "action_revert_fallback_events",
    "action_default_ask_affirmation",
    "action_default_ask_rephrase",
    "action_two_stage_fallback",
    "action_unlikely_intent",
    "action_back",
    "...",
    "action_extract_slots",
}
DEFAULT_SLOTS = {"requested_slot", "session_started_metadata"}
STEP_KEYS = {
    "intent",
    "user",
    "entities",
    "action",
    "bot",
    "slot_was_set",
    "active_loop",
    "checkpoint",
    "or",
    "metadata",
}


def check(project: Project) -> list[Problem]:
    """Undeclared names and unknown step keys in every rule, story and test story."""
    if project.domain_file in project.broken:
        return []  # nothing to compare with; the "yaml" check reported why
    problems: list[Problem] = []
    for block in project.story_blocks:
        for step in block.conditions + block.steps:
            for line, message in _step_problems(step, project.domain):
                problems.append(project.problem(block.path, line, f"{block.kind} '{block.name}': {message}", CHECK))
    return problems


def _step_problems(step: Node, domain: DomainIndex) -> list[tuple[int, str]]:
    """(line, message) for each problem of one step, on the line of the key or list item at fault."""
    found: list[tuple[int, str]] = []
    for key, key_node, value in pairs(step):
        line = line_of(key_node)
        if key not in STEP_KEYS:
            found.append((line, f"unknown step key '{key}' (expected one of {', '.join(sorted(STEP_KEYS))})"))
        elif key == "intent":
            name = scalar(value) or ""
            if name not in domain.intents and name not in DEFAULT_INTENTS:
                found.append((line, f"intent '{name}' is not declared in domain.yml (intents)"))
        elif key == "action":
            found.extend((line, message) for message in _action_problems(scalar(value) or "", domain))
        elif key == "active_loop":
            name = scalar(value)
            if name not in (None, "", "null", "~") and name not in domain.forms:
                found.append((line, f"form '{name}' is not declared in domain.yml (forms)"))
        elif key in ("slot_was_set", "entities"):
            declared, builtin = (domain.slots, DEFAULT_SLOTS) if key == "slot_was_set" else (domain.entities, set())
            for item in items(value):
                name = scalar(item) or next((k for k, _, _ in pairs(item)), "")
                if name not in declared and name not in builtin:
                    what = "slot" if key == "slot_was_set" else "entity"
                    found.append((line_of(item), f"{what} '{name}' is not declared in domain.yml ({what}s)"))
        elif key == "or":
            for alternative in items(value):
                found.extend(_step_problems(alternative, domain))
    return found


def _action_problems(name: str, domain: DomainIndex) -> list[str]:
    if name in domain.actions or name in domain.responses:
        return []
    if name.startswith("utter_"):
        return [f"response '{name}' is not defined in domain.yml (responses)"]
    if name not in domain.forms and name not in DEFAULT_ACTIONS:
        return [f"action '{name}' is not declared in domain.yml (actions)"]
    return []
