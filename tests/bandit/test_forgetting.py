"""Forgetting: the discount, its clock, and recovery after a change."""

from __future__ import annotations

import numpy as np

from nbo_engine.bandit import Forgetting, LinearTS


def test_factor() -> None:
    assert Forgetting(100).factor(0) == 1.0
    assert Forgetting(100).factor(100) == 0.5
    assert Forgetting(10, "observations").factor(30) == 0.125


def test_decisions_clock() -> None:
    """Evidence halves per half-life of decisions made since the last update."""
    pol = LinearTS(2, 1, forgetting=Forgetting(100), rng=0)
    pol.update(np.ones((10, 1)), np.zeros(10, np.int64), np.ones(10))
    pol.select_batch(np.ones((100, 1)))
    pol.update(np.ones((1, 1)), np.array([1]), np.array([0.0]))
    np.testing.assert_allclose(pol.count_, [5.0, 1.0])
    pol.update(np.ones((1, 1)), np.array([1]), np.array([0.0]))  # no decisions since
    np.testing.assert_allclose(pol.count_, [5.0, 2.0])


def test_observations_clock() -> None:
    pol = LinearTS(2, 1, forgetting=Forgetting(10, "observations"), rng=0)
    pol.update(np.ones((10, 1)), np.zeros(10, np.int64), np.ones(10))
    pol.update(np.ones((10, 1)), np.ones(10, np.int64), np.ones(10))
    np.testing.assert_allclose(pol.count_, [5.0, 10.0])


def _recovery(forgetting: Forgetting | None, seed: int) -> int:
    """Two arms, Bernoulli 0.3 vs 0.1; they swap after 20 batches of 200
    (rewards one batch late). Batches after the swap until the policy earns
    90% of the oracle's expected reward in a batch."""
    rng = np.random.default_rng(seed)
    pol = LinearTS(2, 1, forgetting=forgetting, rng=seed)
    X = np.ones((200, 1))
    pending = None
    for t in range(80):
        p = np.array([0.3, 0.1]) if t < 20 else np.array([0.1, 0.3])
        arms, _ = pol.select_batch(X)
        if t > 20 and p[arms].mean() >= 0.9 * 0.3:
            return t - 20
        if pending is not None:
            pol.update(*pending)
        pending = (X, arms, (rng.random(200) < p[arms]).astype(float))
    return 60


def test_forgetting_recovers_faster(seed: int) -> None:
    """Without forgetting, 4000 observations of the old best arm take more than
    the 60 batches left to outweigh (measured 58-60 over these seeds); with a
    half-life of 500 decisions 4-6 batches do. We require <= 10 and half."""
    with_f = _recovery(Forgetting(500), seed)
    without = _recovery(None, seed)
    assert with_f <= 10, (with_f, without)
    assert 2 * with_f <= without, (with_f, without)
