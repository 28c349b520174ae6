"""Fixtures for the retune package: seeds, the catalogue spec, evidence
factories and the simulated bank's truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nbo_engine.experiments import GlobalHoldout
from nbo_engine.policy import PolicySpec, load_policy
from nbo_engine.retune import CellEffect, Evidence
from nbo_engine.simulate import SimConfig, World, simulate_bank

CATALOG = Path(__file__).resolve().parents[2] / "policies" / "catalog.yaml"
WEEK = (dt.date(2026, 4, 6), dt.date(2026, 4, 13))
TODAY = dt.date(2026, 4, 13)
HOLDOUT = GlobalHoldout(salt="gh-2026", share=0.02)
SEEDS = range(3)


@pytest.fixture(params=SEEDS)
def seed(request: pytest.FixtureRequest) -> int:
    """Stochastic checks run for every seed and must pass for each."""
    value: int = request.param
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="session")
def catalog() -> PolicySpec:
    return load_policy(CATALOG)


def cell(
    offer: str = "cc_cashback",
    segment: str = "stretched_borrowers",
    estimate: float = -8.0,
    se: float = 1.0,
    n_treated: int = 1000,
    n_control: int = 1000,
    **kw: Any,
) -> CellEffect:
    """A cell; by default confidently harmful."""
    return CellEffect(offer, segment, estimate, se, n_treated, n_control, **kw)


def evidence(cells: Sequence[CellEffect] = (), **kw: Any) -> Evidence:
    """Evidence for the week ``WEEK`` with the global holdout ``HOLDOUT``."""
    kw.setdefault("global_holdout", HOLDOUT)
    return Evidence(WEEK[0], WEEK[1], cells=tuple(cells), **kw)


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """A 4,000-customer simulated bank (half a year): its true offer effects."""
    out = tmp_path_factory.mktemp("retune_world")
    simulate_bank(SimConfig(customers=4000, weeks=26, seed=7, dirt=0.0), out)
    return World.load(out)
