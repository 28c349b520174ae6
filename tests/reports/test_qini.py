"""Qini curves: the house curve, thinned, and a ranking by the true uplift
beats a random one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbo_engine.evaluation.metrics import qini_curve
from nbo_engine.reports import Missing, QiniCurves, qini_curves, thin_curve


def _frame(
    rng: np.random.Generator, n: int = 4000
) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"C{i}" for i in range(n)]
    moved = rng.random(n) < 0.5  # half the customers respond to the programme
    treated = rng.random(n) < 0.7
    y = (rng.random(n) < 0.05 + 0.25 * (moved & treated)).astype(float)
    outcomes = pd.DataFrame(
        {"customer_id": ids, "arm": np.where(treated, "treated", "holdout"), "value": y}
    )
    scores = pd.DataFrame(
        {
            "customer_id": ids,
            "true uplift": moved + rng.normal(0, 0.1, n),
            "random": rng.random(n),
        }
    )
    return outcomes, scores


def test_the_true_ranking_beats_a_random_one(rng: np.random.Generator) -> None:
    outcomes, scores = _frame(rng)
    q = qini_curves(outcomes, scores)
    assert isinstance(q, QiniCurves)
    # Half the customers carry all the uplift. At n = 400,000 the split
    # scores 0.31 of the best ranking the outcomes allow and a random ranking
    # 0.00; at n = 4,000 both vary with a standard deviation near 0.03, so
    # the bounds sit more than 3 of them away.
    assert q.coefficients["true uplift"] > 0.2
    assert abs(q.coefficients["random"]) < 0.12
    assert q.n_treated + q.n_control == len(outcomes)


def test_curves_are_the_evaluation_curves(rng: np.random.Generator) -> None:
    outcomes, scores = _frame(rng, n=150)
    q = qini_curves(outcomes, scores, points=500)
    assert isinstance(q, QiniCurves)
    t = (outcomes["arm"] == "treated").to_numpy(int)
    ref = qini_curve(outcomes["value"], t, scores["true uplift"])
    np.testing.assert_array_equal(q.curves["true uplift"].x, ref.x)
    np.testing.assert_array_equal(q.curves["true uplift"].y, ref.y)
    thin = thin_curve(ref, 11)
    assert thin.x[0] == 0.0
    assert thin.x[-1] == ref.x[-1]
    assert thin.y[-1] == pytest.approx(ref.y[-1])


def test_unscored_customers_are_ranked_last_and_nothing_is_explained() -> None:
    outcomes = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "arm": ["treated", "treated", "holdout", "holdout"],
            "value": [1.0, 0.0, 0.0, 1.0],
        }
    )
    q = qini_curves(outcomes, pd.DataFrame({"customer_id": ["a"], "s": [1.0]}))
    assert isinstance(q, QiniCurves)
    assert q.curves["s"].y[1] == 1.0  # "a", the only scored customer, first
    none = qini_curves(
        outcomes.assign(value=0.0), pd.DataFrame({"customer_id": ["a"], "s": [1.0]})
    )
    assert isinstance(none, Missing)
    assert none.because == "the value of every customer of the window is 0"
