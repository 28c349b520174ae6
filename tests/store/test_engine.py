"""Engine behaviour: SQLite pragmas, BEGIN IMMEDIATE, PostgreSQL pool settings."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from nbo_engine.config import load_settings
from nbo_engine.errors import ConfigError
from nbo_engine.store import make_engine, read, write
from nbo_engine.store.engine import dispose_all


def test_sqlite_pragmas(tmp_path: Path) -> None:
    e = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with read(e) as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    dispose_all()


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    """A second writer waits for the first (BEGIN IMMEDIATE + busy timeout)
    rather than failing with 'database is locked' when it first writes."""
    e = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with write(e) as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
    holding = threading.Event()
    done: list[float] = []

    def first() -> None:
        with write(e) as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
            holding.set()
            time.sleep(0.5)

    def second() -> None:
        holding.wait()
        t0 = time.perf_counter()
        with write(e) as conn:
            # A deferred BEGIN would have read first and failed on this write.
            n = conn.execute(text("SELECT count(*) FROM t")).scalar()
            conn.execute(text("INSERT INTO t VALUES (:v)"), {"v": int(n or 0) + 1})
        done.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert done
    assert done[0] >= 0.3
    with read(e) as conn:
        assert sorted(conn.execute(text("SELECT v FROM t")).scalars()) == [1, 2]
    dispose_all()


def test_readers_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    e = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with write(e) as conn:
        conn.execute(text("CREATE TABLE t (v INTEGER)"))
        conn.execute(text("INSERT INTO t VALUES (1)"))
    with write(e) as w:
        w.execute(text("INSERT INTO t VALUES (2)"))
        t0 = time.perf_counter()
        with read(e) as r:
            assert r.execute(text("SELECT count(*) FROM t")).scalar() == 1
        assert time.perf_counter() - t0 < 1.0
    dispose_all()


def test_postgres_engine_pre_pings(db_url: str) -> None:
    e = make_engine(db_url)
    if e.dialect.name == "postgresql":
        assert e.pool._pre_ping  # type: ignore[attr-defined]
    with read(e) as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("mysql://root@localhost/x", "unsupported database 'mysql'"),
        ("postgresql://u@h/db", "must use the psycopg 3 driver"),
    ],
)
def test_settings_reject_unsupported_urls(url: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_settings(database_url=url)


def test_settings_name_the_bad_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NBO_DB_POOL_SIZE", "0")
    with pytest.raises(ConfigError, match="NBO_DB_POOL_SIZE: Input should be greater"):
        load_settings()
