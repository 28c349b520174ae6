"""Fixtures: a small simulated bank, ingested and scored once per backend.

``bank_engine`` is a store (SQLite and PostgreSQL, like the ``engine``
fixture) holding a 1,500-customer bank, one score snapshot made by the real
score job, and ``policies/catalog.yaml`` published into the live slot. It is
built once per backend per session (~12 s each); tests that change the live
slot restore it (``serving``), and each test decides for its own customers
so the contact history of one test does not leak into another.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import create_engine, text

from nbo_engine.ingest import ingest_dir
from nbo_engine.jobs.score import refresh_scores
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.store import Engine, make_engine, migrate
from nbo_engine.store import scores as score_store
from nbo_engine.store.engine import dispose_all
from nbo_engine.store.policies import activate_version, publish_policy, read_slots
from tests.conftest import BACKENDS, PG_URL, _pg_schema_url

CATALOG = Path(__file__).resolve().parents[1] / "policies" / "catalog.yaml"
#: A day inside every catalogue offer's dates (travel insurance: March-September).
NOW_ISO = "2026-04-15T11:00:00+00:00"


@pytest.fixture(scope="session")
def decisioning_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("decisioning_bank")
    simulate_bank(SimConfig(customers=1500, weeks=78, seed=3, dirt=0.0), out)
    return out


@contextlib.contextmanager
def scored_store(
    backend: str, tmp_path_factory: pytest.TempPathFactory, bank: Path
) -> Iterator[str]:
    """A new store on ``backend`` holding ``bank`` ingested and scored, with
    the catalogue live; its URL for the block (dropped after on PostgreSQL)."""
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('decisioning_db') / 'nbo.db'}"
    else:
        schema = f"t_dec_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = _pg_schema_url(schema)
    e = make_engine(url)
    migrate.upgrade(e)
    ingest_dir(bank, engine=e)
    refresh_scores(e, train_sample=1000, churn_families=("logistic", "lightgbm"))
    publish_policy(e, CATALOG.read_text(), "retail_default", activate="live")
    try:
        yield url
    finally:
        dispose_all()
        if schema is not None:
            admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def bank_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    decisioning_bank: Path,
) -> Iterator[str]:
    """URL of a scored store with the catalogue live, per backend."""
    with scored_store(request.param, tmp_path_factory, decisioning_bank) as url:
        yield url


@pytest.fixture
def bank_engine(bank_url: str) -> Engine:
    return make_engine(bank_url)


class Customers:
    """Hands out customer ids of the snapshot, each to one test only."""

    def __init__(self, ids: list[str]) -> None:
        self._ids = ids
        self._next = 0

    def take(self, n: int = 1) -> list[str]:
        got = self._ids[self._next : self._next + n]
        self._next += n
        assert len(got) == n, "the test bank ran out of fresh customers"
        return got


_CUSTOMERS: dict[str, Customers] = {}


@pytest.fixture
def customers(bank_engine: Engine, bank_url: str) -> Customers:
    if bank_url not in _CUSTOMERS:
        snap = score_store.latest_snapshot(bank_engine)
        assert snap is not None
        frame = score_store.snapshot_scores(
            bank_engine, int(snap["id"]), ["do_not_contact", "marketing_consent"]
        )
        ok = frame[
            (frame["do_not_contact"] == False)  # noqa: E712
            & (frame["marketing_consent"] == True)  # noqa: E712
        ]
        _CUSTOMERS[bank_url] = Customers(sorted(map(str, ok.index)))
    return _CUSTOMERS[bank_url]


def catalog_with(*, plain_offers: bool = False, **changes: Any) -> str:
    """The catalogue YAML with top-level keys replaced (``name``, ``bandit``,
    ``contact``, ``arbitration``...). ``plain_offers`` drops the offers' own
    contact limits and end dates (so the policy-wide rules alone apply)."""
    data = yaml.safe_load(CATALOG.read_text())
    if plain_offers:
        for offer in data["offers"]:
            offer.pop("contact", None)
            offer.pop("end", None)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return yaml.safe_dump(data, sort_keys=False)


@contextlib.contextmanager
def serving(engine: Engine, spec_text: str, slot: str = "live") -> Iterator[int]:
    """Publish ``spec_text`` into ``slot`` for the duration of the block."""
    before = read_slots(engine)[slot]
    name = yaml.safe_load(spec_text)["name"]
    version = publish_policy(engine, spec_text, name, activate=slot)
    try:
        yield version
    finally:
        activate_version(engine, before, slot, reason="test restore")
