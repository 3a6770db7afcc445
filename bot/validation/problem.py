"""One problem found in the editors' files, reported as `path:line: message`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """A problem at `line` (1-based) of `path` (relative to the project root), found by the check `check`."""

    path: str
    line: int
    message: str
    check: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message} [{self.check}]"
