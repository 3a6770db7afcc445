"""Shared fixtures: real SQLite and PostgreSQL databases, migrated and loaded through the public API."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.db import make_engine, make_session_factory, migrate
from bot.kb.importer import import_articles
from bot.kb.service import KnowledgeBase
from bot.settings import PROJECT_DIR

KB_DIR = PROJECT_DIR / "data" / "kb"
E2E_SCOPE = "tests/e2e/"  # node ids start with the path from the project directory
POSTGRES_ADMIN = os.environ.get("TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`pytest -n 2` runs the tests in 2 processes (pytest-xdist); this says which tests stay together.
    The end-to-end and browser tests share one Rasa server, action server and hub on fixed ports: they all run in
    one process, one after the other, starting first (they take longest). Every other module runs whole in one
    process, so its module fixtures are built once."""
    from xdist.scheduler import LoadScopeScheduling

    class E2ETogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return E2E_SCOPE if nodeid.startswith(E2E_SCOPE) else nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node) -> None:
            if E2E_SCOPE in self.workqueue:
                self.workqueue.move_to_end(E2E_SCOPE, last=False)
            super()._assign_work_unit(node)

    return E2ETogether(config, log)


def _postgres_reason() -> str | None:
    """None if the local PostgreSQL (or DATABASE_URL's) is reachable, else why not."""
    try:
        with psycopg.connect(POSTGRES_ADMIN, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL not reachable at {POSTGRES_ADMIN}: {exc}".splitlines()[0]


def postgres_database() -> Iterator[str]:
    reason = _postgres_reason()
    if reason:
        pytest.skip(reason)
    name = f"support_test_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def loaded_db_url(request, tmp_path_factory) -> Iterator[str]:
    """A migrated database (SQLite file and local PostgreSQL) with the real knowledge base imported."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'kb.db'}"
        migrate(url)
        _import(url)
        yield url
    else:
        for url in postgres_database():
            migrate(url)
            _import(url)
            yield url


def _import(url: str) -> None:
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        import_articles(session, KB_DIR)
    engine.dispose()


@pytest.fixture(scope="session")
def sessions(loaded_db_url) -> Iterator[sessionmaker]:
    engine = make_engine(loaded_db_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def knowledge_base(sessions) -> KnowledgeBase:
    return KnowledgeBase(sessions)


@pytest.fixture
def empty_db_url(tmp_path) -> str:
    """A fresh, migrated SQLite database."""
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    migrate(url)
    return url


@pytest.fixture
def empty_session(empty_db_url) -> Iterator[Session]:
    engine = make_engine(empty_db_url)
    with make_session_factory(engine)() as session:
        yield session
    engine.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    yield from postgres_database()


def write_article(directory: Path, article_id: str = "phone-test-article", **overrides) -> Path:
    """Write a minimal valid article file (fields overridable) and return its path."""
    import yaml

    data = {
        "id": article_id,
        "category": "phone",
        "topic": "test_topic",
        "handoff": "after_steps",
        "priority": "normal",
        "title": {"en": "Test title", "de": "Testtitel"},
        "symptoms": {"en": ["the phone beeps all the time"], "de": ["das Handy piept ständig"]},
        "steps": [
            {
                "en": {"do": "Switch it off.", "check": "It stops beeping."},
                "de": {"do": "Schalten Sie es aus.", "check": "Es piept nicht mehr."},
            }
        ],
    }
    data.update(overrides)
    path = directory / f"{article_id}.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path
