"""Fixtures for the bandit tests: one factory per policy, a seeded logistic
problem, and a seed fixture (stochastic tests must pass for every seed)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from nbo_engine.bandit import (
    BanditPolicy,
    EpsilonGreedy,
    LinearTS,
    LinUCB,
    LogisticTS,
    LogisticUCB,
)

Factory = Callable[..., BanditPolicy]

#: Each policy with the parameters the shared suites use.
POLICIES: dict[str, Factory] = {
    "LinUCB": lambda k, d, **kw: LinUCB(k, d, alpha=1.0, **kw),
    "LinearTS": lambda k, d, **kw: LinearTS(k, d, alpha=1.0, **kw),
    "EpsilonGreedy": lambda k, d, **kw: EpsilonGreedy(k, d, epsilon=0.1, **kw),
    "LogisticTS": lambda k, d, **kw: LogisticTS(k, d, alpha=0.5, **kw),
    "LogisticUCB": lambda k, d, **kw: LogisticUCB(k, d, alpha=0.5, **kw),
}

#: Policies whose choice distribution is a closed form (no Monte Carlo).
DETERMINISTIC_DISTRIBUTION = ("LinUCB", "EpsilonGreedy", "LogisticUCB")


@pytest.fixture(params=list(POLICIES))
def policy_name(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def make_policy(policy_name: str) -> Factory:
    return POLICIES[policy_name]


@pytest.fixture(params=range(4))
def seed(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@dataclass(frozen=True)
class Problem:
    """A logistic contextual problem: P(r=1 | x, k) = sigmoid(x . W[k])."""

    weights: NDArray[np.float64]  # (K, d)

    @property
    def n_arms(self) -> int:
        return int(self.weights.shape[0])

    @property
    def n_features(self) -> int:
        return int(self.weights.shape[1])

    def contexts(self, n: int, rng: np.random.Generator) -> NDArray[np.float64]:
        X = rng.standard_normal((n, self.n_features))
        X[:, 0] = 1.0
        return X

    def probs(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        out: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-(X @ self.weights.T)))
        return out

    def logged(
        self, n: int, rng: np.random.Generator
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        """Uniformly logged data: contexts, arms, 0/1 rewards."""
        X = self.contexts(n, rng)
        arms = rng.integers(0, self.n_arms, n)
        p = self.probs(X)[np.arange(n), arms]
        return X, arms, (rng.random(n) < p).astype(np.float64)


def make_problem(n_arms: int = 5, n_features: int = 4, seed: int = 0) -> Problem:
    """Rare-ish rewards (base logit about -2) with arm-specific slopes."""
    rng = np.random.default_rng(1000 + seed)
    W = rng.normal(0.0, 0.8, (n_arms, n_features))
    W[:, 0] = rng.normal(-2.0, 0.5, n_arms)
    return Problem(W)


@pytest.fixture
def problem() -> Problem:
    return make_problem()


def trained(
    factory: Factory, problem: Problem, n: int = 600, seed: int = 0, **kw: Any
) -> BanditPolicy:
    """A policy updated with ``n`` uniformly logged rows of ``problem``."""
    pol = factory(problem.n_arms, problem.n_features, rng=seed, **kw)
    X, arms, r = problem.logged(n, np.random.default_rng(seed + 77))
    pol.update(X, arms, r)
    return pol
