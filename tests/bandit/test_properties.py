"""Hypothesis properties: propensities are a distribution over the eligible
arms, and scores do not depend on the order of the offers."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.bandit.conftest import DETERMINISTIC_DISTRIBUTION, POLICIES, make_problem

names = st.sampled_from(sorted(POLICIES))


@st.composite
def masks(draw: st.DrawFn, n: int, k: int) -> np.ndarray:
    bits = draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k))
    m = np.array(bits, dtype=bool).reshape(n, k)
    forced = draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n))
    m[np.arange(n), forced] = True  # at least one eligible arm per row
    return m


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=names,
    seed=st.integers(0, 2**16),
    n_logged=st.integers(0, 300),
    data=st.data(),
)
def test_probabilities_are_a_distribution_over_eligible(
    name: str, seed: int, n_logged: int, data: st.DataObject
) -> None:
    prob = make_problem(seed=seed % 7)
    pol = POLICIES[name](prob.n_arms, prob.n_features, rng=seed)
    rng = np.random.default_rng(seed)
    if n_logged:
        pol.update(*prob.logged(n_logged, rng))
    X = prob.contexts(6, rng)
    el = data.draw(masks(6, prob.n_arms))
    use_values = data.draw(st.booleans())
    vals = rng.uniform(0.5, 20.0, (6, prob.n_arms)) if use_values else None
    P = pol.probabilities(X, el, values=vals)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, atol=1e-12)
    assert (P[~el] == 0).all()
    assert ((P[el] >= 0) & (P[el] <= 1)).all()
    if name not in DETERMINISTIC_DISTRIBUTION:
        assert (P[el] >= pol.propensity_floor - 1e-15).all()  # type: ignore[attr-defined]
    arms, props = pol.select_batch(X, el, values=vals)
    assert el[np.arange(6), arms].all()
    assert ((props > 0) & (props <= 1)).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=names, seed=st.integers(0, 2**16), perm_seed=st.integers(0, 2**16))
def test_permuting_arms_permutes_the_choices(
    name: str, seed: int, perm_seed: int
) -> None:
    """Relabel the arms by a permutation pi (arm k becomes pi[k]) in the data,
    the mask and the values: the distribution is permuted the same way. The
    closed forms agree to rounding (1e-9); the Monte Carlo ones (4000 draws,
    sd <= 0.008) within 0.05."""
    prob = make_problem(seed=seed % 7)
    k = prob.n_arms
    pi = np.random.default_rng(perm_seed).permutation(k)
    rng = np.random.default_rng(seed)
    X, arms, r = prob.logged(300, rng)
    Xt = prob.contexts(5, rng)
    el = rng.random((5, k)) < 0.7
    el[:, 0] = True
    vals = rng.uniform(1, 5, k)
    kw = {} if name in DETERMINISTIC_DISTRIBUTION else {"n_draws": 4000}
    a = POLICIES[name](k, prob.n_features, rng=1, **kw)
    b = POLICIES[name](k, prob.n_features, rng=2, **kw)
    a.update(X, arms, r)
    b.update(X, pi[arms], r)
    # Column pi[j] of b's inputs is column j of a's.
    el_b = np.empty_like(el)
    el_b[:, pi] = el
    vals_b = np.empty_like(vals)
    vals_b[pi] = vals
    Pa = a.probabilities(Xt, el, values=vals)
    Pb = b.probabilities(Xt, el_b, values=vals_b)
    tol = 1e-9 if name in DETERMINISTIC_DISTRIBUTION else 0.05
    np.testing.assert_allclose(Pb[:, pi], Pa, atol=tol)
    if name == "LinUCB":  # deterministic choice (no ties after data)
        ca, _ = a.select_batch(Xt, el, values=vals)
        cb, _ = b.select_batch(Xt, el_b, values=vals_b)
        np.testing.assert_array_equal(cb, pi[ca])
