"""Add training examples to the NLU files under data/nlu/<language>/, without duplicates or conflicts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.content import yamlio
from bot.content.articles import ContentError

ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\})")
NEW_INTENTS_FILE = "learned.yml"


def plain(example: str) -> str:
    """An example without entity annotations, casefolded, whitespace collapsed: what duplicates compare."""
    return " ".join(ANNOTATION.sub(r"\1", example).casefold().split())


def annotate(text: str, entities: list[dict]) -> str:
    """`text` with each entity ({"entity", "value", "text"}) marked in Rasa's format where it occurs."""
    out = text
    for ent in entities:
        surface = ent.get("text") or ent.get("value")
        if not surface or surface not in out or "[" in surface:
            continue
        value = ent.get("value")
        if value and value != surface:
            mark = f'[{surface}]{{"entity": "{ent["entity"]}", "value": "{value}"}}'
        else:
            mark = f"[{surface}]({ent['entity']})"
        out = out.replace(surface, mark, 1)
    return out


@dataclass
class ExampleReport:
    """What add_examples did: per file the examples added; examples skipped with the reason."""

    added: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def known_examples(nlu_dir: Path, language: str) -> dict[str, str]:
    """plain(example) -> intent, over every NLU file of `language`."""
    seen: dict[str, str] = {}
    for path in sorted((nlu_dir / language).glob("*.yml")):
        for block in (yamlio.load(path, "flat") or {}).get("nlu") or []:
            if "intent" in block:
                for line in str(block.get("examples", "")).splitlines():
                    if line.strip().startswith("- "):
                        seen.setdefault(plain(line.strip()[2:]), block["intent"])
    return seen


def add_examples(nlu_dir: Path, language: str, intent: str, examples: list[str]) -> ExampleReport:
    """Append `examples` to `intent` in the file of `language` that already has that intent.

    An example that is already there (ignoring annotations, case and spacing) is skipped; one that is an
    example of another intent is skipped as a conflict. A new intent goes into data/nlu/<lang>/learned.yml.
    """
    report = ExampleReport()
    seen = known_examples(nlu_dir, language)
    fresh: list[str] = []
    for example in examples:
        example = " ".join(example.split())
        key = plain(example)
        if not key:
            continue
        if key in seen:
            other = seen[key]
            reason = "already an example" if other == intent else f"conflict: already an example of '{other}'"
            report.skipped.append((example, reason))
            continue
        seen[key] = intent
        fresh.append(example)
    if not fresh:
        return report
    path, data, block = _intent_block(nlu_dir / language, intent)
    text = str(block.get("examples") or "")
    if text and not text.endswith("\n"):
        text += "\n"
    block["examples"] = LiteralScalarString(text + "".join(f"- {e}\n" for e in fresh))
    yamlio.write(path, yamlio.dumps(data, "flat"))
    report.added[str(path)] = fresh
    return report


def _intent_block(folder: Path, intent: str):
    if not folder.is_dir():
        raise ContentError(f"{folder} does not exist: unknown language.")
    for path in sorted(folder.glob("*.yml")):
        data = yamlio.load(path, "flat")
        for block in (data or {}).get("nlu") or []:
            if block.get("intent") == intent:
                return path, data, block
    path = folder / NEW_INTENTS_FILE
    data = yamlio.load(path, "flat") if path.exists() else CommentedMap([("version", "3.1"), ("nlu", [])])
    block = CommentedMap([("intent", intent), ("examples", LiteralScalarString(""))])
    data["nlu"].append(block)
    return path, data, block
