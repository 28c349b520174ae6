"""Sample-ratio mismatch: equals scipy's and gbstats' chi-square, no false alarms
on deliberate uneven splits, catches a real loss of units."""

from __future__ import annotations

import numpy as np
import pytest
from gbstats.gbstats import check_srm
from scipy import stats

from nbo_engine.experiments import assign, planned_split, srm_check

from .conftest import experiment, string_ids


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ([5000, 5100], [0.5, 0.5]),
        ([9480, 520], [0.95, 0.05]),
        ([300, 310, 420], [0.3, 0.3, 0.4]),
    ],
)
def test_matches_scipy_and_gbstats(counts: list[int], shares: list[float]) -> None:
    r = srm_check(counts, shares)
    ref = stats.chisquare(counts, np.asarray(shares) * sum(counts))
    assert float(r.chi2) == pytest.approx(ref.statistic, rel=1e-12)
    assert float(r.p_value) == pytest.approx(ref.pvalue, rel=1e-10)
    assert float(r.p_value) == pytest.approx(check_srm(counts, shares), rel=1e-10)


def test_deliberate_95_5_split_raises_no_false_alarm(rng: np.random.Generator) -> None:
    # 20,000 experiments split 95/5 as planned: alarms at the planned rate 0.001
    counts = rng.multinomial(50_000, [0.95, 0.05], size=20_000)
    r = srm_check(counts, [0.95, 0.05])
    assert r.mismatch.mean() <= 0.003
    # while testing it against 50/50 by mistake would alarm every time
    assert srm_check(counts[:100], [0.5, 0.5]).mismatch.all()


def test_real_assignment_at_95_5_and_ramped_odd_weights() -> None:
    ids = string_ids(300_000)
    for variants, traffic in (
        (
            [
                {"name": "control", "weight": 0.95, "control": True},
                {"name": "b", "weight": 0.05},
            ],
            1.0,
        ),
        (
            [
                {"name": "control", "weight": 1 / 3, "control": True},
                {"name": "a", "weight": 1 / 3},
                {"name": "b", "weight": 1 / 3},
            ],
            0.07,
        ),
    ):
        exp = experiment(variants=variants, traffic=traffic)
        idx = assign(exp, ids)
        counts = np.bincount(idx[idx >= 0], minlength=len(variants))
        assert not bool(srm_check(counts, planned_split(exp)).mismatch)


def test_detects_lost_units() -> None:
    # 3% of the treatment's units lost (e.g. a logging bug in one arm)
    assert bool(srm_check([100_000, 97_000], [0.5, 0.5]).mismatch)


def test_edge_cases() -> None:
    empty = srm_check([0, 0], [0.5, 0.5])
    assert float(empty.p_value) == 1.0
    assert int(empty.reason) == 1
    unplanned = srm_check([100, 5], [1.0, 0.0])
    assert float(unplanned.p_value) == 0.0
    assert bool(unplanned.mismatch)
