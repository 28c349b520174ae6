"""CUPED: equals the regression estimate, shrinks the variance by 1 - rho^2, and
keeps new-to-bank customers (no pre-period) without bias."""

from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm

from nbo_engine.experiments import (
    CupedStats,
    cuped_effect,
    cuped_stats,
    mean_effect,
    pre_period_covariates,
    sample_stats,
)


def _stats(y: np.ndarray, x: np.ndarray, keep: np.ndarray | None = None) -> CupedStats:
    """Sufficient statistics over the last axis of (reps, n) outcome and
    (reps, n, k) covariates, vectorised over repetitions; ``keep`` (reps, n)
    leaves units out."""
    if keep is not None:
        y, x = y * keep, x * keep[..., None]
    return CupedStats(
        n=np.full(y.shape[:-1], y.shape[-1], float)
        if keep is None
        else keep.sum(-1) * 1.0,
        sum_y=y.sum(-1),
        sum_yy=(y * y).sum(-1),
        sum_x=x.sum(-2),
        sum_xx=np.einsum("...ni,...nj->...ij", x, x),
        sum_xy=np.einsum("...ni,...n->...i", x, y),
    )


def test_estimate_equals_ols_with_treatment_dummy(rng: np.random.Generator) -> None:
    n = 4000
    has_pre = rng.random(n) < 0.7
    pre = rng.gamma(2.0, 10.0, n)
    arm = rng.integers(0, 2, n)
    y = np.where(has_pre, 0.8 * pre, 12.0) + 2.0 * arm + rng.normal(0, 5, n)
    x = pre_period_covariates(np.where(has_pre, pre, np.nan), has_pre)
    s = cuped_stats(y, x, arm, 2)
    e = cuped_effect(s.select(0), s.select(1))
    design = sm.add_constant(np.column_stack([arm, x]))
    ols = sm.OLS(y, design).fit()
    # Frisch-Waugh-Lovell: the covariate slopes with a treatment dummy are the
    # within-arm pooled slopes CUPED uses, so the estimates agree exactly.
    assert float(e.estimate) == pytest.approx(ols.params[1], rel=1e-9)


@pytest.mark.parametrize("rho", [0.3, 0.6, 0.9])
def test_variance_reduction_is_one_minus_rho_squared(
    rng: np.random.Generator, rho: float
) -> None:
    # 100k units per arm: the sample rho^2 has SE ~ 2 rho (1 - rho^2) / sqrt(n)
    # <= 0.003, so 0.01 is over 3 SE.
    n = 200_000
    x = rng.normal(size=n)
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=n)
    arm = np.repeat([0, 1], n // 2)
    s = cuped_stats(y, x[:, None], arm, 2)
    e = cuped_effect(s.select(0), s.select(1))
    assert float(e.variance_ratio) == pytest.approx(1 - rho**2, abs=0.01)
    plain = mean_effect(*(sample_stats(y, arm, 2).select(i) for i in (0, 1)))
    assert float(e.se) ** 2 / float(plain.se) ** 2 == pytest.approx(
        1 - rho**2, abs=0.01
    )


def test_estimator_variance_over_repetitions(rng: np.random.Generator) -> None:
    # 2,000 experiments: the empirical variance of the CUPED estimate over that of
    # the plain difference is 1 - rho^2 = 0.64 (relative SE of the ratio ~4.5%).
    reps, n, rho = 2000, 500, 0.6
    x = rng.normal(size=(2, reps, n))
    y = rho * x + np.sqrt(1 - rho**2) * rng.normal(size=(2, reps, n))
    c, t = _stats(y[0], x[0][..., None]), _stats(y[1], x[1][..., None])
    cup = cuped_effect(c, t)
    plain = mean_effect(c.outcome, t.outcome)
    ratio = cup.estimate.var() / plain.estimate.var()
    assert ratio == pytest.approx(1 - rho**2, rel=0.15)
    # and its standard error is calibrated: 95% coverage of the true 0
    cover = ((cup.ci_low <= 0) & (0 <= cup.ci_high)).mean()
    assert 0.93 <= cover <= 0.97


def test_new_to_bank_customers_without_bias(rng: np.random.Generator) -> None:
    # 30% of customers are new (no pre-period); the offer helps them more.
    # True average effect over everyone: 0.7 * 1.0 + 0.3 * 3.0 = 1.6.
    reps, n = 1500, 400
    new = rng.random((2, reps, n)) < 0.3
    pre = rng.gamma(2.0, 10.0, (2, reps, n))
    base = np.where(new, 15.0, 0.9 * pre) + rng.normal(0, 6, (2, reps, n))
    effect = np.where(new, 3.0, 1.0)
    y = base.copy()
    y[1] += effect[1]
    x = np.stack([np.where(new, 0.0, pre), (~new).astype(float)], axis=-1)
    c, t = _stats(y[0], x[0]), _stats(y[1], x[1])
    e = cuped_effect(c, t)
    mc_se = e.estimate.std() / np.sqrt(reps)
    assert abs(e.estimate.mean() - 1.6) < 4 * mc_se
    cover = ((e.ci_low <= 1.6) & (1.6 <= e.ci_high)).mean()
    assert 0.93 <= cover <= 0.97
    plain = mean_effect(c.outcome, t.outcome)
    assert e.estimate.var() < 0.6 * plain.estimate.var()
    # Dropping the new customers (complete cases) answers another question: the
    # effect on existing customers only (1.0), far from the population's 1.6.
    old = ~new
    cc_c, cc_t = _stats(y[0], x[0], old[0]), _stats(y[1], x[1], old[1])
    assert abs(cuped_effect(cc_c, cc_t).estimate.mean() - 1.6) > 0.4
    # Imputing 0 without the indicator is unbiased too, but reduces less variance.
    naive = cuped_effect(_stats(y[0], x[0][..., :1]), _stats(y[1], x[1][..., :1]))
    assert e.estimate.var() < naive.estimate.var()


def test_constant_covariate_falls_back_to_plain(rng: np.random.Generator) -> None:
    # Nobody is new: the missing indicator is constant and gets no weight.
    n = 2000
    pre = rng.gamma(2.0, 10.0, n)
    y = 0.5 * pre + rng.normal(0, 3, n)
    arm = np.repeat([0, 1], n // 2)
    x = pre_period_covariates(pre, np.ones(n, bool))
    s = cuped_stats(y, x, arm, 2)
    with_ind = cuped_effect(s.select(0), s.select(1))
    only_x = cuped_stats(y, x[:, :1], arm, 2)
    plain_x = cuped_effect(only_x.select(0), only_x.select(1))
    assert float(with_ind.estimate) == pytest.approx(float(plain_x.estimate), rel=1e-9)
    assert float(with_ind.se) == pytest.approx(float(plain_x.se), rel=1e-9)


def test_covariate_without_variance_is_neutral_not_nan() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 7.0])
    x = np.zeros((6, 1))
    s = cuped_stats(y, x, np.array([0, 0, 0, 1, 1, 1]), 2)
    e = cuped_effect(s.select(0), s.select(1))
    assert float(e.estimate) == pytest.approx(y[3:].mean() - y[:3].mean())
    assert float(e.variance_ratio) == pytest.approx(1.0)
