"""Importing article files into SQLite and PostgreSQL: add, update, remove, revision, embeddings."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.db import make_engine, make_session_factory, migrate
from bot.kb.files import ArticleFileError
from bot.kb.importer import current_revision, import_articles
from bot.kb.models import Article, Phrase, Step
from tests.conftest import write_article


def _sync_cycle(session, kb_dir):
    write_article(kb_dir, "phone-one")
    write_article(kb_dir, "phone-two")
    first = import_articles(session, kb_dir)
    assert sorted(first.added) == ["phone-one", "phone-two"] and first.revision == 1
    assert import_articles(session, kb_dir).unchanged == 2 and current_revision(session) == 1

    write_article(kb_dir, "phone-one", title={"en": "New title", "de": "Neuer Titel"})
    (kb_dir / "phone-two.yml").unlink()
    report = import_articles(session, kb_dir)
    assert report.updated == ["phone-one"] and report.removed == ["phone-two"] and report.revision == 2
    article = session.get(Article, "phone-one")
    assert {t.language: t.title for t in article.texts} == {"en": "New title", "de": "Neuer Titel"}
    assert session.scalar(select(func.count()).select_from(Article)) == 1
    assert session.scalar(select(func.count()).select_from(Step)) == 2  # one step, two languages
    phrases = session.scalars(select(Phrase)).all()
    assert len(phrases) == 4 and all(len(p.embedding) == 384 * 4 for p in phrases)


def test_import_adds_updates_and_removes_on_sqlite(empty_session, tmp_path):
    _sync_cycle(empty_session, tmp_path)


@pytest.mark.postgres
def test_import_adds_updates_and_removes_on_postgresql(postgres_url, tmp_path):
    migrate(postgres_url)
    engine = make_engine(postgres_url)
    with make_session_factory(engine)() as session:
        _sync_cycle(session, tmp_path)
    engine.dispose()


def test_invalid_file_changes_nothing(empty_session, tmp_path):
    write_article(tmp_path, "phone-one")
    import_articles(empty_session, tmp_path)
    write_article(tmp_path, "phone-bad", title={"en": "no German"})
    with pytest.raises(ArticleFileError):
        import_articles(empty_session, tmp_path)
    assert [a.id for a in empty_session.scalars(select(Article))] == ["phone-one"]
    assert current_revision(empty_session) == 1


def test_real_knowledge_base_is_loaded_in_both_languages(sessions):
    with sessions() as session:
        articles = session.scalars(select(Article)).all()
        assert len(articles) >= 38
        for article in articles:
            assert {t.language for t in article.texts} == {"en", "de"}
            assert len([s for s in article.steps if s.language == "en"]) == len(
                [s for s in article.steps if s.language == "de"]
            )
