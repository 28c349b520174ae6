"""The simulated bank: deterministic, internally consistent, truth matches files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from nbo_engine.ingest.schemas import PRODUCTS, SCHEMAS
from nbo_engine.simulate import OFFERS, SEGMENTS, SimConfig, simulate_bank
from nbo_engine.simulate.dirt import EXPECTED_REASON
from nbo_engine.simulate.params import TAKE_UP


def test_catalog_is_consistent() -> None:
    assert len(OFFERS) >= 8
    assert all(o.product in PRODUCTS for o in OFFERS)
    assert all(t.product in PRODUCTS for t in TAKE_UP)
    assert abs(sum(s.share for s in SEGMENTS) - 1.0) < 1e-9


def test_same_seed_same_bank(tmp_path: Path) -> None:
    a = simulate_bank(SimConfig(customers=300, weeks=30, seed=3), tmp_path / "a")
    simulate_bank(SimConfig(customers=300, weeks=30, seed=3), tmp_path / "b")
    simulate_bank(SimConfig(customers=300, weeks=30, seed=4), tmp_path / "c")
    for name in a.rows:
        assert (tmp_path / "a" / f"{name}.csv").read_bytes() == (
            tmp_path / "b" / f"{name}.csv"
        ).read_bytes()
    assert (tmp_path / "a" / "transactions.csv").read_bytes() != (
        tmp_path / "c" / "transactions.csv"
    ).read_bytes()


def test_files_follow_the_contract(small_bank: Path) -> None:
    for entity, schema in SCHEMAS.items():
        with (small_bank / f"{entity}.csv").open() as f:
            header = f.readline().strip()
        assert header.replace('"', "").split(",") == list(schema.names)


def test_truth_matches_the_transactions(tmp_path: Path) -> None:
    simulate_bank(SimConfig(customers=500, weeks=52, seed=9, dirt=0.0), tmp_path)
    truth = pd.read_parquet(tmp_path / "truth" / "customers.parquet")
    tx = pd.read_csv(tmp_path / "transactions.csv", parse_dates=["timestamp"])
    counts = tx.groupby("customer_id").size()
    # every customer makes a first purchase; x counts the repeat purchases
    assert (
        counts.reindex(truth["customer_id"]).to_numpy() == truth["x"].to_numpy() + 1
    ).all()
    alive = truth["active_end"] & truth["open_end"]
    assert (truth.loc[~alive, "expected_purchases_52w"] == 0).all()
    assert (truth["churn_prob_90d"].between(0, 1)).all()
    assert (truth.filter(like="propensity_").to_numpy() <= 1).all()


def test_bgnbd_populations_are_the_declared_ones() -> None:
    """Within each segment, purchase rates and dropouts follow the declared
    gamma and beta populations (means within 3 standard errors)."""
    from nbo_engine.simulate.population import draw_population

    rng = np.random.default_rng(0)
    pop = draw_population(rng, SEGMENTS, 0, 0, 60_000, np.datetime64("2025-12-29"), 104)
    for k, s in enumerate(SEGMENTS):
        lam = pop.lam[pop.segment == k]
        p = pop.p_drop[pop.segment == k]
        mean_l = s.r / s.alpha
        sd_l = np.sqrt(s.r) / s.alpha
        assert abs(lam.mean() - mean_l) < 3 * sd_l / np.sqrt(lam.size)
        mean_p = s.a / (s.a + s.b)
        sd_p = np.sqrt(s.a * s.b / ((s.a + s.b) ** 2 * (s.a + s.b + 1)))
        assert abs(p.mean() - mean_p) < 3 * sd_p / np.sqrt(p.size)


def test_manifest_rows_carry_the_dirt(small_bank: Path) -> None:
    manifest = pd.read_csv(small_bank / "truth" / "dirt.csv")
    assert set(manifest["kind"]) <= set(EXPECTED_REASON)
    tx = pd.read_csv(small_bank / "transactions.csv", dtype=str, keep_default_na=False)
    m = manifest[manifest["entity"] == "transactions"]
    for kind, column in [
        ("unknown_currency", "currency"),
        ("amount_as_text", "amount"),
        ("missing_value", None),
    ]:
        rows = m[m["kind"] == kind]
        assert len(rows) > 0
        for _, r in rows.head(20).iterrows():
            row = tx.iloc[int(r["row"]) - 1]
            assert row["transaction_id"] == r["key"]
            value = row[column or r["column"]]
            if kind == "missing_value":
                assert value == ""
            elif kind == "unknown_currency":
                assert value not in ("GBP", "EUR", "USD")
            else:
                assert any(ch in value for ch in ",£") or value.startswith("GBP")


def test_parquet_output(tmp_path: Path) -> None:
    simulate_bank(
        SimConfig(customers=200, weeks=20, seed=1, dirt=0.0), tmp_path, fmt="parquet"
    )
    table = pq.read_table(tmp_path / "transactions.parquet")
    assert (
        table.schema.field("amount").type.id
        != table.schema.field("transaction_id").type.id
    )
    meta = json.loads((tmp_path / "truth" / "params.json").read_text())
    assert meta["config"]["format"] == "parquet"


@pytest.mark.parametrize("dirt", [0.0, 0.05])
def test_dirt_rate(tmp_path: Path, dirt: float) -> None:
    simulate_bank(SimConfig(customers=400, weeks=30, seed=2, dirt=dirt), tmp_path)
    manifest = pd.read_csv(tmp_path / "truth" / "dirt.csv")
    own = manifest[manifest["kind"] != "parent_spoiled"]
    total = sum(len(p.read_bytes().splitlines()) - 1 for p in tmp_path.glob("*.csv"))
    assert abs(len(own) / total - dirt) < 0.01
