"""Linear Thompson sampling: Monte Carlo propensities vs the exact
probabilities, the floor, MABWiser's posterior, batches."""

from __future__ import annotations

import numpy as np
from mabwiser.mab import MAB, LearningPolicy
from scipy import integrate, stats

from nbo_engine.bandit import LinearTS
from tests.bandit.conftest import make_problem


def exact_argmax_probs(
    mean: np.ndarray, sd: np.ndarray, values: np.ndarray
) -> np.ndarray:
    """P(arm k has the largest v_j N(m_j, s_j^2)) by numerical integration."""
    m, s = values * mean, values * sd
    out = np.empty(m.size)
    for k in range(m.size):
        others = np.delete(np.arange(m.size), k)

        def f(t: float, k: int = k, others: np.ndarray = others) -> float:
            return float(
                stats.norm.pdf(t, m[k], s[k])
                * np.prod(stats.norm.cdf(t, m[others], s[others]))
            )

        out[k] = integrate.quad(f, m[k] - 10 * s[k], m[k] + 10 * s[k], epsabs=1e-10)[0]
    return out


def test_monte_carlo_matches_exact_probabilities(seed: int) -> None:
    """E[P] = floor + (1 - K floor) p_exact (the Monte Carlo frequencies are
    unbiased). Averaged over 3000 independent rows of 64 draws the sd of the
    mean is at most 0.5 / sqrt(192000) = 0.0011; we allow 0.006 (5 sd)."""
    prob = make_problem(seed=seed)
    pol = LinearTS(prob.n_arms, prob.n_features, rng=seed)
    pol.update(*prob.logged(150, np.random.default_rng(seed)))
    x = prob.contexts(1, np.random.default_rng(seed + 1))
    vals = np.array([1.0, 2.0, 1.0, 1.5, 1.0])
    P = pol.probabilities(np.repeat(x, 3000, axis=0), values=vals)
    m, sd = pol._mean_sd(x)
    exact = exact_argmax_probs(m[0], pol.alpha * sd[0], vals)
    k, floor = prob.n_arms, pol.propensity_floor
    np.testing.assert_allclose(
        P.mean(axis=0), floor + (1 - k * floor) * exact, atol=0.006
    )


def test_floor_and_documented_defaults() -> None:
    pol = LinearTS(5, 2, rng=0)
    assert (pol.n_draws, pol.propensity_floor) == (64, 1e-3)
    X = np.ones((2500, 2))
    arms = np.repeat(np.arange(5), 500)
    pol.update(X, arms, (arms == 0).astype(float))  # arm 0 always, others never
    P = pol.probabilities(X[:10])
    assert (P >= 1e-3).all()
    np.testing.assert_allclose(P[:, 1:], 1e-3, rtol=0.3)  # arms 1-4 rarely win
    el = np.array([False, True, True, False, False])
    P = pol.probabilities(X[:10], el)
    assert (P[:, el] >= 1e-3).all()
    assert (P[:, ~el] == 0).all()


def test_posterior_equals_mabwiser_lints() -> None:
    """With noise fixed at 1 our draw of x . theta is MABWiser's: mean x beta,
    variance alpha^2 x A^-1 x. Over 4000 MABWiser draws the sample mean is
    within 4.5 sd/sqrt(4000) and the sample sd within 6% (its relative sd is
    1/sqrt(8000) ~ 1.1%)."""
    prob = make_problem()
    X, arms, r = prob.logged(500, np.random.default_rng(0))
    ours = LinearTS(prob.n_arms, prob.n_features, alpha=0.7, noise=1.0, rng=0)
    ours.update(X, arms, r)
    mab = MAB(list(range(prob.n_arms)), LearningPolicy.LinTS(alpha=0.7), seed=3)
    mab.fit(arms, r, X)
    x = prob.contexts(1, np.random.default_rng(5))
    exp = mab.predict_expectations(np.repeat(x, 4000, axis=0))
    draws = np.array([[row[k] for k in range(prob.n_arms)] for row in exp])
    m, sd = ours._mean_sd(x)
    sd *= ours.alpha
    assert (np.abs(draws.mean(axis=0) - m[0]) < 4.5 * sd[0] / np.sqrt(4000)).all()
    np.testing.assert_allclose(draws.std(axis=0), sd[0], rtol=0.06)


def test_batch_update_equals_one_by_one() -> None:
    prob = make_problem()
    X, arms, r = prob.logged(200, np.random.default_rng(0))
    a = LinearTS(prob.n_arms, prob.n_features)
    b = LinearTS(prob.n_arms, prob.n_features)
    a.update(X, arms, r)
    for i in range(200):
        b.update(X[i : i + 1], arms[i : i + 1], r[i : i + 1])
    np.testing.assert_allclose(b.gram_, a.gram_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.theta_, a.theta_, rtol=1e-9, atol=1e-12)


def test_alpha_zero_is_greedy_plus_floor() -> None:
    prob = make_problem()
    pol = LinearTS(prob.n_arms, prob.n_features, alpha=0.0, rng=0)
    pol.update(*prob.logged(500, np.random.default_rng(0)))
    X = prob.contexts(100, np.random.default_rng(1))
    P = pol.probabilities(X)
    best = pol.predict(X).argmax(axis=1)
    np.testing.assert_allclose(P[np.arange(100), best], 1 - 4e-3)
