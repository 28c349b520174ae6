"""Off-policy estimators against hand-computed cases, a loop transcription of
the published formulas, and invariances."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from nbo_engine.evaluation import ope
from nbo_engine.evaluation.ope import (
    METHODS,
    Estimate,
    cross_fit_ridge_rewards,
    estimate_policy_value,
)

# A 4-row, 2-arm log small enough to compute by hand (see each test).
R = np.array([1.0, 0.0, 1.0, 1.0])
A = np.array([0, 1, 1, 0])
MU = np.array([0.5, 0.25, 0.25, 0.8])
PI = np.array([[0.2, 0.8], [0.6, 0.4], [0.5, 0.5], [1.0, 0.0]])
# weights w = pi(a_i)/mu_i = [0.4, 1.6, 2.0, 1.25]
Q = np.full((4, 2), 0.5)


def test_doctests() -> None:
    assert doctest.testmod(ope).failed == 0


def test_ips_by_hand() -> None:
    est = estimate_policy_value(R, A, MU, PI, method="ips")
    # terms w*r = [0.4, 0, 2.0, 1.25]; mean 0.9125; sample sd 0.892912 (ddof 1)
    assert est.value == pytest.approx(0.9125, abs=1e-12)
    assert est.std_err == pytest.approx(0.892912 / 2, rel=1e-5)
    half = 1.959964 * 0.892912 / 2
    assert est.ci_low == pytest.approx(0.9125 - half, rel=1e-5)
    assert est.ci_high == pytest.approx(0.9125 + half, rel=1e-5)
    # ESS = (sum w)^2 / sum w^2 = 5.25^2 / 8.2825
    assert est.effective_sample_size == pytest.approx(27.5625 / 8.2825, rel=1e-12)
    assert (est.n, est.method, est.interval) == (4, "ips", "normal")


def test_snips_by_hand() -> None:
    est = estimate_policy_value(R, A, MU, PI, method="snips")
    assert est.value == pytest.approx(3.65 / 5.25, abs=1e-12)


def test_dr_family_by_hand() -> None:
    # direct term 0.5 everywhere; residuals r - 0.5 = [0.5, -0.5, 0.5, 0.5]
    dr = estimate_policy_value(R, A, MU, PI, method="dr", reward_model=Q)
    assert dr.value == pytest.approx((0.7 - 0.3 + 1.5 + 1.125) / 4, abs=1e-12)
    # switch at tau = 1.5 keeps the correction of rows 0 and 3 only
    sw = estimate_policy_value(
        R, A, MU, PI, method="switch-dr", reward_model=Q, hyperparameter=1.5
    )
    assert sw.value == pytest.approx((0.7 + 0.5 + 0.5 + 1.125) / 4, abs=1e-12)
    assert sw.hyperparameter == 1.5
    # shrinkage lambda = 1: w' = w / (w^2 + 1)
    os_ = estimate_policy_value(
        R, A, MU, PI, method="dr-os", reward_model=Q, hyperparameter=1.0
    )
    assert os_.value == pytest.approx(0.5978993, abs=1e-7)


def _reference(
    method: str,
    r: NDArray[np.float64],
    a: NDArray[np.int64],
    mu: NDArray[np.float64],
    pi: NDArray[np.float64],
    q: NDArray[np.float64],
    h: float,
) -> float:
    """The estimators written row by row from the papers (Dudik et al. 2011,
    Swaminathan & Joachims 2015, Wang et al. 2017, Su et al. 2020)."""
    num = den = 0.0
    for i in range(r.size):
        w = pi[i, a[i]] / mu[i]
        direct = sum(pi[i, k] * q[i, k] for k in range(pi.shape[1]))
        if method == "ips":
            num += w * r[i]
            den += 1
        elif method == "snips":
            num += w * r[i]
            den += w
        elif method == "dr":
            num += direct + w * (r[i] - q[i, a[i]])
            den += 1
        elif method == "switch-dr":
            num += direct + (w if w <= h else 0.0) * (r[i] - q[i, a[i]])
            den += 1
        else:
            num += direct + h * w / (w * w + h) * (r[i] - q[i, a[i]])
            den += 1
    return num / den


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", range(5))
def test_matches_row_by_row_reference(method: str, seed: int) -> None:
    g = np.random.default_rng(seed)
    n, k = 200, 4
    mu_all = g.dirichlet(np.ones(k), size=n) * 0.9 + 0.1 / k
    a = np.array([g.choice(k, p=p) for p in mu_all])
    mu = mu_all[np.arange(n), a]
    pi = g.dirichlet(np.ones(k) * 0.5, size=n)
    r = g.normal(1.0, 2.0, size=n)
    q = g.normal(1.0, 1.0, size=(n, k))
    h = 2.0
    est = estimate_policy_value(
        r, a, mu, pi, method=method, reward_model=q, hyperparameter=h
    )
    # Same sums in a different order: agreement to rounding error.
    assert est.value == pytest.approx(_reference(method, r, a, mu, pi, q, h), rel=1e-10)


@st.composite
def _logging_log(draw: st.DrawFn) -> tuple[NDArray[np.float64], ...]:
    n = draw(st.integers(2, 40))
    k = draw(st.integers(1, 6))
    cells = draw(st.lists(st.floats(0.01, 1.0), min_size=n * k, max_size=n * k))
    p = np.array(cells).reshape(n, k)
    p = p / p.sum(axis=1, keepdims=True)
    a = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    r = np.array(
        draw(st.lists(st.floats(-1e3, 1e3), min_size=n, max_size=n)), dtype=float
    )
    return r, a, p[np.arange(n), a], p


@settings(max_examples=150, deadline=None)
@given(_logging_log())
def test_ips_of_the_logging_policy_is_the_mean_reward(
    log: tuple[NDArray[np.float64], ...],
) -> None:
    r, a, mu, p = log
    for method in ("ips", "snips"):
        est = estimate_policy_value(r, a, mu, p, method=method)
        # every weight is exactly 1, so only summation rounding differs
        assert est.value == pytest.approx(float(np.mean(r)), rel=1e-9, abs=1e-9)
        assert est.effective_sample_size == pytest.approx(r.size)


@settings(max_examples=50, deadline=None)
@given(_logging_log(), st.permutations(range(6)))
def test_arm_order_does_not_matter(
    log: tuple[NDArray[np.float64], ...], perm: list[int]
) -> None:
    r, a, mu, p = log
    k = p.shape[1]
    order = np.array([i for i in perm if i < k])
    inverse = np.argsort(order)
    q = np.linspace(0.0, 1.0, r.size * k).reshape(r.size, k)
    target = p[:, ::-1]
    for method in ("ips", "snips", "dr"):
        base = estimate_policy_value(r, a, mu, target, method=method, reward_model=q)
        permuted = estimate_policy_value(
            r, inverse[a], mu, target[:, order], method=method, reward_model=q[:, order]
        )
        assert permuted.value == pytest.approx(base.value, rel=1e-9, abs=1e-9)


def test_callable_and_array_reward_models_agree() -> None:
    g = np.random.default_rng(3)
    x = g.normal(size=(50, 3))
    a = g.integers(0, 2, 50)
    r = g.random(50)
    pi = np.tile([0.3, 0.7], (50, 1))

    def model(c: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.column_stack([c[:, 0], c[:, 1]])

    by_call = estimate_policy_value(r, a, np.full(50, 0.5), pi, "dr", model, x)
    by_array = estimate_policy_value(r, a, np.full(50, 0.5), pi, "dr", model(x))
    assert by_call == by_array


def test_estimate_is_frozen() -> None:
    est = estimate_policy_value(R, A, MU, PI, method="ips")
    assert isinstance(est, Estimate)
    with pytest.raises(AttributeError):
        est.value = 0.0  # type: ignore[misc]


def test_leave_one_out_ridge_matches_brute_force() -> None:
    g = np.random.default_rng(7)
    z = g.normal(size=(40, 3))
    y = z @ np.array([1.0, -2.0, 0.5]) + g.normal(size=40)
    lam = 5.0
    yc, _zc, beta = ope._ridge_loo(z, y, lam)
    # Brute force: closed form with an unpenalised intercept.
    zz = z - z.mean(axis=0)
    expected = np.linalg.solve(zz.T @ zz + lam * np.eye(3), zz.T @ (y - y.mean()))
    np.testing.assert_allclose(beta, expected, rtol=1e-10)
    assert yc == pytest.approx(y.mean())
    # The chosen penalty minimises the true leave-one-out error on the grid.
    _, _, chosen = ope._ridge_loo(z, y, None)

    def loo_error(lam: float) -> float:
        errs = []
        for i in range(40):
            keep = np.arange(40) != i
            c, m, b = ope._ridge_loo(z[keep], y[keep], lam)
            errs.append((y[i] - c - (z[i] - m) @ b) ** 2)
        return float(np.mean(errs))

    grid = ope._RIDGE_GRID * 40
    best = grid[int(np.argmin([loo_error(float(v)) for v in grid]))]
    _, _, from_best = ope._ridge_loo(z, y, float(best))
    np.testing.assert_allclose(chosen, from_best, rtol=1e-10)


def test_cross_fitting_never_uses_a_rows_own_reward() -> None:
    g = np.random.default_rng(11)
    n = 300
    x = g.normal(size=(n, 2))
    a = g.integers(0, 3, n)
    r = g.normal(size=n)
    q = cross_fit_ridge_rewards(x, a, r, 3, n_folds=5)
    r2 = r.copy()
    r2[0] += 1000.0  # row 0 is in fold 0: its own predictions must not move
    q2 = cross_fit_ridge_rewards(x, a, r2, 3, n_folds=5)
    np.testing.assert_array_equal(q[0], q2[0])
    assert not np.allclose(q[1], q2[1])


def test_default_model_learns_the_reward() -> None:
    g = np.random.default_rng(5)
    n = 4000
    x = g.normal(size=(n, 2))
    a = g.integers(0, 2, n)
    truth = np.column_stack([x[:, 0], 1.0 - x[:, 1]])
    r = truth[np.arange(n), a] + g.normal(scale=0.1, size=n)
    q = cross_fit_ridge_rewards(x, a, r, 2)
    # linear truth, 1,600 training rows per arm and fold: near-exact fit
    assert np.sqrt(np.mean((q - truth) ** 2)) < 0.02


def test_bootstrap_interval_agrees_with_normal_for_large_n() -> None:
    g = np.random.default_rng(2)
    n = 5000
    a = g.integers(0, 2, n)
    r = g.random(n) < np.where(a == 0, 0.3, 0.6)
    pi = np.tile([0.2, 0.8], (n, 1))
    normal = estimate_policy_value(r, a, np.full(n, 0.5), pi, method="snips")
    boot = estimate_policy_value(
        r,
        a,
        np.full(n, 0.5),
        pi,
        method="snips",
        interval="bootstrap",
        n_bootstrap=1000,
        rng=np.random.default_rng(0),
    )
    assert boot.value == normal.value
    # 1,000 resamples: the percentile ends wobble by ~3% of the half-width
    half = normal.ci_high - normal.value
    assert boot.ci_low == pytest.approx(normal.ci_low, abs=0.1 * half)
    assert boot.ci_high == pytest.approx(normal.ci_high, abs=0.1 * half)
    assert boot.std_err == pytest.approx(normal.std_err, rel=0.1)
    assert boot.interval == "bootstrap"


def test_tuned_estimators_choose_and_report_their_parameter() -> None:
    g = np.random.default_rng(4)
    n, k = 2000, 3
    x = g.normal(size=(n, 2))
    a = g.integers(0, k, n)
    r = (g.random(n) < 0.2 + 0.1 * (x[:, 0] > 0)).astype(float)
    pi = np.zeros((n, k))
    pi[np.arange(n), (x[:, 1] > 0).astype(int) * 2] = 1.0
    dr = estimate_policy_value(r, a, np.full(n, 1 / 3), pi, contexts=x)
    for method in ("switch-dr", "dr-os"):
        est = estimate_policy_value(
            r,
            a,
            np.full(n, 1 / 3),
            pi,
            method=method,
            contexts=x,  # type: ignore[arg-type]
        )
        # the bias allowance keeps the interval at least as wide as DR's
        assert est.ci_high - est.ci_low >= dr.ci_high - dr.ci_low - 1e-12
        assert est.method == method
