"""Engines and transactions for SQLite and PostgreSQL.

SQLite: WAL journal, foreign keys on, a busy timeout, and every write
transaction opened with ``BEGIN IMMEDIATE``. A plain deferred ``BEGIN`` that
later writes fails at once with 'database is locked' when another writer got
there first, whatever the busy timeout; taking the write lock up front makes the
busy timeout apply. Read-only work opts out with :func:`read` so readers never
queue behind writers.

PostgreSQL: psycopg 3 with a pre-pinged pool.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from nbo_engine.config import Settings, get_settings

__all__ = ["analyze", "dialect_of", "make_engine", "read", "write"]

_ENGINES: dict[str, Engine] = {}


def dialect_of(engine: Engine) -> str:
    """``'sqlite'`` or ``'postgresql'``."""
    return engine.dialect.name


def make_engine(url: str | None = None, settings: Settings | None = None) -> Engine:
    """An engine for ``url`` (default ``NBO_DATABASE_URL``), cached per URL."""
    settings = settings or get_settings()
    url = url or settings.database_url
    cached = _ENGINES.get(url)
    if cached is not None:
        return cached
    parsed = make_url(url)
    engine: Engine
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": 60})
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
    else:
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
        )
    _ENGINES[url] = engine
    return engine


def dispose_all() -> None:
    """Close every cached engine (tests, forked workers)."""
    for engine in _ENGINES.values():
        engine.dispose()
    _ENGINES.clear()


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy's begin event issue BEGIN itself (pysqlite would
        # otherwise open deferred transactions implicitly).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = (
            "IMMEDIATE" if conn.get_execution_options().get("nbo_write", True) else ""
        )
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction (``BEGIN IMMEDIATE`` on SQLite); commits on success."""
    with engine.connect() as conn, conn.begin():
        yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (deferred on SQLite, so it never waits for writers)."""
    with engine.connect().execution_options(nbo_write=False) as conn, conn.begin():
        yield conn


def analyze(engine: Engine, tables: Iterable[str]) -> None:
    """Refresh PostgreSQL's planner statistics of ``tables`` after a bulk load.

    Autovacuum analyses a table only some time after it changed; until then
    the planner guesses a few rows where there are thousands and picks plans
    (scanning a whole snapshot, hashing a whole table) that the decision
    path pays on every request. Only tables of the store's schema are
    analysed (names are never taken from user input). SQLite: nothing to do.
    """
    if engine.dialect.name != "postgresql":
        return
    from nbo_engine.store.tables import metadata

    known = [t for t in dict.fromkeys(tables) if t in metadata.tables]
    if not known:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in known:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
