"""Validation of everything editors change in files: `python -m bot validate`.

One module per kind of check (`articles`, `bilingual`, `duplicates`, `stories`, `rasa_data`), each a
`check(project) -> list[Problem]` over a `project.Project`; `runner.run_all` runs them all. Imports only from
`bot`.
"""

from bot.validation.problem import Problem
from bot.validation.runner import run_all

__all__ = ["Problem", "run_all"]
