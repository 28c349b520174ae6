"""Fixtures of the report tests: seeds, and the demo week rendered once."""

from __future__ import annotations

import numpy as np
import pytest

from nbo_engine.reports import WeeklyEvidence, render_html
from tests.reports.demo import demo_evidence

SEEDS = range(4)


@pytest.fixture(params=SEEDS)
def seed(request: pytest.FixtureRequest) -> int:
    """Stochastic checks run for every seed and must pass for each."""
    value: int = request.param
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def demo() -> WeeklyEvidence:
    return demo_evidence()


@pytest.fixture(scope="session")
def demo_html(demo: WeeklyEvidence) -> str:
    return render_html(demo)


@pytest.fixture(scope="session")
def hostile_html() -> str:
    return render_html(demo_evidence(n=3000, hostile=True))


@pytest.fixture(scope="session")
def small() -> WeeklyEvidence:
    """A smaller demo week, for pages rendered many times."""
    return demo_evidence(n=2000)
