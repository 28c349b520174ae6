"""Fixtures for the CLV tests: exact samplers of the models, simulated banks.

The samplers draw customers exactly from BG/NBD, MBG/NBD, Pareto/NBD and
Gamma-Gamma (vectorised), so a fit can be checked against known parameters
without the simulator's other processes. The simulator fixtures build the
transaction log in memory (``draw_population`` + ``simulate_history``), without
writing the bank's files.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray

from nbo_engine.simulate.history import History, simulate_history
from nbo_engine.simulate.market import draw_market
from nbo_engine.simulate.params import (
    SEGMENTS,
    ChurnSpec,
    SegmentSpec,
    SimConfig,
    WorldParams,
)
from nbo_engine.simulate.population import Population, draw_population

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Sample:
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    m: FloatArray  # mean repeat spend (0 where x == 0)


def sample_purchases(
    rng: np.random.Generator,
    model: str,
    params: tuple[float, float, float, float],
    T: FloatArray,
    spend: tuple[float, float, float] = (6.0, 4.0, 15.0),
) -> Sample:
    """``T.size`` customers drawn exactly from ``model`` with ``params``."""
    n = T.size
    r, alpha, a_or_s, b_or_beta = params
    lam = rng.gamma(r, 1.0 / alpha, n)
    if model == "pareto_nbd":
        mu = rng.gamma(a_or_s, 1.0 / b_or_beta, n)
        life = np.minimum(rng.exponential(1.0 / mu), T)
        x = rng.poisson(lam * life)
        t_x = np.where(x > 0, life * rng.beta(np.maximum(x, 1), 1.0), 0.0)
    else:
        p = rng.beta(a_or_s, b_or_beta, n)
        n_all = rng.poisson(lam * T)
        j = rng.geometric(p)  # death at the j-th repeat purchase
        if model == "mbgnbd":
            j = j - 1  # ... or right after the first purchase
        x = np.minimum(n_all, j)
        t_x = np.where(
            x > 0,
            T * rng.beta(np.maximum(x, 1), np.maximum(n_all - x + 1, 1)),
            0.0,
        )
    p_gg, q_gg, g_gg = spend
    nu = rng.gamma(q_gg, 1.0 / g_gg, n)
    xs = np.maximum(x, 1)
    m = np.where(x > 0, rng.gamma(p_gg * xs, 1.0 / (xs * nu)), 0.0)
    return Sample(x.astype(np.float64), t_x, T.astype(np.float64), m)


@pytest.fixture
def sampler() -> Callable[..., Sample]:
    return sample_purchases


@pytest.fixture(params=[0, 1, 2])
def clv_seed(request: pytest.FixtureRequest) -> int:
    """Stochastic tests run over several seeds and must pass for each."""
    return int(request.param)


@dataclass(frozen=True)
class SimulatedBank:
    pop: Population
    hist: History
    start: np.datetime64
    weeks: int

    def log(self) -> pd.DataFrame:
        """Transactions (trial + repeat purchases) as a normalised log."""
        h = self.hist
        sec = np.round(h.purchase_time * 7 * 86400).astype(np.int64)
        dates = self.start.astype("datetime64[s]") + sec.astype("timedelta64[s]")
        return pd.DataFrame(
            {
                "customer_id": self.pop.customer_id[h.purchase_customer].astype(object),
                "date": dates.astype("datetime64[ns]"),
                "amount": h.purchase_amount,
            }
        )

    def repeat_mean_spend(self) -> FloatArray:
        """Mean amount of each customer's repeat purchases (0 without any)."""
        h = self.hist
        n = self.pop.n
        first = np.ones(h.purchase_customer.size, dtype=bool)
        first[1:] = h.purchase_customer[1:] != h.purchase_customer[:-1]
        c = h.purchase_customer[~first]
        total = np.bincount(c, weights=h.purchase_amount[~first], minlength=n)
        return np.where(h.repeat_x > 0, total / np.maximum(h.repeat_x, 1), 0.0)


def simulate(
    n: int,
    seed: int,
    weeks: int = 104,
    closure: bool = True,
    segments: tuple[SegmentSpec, ...] = SEGMENTS,
) -> SimulatedBank:
    """The simulator's latent history for ``n`` customers (no files).

    ``closure=False`` switches relationship closure off (log hazards of -60),
    so purchases are exactly BG/NBD within each segment; ``segments`` narrows
    the population to some of the simulator's segments.
    """
    churn = (
        ChurnSpec()
        if closure
        else ChurnSpec(log_base_active=-60.0, log_base_dormant=-60.0)
    )
    params = WorldParams(segments=segments, churn=churn)
    cfg = SimConfig(customers=n, weeks=weeks, seed=seed)
    start = np.datetime64(cfg.start_date, "D")
    end = np.datetime64(cfg.end_date, "D")
    market = draw_market(np.random.default_rng([seed, 1_000_003]), start, weeks)
    rng = np.random.default_rng([seed, 0])
    pop = draw_population(rng, params.segments, 0, 0, n, end, weeks)
    hist = simulate_history(rng, params, pop, market, (), start, weeks)
    return SimulatedBank(pop, hist, start, weeks)


@pytest.fixture(scope="session")
def small_sim() -> SimulatedBank:
    """4,000 simulated customers over two years (a few seconds)."""
    return simulate(4000, seed=21)


@pytest.fixture(scope="session")
def big_sim_no_closure() -> SimulatedBank:
    """200,000 customers, relationship closure off: exact BG/NBD per segment
    (about 40 s)."""
    return simulate(200_000, seed=5, closure=False)
