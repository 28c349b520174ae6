"""Shared by the CLV benchmarks: a simulated transaction log, cached on disk.

Customers come from the simulator's population and weekly history
(``draw_population`` + ``simulate_history``, in chunks of 200,000 with their
own seeded streams), without writing the bank's other files. The log is cached
as Parquet under ``benchmarks/out/clv_work`` so reruns skip the simulation.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from nbo_engine.simulate.history import simulate_history
from nbo_engine.simulate.market import draw_market
from nbo_engine.simulate.params import SimConfig, WorldParams
from nbo_engine.simulate.population import draw_population

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
WORK = OUT / "clv_work"
CHUNK = 200_000


def simulated_log(customers: int, seed: int, weeks: int = 104) -> pd.DataFrame:
    """``customer_id``, ``date`` (datetime64), ``amount``: every purchase."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"log_{customers}_{seed}_{weeks}.parquet"
    if path.exists():
        return pd.read_parquet(path)
    t0 = time.perf_counter()
    params = WorldParams()
    cfg = SimConfig(customers=customers, weeks=weeks, seed=seed)
    start = np.datetime64(cfg.start_date, "D")
    end = np.datetime64(cfg.end_date, "D")
    market = draw_market(np.random.default_rng([seed, 1_000_003]), start, weeks)
    parts = []
    for first in range(0, customers, CHUNK):
        n = min(CHUNK, customers - first)
        rng = np.random.default_rng([seed, first // CHUNK])
        pop = draw_population(rng, params.segments, first, first, n, end, weeks)
        h = simulate_history(rng, params, pop, market, (), start, weeks)
        sec = np.round(h.purchase_time * 7 * 86400).astype(np.int64)
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": pop.customer_id[h.purchase_customer],
                    "date": (
                        start.astype("datetime64[s]") + sec.astype("timedelta64[s]")
                    ).astype("datetime64[ns]"),
                    "amount": np.round(np.maximum(h.purchase_amount, 0.01), 2),
                }
            )
        )
        print(
            f"  simulated {first + n:,} customers ({time.perf_counter() - t0:.0f} s)",
            flush=True,
        )
    log = pd.concat(parts, ignore_index=True)
    log.to_parquet(path)
    return log
