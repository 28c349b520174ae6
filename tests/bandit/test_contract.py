"""One suite run over every policy: the contract other code relies on."""

from __future__ import annotations

import numpy as np
import pytest

from nbo_engine.bandit import BanditPolicy
from tests.bandit.conftest import (
    DETERMINISTIC_DISTRIBUTION,
    Factory,
    Problem,
    trained,
)


def _state(pol: BanditPolicy) -> dict[str, np.ndarray]:
    return {n: getattr(pol, f"{n}_") for n in pol._array_shapes()}


def test_same_seed_same_choices(
    make_policy: Factory, problem: Problem, seed: int
) -> None:
    a = trained(make_policy, problem, seed=seed)
    b = trained(make_policy, problem, seed=seed)
    X = problem.contexts(300, np.random.default_rng(seed))
    arms_a, p_a = a.select_batch(X)
    arms_b, p_b = b.select_batch(X)
    np.testing.assert_array_equal(arms_a, arms_b)
    np.testing.assert_array_equal(p_a, p_b)
    assert [a.select(x) for x in X[:20]] == [b.select(x) for x in X[:20]]


def test_select_equals_select_batch_of_one(
    make_policy: Factory, problem: Problem
) -> None:
    a = trained(make_policy, problem)
    b = trained(make_policy, problem)
    X = problem.contexts(30, np.random.default_rng(5))
    for x in X:
        arm, p = a.select(x)
        arms, props = b.select_batch(x[None, :])
        assert (arm, p) == (int(arms[0]), float(props[0]))


def test_inputs_not_mutated(make_policy: Factory, problem: Problem) -> None:
    rng = np.random.default_rng(3)
    X, arms, r = problem.logged(200, rng)
    el = rng.random((200, problem.n_arms)) < 0.7
    el[:, 0] = True
    vals = rng.uniform(1, 5, (200, problem.n_arms))
    keep = [a.copy() for a in (X, arms, r, el, vals)]
    pol = make_policy(problem.n_arms, problem.n_features, rng=0)
    pol.update(X, arms, r, weights=np.ones(200))
    pol.select_batch(X, el, values=vals)
    pol.probabilities(X, el, values=vals)
    pol.select(X[0], el[0], values=vals[0])
    for before, after in zip(keep, (X, arms, r, el, vals), strict=True):
        np.testing.assert_array_equal(before, after)


def test_bytes_round_trip_is_exact(make_policy: Factory, problem: Problem) -> None:
    pol = trained(make_policy, problem)
    X = problem.contexts(100, np.random.default_rng(9))
    pol.select_batch(X)  # advance the clock and the generator
    clone = type(pol).from_bytes(pol.to_bytes())
    assert type(clone) is type(pol)
    assert repr(clone) == repr(pol)
    assert clone.decisions_ == pol.decisions_ == 100
    for name, arr in _state(pol).items():
        np.testing.assert_array_equal(getattr(clone, f"{name}_"), arr)
    # Same generator position: the restored policy makes the same choices.
    np.testing.assert_array_equal(clone.select_batch(X)[0], pol.select_batch(X)[0])
    generic = BanditPolicy.from_bytes(pol.to_bytes())
    assert type(generic) is type(pol)


def test_output_shapes_and_types(make_policy: Factory, problem: Problem) -> None:
    pol = trained(make_policy, problem)
    X = problem.contexts(7, np.random.default_rng(1))
    arms, props = pol.select_batch(X)
    assert arms.shape == (7,)
    assert arms.dtype == np.int64
    assert props.shape == (7,)
    assert props.dtype == np.float64
    arm, p = pol.select(X[0])
    assert type(arm) is int
    assert type(p) is float
    P = pol.probabilities(X)
    assert P.shape == (7, problem.n_arms)
    assert pol.predict(X).shape == (7, problem.n_arms)
    empty_arms, empty_props = pol.select_batch(np.empty((0, problem.n_features)))
    assert empty_arms.shape == (0,)
    assert empty_props.shape == (0,)


def test_propensities_in_unit_interval_and_eligibility(
    make_policy: Factory, problem: Problem, seed: int
) -> None:
    pol = trained(make_policy, problem, seed=seed)
    rng = np.random.default_rng(seed)
    X = problem.contexts(2000, rng)
    el = rng.random((2000, problem.n_arms)) < 0.4
    el[np.arange(2000), rng.integers(0, problem.n_arms, 2000)] = True
    arms, props = pol.select_batch(X, el)
    assert el[np.arange(2000), arms].all()
    assert ((props > 0) & (props <= 1)).all()
    shared = np.array([False, True, False, True, False])
    arms, props = pol.select_batch(X, shared)
    assert shared[arms].all()
    assert ((props > 0) & (props <= 1)).all()
    for x in X[:20]:
        arm, p = pol.select(x, shared)
        assert shared[arm]
        assert 0 < p <= 1


def test_propensity_is_the_probability_used(
    make_policy: Factory, problem: Problem, seed: int
) -> None:
    """The logged propensity is the entry of the distribution drawn from, and
    choice frequencies match it: for n independent draws the count of arm k
    has mean sum_i P_ik and variance sum_i P_ik (1 - P_ik); we allow 4.5 sd
    (two-sided p about 7e-6 per arm, so 20 comparisons stay far from flaky)."""
    pol = trained(make_policy, problem, seed=seed)
    x = problem.contexts(1, np.random.default_rng(seed))
    n = min(4000, pol.batch_rows)  # one block: distribution, then the draw
    X = np.repeat(x, n, axis=0)
    P = pol.copy().probabilities(X)  # same generator state -> same draws
    arms, props = pol.select_batch(X)
    np.testing.assert_array_equal(props, P[np.arange(n), arms])
    counts = np.bincount(arms, minlength=problem.n_arms)
    mean = P.sum(axis=0)
    sd = np.sqrt((P * (1 - P)).sum(axis=0))
    assert (np.abs(counts - mean) <= 4.5 * sd + 1e-9).all(), (counts, mean, sd)


def test_distribution_rows_sum_to_one(make_policy: Factory, problem: Problem) -> None:
    pol = trained(make_policy, problem)
    rng = np.random.default_rng(4)
    X = problem.contexts(500, rng)
    el = rng.random((500, problem.n_arms)) < 0.5
    el[:, 2] = True
    P = pol.probabilities(X, el)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (P[~el] == 0).all()
    assert (P >= 0).all()


def test_shared_mask_equals_broadcast_mask(
    make_policy: Factory, problem: Problem
) -> None:
    a = trained(make_policy, problem)
    b = trained(make_policy, problem)
    X = problem.contexts(100, np.random.default_rng(2))
    m = np.array([True, True, False, True, False])
    np.testing.assert_array_equal(
        a.select_batch(X, m)[0], b.select_batch(X, np.tile(m, (100, 1)))[0]
    )


def test_update_order_independent(make_policy: Factory, problem: Problem) -> None:
    """Permuting the rows of a batch leaves the learned state unchanged (sums
    in another order: equal up to rounding, 1e-9 relative)."""
    X, arms, r = problem.logged(400, np.random.default_rng(1))
    perm = np.random.default_rng(2).permutation(400)
    a = make_policy(problem.n_arms, problem.n_features, rng=0)
    b = make_policy(problem.n_arms, problem.n_features, rng=0)
    a.update(X, arms, r)
    b.update(X[perm], arms[perm], r[perm])
    for name, arr in _state(a).items():
        np.testing.assert_allclose(getattr(b, f"{name}_"), arr, rtol=1e-9, atol=1e-9)


def test_value_aware_choice(policy_name: str, make_policy: Factory) -> None:
    """Every arm converts at 30% whatever the context: the value per conversion
    alone decides. 3000 rows give each arm's estimate an sd near 0.02, so an
    arm worth 3x is best with certainty for the deterministic policies;
    epsilon-greedy keeps (1 - eps) + eps / K = 0.92 on it, Thompson sampling
    nearly all but the floor."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 3))
    X[:, 0] = 1.0
    pol = make_policy(5, 3, rng=1)
    pol.update(X, rng.integers(0, 5, 3000), (rng.random(3000) < 0.3).astype(float))
    vals = np.array([1.0, 1.0, 1.0, 3.0, 1.0])
    arms, _ = pol.select_batch(X[:1000], values=vals)
    expected = 0.92 if policy_name == "EpsilonGreedy" else 0.99
    assert float(np.mean(arms == 3)) >= expected - 0.03
    # Values per request (n, K) and shared (K,) agree.
    a = pol.copy()
    b = pol.copy()
    np.testing.assert_array_equal(
        a.select_batch(X[:50], values=vals)[0],
        b.select_batch(X[:50], values=np.tile(vals, (50, 1)))[0],
    )


@pytest.mark.parametrize("unit", ["decisions", "observations"])
def test_forgetting_round_trips(
    make_policy: Factory, problem: Problem, unit: str
) -> None:
    from nbo_engine.bandit import Forgetting

    pol = trained(make_policy, problem, forgetting=Forgetting(500, unit))  # type: ignore[arg-type]
    clone = type(pol).from_bytes(pol.to_bytes())
    assert clone.forgetting == pol.forgetting


def test_closed_form_policies_have_reproducible_distribution(
    policy_name: str, make_policy: Factory, problem: Problem
) -> None:
    if policy_name not in DETERMINISTIC_DISTRIBUTION:
        pytest.skip("Monte Carlo distribution")
    pol = trained(make_policy, problem)
    X = problem.contexts(50, np.random.default_rng(3))
    np.testing.assert_array_equal(pol.probabilities(X), pol.probabilities(X))
