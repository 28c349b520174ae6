"""Two-stage fits of large inputs: the full-data optimum, in fewer full evaluations.

Above ``2 * SUBSAMPLE_ROWS`` compressed rows, ``fit_mle`` fits a systematic
sample of the rows first and then polishes on all rows (``mle._two_stage``).
These tests pin that the result is the same maximum as the single-stage fit
(``subsample_rows=0``) and as lifetimes', reached in fewer evaluations over all
rows (``MLEFit.evaluations`` counts only those), and that small inputs keep the
single-stage path.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter

from nbo_engine.scoring import fit_clv
from nbo_engine.scoring.bgnbd import (
    BGNBD_PARAMS,
    bgnbd_loglik,
    bgnbd_loglik_sum,
    bgnbd_starts,
    mbgnbd_loglik,
    mbgnbd_loglik_sum,
)
from nbo_engine.scoring.compress import PurchaseRows
from nbo_engine.scoring.gamma_gamma import (
    GG_PARAMS,
    SpendRows,
    gamma_gamma_loglik,
    gamma_gamma_loglik_sum,
    gamma_gamma_starts,
)
from nbo_engine.scoring.mle import SUBSAMPLE_ROWS, MLEFit, fit_mle, systematic_sample
from tests.scoring.conftest import Sample

TRUE = (0.8, 3.0, 0.9, 6.0)
TWO_STAGE = "two-stage"


def _large(sampler: Callable[..., Sample], model: str, n: int, seed: int) -> Sample:
    """``n`` customers with continuous times: every row distinct, so the
    compressed input has ``n`` rows (above the two-stage threshold)."""
    rng = np.random.default_rng(seed)
    return sampler(rng, model, TRUE, rng.uniform(20, 104, n))


def _fit(model: str, s: Sample, subsample_rows: int) -> MLEFit:
    if model == "gamma_gamma":
        rep = s.x > 0
        spend = SpendRows.build(s.x[rep], s.m[rep] / np.median(s.m[rep]))
        return fit_mle(
            gamma_gamma_loglik,
            spend,
            spend.weight,
            GG_PARAMS,
            gamma_gamma_starts(spend),
            loglik_sum=gamma_gamma_loglik_sum,
            subsample_rows=subsample_rows,
        )
    ll, ll_sum = (
        (bgnbd_loglik, bgnbd_loglik_sum)
        if model == "bgnbd"
        else (mbgnbd_loglik, mbgnbd_loglik_sum)
    )
    rows = PurchaseRows.build(s.x, s.t_x / 104.0, s.T / 104.0)
    return fit_mle(
        ll,
        rows,
        rows.weight,
        BGNBD_PARAMS,
        bgnbd_starts(rows),
        loglik_sum=ll_sum,
        subsample_rows=subsample_rows,
    )


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "gamma_gamma"])
def test_two_stage_is_the_single_stage_optimum_in_fewer_full_evaluations(
    model: str, sampler: Callable[..., Sample]
) -> None:
    """60,000 customers (about 53,000 with repeat purchases for Gamma-Gamma):
    the two-stage fit lands on the single-stage optimum and needs at most 10
    full-data evaluations (gradient at the sample's optimum, 1-3 chord steps,
    a Hessian of K, 1-2 Newton steps) where the single stage needs 20 or more.

    Tolerances: both fits stop with a gradient of the mean log-likelihood ``g``
    of at most 1e-7 (the two-stage result is only accepted below that), so the
    two points are within ``||H^-1|| (|g_1| + |g_2|)`` of each other, ``H``
    the mean log-likelihood's Hessian, from the fit's own covariance; a hard
    1e-6 on top guards against a loose bound. The log-likelihoods then differ
    by ``N |g| |dtheta|`` (< 1e-9 here) plus the rounding of a sum of 60,000
    terms (~1e-11 relative): 1e-10 relative is ample. Both Hessians are taken
    within 1e-3 of the optimum (0.1% on standard errors)."""
    s = _large(sampler, "mbgnbd" if model == "mbgnbd" else "bgnbd", 60_000, 0)
    two = _fit(model, s, SUBSAMPLE_ROWS)
    one = _fit(model, s, 0)
    assert two.message.startswith(TWO_STAGE)
    assert not one.message.startswith(TWO_STAGE)
    assert two.converged
    assert one.converged
    assert not two.at_bound
    assert not one.at_bound
    h_inv = one.cov * one.n_obs  # inverse Hessian of the mean log-likelihood
    # max_abs_grad is the largest component: the Euclidean norm is within sqrt(K)
    g_sum = (two.max_abs_grad + one.max_abs_grad) * np.sqrt(two.theta.size)
    bound = np.linalg.norm(h_inv, 2) * g_sum
    gap = float(np.max(np.abs(two.theta - one.theta)))
    assert gap <= max(bound, 1e-12), (gap, bound)
    assert gap < 1e-6
    assert two.loglik == pytest.approx(one.loglik, rel=1e-10)
    np.testing.assert_allclose(two.se, one.se, rtol=1e-3)
    assert two.evaluations <= 10, two.evaluations
    assert one.evaluations >= 2 * two.evaluations, (one.evaluations, two.evaluations)


def test_two_stage_fit_clv_equals_lifetimes(sampler: Callable[..., Sample]) -> None:
    """50,000 customers through ``fit_clv``: both BG/NBD and Gamma-Gamma take
    the two-stage path and equal lifetimes' optimum (BFGS to a gradient of
    1e-7) within 1e-4 relative (measured: 1e-7), a tenth of the 1e-3 the
    CDNOW tests allow."""
    s = _large(sampler, "bgnbd", 50_000, 5)
    frame = pd.DataFrame(
        {"frequency": s.x, "recency": s.t_x, "T": s.T, "monetary_value": s.m}
    )
    ours = fit_clv(frame, "bgnbd")
    assert ours.purchase.message.startswith(TWO_STAGE)
    assert ours.spend is not None
    assert ours.spend.message.startswith(TWO_STAGE)
    bg = BetaGeoFitter().fit(s.x, s.t_x, s.T)
    for name, value in bg.params_.items():
        assert ours.purchase.params[str(name)] == pytest.approx(value, rel=1e-4)
    rep = s.x > 0
    gg = GammaGammaFitter().fit(s.x[rep], s.m[rep])
    for ours_name, their_name in (("p", "p"), ("q", "q"), ("gamma", "v")):
        assert ours.spend.params[ours_name] == pytest.approx(
            gg.params_[their_name], rel=1e-4
        )


def test_small_inputs_keep_the_single_stage_path(
    sampler: Callable[..., Sample],
) -> None:
    """At or below the threshold the fit is exactly the single-stage one."""
    s = _large(sampler, "bgnbd", 2 * SUBSAMPLE_ROWS, 1)
    default = _fit("bgnbd", s, SUBSAMPLE_ROWS)
    single = _fit("bgnbd", s, 0)
    assert not default.message.startswith(TWO_STAGE)
    np.testing.assert_array_equal(default.theta, single.theta)
    assert default.evaluations == single.evaluations


def test_systematic_sample_estimates_the_full_weights() -> None:
    """Heavy rows are kept with their own weight, the others stand for ``c``
    customers each; the sample's total weight is the full total within one
    draw per run of light rows between heavy ones (each run's count of points
    is off by less than one), and the sample is the same every time (no
    random state)."""
    w = np.random.default_rng(2).pareto(1.2, 200_000).round() + 1.0
    keep, ws = systematic_sample(w, 5_000)
    c = w.sum() / 5_000
    assert keep.sum() <= 5_000
    heavy = w >= c
    assert keep[heavy].all()
    np.testing.assert_array_equal(ws, np.where(heavy, w, c)[keep])
    assert abs(ws.sum() - w.sum()) <= c * (heavy.sum() + 1)
    keep2, ws2 = systematic_sample(w, 5_000)
    np.testing.assert_array_equal(keep, keep2)
    np.testing.assert_array_equal(ws, ws2)
