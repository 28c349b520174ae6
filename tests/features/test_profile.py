"""The customer profile: no leakage, correct aggregates, sentiment vs the truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from nbo_engine.errors import DataValidationError
from nbo_engine.features import build_features, score_notes
from nbo_engine.features.lifestage import LIFE_STAGES

AS_OF = pd.Timestamp("2025-08-31")
TIME_COLUMNS = {
    "customers": "join_date",
    "accounts": "open_date",
    "balances": "month_end",
    "transactions": "timestamp",
    "digital_events": "timestamp",
    "interactions": "timestamp",
    "bureau": "as_of",
    "campaign_history": "contact_date",
    "market": "week_start",
}


def _truncate(
    tables: dict[str, pd.DataFrame], day: pd.Timestamp
) -> dict[str, pd.DataFrame]:
    """Every table as it stood at the end of ``day`` (rows and later updates)."""
    end = day + pd.Timedelta(days=1)
    out = {}
    for name, frame in tables.items():
        f = frame[pd.to_datetime(frame[TIME_COLUMNS[name]]) < end].copy()
        if name == "accounts":
            late = pd.to_datetime(f["close_date"]) >= end
            f.loc[late, "close_date"] = pd.NaT
        if name == "campaign_history":
            late = pd.to_datetime(f["conversion_date"]) >= end
            f.loc[late, ["converted"]] = False
            f.loc[late, "conversion_date"] = pd.NaT
        out[name] = f
    return out


def test_no_leakage(bank_tables: dict[str, pd.DataFrame]) -> None:
    """Features from the full store equal features from the store as it was."""
    full = build_features(bank_tables, AS_OF)
    past = build_features(_truncate(bank_tables, AS_OF), AS_OF)
    assert list(full.index) == list(past.index)
    pd.testing.assert_frame_equal(full, past, check_exact=False, rtol=1e-9)


def test_rfm_matches_a_direct_computation(bank_tables: dict[str, pd.DataFrame]) -> None:
    f = build_features(bank_tables, AS_OF)
    tx = bank_tables["transactions"]
    tx = tx[tx["timestamp"] < AS_OF + pd.Timedelta(days=1)]
    age = (AS_OF + pd.Timedelta(days=1) - tx["timestamp"]) / pd.Timedelta(days=1)
    recent = tx[age <= 90].groupby("customer_id")["amount"].agg(["size", "sum"])
    got = f[["rfm_count_90", "rfm_sum_90"]].join(recent, how="left").fillna(0)
    np.testing.assert_allclose(got["rfm_count_90"], got["size"])
    np.testing.assert_allclose(got["rfm_sum_90"], got["sum"], rtol=1e-9)
    last = tx.groupby("customer_id")["timestamp"].max()
    rec = ((AS_OF + pd.Timedelta(days=1) - last) / pd.Timedelta(days=1)).reindex(
        f.index
    )
    np.testing.assert_allclose(f["rfm_recency_days"], rec, rtol=1e-9)


def test_holdings_and_life_stage(
    bank_tables: dict[str, pd.DataFrame], small_bank: Path
) -> None:
    f = build_features(bank_tables, "2025-12-28")
    truth = (
        pd.read_parquet(small_bank / "truth" / "customers.parquet")
        .set_index("customer_id")
        .reindex(f.index)
    )
    # Life stage is the bank's rule on observables: equals the simulator's.
    assert (f["life_stage"] == truth["life_stage"]).mean() > 0.99
    assert set(f["life_stage"]) <= set(LIFE_STAGES)
    held = f[[c for c in f.columns if c.startswith("held_")]].sum(axis=1)
    assert (held == f["n_products"]).all()
    open_end = truth["open_end"].fillna(False).astype(bool)
    assert (f.loc[~open_end, "n_products"] == 0).mean() > 0.99


def test_sentiment_agrees_with_the_truth(small_bank: Path) -> None:
    """VADER against the simulator's known note sentiment (levels -2..2). The
    simulator's notes use plain sentiment words, so we expect near-monotone
    agreement: Spearman >= 0.85 and the right sign on >= 95% of non-neutral
    notes (measured about 0.95 and 1.00)."""
    notes = pd.read_csv(
        small_bank / "interactions.csv", dtype=str, keep_default_na=False
    )
    truth = pd.read_parquet(small_bank / "truth" / "interactions.parquet")
    m = notes.merge(truth, on="interaction_id")
    s = score_notes(m["note"].to_numpy(dtype=object))
    level = m["sentiment_level"].to_numpy()
    assert spearmanr(s, level).statistic >= 0.85
    nz = level != 0
    assert (np.sign(s[nz]) == np.sign(level[nz])).mean() >= 0.95


def test_missing_customers_table_is_named() -> None:
    with pytest.raises(DataValidationError, match="table 'customers' is missing"):
        build_features({}, AS_OF)


def test_customers_not_yet_joined_are_left_out(
    bank_tables: dict[str, pd.DataFrame],
) -> None:
    early = build_features(bank_tables, "2024-06-30")
    late = build_features(bank_tables, "2025-12-28")
    assert len(early) < len(late)
    joined = pd.to_datetime(
        bank_tables["customers"].set_index("customer_id")["join_date"]
    )
    assert (joined.reindex(early.index) <= pd.Timestamp("2024-06-30")).all()
