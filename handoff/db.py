"""The hub's asynchronous access to the app database (same tables and migrations as bot/)."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """The asyncio driver's URL for a configured DATABASE_URL (aiosqlite for SQLite, psycopg 3 for PostgreSQL)."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    if backend == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    raise ValueError(f"unsupported database for the hub: {backend}")


def make_async_engine(url: str) -> AsyncEngine:
    """An engine for the hub; SQLite gets one shared connection with WAL and foreign keys."""
    target = async_url(url)
    if target.startswith("sqlite"):
        # One connection, handed out in turn: SQLite has one writer at a time anyway, and waiting in the pool's
        # queue is fair and immediate where SQLite's own busy handler would sleep and retry.
        engine = create_async_engine(target, connect_args={"timeout": 30}, pool_size=1, max_overflow=0)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - trivial
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(target, pool_size=20, max_overflow=20, pool_pre_ping=True)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)
