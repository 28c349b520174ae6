"""Assignment throughput and bucket uniformity, ours vs hashlib SHA-256.

Usage::

    python benchmarks/experiments_assignment.py --n 10000000

Builds ``n`` customer ids in the simulator's format (``C`` + 8 digits) and times:

- ours, ``buckets``: one salted hash to buckets (numpy, vectorised);
- ours, ``assign``: global holdout + layer + variant (three hashes), on the same
  ids as numpy str (``U9``) and as int64 customer numbers;
- ours, ``assign_one``: the pure-Python single-unit form;
- peer: ``hashlib.sha256`` per id in a Python loop (what a SHA-256 recipe costs
  without a vectorised implementation), on a subset and scaled.

Then a chi-square test of the 10,000 bucket counts over all ``n`` ids.
Prints a table and writes ``benchmarks/out/experiments_assignment.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
from scipy import stats

from nbo_engine.experiments import (
    BUCKETS,
    GlobalHoldout,
    assign,
    assign_one,
    buckets,
    parse_experiment,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def customer_ids(n: int) -> np.ndarray:
    """``C%08d`` ids as a numpy ``U9`` array, built without Python strings."""
    digits = np.empty((n, 9), dtype=np.uint32)
    digits[:, 0] = ord("C")
    rest = np.arange(n, dtype=np.int64)
    for j in range(8, 0, -1):
        digits[:, j] = rest % 10 + 48
        rest //= 10
    return digits.view("U9").ravel()


def best_of(fn, repeat: int = 3) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Best wall time and the CPU time of that run (the machine may be shared:
    CPU time is what the code costs, wall time what it took)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        best = min(best, (time.perf_counter() - t0, time.process_time() - c0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000)
    ap.add_argument("--peer-n", type=int, default=200_000)
    args = ap.parse_args()
    n = args.n
    ids = customer_ids(n)
    ints = np.arange(n, dtype=np.int64)
    exp = parse_experiment(
        {
            "name": "bench",
            "kind": "offer",
            "start": "2025-01-01",
            "layer": {"name": "email", "start": 0, "end": 5000},
            "traffic": 0.5,
            "variants": [
                {"name": "control", "weight": 0.2, "control": True},
                {"name": "a", "weight": 0.4},
                {"name": "b", "weight": 0.4},
            ],
            "metrics": {"primary": "conversion"},
        }
    )
    holdout = GlobalHoldout(salt="gh-2025", share=0.02)
    rows = []

    def record(name: str, times: tuple[float, float], units: int) -> None:
        wall, cpu = times
        rows.append(
            {
                "case": name,
                "units": units,
                "seconds": wall,
                "cpu_seconds": cpu,
                "units_per_s": units / wall,
                "units_per_cpu_s": units / cpu,
            }
        )

    record(
        "ours: buckets, 1 hash (U9 ids)",
        best_of(lambda: buckets("exp", "bench", ids)),
        n,
    )
    record(
        "ours: assign, 3 hashes (U9 ids)", best_of(lambda: assign(exp, ids, holdout)), n
    )
    record(
        "ours: assign, 3 hashes (int64 ids)",
        best_of(lambda: assign(exp, ints, holdout)),
        n,
    )
    sub = ids[: args.peer_n].tolist()
    record(
        "ours: assign_one, Python loop",
        best_of(lambda: [assign_one(exp, u, holdout) for u in sub], 1),
        len(sub),
    )

    def sha() -> list[int]:
        return [
            int.from_bytes(
                hashlib.sha256(f"exp:bench:{u}".encode()).digest()[:8], "big"
            )
            % BUCKETS
            for u in sub
        ]

    record("peer: hashlib.sha256 per id, 1 hash", best_of(sha, 1), len(sub))

    counts = np.bincount(buckets("exp", "uniformity", ids), minlength=BUCKETS)
    chi = stats.chisquare(counts)
    print(
        f"\nAssignment, {n:,} ids (best of 3; Python loops once on {len(sub):,} ids)\n"
    )
    print(
        f"{'case':<42}{'wall s':>9}{'M units/s':>11}{'CPU s':>9}{'M units/CPU s':>15}"
    )
    for r in rows:
        scale = n / r["units"]
        print(
            f"{r['case']:<42}{r['seconds'] * scale:>9.3f}{r['units_per_s'] / 1e6:>11.2f}"
            f"{r['cpu_seconds'] * scale:>9.3f}{r['units_per_cpu_s'] / 1e6:>15.2f}"
        )
    print(
        f"\nuniformity: chi-square over {BUCKETS:,} buckets = {chi.statistic:,.0f} "
        f"(df {BUCKETS - 1}), p = {chi.pvalue:.3f}; min/max bucket {counts.min():,}/{counts.max():,}"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "experiments_assignment.json").write_text(
        json.dumps(
            {"n": n, "rows": rows, "chi2": chi.statistic, "chi2_p": chi.pvalue},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
