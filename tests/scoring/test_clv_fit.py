"""Fitting: agreement with lifetimes, robustness, covariates, bootstrap, JSON."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from lifetimes import (
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)
from lifetimes.datasets import load_cdnow_summary_data_with_monetary_value

from nbo_engine.scoring import CLVModel, RFMSummary, fit_clv
from tests.scoring.conftest import Sample

CDNOW = load_cdnow_summary_data_with_monetary_value()
TRUE = {
    "bgnbd": (0.8, 3.0, 0.9, 6.0),
    "mbgnbd": (0.8, 3.0, 0.9, 6.0),
    "pareto_nbd": (0.8, 3.0, 0.7, 20.0),
}
NAMES = {
    "bgnbd": ("r", "alpha", "a", "b"),
    "mbgnbd": ("r", "alpha", "a", "b"),
    "pareto_nbd": ("r", "alpha", "s", "beta"),
}


def _frame(s: Sample, weekly: bool = False) -> pd.DataFrame:
    t_x, T = (np.floor(s.t_x), np.floor(s.T)) if weekly else (s.t_x, s.T)
    return pd.DataFrame(
        {"frequency": s.x, "recency": t_x, "T": T, "monetary_value": s.m},
        index=pd.Index([f"c{i}" for i in range(s.x.size)], name="customer_id"),
    )


@pytest.mark.parametrize(
    ("model", "ref"),
    [
        ("bgnbd", BetaGeoFitter),
        ("mbgnbd", ModifiedBetaGeoFitter),
        ("pareto_nbd", ParetoNBDFitter),
    ],
)
def test_parameters_equal_lifetimes(model: str, ref: type) -> None:
    """Same data, same likelihood: the optima agree to 1e-3 relative (lifetimes'
    Pareto/NBD runs Nelder-Mead, so it gets a tight tolerance)."""
    ours = fit_clv(CDNOW, model, period_days=7)
    kw = {"tol": 1e-10, "maxiter": 20000} if model == "pareto_nbd" else {}
    theirs = ref().fit(CDNOW["frequency"], CDNOW["recency"], CDNOW["T"], **kw)
    assert ours.purchase.converged
    for name, value in theirs.params_.items():
        assert ours.purchase.params[str(name)] == pytest.approx(value, rel=1e-3), name
    if model == "bgnbd":
        # inverse observed information vs lifetimes' autograd Hessian
        for name, se in theirs.standard_errors_.items():
            assert ours.purchase.se[str(name)] == pytest.approx(se, rel=2e-2), name
    assert ours.spend is not None
    gg = GammaGammaFitter().fit(
        CDNOW["frequency"][CDNOW["frequency"] > 0],
        CDNOW["monetary_value"][CDNOW["frequency"] > 0],
    )
    for ours_name, their_name in (("p", "p"), ("q", "q"), ("gamma", "v")):
        assert ours.spend.params[ours_name] == pytest.approx(
            gg.params_[their_name], rel=1e-3
        )


@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto_nbd"])
def test_recovers_parameters_of_its_own_process(
    model: str, sampler: Callable[..., Sample], clv_seed: int
) -> None:
    """8,000 customers drawn exactly from the model: each estimate within 4.5
    standard errors of the truth (a 1-in-150,000 event per parameter), and the
    standard errors themselves under 25% (the data inform every parameter)."""
    rng = np.random.default_rng(clv_seed)
    T = rng.uniform(20, 104, 8000)
    s = sampler(rng, model, TRUE[model], T)
    m = fit_clv(_frame(s), model, spend=False)
    assert m.purchase.converged
    assert not m.purchase.at_bound
    for name, true in zip(NAMES[model], TRUE[model], strict=True):
        est, se = m.purchase.params[name], m.purchase.se[name]
        assert abs(est - true) < 4.5 * se, (name, est, se, true)
        assert se / est < 0.25, name


ADVERSARIAL = ["equal_T", "extreme_buyers", "tiny", "no_repeaters", "all_repeat_recent"]


def _adversarial(
    kind: str, rng: np.random.Generator, sampler: Callable[..., Sample]
) -> Sample:
    if kind == "equal_T":
        return sampler(rng, "bgnbd", TRUE["bgnbd"], np.full(3000, 52.0))
    if kind == "extreme_buyers":
        base = sampler(rng, "bgnbd", TRUE["bgnbd"], rng.uniform(10, 104, 2000))
        heavy = np.array([1500.0, 3000.0, 5000.0, 8000.0, 9000.0])
        return Sample(
            np.concatenate([base.x, heavy]),
            np.concatenate([base.t_x, [103.5, 103.9, 100.0, 103.99, 20.0]]),
            np.concatenate([base.T, np.full(5, 104.0)]),
            np.concatenate([base.m, np.full(5, 12.0)]),
        )
    if kind == "tiny":
        return sampler(rng, "bgnbd", TRUE["bgnbd"], rng.uniform(10, 104, 60))
    if kind == "no_repeaters":
        T = rng.uniform(5, 50, 300)
        return Sample(np.zeros(300), np.zeros(300), T, np.zeros(300))
    # everyone buys every week up to the end: no evidence of dropout at all
    T = rng.integers(5, 60, 400).astype(float)
    return Sample(T.copy(), T.copy(), T, np.full(400, 10.0))


@pytest.mark.parametrize("kind", ADVERSARIAL)
@pytest.mark.parametrize("model", ["bgnbd", "mbgnbd", "pareto_nbd"])
def test_converges_on_adversarial_data(
    kind: str, model: str, sampler: Callable[..., Sample]
) -> None:
    """Default settings converge (a boundary optimum is reported, not an error)
    and every prediction is finite, P(alive) in [0, 1], purchases >= 0."""
    rng = np.random.default_rng(7)
    s = _adversarial(kind, rng, sampler)
    m = fit_clv(_frame(s), model)
    assert m.purchase.converged, m.purchase.message
    p = m.predict(RFMSummary.from_frame(_frame(s)), 365.25)
    assert np.all(np.isfinite(p.to_numpy()))
    assert p["p_alive"].between(0, 1).all()
    assert (p["expected_purchases"] >= 0).all()
    assert (p["clv"] >= 0).all()
    json.dumps(m.to_dict())


@pytest.mark.slow
def test_ten_million_customers_stay_finite(sampler: Callable[..., Sample]) -> None:
    """10M customers at a weekly grain (compressed to distinct patterns): fit
    and predictions stay finite, P(alive) in (0, 1], purchases in (0, inf).
    (Pareto/NBD's extremes are covered row by row in test_clv_likelihood.)"""
    rng = np.random.default_rng(11)
    n = 10_000_000
    s = sampler(rng, "bgnbd", TRUE["bgnbd"], rng.integers(1, 105, n).astype(float))
    summary = RFMSummary(
        customer_id=np.arange(n),  # type: ignore[arg-type]
        frequency=s.x,
        recency=np.floor(s.t_x),
        T=s.T,
        monetary_value=s.m,
        period_days=7.0,
    )
    for model in ("bgnbd", "mbgnbd"):
        m = fit_clv(summary, model, spend=False)
        assert m.purchase.converged
        assert m.purchase.n_customers == n
        assert m.purchase.n_rows < n / 20
        p = m.predict(summary, 365.25)
        pa, ey = p["p_alive"].to_numpy(), p["expected_purchases"].to_numpy()
        assert np.all((pa > 0) & (pa <= 1)), model
        assert np.all(np.isfinite(ey) & (ey > 0)), model


def test_bootstrap_interval_is_reproducible_and_matches_the_standard_errors(
    sampler: Callable[..., Sample],
) -> None:
    """Weekly data compress well, so 60 bootstrap refits are cheap; the
    bootstrap spread of log-parameters agrees with the Hessian's standard errors
    within 35% (Monte Carlo error of 60 replicates is ~10%)."""
    rng = np.random.default_rng(3)
    s = sampler(rng, "bgnbd", TRUE["bgnbd"], rng.integers(20, 105, 5000).astype(float))
    frame = _frame(s, weekly=True)
    a = fit_clv(frame, "bgnbd", spend=False, n_boot=60, rng=np.random.default_rng(1))
    b = fit_clv(frame, "bgnbd", spend=False, n_boot=60, rng=np.random.default_rng(1))
    assert a.purchase.boot is not None
    assert b.purchase.boot is not None
    np.testing.assert_array_equal(a.purchase.boot, b.purchase.boot)
    boot_sd = a.purchase.boot.std(axis=0)
    se = np.sqrt(np.diag(a.purchase.cov))
    np.testing.assert_allclose(boot_sd, se, rtol=0.35)
    ci = a.to_dict()["purchase"]["bootstrap"]["ci95"]
    for name, (lo, hi) in ci.items():
        assert lo < a.purchase.params[name] < hi


def test_segment_pooling_recovers_each_segment(sampler: Callable[..., Sample]) -> None:
    """Two segments with different populations: with segment dummies (weak
    ridge) each segment's parameters match a separate fit on that segment to
    within a fifth of a standard error; Gamma-Gamma likewise."""
    rng = np.random.default_rng(5)
    T = rng.uniform(30, 104, 6000)
    s1 = sampler(rng, "bgnbd", (0.6, 4.0, 0.8, 4.0), T[:3000], spend=(5.0, 4.0, 18.0))
    s2 = sampler(rng, "bgnbd", (2.0, 2.0, 1.2, 12.0), T[3000:], spend=(6.0, 5.0, 52.0))
    frame = pd.concat([_frame(s1), _frame(s2)], ignore_index=True)
    frame.index = pd.Index([f"c{i}" for i in range(6000)], name="customer_id")
    seg = pd.DataFrame({"segment": ["s1"] * 3000 + ["s2"] * 3000}, index=frame.index)
    pooled = fit_clv(frame, "bgnbd", covariates=seg, penalty=1e-4)
    assert pooled.purchase.converged
    assert pooled.spend is not None
    z = np.array([[1.0, 0.0], [0.0, 1.0]])
    lp = pooled.purchase.log_params(z)
    sp = pooled.spend.log_params(z)
    for g, part in enumerate((frame.iloc[:3000], frame.iloc[3000:])):
        alone = fit_clv(part, "bgnbd")
        assert alone.spend is not None
        for k, name in enumerate(NAMES["bgnbd"]):
            se_log = alone.purchase.se[name] / alone.purchase.params[name]
            assert abs(lp[g, k] - np.log(alone.purchase.params[name])) < 0.2 * se_log
        for k, name in enumerate(("p", "q", "gamma")):
            se_log = alone.spend.se[name] / alone.spend.params[name]
            assert abs(sp[g, k] - np.log(alone.spend.params[name])) < 0.2 * se_log


def test_ridge_shrinks_a_small_segment_toward_the_population(
    sampler: Callable[..., Sample],
) -> None:
    """A stronger ridge pulls the 40-customer segment's log r and log alpha
    toward the 4,000-customer one (their gap shrinks monotonically)."""
    rng = np.random.default_rng(9)
    big = sampler(rng, "bgnbd", (0.8, 3.0, 0.9, 6.0), rng.uniform(30, 104, 4000))
    small = sampler(rng, "bgnbd", (3.0, 1.0, 0.9, 6.0), rng.uniform(30, 104, 40))
    frame = pd.concat([_frame(big), _frame(small)], ignore_index=True)
    frame.index = pd.Index([f"c{i}" for i in range(len(frame))], name="customer_id")
    seg = pd.DataFrame({"seg": ["big"] * 4000 + ["small"] * 40}, index=frame.index)
    deviation = []
    for penalty in (1e-3, 1.0, 100.0):
        m = fit_clv(frame, "bgnbd", spend=False, covariates=seg, penalty=penalty)
        assert m.purchase.converged
        lp = m.purchase.log_params(np.array([[1.0, 0.0], [0.0, 1.0]]))
        deviation.append(np.abs(lp[1] - lp[0])[:2].sum())  # log r, log alpha
    assert deviation[0] > deviation[1] > deviation[2]


def test_json_round_trip_predicts_the_same(sampler: Callable[..., Sample]) -> None:
    rng = np.random.default_rng(2)
    s = sampler(rng, "bgnbd", TRUE["bgnbd"], rng.uniform(10, 104, 1500))
    frame = _frame(s)
    cov = pd.DataFrame(
        {
            "seg": np.where(np.arange(1500) % 3 == 0, "a", "b"),
            "age": rng.normal(40, 9, 1500),
        },
        index=frame.index,
    )
    m = fit_clv(frame, "pareto_nbd", covariates=cov, linked=["alpha", "beta"])
    doc = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    back = CLVModel.from_dict(doc)
    summary = RFMSummary.from_frame(frame)
    pd.testing.assert_frame_equal(
        back.predict(summary, covariates=cov), m.predict(summary, covariates=cov)
    )
    assert doc["purchase"]["covariates"]["linked"] == ["alpha", "beta"]
    assert set(doc["purchase"]["params"]) == {"r", "alpha", "s", "beta"}
    assert doc["purchase"]["n_customers"] == 1500


def test_discounted_value_is_below_undiscounted_and_equal_at_zero_rate(
    sampler: Callable[..., Sample],
) -> None:
    rng = np.random.default_rng(4)
    frame = _frame(sampler(rng, "bgnbd", TRUE["bgnbd"], rng.uniform(10, 104, 800)))
    summary = RFMSummary.from_frame(frame, period_days=7.0)
    m = fit_clv(frame, "bgnbd", period_days=7.0)
    p = m.predict(summary, 365.25)
    assert (p["clv"] <= p["expected_revenue"] + 1e-9).all()
    flat = fit_clv(frame, "bgnbd", period_days=7.0, annual_discount_rate=0.0)
    q = flat.predict(summary, 365.25)
    np.testing.assert_allclose(q["clv"], q["expected_revenue"], rtol=1e-10)
