"""The playbook per segment."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from nbo_engine.reports import Missing, Playbook, UpliftTable, playbook

AS_OF = dt.date(2026, 5, 31)


def _cells() -> UpliftTable:
    rows = [
        # offer, segment, effect, lo, hi, harmful, helpful
        ("good", "a", 5.0, 1.0, 9.0, False, True),
        ("maybe", "a", 8.0, -2.0, 18.0, False, False),
        ("bad", "a", -4.0, -7.0, -1.0, True, False),
        ("keep", "a", 2.0, -1.0, 5.0, False, False),
        ("keep", "b", -3.0, -5.0, -1.0, True, False),
        ("save", "b", 1.0, -1.0, 3.0, False, False),
    ]
    f = pd.DataFrame(
        rows,
        columns=[
            "offer",
            "segment",
            "effect",
            "ci_low",
            "ci_high",
            "harmful",
            "helpful",
        ],
    )
    f["offer_name"] = f["offer"].str.title()
    f["metric"] = "value"
    return UpliftTable(frame=f, alpha=0.05, min_units=30)


def test_a_segment_gets_what_works_where_it_answers_and_whom_to_keep(
    rng: np.random.Generator,
) -> None:
    n = 2000
    customers = pd.DataFrame(
        {
            "segment": rng.choice(["a", "b"], n),
            "clv_12m": rng.gamma(2.0, 500.0, n),
            "churn_90d": rng.beta(1.5, 6.0, n),
        }
    )
    trend = pd.DataFrame(
        {
            "as_of": [dt.date(2026, 4, 30)] * 2 + [AS_OF] * 2,
            "segment": ["a", "b", "a", "b"],
            "customers": [900, 1000, 1000, 1000],
            "clv_mean": [900.0, 1000.0, 1010.0, 990.0],
            "churn_mean": [0.2, 0.2, 0.2, 0.2],
        }
    )
    channels = pd.DataFrame(
        {
            "segment": ["a", "a", "a", "b"],
            "channel": ["web", "email", "branch", "web"],
            "offered": [100, 50, 5, 10],
            "accepted": [5, 10, 5, 9],
        }
    )
    p = playbook(
        trend,
        customers,
        _cells(),
        channels,
        retention_offers=("keep", "save"),
        min_offered=20,
    )
    assert isinstance(p, Playbook)
    assert p.as_of == AS_OF
    assert [s.segment for s in p.segments] == ["a", "b"]  # largest first, then by name
    a, b = p.segments
    cut = np.quantile(customers["clv_12m"], 0.75)
    assert p.clv_threshold == pytest.approx(cut)
    risky = (customers["clv_12m"] >= cut) & (customers["churn_90d"] >= 0.3)
    assert a.at_risk == int((risky & (customers["segment"] == "a")).sum())
    assert a.at_risk_clv == pytest.approx(
        customers.loc[risky & (customers["segment"] == "a"), "clv_12m"].sum()
    )
    # significant first, never a harmful or losing offer
    assert list(a.offers["offer"]) == ["good", "maybe", "keep"]
    assert list(a.offers["significant"]) == [True, False, False]
    # branch accepts most but made too few offers to be named
    assert (a.channel, a.channel_accept_rate, a.channel_offered) == ("email", 0.2, 50)
    assert b.channel is None
    # a retention offer harmful in the segment is not suggested there
    assert a.retention_offers == ("keep", "save")
    assert b.retention_offers == ("save",)
    assert list(a.trend["customers"]) == [900, 1000]
    assert a.share == pytest.approx(0.5)


def test_without_a_snapshot_the_playbook_says_so() -> None:
    empty = pd.DataFrame(
        columns=["as_of", "segment", "customers", "clv_mean", "churn_mean"]
    )
    got = playbook(empty, pd.DataFrame(), Missing("x"), pd.DataFrame())
    assert got == Missing("no score snapshot succeeded before the week ended")
