"""Holdout metrics: definitions, ties, invariances."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import spearmanr

from nbo_engine.scoring import (
    decile_mape,
    holdout_metrics,
    normalized_gini,
    spearman,
    top_decile_share,
)


def test_gini_perfect_random_and_reversed(clv_seed: int) -> None:
    rng = np.random.default_rng(clv_seed)
    y = rng.gamma(0.3, 100, 2000) * (rng.random(2000) < 0.6)
    assert normalized_gini(y, y) == pytest.approx(1.0)
    assert normalized_gini(y, 3 * y + 7) == pytest.approx(1.0)  # ranking only
    assert normalized_gini(y, np.zeros_like(y)) == pytest.approx(0.0, abs=1e-12)
    assert normalized_gini(y, -y) < -0.5
    # random predictions: Gini near 0 (sd about 1 / sqrt(n))
    assert abs(normalized_gini(y, rng.random(2000))) < 0.1


def test_gini_ties_do_not_depend_on_input_order() -> None:
    y = np.array([5.0, 0, 0, 3, 0, 9, 1, 0])
    pred = np.array([1.0, 1, 0, 2, 0, 2, 1, 0])
    order = np.random.default_rng(0).permutation(8)
    assert normalized_gini(y, pred) == pytest.approx(
        normalized_gini(y[order], pred[order])
    )
    assert top_decile_share(y, pred) == pytest.approx(
        top_decile_share(y[order], pred[order])
    )


def test_top_decile_share() -> None:
    y = np.arange(100, dtype=float)
    assert top_decile_share(y, y) == pytest.approx(sum(range(90, 100)) / y.sum())
    assert top_decile_share(y, np.zeros(100)) == pytest.approx(0.1)


def test_decile_mape_follows_wang_et_al() -> None:
    """Ten equal groups by prediction; mean |pred - actual| / actual."""
    rng = np.random.default_rng(1)
    y = rng.gamma(1.0, 50, 1000)
    assert decile_mape(y, y) == pytest.approx(0.0)
    assert decile_mape(y, 1.2 * y) == pytest.approx(0.2)
    assert decile_mape(y, np.zeros(1000)) == pytest.approx(1.0)
    assert math.isnan(decile_mape(np.zeros(1000), y))


def test_spearman_matches_scipy_and_is_nan_for_constants() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=300), rng.normal(size=300)
    b = np.round(a + b, 1)
    assert spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, rel=1e-12)
    assert math.isnan(spearman(a, np.ones(300)))


def test_holdout_metrics_keys_and_aggregates() -> None:
    m = holdout_metrics(
        np.array([0.0, 2, 1]),
        np.array([0.0, 20, 5]),
        np.array([1.0, 1, 1]),
        np.array([2.0, 8, 6]),
    )
    assert m["purchases_mae"] == pytest.approx(2 / 3)
    assert m["purchases_predicted"] == 3.0
    assert m["purchases_actual"] == 3.0
    assert m["revenue_mae"] == pytest.approx((2 + 12 + 1) / 3)
    assert set(m) == {
        "purchases_mae",
        "purchases_predicted",
        "purchases_actual",
        "revenue_mae",
        "revenue_predicted",
        "revenue_actual",
        "spearman",
        "normalized_gini",
        "decile_mape",
        "top_decile_revenue_share",
    }
