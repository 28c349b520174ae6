"""The bandit's learning from decision rows and events."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nbo_engine.reports import BanditLearning, Missing, bandit_learning

WEEK = pd.Timestamp("2026-06-01")


def _rows(p: float, n: int = 30, week: str = "2026-06-02") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "decision_id": [f"{week}-{i}" for i in range(n)],
            "ts": pd.Timestamp(week) + pd.to_timedelta(np.arange(n), unit="min"),
            "rank": 1.0,
            "offer_id": ["a", "b", "c"] * (n // 3),
            "propensity": p,
        }
    )


def test_uniform_choices_have_the_entropy_of_a_uniform_distribution() -> None:
    got = bandit_learning(
        _rows(1 / 3),
        pd.DataFrame(columns=["decision_id", "offer_id", "value"]),
        week=WEEK,
        offer_names={},
    )
    assert isinstance(got, BanditLearning)
    row = got.weekly.iloc[0]
    assert row["entropy"] == pytest.approx(math.log(3))  # E[-log 1/3]
    assert row["explore_share"] == 1.0
    sure = bandit_learning(
        _rows(1.0),
        pd.DataFrame(columns=["decision_id", "offer_id", "value"]),
        week=WEEK,
        offer_names={},
    )
    assert isinstance(sure, BanditLearning)
    assert sure.weekly.iloc[0]["entropy"] == pytest.approx(0.0)
    assert sure.weekly.iloc[0]["explore_share"] == 0.0


def test_acceptance_counts_each_offer_once_and_the_mix_compares_weeks() -> None:
    now, before = _rows(0.5), _rows(0.5, n=12, week="2026-05-26")
    before["offer_id"] = "a"
    nothing = pd.DataFrame(
        {
            "decision_id": ["x"],
            "ts": [pd.Timestamp("2026-06-03")],
            "rank": [np.nan],
            "offer_id": [None],
            "propensity": [np.nan],
        }
    )
    rows = pd.concat([now, before, nothing], ignore_index=True)
    d = now["decision_id"]
    events = pd.DataFrame(
        {
            # an accept and a conversion of one offer: one acceptance, its value
            "decision_id": [d[0], d[0], d[1], d[3]],
            "offer_id": ["a", "a", "b", "a"],
            "value": [None, 180.0, 90.0, 50.0],
        }
    )
    got = bandit_learning(
        rows, events, week=WEEK, offer_names={"a": "Offer A"}, rewards_folded=7
    )
    assert isinstance(got, BanditLearning)
    w = got.weekly.set_index("week")
    this = w.loc[WEEK.date()]
    assert (this["decisions"], this["offered"], this["accepted"]) == (31, 30, 3)
    assert this["value"] == pytest.approx(180.0 + 90.0 + 50.0)
    assert this["accept_rate"] == pytest.approx(3 / 30)
    mix = got.offer_mix.set_index("offer")
    assert mix["share"].sum() == pytest.approx(1.0)
    assert mix.loc["a", "share_before"] == 1.0
    assert mix.loc["a", "offer_name"] == "Offer A"
    assert mix.loc["a", "accepted"] == 2
    assert got.rewards_folded == 7


def test_no_decisions_is_explained() -> None:
    got = bandit_learning(
        _rows(0.5).iloc[0:0], pd.DataFrame(), week=WEEK, offer_names={}
    )
    assert isinstance(got, Missing)
    assert got.because == "no live decision was logged in the weeks shown"
