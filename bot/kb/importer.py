"""Import the article files into the database: validate, upsert changed articles, embed, bump the revision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.kb import embeddings
from bot.kb.files import LoadedArticle, load_articles
from bot.kb.models import Article, ArticleText, KbMeta, Phrase, Step
from bot.language import SUPPORTED as LANGUAGES

REVISION_KEY = "revision"
EMBEDDING_MODEL_KEY = "embedding_model"


@dataclass
class ImportReport:
    """What an import changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    revision: int = 0


def import_articles(session: Session, kb_dir: Path, progress: Callable[[str], None] | None = None) -> ImportReport:
    """Bring the database in line with the files under `kb_dir` (raises ArticleFileError, changing nothing)."""
    loaded = load_articles(kb_dir)
    report = ImportReport()
    existing = {a.id: a for a in session.scalars(select(Article))}
    model_changed = _meta(session, EMBEDDING_MODEL_KEY) != embeddings.MODEL_NAME
    for item in loaded:
        current = existing.pop(item.article.id, None)
        if current is not None and current.content_hash == item.content_hash and not model_changed:
            report.unchanged += 1
            continue
        if progress:
            progress(item.article.id)
        if current is not None:
            session.delete(current)
            session.flush()
            report.updated.append(item.article.id)
        else:
            report.added.append(item.article.id)
        session.add(_to_row(item))
    for stale in existing.values():
        session.delete(stale)
        report.removed.append(stale.id)
    changed = bool(report.added or report.updated or report.removed)
    report.revision = int(_meta(session, REVISION_KEY) or 0) + (1 if changed else 0)
    _set_meta(session, REVISION_KEY, str(report.revision))
    _set_meta(session, EMBEDDING_MODEL_KEY, embeddings.MODEL_NAME)
    session.commit()
    return report


def current_revision(session: Session) -> int:
    """The knowledge base's revision; every import that changes something increments it."""
    return int(_meta(session, REVISION_KEY) or 0)


def _to_row(item: LoadedArticle) -> Article:
    a = item.article
    row = Article(
        id=a.id,
        category=a.category,
        topic=a.topic,
        handoff=a.handoff,
        priority=a.priority,
        brands=a.applies_to.brands,
        exclude_brands=a.applies_to.exclude_brands,
        source_path=str(item.path),
        content_hash=item.content_hash,
        updated_at=datetime.now(UTC),
    )
    phrases: list[tuple[str, str, str]] = []
    for lang in LANGUAGES:
        safety = getattr(a.safety, lang) if a.safety else None
        row.texts.append(ArticleText(language=lang, title=getattr(a.title, lang), safety=safety))
        phrases.append((lang, "title", getattr(a.title, lang)))
        phrases.extend((lang, "symptom", s) for s in getattr(a.symptoms, lang))
        for position, step in enumerate(a.steps, start=1):
            text = getattr(step, lang)
            row.steps.append(
                Step(position=position, language=lang, instruction=text.do, check=text.check, brands=step.brands)
            )
    vectors = embeddings.embed([text for _, _, text in phrases])
    for (lang, kind, text), vector in zip(phrases, vectors, strict=True):
        row.phrases.append(Phrase(language=lang, kind=kind, text=text, embedding=embeddings.to_bytes(vector)))
    return row


def _meta(session: Session, key: str) -> str | None:
    row = session.get(KbMeta, key)
    return row.value if row else None


def _set_meta(session: Session, key: str, value: str) -> None:
    row = session.get(KbMeta, key)
    if row is None:
        session.add(KbMeta(key=key, value=value))
    else:
        row.value = value
