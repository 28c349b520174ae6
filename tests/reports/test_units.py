"""Units and their outcome windows, built by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbo_engine.reports import segment_from_context, unit_outcomes, units_from_decisions


def test_units_take_the_first_decision() -> None:
    d = pd.DataFrame(
        {
            "decision_id": ["d1", "d1", "d2", "d3", "d4"],
            "customer_id": ["A", "A", "A", "B", "C"],
            "ts": pd.to_datetime(
                [
                    "2026-06-02 10:00",
                    "2026-06-02 10:00",
                    "2026-06-01 09:00",
                    "2026-06-03 00:00",
                    "2026-06-04 00:00",
                ]
            ),
            "experiment": [None, None, None, "global_holdout", "ab"],
            "segment": ["x", "x", "y", "x", None],
            "offer_id": ["o1", "o2", None, None, "o1"],
        }
    )
    u = units_from_decisions(d, {"o1": 1.5, "o2": 0.5}).set_index("customer_id")
    assert u.loc["A", "first_ts"] == pd.Timestamp("2026-06-01 09:00")
    assert u.loc["A", "segment"] == "y"  # of the first decision
    assert u.loc["A", "decisions"] == 2
    assert u.loc["A", "cost"] == pytest.approx(2.0)
    assert u.loc["B", "arm"] == "holdout"
    assert u.loc["C", "arm"] == "treated"  # an experiment is still the programme
    assert u.loc["C", "segment"] == "(unknown)"


def test_outcomes_count_inside_the_window_only() -> None:
    units = pd.DataFrame(
        {
            "customer_id": ["A", "B"],
            "first_ts": pd.to_datetime(["2026-06-03 10:00", "2026-05-01 12:00"]),
            "arm": ["treated", "holdout"],
            "segment": "s",
            "cost": [1.0, 0.0],
        }
    )
    o = pd.DataFrame(
        {
            "customer_id": ["A", "A", "A", "A", "A", "B", "B"],
            "ts": pd.to_datetime(
                [
                    "2026-06-03 00:00",  # the day of the first decision: counts
                    "2026-06-02 23:00",  # before it: no
                    "2026-06-09 00:00",  # after the observation ends: no
                    "2026-06-05 00:00",  # complaint: counts
                    "2026-06-06 00:00",  # churn: counts
                    "2026-06-01 00:00",  # B: more than 30 days after its decision: no
                    "2026-05-20 00:00",  # B: a complaint inside its window
                ]
            ),
            "outcome": [
                "product_open",
                "product_open",
                "product_open",
                "complaint",
                "churn",
                "product_open",
                "complaint",
            ],
            "product": [
                "savings",
                "mortgage",
                "credit_card",
                None,
                None,
                "savings",
                None,
            ],
        }
    )
    got = unit_outcomes(
        units,
        o,
        until=pd.Timestamp("2026-06-08"),
        attribution_days=30,
        product_value={"savings": 90.0, "mortgage": 1500.0, "credit_card": 250.0},
        clv=pd.Series({"A": 400.0}),
    ).set_index("customer_id")
    assert got.loc["A", "conv:savings"] == 1.0
    assert got.loc["A", "conv:mortgage"] == 0.0
    assert got.loc["A", "conv:credit_card"] == 0.0
    assert got.loc["A", "complaints"] == 1.0
    assert got.loc["A", "churned"] == 1.0
    # 90 taken up - 1 offer cost - 400 of CLV lost
    assert got.loc["A", "value"] == pytest.approx(90.0 - 1.0 - 400.0)
    assert got.loc["B", "converted"] == 0.0
    assert got.loc["B", "complaints"] == 1.0
    assert got.loc["B", "clv"] == 0.0  # no score: nothing to lose


def test_segment_from_context_reads_the_one_hot() -> None:
    got = segment_from_context(
        ["[1, 0, 0, 1]", "not json", "[1, 1]", "[1, 0, 0, 0]"], ["a", "b", "c"]
    )
    assert got.tolist() == ["c", None, None, None]
    assert segment_from_context(["[1, 1]"], []).tolist() == [None]
    assert np.asarray(segment_from_context([], ["a"])).size == 0
