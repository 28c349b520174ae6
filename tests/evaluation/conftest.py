"""Fixtures: a simulated bank's observable features and its world (truth)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest

from nbo_engine.evaluation.simulated import observable_features
from nbo_engine.simulate import SimConfig, World, simulate_bank

INPUTS = (
    "customers",
    "accounts",
    "transactions",
    "digital_events",
    "interactions",
    "bureau",
)


def load_features(directory: Path) -> pd.DataFrame:
    """Observable features from a simulated bank's input files (never truth/)."""
    frames = {n: pd.read_csv(directory / f"{n}.csv", engine="pyarrow") for n in INPUTS}
    meta = json.loads((directory / "truth" / "params.json").read_text())
    return observable_features(
        frames, dt.date.fromisoformat(meta["config"]["end_date"])
    )


@pytest.fixture(scope="session")
def uplift_bank(tmp_path_factory: pytest.TempPathFactory) -> tuple[World, pd.DataFrame]:
    """A clean 40,000-customer bank (one year): its world and observable features."""
    out = tmp_path_factory.mktemp("uplift_bank")
    simulate_bank(SimConfig(customers=40_000, weeks=52, seed=2, dirt=0.0), out)
    return World.load(out), load_features(out)
