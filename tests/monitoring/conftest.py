"""Fixtures of the monitoring tests: a seed fixture (stochastic checks must
pass for every seed) and synthetic snapshots with known drift."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

SEEDS = range(10)


@pytest.fixture(params=SEEDS)
def seed(request: pytest.FixtureRequest) -> int:
    value: int = request.param
    return value


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def snapshots(
    rng: np.random.Generator, n: int = 4000
) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Two independent draws of a customer base; in the second, some columns
    move (the returned set), the others keep their distribution.

    The shifts are of a size a monitor must catch (0.5 sd in location, a
    doubled churn rate, a segment growing from 20% to 35%, missing values
    appearing in 15% of rows); everything else is drawn afresh from the same
    law, so only sampling noise separates it.
    """

    def base(m: int) -> dict[str, np.ndarray]:
        return {
            "age": rng.normal(45, 12, m),
            "tenure_days": rng.gamma(2.0, 700.0, m),
            "n_products": rng.poisson(2.0, m).astype(np.float64),
            "bal_deposits": rng.lognormal(8, 1.2, m),
            "churn_90d": rng.beta(1.2, 18, m),
            "clv_12m": rng.gamma(1.5, 400.0, m),
            "svc_complaints_365": rng.poisson(0.2, m).astype(np.float64),
            "dig_logins_30": rng.poisson(6.0, m).astype(np.float64),
        }

    ref = pd.DataFrame(base(n))
    ref["value_tier"] = rng.choice(["low", "mid", "high"], n, p=[0.5, 0.3, 0.2])
    ref["life_stage"] = rng.choice(["young", "family", "retired"], n)
    cur = pd.DataFrame(base(n))
    cur["age"] += 6.0  # 0.5 sd
    cur["churn_90d"] = np.clip(cur["churn_90d"] * 2.0, 0, 1)
    gone = rng.random(n) < 0.15
    cur.loc[gone, "bal_deposits"] = np.nan
    cur["value_tier"] = rng.choice(["low", "mid", "high"], n, p=[0.4, 0.25, 0.35])
    cur["life_stage"] = rng.choice(["young", "family", "retired"], n)
    return ref, cur, {"age", "churn_90d", "bal_deposits", "value_tier"}
