"""Transaction log -> RFM summary, against lifetimes' own summariser."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifetimes.datasets import load_dataset
from lifetimes.utils import calibration_and_holdout_data

from nbo_engine.scoring import calibration_holdout, normalize_transactions, summarize
from nbo_engine.scoring.rfm import period_index


@pytest.fixture(scope="module")
def cdnow_log() -> pd.DataFrame:
    tx = load_dataset("CDNOW_master.txt", header=None, sep=r"\s+", skiprows=1)
    tx.columns = ["customer_id", "date", "qty", "amount"]
    tx["date"] = pd.to_datetime(tx["date"].astype(str), format="%Y%m%d")
    tx["customer_id"] = tx["customer_id"].astype(str)
    return tx


@pytest.mark.parametrize("freq", ["D", "W"])
def test_calibration_and_holdout_equal_lifetimes(
    cdnow_log: pd.DataFrame, freq: str
) -> None:
    h = calibration_holdout(
        normalize_transactions(cdnow_log),
        np.datetime64("1997-09-30"),
        np.datetime64("1998-06-30"),
        freq,
    )
    ref = calibration_and_holdout_data(
        cdnow_log,
        "customer_id",
        "date",
        calibration_period_end="1997-09-30",
        observation_period_end="1998-06-30",
        freq=freq,
        monetary_value_col="amount",
    )
    ref = ref.loc[h.calibration.customer_id]
    s = h.calibration
    np.testing.assert_array_equal(s.frequency, ref["frequency_cal"])
    np.testing.assert_array_equal(s.recency, ref["recency_cal"])
    np.testing.assert_array_equal(s.T, ref["T_cal"])
    np.testing.assert_allclose(s.monetary_value, ref["monetary_value_cal"], rtol=1e-12)
    np.testing.assert_array_equal(h.holdout_purchases, ref["frequency_holdout"])
    assert h.duration == ref["duration_holdout"].iloc[0]
    mask = (cdnow_log["date"] > "1997-09-30") & (cdnow_log["date"] <= "1998-06-30")
    revenue = cdnow_log[mask].groupby("customer_id")["amount"].sum()
    np.testing.assert_allclose(
        h.holdout_revenue,
        revenue.reindex(s.customer_id).fillna(0).to_numpy(),
        rtol=1e-12,
    )


def test_weeks_are_monday_to_sunday_like_pandas_periods() -> None:
    days = pd.date_range("2024-12-20", "2025-01-20", freq="D")
    ours = period_index(days.to_numpy(), "W")
    theirs = days.to_period("W")
    # equal days share a period exactly when pandas' weekly periods agree
    same_ours = ours[1:] == ours[:-1]
    same_theirs = np.asarray(theirs[1:] == theirs[:-1])
    np.testing.assert_array_equal(same_ours, same_theirs)


def test_purchases_in_one_period_count_once() -> None:
    log = pd.DataFrame(
        {
            "customer_id": ["a"] * 4,
            "date": pd.to_datetime(
                ["2025-01-06", "2025-01-07", "2025-01-12", "2025-01-13"]
            ),
            "amount": [1.0, 2.0, 3.0, 4.0],
        }
    )
    s = summarize(
        log, np.datetime64("2025-01-20"), "W"
    )  # Mon 6th .. Sun 12th, Mon 13th
    assert (s.frequency[0], s.recency[0], s.T[0], s.monetary_value[0]) == (1, 1, 2, 4.0)
    d = summarize(log, np.datetime64("2025-01-20"), "D")
    assert (d.frequency[0], d.recency[0], d.T[0]) == (3, 7, 14)
