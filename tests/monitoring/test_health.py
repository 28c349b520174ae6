"""Model health against scikit-learn on the same inputs, and on synthetic
outcomes where a calibrated model must pass and a broken one must be flagged."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss, roc_auc_score

from nbo_engine.monitoring import (
    ModelSpec,
    Thresholds,
    auc_score,
    auc_standard_error,
    brier_score,
    build_alerts,
    expected_calibration_error,
    hosmer_lemeshow,
    model_health,
    reliability_bins,
)


def _scores(rng: np.random.Generator, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    p = rng.beta(1.5, 12.0, n)
    y = (rng.random(n) < p).astype(float)
    return y, p


def test_auc_and_brier_match_sklearn(rng: np.random.Generator) -> None:
    y, p = _scores(rng)
    tied = np.round(p, 2)  # many ties: mid-ranks must equal sklearn's half credit
    for scores in (p, tied):
        # Rank sums of floats vs sklearn's trapezoids: equal up to rounding.
        assert auc_score(y, scores) == pytest.approx(
            roc_auc_score(y, scores), abs=1e-12
        )
        assert brier_score(y, scores) == pytest.approx(
            brier_score_loss(y, scores), abs=1e-15
        )


@pytest.mark.parametrize("strategy", ["quantile", "uniform"])
def test_reliability_bins_match_sklearn_calibration_curve(
    rng: np.random.Generator, strategy: str
) -> None:
    y, p = _scores(rng)
    bins = reliability_bins(y, p, 10, strategy)  # type: ignore[arg-type]
    prob_true, prob_pred = calibration_curve(y, p, n_bins=10, strategy=strategy)
    np.testing.assert_allclose([b.observed_rate for b in bins], prob_true, atol=1e-15)
    np.testing.assert_allclose([b.mean_predicted for b in bins], prob_pred, atol=1e-15)
    assert sum(b.n for b in bins) == y.size
    # ECE from the same bins, written out.
    ece = sum(b.n * abs(b.mean_predicted - b.observed_rate) for b in bins) / y.size
    assert expected_calibration_error(y, p, 10, strategy) == pytest.approx(  # type: ignore[arg-type]
        ece, abs=1e-15
    )


def test_ece_and_hosmer_lemeshow_by_hand() -> None:
    y = np.array([0, 1, 1, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9])
    # Two quantile bins split at the median 0.5: {0.1..0.4} and {0.6..0.9},
    # mean predictions 0.25 and 0.75, observed rates 0.5 and 0.75.
    ece = (4 * abs(0.25 - 0.5) + 4 * abs(0.75 - 0.75)) / 8
    assert expected_calibration_error(y, p, 2) == pytest.approx(ece, abs=1e-15)
    stat, dof, pvalue = hosmer_lemeshow(y, p, 2)
    e1, e2 = 1.0, 3.0  # expected positives per bin: sums of p
    h = (2 - e1) ** 2 / (e1 * (1 - e1 / 4)) + (3 - e2) ** 2 / (e2 * (1 - e2 / 4))
    assert (stat, dof) == (pytest.approx(h, abs=1e-12), 2)
    assert pvalue == pytest.approx(math.exp(-h / 2), abs=1e-12)  # chi2(2) tail


def test_auc_standard_error_matches_simulation() -> None:
    # Hanley-McNeil against the spread of AUC over repeated samples.
    rng = np.random.default_rng(7)
    aucs = []
    for _ in range(400):
        pos, neg = rng.normal(1.2, 1, 60), rng.normal(0, 1, 600)
        y = np.r_[np.ones(60), np.zeros(600)]
        aucs.append(auc_score(y, 1 / (1 + np.exp(-np.r_[pos, neg]))))
    se = auc_standard_error(float(np.mean(aucs)), 60, 600)
    # The formula assumes exponential scores; for binormal ones it is close
    # (within ~15%), and 400 replicates estimate the sd to ~4%.
    assert se == pytest.approx(float(np.std(aucs)), rel=0.2)


def test_a_calibrated_model_raises_no_health_alert(rng: np.random.Generator) -> None:
    y, p = _scores(rng, 5000)
    h = model_health("churn_90d", y, p, auc_baseline=roc_auc_score(y, p))
    assert h.status == "ok"
    alerts, retrain = build_alerts(
        (), (h,), (), models=[ModelSpec("churn_90d", ("churn_90d",))]
    )
    assert alerts == ()
    assert retrain == ()


def test_a_miscalibrated_model_is_flagged_for_retraining(
    rng: np.random.Generator,
) -> None:
    _y, p = _scores(rng, 5000)
    # What happened is twice what the model predicted.
    y2 = (rng.random(p.size) < np.clip(2 * p, 0, 1)).astype(float)
    h = model_health("churn_90d", y2, p)
    alerts, retrain = build_alerts((), (h,), ())
    assert [(a.kind, a.subject) for a in alerts] == [("calibration", "churn_90d")]
    assert "predicted" in alerts[0].message
    assert "happened" in alerts[0].message
    assert [r.model for r in retrain] == ["churn_90d"]


def test_a_model_that_lost_its_ranking_is_flagged(rng: np.random.Generator) -> None:
    y, p = _scores(rng, 5000)
    noisy = np.clip(p + rng.normal(0, 0.08, p.size), 0, 1)  # same mean, worse order
    h = model_health(
        "propensity_savings", y, noisy, model="propensity", auc_baseline=0.78
    )
    assert h.auc is not None
    assert h.auc < 0.7
    alerts, retrain = build_alerts((), (h,), ())
    assert ("auc", "propensity_savings") in [(a.kind, a.subject) for a in alerts]
    assert [r.model for r in retrain] == ["propensity"]


def test_an_auc_dip_within_noise_is_not_flagged() -> None:
    # 40 positives: an AUC 0.06 below the baseline is within two standard errors.
    rng = np.random.default_rng(3)
    n = 1000
    p = rng.beta(1.0, 24.0, n)
    y = np.zeros(n)
    y[rng.choice(n, 40, replace=False, p=p / p.sum())] = 1
    auc = roc_auc_score(y, p)
    h = model_health("churn_90d", y, p, auc_baseline=auc + 0.06)
    assert h.auc_drop_pvalue is not None
    assert h.auc_drop_pvalue > 0.01
    alerts, _ = build_alerts((), (h,), ())
    assert [a.kind for a in alerts if a.kind == "auc"] == []


def test_too_few_outcomes_give_a_neutral_result_with_its_reason() -> None:
    y = np.r_[np.ones(5), np.zeros(500)]
    p = np.full(505, 0.01)
    h = model_health(
        "propensity_mortgage", y, p, thresholds=Thresholds(min_outcomes=20)
    )
    assert h.status == "insufficient_outcomes"
    assert h.auc is None
    assert h.ece is None
    assert h.bins == ()
    assert "5 positive and 500 negative" in h.reason
    assert build_alerts((), (h,), ()) == ((), ())
