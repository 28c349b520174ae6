"""Fixtures for the experiments package: seeds and experiment factories."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from nbo_engine.experiments import ExperimentSpec, parse_experiment

SEEDS = range(3)


@pytest.fixture(params=SEEDS)
def seed(request: pytest.FixtureRequest) -> int:
    """Stochastic checks run for every seed and must pass for each."""
    value: int = request.param
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def experiment(**overrides: Any) -> ExperimentSpec:
    """A valid two-arm offer experiment; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "name": "card-test",
        "kind": "offer",
        "start": "2025-01-01",
        "variants": [
            {"name": "control", "weight": 0.5, "control": True},
            {"name": "cashback", "weight": 0.5, "treatment": "cc_cashback"},
        ],
        "metrics": {"primary": "conversion", "guardrails": ["churn"]},
    }
    base.update(overrides)
    return parse_experiment(base)


@pytest.fixture
def make_experiment() -> Callable[..., ExperimentSpec]:
    return experiment


def string_ids(n: int, start: int = 0) -> np.ndarray:
    """Customer ids in the simulator's format (``C`` + 8 digits), vectorised."""
    digits = np.arange(start, start + n).astype("S8")
    return np.char.add(b"C", np.char.zfill(digits, 8)).astype("U9")
