"""Write knowledge-base articles: a new article file, or a new step appended to an existing one."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap

from bot.content import yamlio
from bot.kb.files import ArticleFile, ArticleFileError, StepFile, load_article

HEADER = "# Knowledge-base article. Format: docs/kb-format.md\n"
FIELD_ORDER = ("id", "category", "topic", "handoff", "priority", "applies_to", "title", "symptoms", "safety", "steps")


class ContentError(Exception):
    """What an editor must fix before the content can be written (the message says what and where)."""


def folder_for(category: str) -> str:
    """The folder below data/kb for a category ("any": topics that always go to a person)."""
    return "person" if category == "any" else category


def path_for(kb_dir: Path, article: ArticleFile) -> Path:
    """data/kb/<category>/<id without the category prefix>.yml, as the existing files are named."""
    name = article.id.removeprefix(f"{article.category}-") or article.id
    return kb_dir / folder_for(article.category) / f"{name}.yml"


def render(article: ArticleFile) -> str:
    """The article as a file in the house format (stable: rendering the loaded result gives the same text)."""
    data = article.model_dump(mode="json", exclude_none=True)
    ordered = CommentedMap((key, data[key]) for key in FIELD_ORDER if key in data)
    for step in ordered.get("steps", []):
        if not step.get("brands"):
            step.pop("brands", None)
    return HEADER + yamlio.dumps(ordered, "indented")


def find(kb_dir: Path, article_id: str) -> Path | None:
    """The file that holds `article_id`, if any."""
    for path in sorted(kb_dir.rglob("*.yml")):
        try:
            if load_article(path).article.id == article_id:
                return path
        except ArticleFileError:
            continue
    return None


def write_new(kb_dir: Path, article: ArticleFile) -> Path:
    """Create the file of a new article; refuses an id or file name that is already taken."""
    if find(kb_dir, article.id) is not None:
        raise ContentError(f"An article with id '{article.id}' already exists; choose another id.")
    path = path_for(kb_dir, article)
    if path.exists():
        raise ContentError(f"{path} already exists; choose another id.")
    yamlio.write(path, render(article))
    try:
        _check(path)
    except ContentError:
        path.unlink()
        raise
    return path


def add_step(path: Path, step: StepFile, position: int | None = None) -> int:
    """Insert `step` into the article at `path` (at 1-based `position`, default last); returns its position.

    Everything else in the file stays as it was, comments and quoting included. A step whose instruction
    is already in the article (either language) is refused.
    """
    data = yamlio.load(path, "indented")
    steps = data.setdefault("steps", [])
    for existing in steps:
        for lang in ("en", "de"):
            if _norm(existing[lang]["do"]) == _norm(getattr(step, lang).do):
                raise ContentError(f"{path}: this step is already in the article ({lang}).")
    entry = CommentedMap([("en", dict(step.en.model_dump())), ("de", dict(step.de.model_dump()))])
    if step.brands:
        entry["brands"] = list(step.brands)
    index = len(steps) if position is None else max(0, min(position - 1, len(steps)))
    steps.insert(index, entry)
    original = path.read_text(encoding="utf-8")
    yamlio.write(path, yamlio.dumps(data, "indented"))
    try:
        _check(path)
    except ContentError:
        yamlio.write(path, original)
        raise
    return index + 1


def _check(path: Path) -> None:
    try:
        load_article(path)
    except ArticleFileError as exc:
        raise ContentError("\n".join(exc.problems)) from exc


def _norm(text: str) -> str:
    return " ".join(str(text).casefold().split())
