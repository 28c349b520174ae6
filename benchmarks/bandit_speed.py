"""Bandit speed: ``select_batch`` decisions per second and ``select`` latency.

Usage::

    python benchmarks/bandit_speed.py                 # K = 20 arms, d = 32
    python benchmarks/bandit_speed.py --arms 10 --features 16

Every policy is first updated with 20,000 random rows. Batch throughput is the
best of 3 runs over ``--rows`` contexts (a quarter of them for the Monte Carlo
Thompson policies); latency is the median of 2,000 single ``select`` calls.
MABWiser's LinUCB and LinTS ``predict`` are measured on the same data in the
same run. BLAS runs on ``--blas-threads`` threads (default 1: on a shared
2-core machine a second BLAS thread that must wait for a core makes small
matrix products several times slower; pass 2 on an idle machine).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bandit_problems import OUT
from mabwiser.mab import MAB, LearningPolicy
from threadpoolctl import threadpool_limits

from nbo_engine.bandit import (
    EpsilonGreedy,
    LinearTS,
    LinUCB,
    LogisticTS,
    LogisticUCB,
)


def throughput(f: Callable[[Any], Any], X: np.ndarray, repeats: int = 3) -> float:
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        f(X)
        best = max(best, X.shape[0] / (time.perf_counter() - t0))
    return best


def latency_us(f: Callable[[Any], Any], X: np.ndarray, calls: int) -> float:
    for x in X[:50]:
        f(x)
    times = np.empty(calls)
    for i in range(calls):
        x = X[i % X.shape[0]]
        t0 = time.perf_counter()
        f(x)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--arms", type=int, default=20)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--blas-threads", type=int, default=1)
    args = ap.parse_args()
    with threadpool_limits(limits=args.blas_threads, user_api="blas"):
        measure(args)


def measure(args: argparse.Namespace) -> None:
    k, d = args.arms, args.features
    rng = np.random.default_rng(0)
    Xfit = rng.standard_normal((20_000, d))
    arms = rng.integers(0, k, 20_000)
    r = (rng.random(20_000) < 0.1).astype(float)
    X = rng.standard_normal((args.rows, d))
    out: dict[str, dict[str, float]] = {}
    ours = {
        "ours LinUCB": LinUCB(k, d, rng=0),
        "ours EpsilonGreedy": EpsilonGreedy(k, d, rng=0),
        "ours LogisticUCB": LogisticUCB(k, d, rng=0),
        "ours LinearTS": LinearTS(k, d, rng=0),
        "ours LogisticTS": LogisticTS(k, d, rng=0),
    }
    for name, pol in ours.items():
        pol.update(Xfit, arms, r)
        rows = X if "TS" not in name else X[: args.rows // 4]
        out[name] = {
            "batch_decisions_per_s": throughput(
                lambda Z, p=pol: p.select_batch(Z), rows
            ),
            "select_latency_us": latency_us(lambda x, p=pol: p.select(x), X, 2000),
        }
        print(
            f"{name:22s} {out[name]['batch_decisions_per_s']:>14,.0f}/s {out[name]['select_latency_us']:8.1f} us",
            flush=True,
        )
    for name, policy in (
        ("MABWiser LinUCB", LearningPolicy.LinUCB(alpha=1.0)),
        ("MABWiser LinTS", LearningPolicy.LinTS(alpha=1.0)),
    ):
        mab = MAB(list(range(k)), policy, seed=0)
        mab.fit(arms, r, Xfit)
        out[name] = {
            "batch_decisions_per_s": throughput(mab.predict, X[: args.rows // 8]),
            "select_latency_us": latency_us(
                lambda x, m=mab: m.predict(x[None, :]), X, 300
            ),
        }
        print(
            f"{name:22s} {out[name]['batch_decisions_per_s']:>14,.0f}/s {out[name]['select_latency_us']:8.1f} us",
            flush=True,
        )
    print(
        f"\nK = {k} arms, d = {d} features, {os.cpu_count()} CPUs, "
        f"{args.blas_threads} BLAS thread(s), load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'policy':22s} {'select_batch decisions/s':>26s} {'select latency (us)':>20s}"
    )
    for name, v in out.items():
        print(
            f"{name:22s} {v['batch_decisions_per_s']:>26,.0f} {v['select_latency_us']:>20.1f}"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "bandit_speed.json").write_text(
        json.dumps(
            {
                "arms": k,
                "features": d,
                "blas_threads": args.blas_threads,
                "load_average": os.getloadavg()[0],
                "results": out,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
