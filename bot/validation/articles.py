"""Check "article-schema": every data/kb/**/*.yml against `bot.kb.files.ArticleFile`, on the offending key's line.

A missing or empty language (`title.de`, `symptoms.en`, `steps.2.de`, ...) is reported by the "bilingual" check's
name with the language spelled out, since that is what an editor has to add.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError
from yaml.nodes import MappingNode, Node, SequenceNode

from bot.kb.files import ArticleFile
from bot.language import SUPPORTED as LANGUAGES
from bot.validation.problem import Problem
from bot.validation.project import Project, construct, line_of, pairs

CHECK = "article-schema"
LANGUAGE_NAMES = {"en": "English", "de": "German"}
_EMPTY = {"missing", "string_too_short", "too_short"}


def check(project: Project) -> list[Problem]:
    """Schema problems of every article file, plus ids used by two files."""
    problems: list[Problem] = []
    ids: dict[str, tuple[Path, int]] = {}
    for path in project.kb_files():
        root = project.node(path)
        if path in project.broken:
            continue
        try:
            article = ArticleFile.model_validate(construct(root))
        except ValidationError as exc:
            problems.extend(_problem(project, path, root, err) for err in exc.errors())
            continue
        line = _line(root, ("id",))
        if article.id in ids:
            first, first_line = ids[article.id]
            message = f"id '{article.id}' is already used by {project.rel(first)}:{first_line}"
            problems.append(project.problem(path, line, message, CHECK))
        else:
            ids[article.id] = (path, line)
    return problems


def _problem(project: Project, path: Path, root: Node | None, err) -> Problem:
    loc = tuple(err["loc"])
    where = ".".join(str(p) for p in loc)
    if loc and loc[-1] in LANGUAGES and err["type"] in _EMPTY:
        parent = ".".join(str(p) for p in loc[:-1]) or "(article)"
        state = "missing" if err["type"] == "missing" else "empty"
        message = f"{parent}: the {LANGUAGE_NAMES[loc[-1]]} text ({loc[-1]}) is {state}; every text needs en and de"
        return project.problem(path, _line(root, loc), message, "bilingual")
    if not loc:  # a rule over several fields: point at the first field the message names
        names = [k for k, _, _ in pairs(root) if k in err["msg"]]
        first = min(names, key=err["msg"].index) if names else None
        message = err["msg"].removeprefix("Value error, ")
        return project.problem(path, _line(root, (first,) if first else ()), message, CHECK)
    return project.problem(path, _line(root, loc), f"{where}: {err['msg']}", CHECK)


def _line(root: Node | None, loc: tuple) -> int:
    """The line of the deepest key or item of `loc` that exists in the file (a missing key: its parent's line)."""
    node, line = root, 1
    for part in loc:
        if isinstance(node, MappingNode):
            found = next(((k, v) for name, k, v in pairs(node) if name == str(part)), None)
            if found is None:
                break
            line, node = line_of(found[0]), found[1]
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = line_of(node)
        else:
            break
    return line
