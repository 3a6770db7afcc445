"""Run every check on a project tree and return its problems, sorted by file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.validation import rasa_data
from bot.validation.problem import Problem
from bot.validation.project import Project


def checks() -> list[Callable[[Project], list[Problem]]]:
    """The checks that run in this process (imported late: pydantic and the article schema take a moment)."""
    from bot.validation import articles, bilingual, duplicates, stories

    return [articles.check, bilingual.check, duplicates.check, stories.check]


def run_all(root: Path, *, rasa: bool = True) -> list[Problem]:
    """Validate data/, domain.yml, config.yml and tests/stories under `root`.

    Rasa's validator (check "rasa", the slow part) runs in its own process while the other checks run here;
    `rasa=False` leaves it out. Every YAML file is parsed first (check "yaml": syntax, repeated keys).
    Articles whose languages are incomplete are reported as "bilingual" by the article check.
    """
    project = Project(root)
    pending = rasa_data.start(project) if rasa else None
    try:
        for path in project.all_files():
            project.node(path)
        problems = [problem for check in checks() for problem in check(project)]
    except BaseException:
        if pending is not None:
            rasa_data.cancel(pending)
        raise
    if pending is not None:
        problems += rasa_data.finish(pending, project)
    return sorted(set(problems + project.problems))
