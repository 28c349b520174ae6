"""LinUCB: same scores as MABWiser on the same data, ties, noise, batches."""

from __future__ import annotations

import numpy as np
import pytest
from mabwiser.mab import MAB, LearningPolicy

from nbo_engine.bandit import Forgetting, LinUCB
from tests.bandit.conftest import make_problem


def test_scores_equal_mabwiser_linucb() -> None:
    """With the noise fixed at 1 (classic LinUCB) and lambda = 1, our upper
    bounds are MABWiser's ``x beta + alpha sqrt(x A^-1 x)`` to rounding
    (1e-9: both invert the same 4x4 matrices in float64)."""
    prob = make_problem()
    X, arms, r = prob.logged(800, np.random.default_rng(0))
    ours = LinUCB(prob.n_arms, prob.n_features, alpha=1.3, noise=1.0, rng=0)
    ours.update(X, arms, r)
    mab = MAB(
        list(range(prob.n_arms)),
        LearningPolicy.LinUCB(alpha=1.3, l2_lambda=1.0),
        seed=0,
    )
    mab.fit(arms, r, X)
    Xt = prob.contexts(200, np.random.default_rng(1))
    exp = mab.predict_expectations(Xt)
    theirs = np.array([[row[k] for k in range(prob.n_arms)] for row in exp])
    np.testing.assert_allclose(ours.scores(Xt), theirs, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(ours.select_batch(Xt)[0], np.array(mab.predict(Xt)))


def test_ties_share_probability() -> None:
    pol = LinUCB(4, 3, rng=0)  # no data: every arm has the same bound
    X = np.random.default_rng(0).standard_normal((4000, 3))
    arms, props = pol.select_batch(X)
    np.testing.assert_array_equal(props, np.full(4000, 0.25))
    # Uniform among the tied arms: 1000 expected each, sd 27; allow 4.5 sd.
    assert (np.abs(np.bincount(arms, minlength=4) - 1000) < 4.5 * 27.4).all()
    el = np.array([True, False, True, True])
    _, props = pol.select_batch(X, el)
    np.testing.assert_allclose(props, 1 / 3)


def test_estimated_noise_matches_the_truth() -> None:
    """Linear rewards with Gaussian noise sd 0.3: with 2000 rows per arm the
    plug-in sd is within 5% (its sampling sd is about 0.3/sqrt(4000) ~ 1.6%)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6000, 4))
    arms = rng.integers(0, 3, 6000)
    theta = rng.standard_normal((3, 4))
    r = np.einsum("ij,ij->i", X, theta[arms]) + rng.normal(0, 0.3, 6000)
    pol = LinUCB(3, 4)
    pol.update(X, arms, r)
    np.testing.assert_allclose(pol.posterior_.noise_sd, 0.3, rtol=0.05)
    np.testing.assert_allclose(pol.theta_, theta, atol=0.03)


def test_per_arm_and_pooled_noise() -> None:
    """Arms with noise sd 0.1 and 0.4 (2000 rows each): per arm each is
    recovered within 5%; pooled gives the root mean square, 0.29."""
    rng = np.random.default_rng(1)
    X = np.ones((4000, 1))
    arms = np.repeat([0, 1], 2000)
    r = np.where(arms == 0, rng.normal(0, 0.1, 4000), rng.normal(0, 0.4, 4000))
    per_arm = LinUCB(2, 1, noise="per_arm")
    per_arm.update(X, arms, r)
    np.testing.assert_allclose(per_arm.posterior_.noise_sd, [0.1, 0.4], rtol=0.05)
    pooled = LinUCB(2, 1)
    pooled.update(X, arms, r)
    np.testing.assert_allclose(pooled.posterior_.noise_sd, np.sqrt(0.085), rtol=0.05)


@pytest.mark.parametrize("forgetting", [None, Forgetting(300, "decisions")])
def test_batch_update_equals_one_by_one(forgetting: Forgetting | None) -> None:
    prob = make_problem()
    X, arms, r = prob.logged(300, np.random.default_rng(0))
    a = LinUCB(prob.n_arms, prob.n_features, forgetting=forgetting, rng=0)
    b = LinUCB(prob.n_arms, prob.n_features, forgetting=forgetting, rng=0)
    for pol in (a, b):
        pol.select_batch(X)  # time passes before the delayed rewards arrive
    a.update(X, arms, r)
    for i in range(300):
        b.update(X[i : i + 1], arms[i : i + 1], r[i : i + 1])
    for name in ("gram", "xy", "yy", "count"):
        np.testing.assert_allclose(
            getattr(b, f"{name}_"), getattr(a, f"{name}_"), rtol=1e-10, atol=1e-12
        )


def test_learns_the_best_arm() -> None:
    """After 3000 uniform rows the greedy (alpha=0) choice earns at least 85%
    of the oracle's expected reward on fresh contexts (it earns about 93%)."""
    prob = make_problem(seed=1)
    pol = LinUCB(prob.n_arms, prob.n_features, alpha=0.0, rng=0)
    pol.update(*prob.logged(3000, np.random.default_rng(2)))
    Xt = prob.contexts(3000, np.random.default_rng(3))
    P = prob.probs(Xt)
    arms, _ = pol.select_batch(Xt)
    assert P[np.arange(3000), arms].sum() / P.max(axis=1).sum() > 0.85


def test_packed_and_cholesky_widths_agree() -> None:
    """Many rows use the packed quadratic form, a few the Cholesky form: the
    same numbers to rounding (1e-10 relative)."""
    prob = make_problem()
    pol = LinUCB(prob.n_arms, prob.n_features, rng=0)
    pol.update(*prob.logged(500, np.random.default_rng(0)))
    X = prob.contexts(300, np.random.default_rng(1))
    many = pol.scores(X)
    few = np.vstack([pol.scores(X[i : i + 10]) for i in range(0, 300, 10)])
    np.testing.assert_allclose(many, few, rtol=1e-10)
