"""The files one validation run reads, each parsed once with its YAML line numbers.

Every check works on a `Project`: the project root (the repository or a copy of it), its YAML files as composed
nodes (`yaml.compose`, so each node knows the line it starts on) and indexes built from them: the domain's
names, the NLU examples and the story and rule blocks. A file that is not valid YAML, or has a key twice in one
mapping, is reported once here (check "yaml") and skipped by the checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from bot.language import SUPPORTED
from bot.validation.problem import Problem

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# `[text](entity)`, `[text](entity:value)`, `[text]{"entity": ...}`, `[text][{...}, {...}]`: Rasa's annotations
_ANNOTATION = re.compile(r"\[([^\]]+?)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
_SPACE = re.compile(r"\s+")


def plain_text(example: str) -> str:
    """An NLU example as Rasa trains on it: entity annotations replaced by their text."""
    return _ANNOTATION.sub(r"\1", example)


def normalize(text: str) -> str:
    """The form in which two examples or symptoms count as the same: no annotations, casefolded, single spaces."""
    return _SPACE.sub(" ", plain_text(text).casefold()).strip()


def line_of(node: Node) -> int:
    """The 1-based line on which `node` starts."""
    return node.start_mark.line + 1


def pairs(node: Node | None) -> list[tuple[str, Node, Node]]:
    """A mapping's entries as (key, key node, value node); empty for anything that is not a mapping."""
    if not isinstance(node, MappingNode):
        return []
    return [(str(k.value), k, v) for k, v in node.value if isinstance(k, ScalarNode)]


def get(node: Node | None, key: str) -> Node | None:
    """The value node of `key` in a mapping node (the last one if repeated, as YAML loaders do), or None."""
    return next((v for k, _, v in reversed(pairs(node)) if k == key), None)


def items(node: Node | None) -> list[Node]:
    """A sequence's item nodes; empty for anything that is not a sequence."""
    return list(node.value) if isinstance(node, SequenceNode) else []


def scalar(node: Node | None) -> str | None:
    """A scalar node's text, or None."""
    return str(node.value) if isinstance(node, ScalarNode) else None


def construct(node: Node | None) -> Any:
    """The Python value of a composed node (as `yaml.safe_load` would return it)."""
    return None if node is None else yaml.SafeLoader("").construct_document(node)


@dataclass(frozen=True)
class Example:
    """One training example (or synonym, lookup or regex entry) and the line it is on."""

    text: str
    line: int


@dataclass(frozen=True)
class NluBlock:
    """One `- intent: ...` (or synonym, regex, lookup) entry of an NLU file."""

    path: Path
    kind: str
    name: str
    line: int
    examples: list[Example]

    @property
    def language(self) -> str | None:
        """'de' or 'en' for files under data/nlu/de or data/nlu/en, else None."""
        parent = self.path.parent.name
        return parent if parent in SUPPORTED else None


@dataclass(frozen=True)
class StoryBlock:
    """One story or rule: its file, kind ("story" or "rule"), name, line, and its steps and conditions."""

    path: Path
    kind: str
    name: str
    line: int
    steps: list[Node]
    conditions: list[Node] = field(default_factory=list)


@dataclass
class DomainIndex:
    """The names domain.yml declares, each with the line it is declared on."""

    intents: dict[str, int] = field(default_factory=dict)
    entities: dict[str, int] = field(default_factory=dict)
    slots: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    forms: dict[str, int] = field(default_factory=dict)
    responses: dict[str, int] = field(default_factory=dict)


class Project:
    """A project tree (repository root or a copy of it) whose files are parsed on first use."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self.data = self.root / "data"
        self.domain_file = self.root / "domain.yml"
        self.config_file = self.root / "config.yml"
        self.problems: list[Problem] = []
        self.broken: set[Path] = set()  # missing or not YAML: reported once, skipped by the checks
        self._nodes: dict[Path, Node | None] = {}
        self._lines: dict[Path, list[str]] = {}

    # -- files ------------------------------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        """`path` relative to the root, with forward slashes (as it appears in reports)."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def problem(self, path: Path, line: int, message: str, check: str) -> Problem:
        return Problem(self.rel(path), max(line, 1), message, check)

    def kb_files(self) -> list[Path]:
        return sorted((self.data / "kb").rglob("*.yml"))

    def nlu_files(self) -> list[Path]:
        return sorted((self.data / "nlu").rglob("*.yml"))

    def story_files(self) -> list[Path]:
        """Rules and stories the model is trained on, and the conversation tests."""
        dirs = (self.data / "rules", self.data / "stories", self.root / "tests" / "stories")
        return [p for d in dirs for p in sorted(d.rglob("*.yml"))]

    def all_files(self) -> list[Path]:
        """Every YAML file a validation run covers."""
        files = sorted(self.data.rglob("*.yml")) + [self.domain_file, self.config_file]
        return files + sorted((self.root / "tests" / "stories").rglob("*.yml"))

    def lines(self, path: Path) -> list[str]:
        """The file's lines (undecodable bytes replaced; `node` reports them)."""
        if path not in self._lines:
            self._lines[path] = path.read_bytes().decode("utf-8", errors="replace").splitlines()
        return self._lines[path]

    def node(self, path: Path) -> Node | None:
        """The composed document of `path`; None (reported once) if it is missing or not YAML."""
        if path not in self._nodes:
            self._nodes[path] = self._compose(path)
        return self._nodes[path]

    def _compose(self, path: Path) -> Node | None:
        if not path.exists():
            self.broken.add(path)
            self.problems.append(self.problem(path, 1, "file is missing", "yaml"))
            return None
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[: exc.start].count(b"\n") + 1
            self.broken.add(path)
            self.problems.append(self.problem(path, line, "not UTF-8: save the file as UTF-8", "yaml"))
            return None
        try:
            node = yaml.compose("\n".join(self.lines(path)) + "\n", Loader=_Loader)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
            line = mark.line + 1 if mark else 1
            reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            self.broken.add(path)
            self.problems.append(self.problem(path, line, f"invalid YAML: {reason}", "yaml"))
            return None
        for key, first, again in _duplicate_keys(node):
            message = f"key '{key}' appears twice in one mapping (first on line {line_of(first)}); only this one counts"
            self.problems.append(self.problem(path, line_of(again), message, "yaml"))
        return node

    # -- indexes ----------------------------------------------------------------------------------------------
    @cached_property
    def domain(self) -> DomainIndex:
        """Names declared in domain.yml (empty if it cannot be read)."""
        root = self.node(self.domain_file)
        index = DomainIndex()
        for section, names in (("intents", index.intents), ("entities", index.entities), ("actions", index.actions)):
            for item in items(get(root, section)):
                name = scalar(item) or next((k for k, _, _ in pairs(item)), None)
                if name:
                    names[name] = line_of(item)
        for section, names in (("slots", index.slots), ("forms", index.forms), ("responses", index.responses)):
            for name, key, _ in pairs(get(root, section)):
                names[name] = line_of(key)
        return index

    @cached_property
    def nlu_blocks(self) -> list[NluBlock]:
        """Every intent, synonym, regex and lookup entry of the NLU files, with its examples' lines."""
        blocks: list[NluBlock] = []
        for path in self.nlu_files():
            for entry in items(get(self.node(path), "nlu")):
                kind, name_node = next(
                    ((k, v) for k, _, v in pairs(entry) if k in ("intent", "synonym", "regex", "lookup")), (None, None)
                )
                name = scalar(name_node)
                if kind and name:
                    examples = self._examples(path, get(entry, "examples"))
                    blocks.append(NluBlock(path, kind, name, line_of(entry), examples))
        return blocks

    def _examples(self, path: Path, node: Node | None) -> list[Example]:
        """The `- example` lines of an `examples: |` block (or a list of `text:` entries) with their lines."""
        if node is None:
            return []
        if isinstance(node, SequenceNode):
            found = []
            for item in node.value:
                text = get(item, "text") if isinstance(item, MappingNode) else item
                if scalar(text) is not None:
                    found.append(Example(scalar(text).strip(), line_of(text)))
            return found
        value = scalar(node) or ""
        wanted = [ln.strip()[1:].strip() for ln in value.splitlines() if ln.strip().startswith("-")]
        if node.style in ("|", ">"):
            last = node.end_mark.line if node.end_mark.column else node.end_mark.line - 1
            source = self.lines(path)[node.start_mark.line + 1 : last + 1]
            found = [
                Example(ln.strip()[1:].strip(), node.start_mark.line + 2 + i)
                for i, ln in enumerate(source)
                if ln.strip().startswith("-")
            ]
            if [e.text for e in found] == wanted:
                return found
        return [Example(text, line_of(node)) for text in wanted]

    @cached_property
    def story_blocks(self) -> list[StoryBlock]:
        """Every story and rule of `story_files()`."""
        blocks: list[StoryBlock] = []
        for path in self.story_files():
            root = self.node(path)
            for section, kind in (("stories", "story"), ("rules", "rule")):
                for entry in items(get(root, section)):
                    name = scalar(get(entry, kind)) or ""
                    steps, conditions = items(get(entry, "steps")), items(get(entry, "condition"))
                    blocks.append(StoryBlock(path, kind, name, line_of(entry), steps, conditions))
        return blocks


def _duplicate_keys(node: Node | None):
    """(key, first key node, repeated key node) for every key that appears twice in one mapping."""
    stack = [node] if node is not None else []
    while stack:
        current = stack.pop()
        if isinstance(current, MappingNode):
            seen: dict[str, Node] = {}
            for key, value in current.value:
                if isinstance(key, ScalarNode) and key.value != "<<":
                    if key.value in seen:
                        yield key.value, seen[key.value], key
                    seen.setdefault(key.value, key)
                stack.append(value)
        elif isinstance(current, SequenceNode):
            stack.extend(current.value)
