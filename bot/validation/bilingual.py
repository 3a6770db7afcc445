"""Check "bilingual": everything the bot understands or says exists in German and English.

- NLU: an intent with examples under data/nlu/de/ needs examples under data/nlu/en/ and the other way round.
- domain.yml responses: a German variant (`condition: [{type: slot, name: language, value: de}]`) and an English
  one (the variant without condition, which is also used while the language is not known yet, or a condition
  on `en`).
- data/messages.yml (the actions' and the hub's texts): a non-empty `en` and `de` text per key, with the same
  `{placeholders}`.
Missing languages in articles are reported by `bot.validation.articles` under this check's name.
"""

from __future__ import annotations

import re

from bot.validation.problem import Problem
from bot.validation.project import Project, get, items, line_of, pairs, scalar

CHECK = "bilingual"
LANGUAGES = {"en": "English", "de": "German"}
_PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")


def check(project: Project) -> list[Problem]:
    """Bilingual completeness of the NLU intents, the domain's responses and data/messages.yml."""
    return _intents(project) + _responses(project) + _messages(project)


def _intents(project: Project) -> list[Problem]:
    first: dict[str, dict[str, tuple]] = {lang: {} for lang in LANGUAGES}
    for block in project.nlu_blocks:
        if block.kind == "intent" and block.language and block.examples:
            first[block.language].setdefault(block.name, (block.path, block.line))
    problems = []
    for lang, other in (("en", "de"), ("de", "en")):
        for intent, (path, line) in first[lang].items():
            if intent not in first[other]:
                message = (
                    f"intent '{intent}' has {LANGUAGES[lang]} examples but no {LANGUAGES[other]} ones: "
                    f"add them under data/nlu/{other}/"
                )
                problems.append(project.problem(path, line, message, CHECK))
    return problems


def _responses(project: Project) -> list[Problem]:
    problems = []
    for name, key, value in pairs(get(project.node(project.domain_file), "responses")):
        found = {_variant_language(variant) for variant in items(value)}
        for lang in LANGUAGES:
            if lang not in found:
                how = "condition: [{type: slot, name: language, value: de}]" if lang == "de" else "no condition"
                message = f"response '{name}' has no {LANGUAGES[lang]} variant ({how})"
                problems.append(project.problem(project.domain_file, line_of(key), message, CHECK))
    return problems


def _variant_language(variant) -> str | None:
    """'de'/'en' for a variant conditioned on the language slot, 'en' (the default) for one without condition."""
    conditions = items(get(variant, "condition"))
    if not conditions:
        return "en"
    for condition in conditions:
        if scalar(get(condition, "name")) == "language" and scalar(get(condition, "type")) == "slot":
            return scalar(get(condition, "value"))
    return None


def _messages(project: Project) -> list[Problem]:
    path = project.data / "messages.yml"
    if not path.exists():
        return []
    problems = []
    for key, key_node, value in pairs(project.node(path)):
        texts = {lang: scalar(get(value, lang)) for lang in LANGUAGES}
        for lang, text in texts.items():
            if not (text or "").strip():
                message = f"message '{key}' has no {LANGUAGES[lang]} text ({lang})"
                problems.append(project.problem(path, line_of(key_node), message, CHECK))
        if all(texts.values()):
            en, de = (sorted(set(_PLACEHOLDER.findall(texts[lang]))) for lang in ("en", "de"))
            if en != de:
                message = f"message '{key}': placeholders differ between en {_braces(en)} and de {_braces(de)}"
                problems.append(project.problem(path, line_of(key_node), message, CHECK))
    return problems


def _braces(names: list[str]) -> str:
    return "(" + (", ".join("{" + n + "}" for n in names) or "none") + ")"
