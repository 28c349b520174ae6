"""Bulk upserts count inserted, updated and unchanged rows on both backends."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from sqlalchemy import text

from nbo_engine.store import Engine, write
from nbo_engine.store.bulk import BulkWriter

COLUMNS = ["week_start", "policy_rate", "unemployment_rate", "house_price_index"]


def _batch(rates: list[float]) -> pa.Table:
    weeks = [dt.date(2024, 1, 1) + dt.timedelta(weeks=i) for i in range(len(rates))]
    return pa.table(
        {
            "week_start": pa.array(weeks, pa.date32()),
            "policy_rate": rates,
            "unemployment_rate": [4.0] * len(rates),
            "house_price_index": [100.0] * len(rates),
        }
    )


def _load(engine: Engine, batch: pa.Table, split: int = 2) -> tuple[int, int, int]:
    with write(engine) as conn:
        w = BulkWriter(conn, "market", COLUMNS, ["week_start"])
        w.add(batch.slice(0, split))
        w.add(batch.slice(split))
        c = w.finish()
    return c.inserted, c.updated, c.unchanged


def test_insert_update_unchanged(engine: Engine) -> None:
    assert _load(engine, _batch([5.0, 5.0, 4.75, 4.5])) == (4, 0, 0)
    assert _load(engine, _batch([5.0, 5.0, 4.75, 4.5])) == (0, 0, 4)
    assert _load(engine, _batch([5.0, 5.25, 4.75, 4.5, 4.25])) == (1, 1, 3)
    with engine.connect() as conn:
        rates = (
            conn.execute(text("SELECT policy_rate FROM market ORDER BY week_start"))
            .scalars()
            .all()
        )
    assert rates == [5.0, 5.25, 4.75, 4.5, 4.25]


def test_failure_inside_the_transaction_leaves_nothing(engine: Engine) -> None:
    def load_then_fail() -> None:
        with write(engine) as conn:
            w = BulkWriter(conn, "market", COLUMNS, ["week_start"])
            w.add(_batch([1.0, 2.0]))
            w.finish()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        load_then_fail()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM market")).scalar() == 0
