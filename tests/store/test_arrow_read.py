"""Fast Arrow reads equal plain SQLAlchemy reads, on both backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from nbo_engine.ingest import ingest_dir
from nbo_engine.store import Engine, read
from nbo_engine.store.queries import INPUT_TABLES, read_table
from nbo_engine.store.tables import metadata


@pytest.fixture
def loaded(engine: Engine, small_bank: Path) -> Engine:
    ingest_dir(small_bank, engine=engine)
    return engine


def _plain(engine: Engine, name: str) -> pd.DataFrame:
    """The table through SQLAlchemy's own type processing, the reference."""
    table = metadata.tables[name]
    with read(engine) as conn:
        rows = conn.execute(select(table)).all()
    frame = pd.DataFrame(rows, columns=[c.name for c in table.c])
    for c in table.c:
        kind = type(c.type).__name__.lower()
        if "date" in kind or "time" in kind:
            frame[c.name] = pd.to_datetime(frame[c.name])
    return frame


def _same(a: pd.DataFrame, b: pd.DataFrame, key: list[str]) -> None:
    a = a.sort_values(key).reset_index(drop=True)
    b = b.sort_values(key).reset_index(drop=True)
    assert list(a.columns) == list(b.columns)
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_datetime64_any_dtype(y):
            assert (pd.to_datetime(x).values == pd.to_datetime(y).values).sum() + (
                x.isna() & y.isna()
            ).sum() == len(x), c
        elif pd.api.types.is_float_dtype(y):
            np.testing.assert_allclose(x.astype(float), y.astype(float), err_msg=c)
        else:
            xs = x.astype(object).where(x.notna(), None).tolist()
            ys = y.astype(object).where(y.notna(), None).tolist()
            assert [None if v is None else str(v) for v in xs] == [
                None if v is None else str(v) for v in ys
            ], c


KEYS = {
    "market": ["week_start"],
    "customers": ["customer_id"],
    "accounts": ["account_id"],
    "balances": ["account_id", "month_end"],
    "transactions": ["transaction_id"],
    "digital_events": ["event_id"],
    "interactions": ["interaction_id"],
    "bureau": ["customer_id", "as_of"],
    "campaign_history": ["contact_id"],
}


def test_every_input_table_reads_exactly(loaded: Engine) -> None:
    assert set(KEYS) == set(INPUT_TABLES)
    for name in INPUT_TABLES:
        fast = read_table(loaded, name)
        assert len(fast) > 0, name
        _same(fast, _plain(loaded, name), KEYS[name])


def test_customer_ids_and_ranges_select_the_same_rows(loaded: Engine) -> None:
    ids = read_table(loaded, "customers", columns=["customer_id"])["customer_id"]
    some = sorted(ids.sample(200, random_state=1).tolist())
    for name in ("transactions", "balances", "accounts"):
        chosen = read_table(loaded, name, customer_ids=some)
        whole = read_table(loaded, name)
        if name == "balances":
            owner = read_table(
                loaded, "accounts", columns=["account_id", "customer_id"]
            )
            whole = whole.merge(owner, on="account_id")
            expected = whole[whole["customer_id"].isin(some)].drop(
                columns="customer_id"
            )
        else:
            expected = whole[whole["customer_id"].isin(some)]
        _same(chosen, expected.reset_index(drop=True), KEYS[name])
        lo, hi = some[10], some[50]
        ranged = read_table(loaded, name, customer_range=(lo, hi))
        assert len(ranged) > 0
    assert read_table(loaded, "transactions", customer_ids=[]).empty
    with pytest.raises(ValueError, match="market has no customer"):
        read_table(loaded, "market", customer_ids=some)
