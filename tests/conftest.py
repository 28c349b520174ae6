"""Shared fixtures: a migrated store on SQLite and on PostgreSQL, simulated banks.

Every test that takes ``engine`` runs twice, once per backend. PostgreSQL tests
use a fresh schema in the ``test`` database (search_path set through the URL, so
subprocesses given the URL see the same schema) and drop it afterwards. Set
``NBO_TEST_BACKENDS=sqlite`` to run SQLite only on a machine without PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from nbo_engine.config import get_settings
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.store import Engine, make_engine, migrate
from nbo_engine.store.engine import dispose_all

#: The scored bank with the catalogue live (decisioning and API tests).
pytest_plugins = ("tests.scored_bank",)

PG_URL = os.environ.get(
    "NBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = os.environ.get("NBO_TEST_BACKENDS", "sqlite,postgresql").split(",")


def _pg_schema_url(schema: str) -> str:
    return f"{PG_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database URL for one test, per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'nbo.db'}"
        dispose_all()
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # pragma: no cover - environment problem
        pytest.fail(
            f"PostgreSQL at {PG_URL} is not reachable ({exc}); start it with "
            "`make postgres` or set NBO_TEST_BACKENDS=sqlite"
        )
    try:
        yield _pg_schema_url(schema)
    finally:
        dispose_all()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A migrated store."""
    e = make_engine(db_url)
    migrate.upgrade(e)
    return e


@pytest.fixture(autouse=True)
def _settings_isolation(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("NBO_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def small_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1,500-customer bank, one year, 3% dirt (CSV)."""
    out = tmp_path_factory.mktemp("small_bank")
    simulate_bank(
        SimConfig(customers=1500, weeks=52, seed=11, dirt=0.03, chunk_customers=800),
        out,
    )
    return out


@pytest.fixture(scope="session")
def medium_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20,000-customer bank, two years, 2% dirt (CSV), for accuracy checks."""
    out = tmp_path_factory.mktemp("medium_bank")
    simulate_bank(SimConfig(customers=20_000, weeks=104, seed=5, dirt=0.02), out)
    return out
