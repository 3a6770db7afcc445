"""Article files under `data/kb/`: their schema, loading and validation (see docs/kb-format.md)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.devices import CATEGORIES

Category = Literal[(*CATEGORIES, "any")]  # an article's device category, or "any"
HandoffPolicy = Literal["never", "after_steps", "immediately"]
Priority = Literal["low", "normal", "high", "urgent"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Bilingual(_Strict):
    en: str = Field(min_length=1)
    de: str = Field(min_length=1)


class BilingualList(_Strict):
    en: list[str] = Field(min_length=1)
    de: list[str] = Field(min_length=1)


class StepText(_Strict):
    do: str = Field(min_length=1)
    check: str = Field(min_length=1)


class StepFile(_Strict):
    en: StepText
    de: StepText
    brands: list[str] = []


class AppliesTo(_Strict):
    brands: list[str] = []
    exclude_brands: list[str] = []


class ArticleFile(_Strict):
    """One article as an editor writes it."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=100)
    category: Category
    topic: str = Field(pattern=r"^[a-z0-9_]+$")
    handoff: HandoffPolicy
    priority: Priority = "normal"
    applies_to: AppliesTo = AppliesTo()
    title: Bilingual
    symptoms: BilingualList
    safety: Bilingual | None = None
    steps: list[StepFile] = []

    @model_validator(mode="after")
    def _consistent(self) -> ArticleFile:
        if self.handoff != "immediately" and not self.steps:
            raise ValueError(f"handoff '{self.handoff}' needs at least one step")
        if self.priority == "urgent" and (self.handoff != "immediately" or self.safety is None):
            raise ValueError("priority 'urgent' (safety) needs handoff 'immediately' and a safety note")
        return self


@dataclass(frozen=True)
class LoadedArticle:
    """A validated article with where it came from."""

    article: ArticleFile
    path: Path
    content_hash: str


class ArticleFileError(Exception):
    """One or more article files are invalid; `problems` lists each as 'path: message'."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def load_article(path: Path) -> LoadedArticle:
    """Read and validate one article file; raises ArticleFileError with the file name on any problem."""
    raw = path.read_bytes()
    try:
        data = yaml.safe_load(raw)
        return LoadedArticle(ArticleFile.model_validate(data), path, hashlib.sha256(raw).hexdigest())
    except yaml.YAMLError as exc:
        raise ArticleFileError([f"{path}: invalid YAML: {exc}"]) from exc
    except ValidationError as exc:
        problems = [
            f"{path}: {'.'.join(str(p) for p in err['loc']) or '(article)'}: {err['msg']}" for err in exc.errors()
        ]
        raise ArticleFileError(problems) from exc


def load_articles(kb_dir: Path) -> list[LoadedArticle]:
    """Load every `*.yml` article below `kb_dir`; collects all problems (and duplicate ids) before raising."""
    loaded: list[LoadedArticle] = []
    problems: list[str] = []
    for path in sorted(kb_dir.rglob("*.yml")):
        try:
            loaded.append(load_article(path))
        except ArticleFileError as exc:
            problems.extend(exc.problems)
    seen: dict[str, Path] = {}
    for item in loaded:
        if item.article.id in seen:
            problems.append(f"{item.path}: id '{item.article.id}' already used in {seen[item.article.id]}")
        seen[item.article.id] = item.path
    if problems:
        raise ArticleFileError(problems)
    return loaded
