"""Non-stationary response: the best offer changes half-way through.

Usage::

    python benchmarks/bandit_drift.py               # 3 seeds, 60 batches of 500
    python benchmarks/bandit_drift.py --half-life 2000 5000

The synthetic logistic problem (K = 8, d = 12) rotates its arms' coefficients
by one at the half-way batch (arm k takes arm k+1's response), so every offer's
best customers change. For each policy, with and without forgetting
(exponential discounting, half-life in decisions), we report the number of
decisions after the change until a batch earns 90% of the new oracle's
expected reward, and the share of the oracle earned after the change. Rewards
come back one batch late, as in ``bandit_quality.py``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable

import numpy as np
from bandit_problems import OUT, Ours, SyntheticLogistic, run

from nbo_engine.bandit import BanditPolicy, Forgetting, LinearTS, LinUCB, LogisticTS

POLICIES: dict[str, Callable[..., BanditPolicy]] = {
    "LinUCB": LinUCB,
    "LinearTS": LinearTS,
    "LogisticTS": LogisticTS,
}


def recovery(per: np.ndarray, oracle: np.ndarray, start: int, batch: int) -> int | None:
    """Decisions after ``start`` until a batch reaches 90% of the oracle."""
    ok = np.flatnonzero(per[start:] >= 0.9 * oracle[start:])
    return None if ok.size == 0 else int((ok[0] + 1) * batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--half-life", type=float, nargs="+", default=[2000.0, 5000.0])
    args = ap.parse_args()
    switch = args.batches // 2
    rows: dict[str, dict[str, list[float | None]]] = {}
    for seed in range(args.seeds):
        prob = SyntheticLogistic(seed=seed, switch_at=switch)
        for name, cls in POLICIES.items():
            options: list[tuple[str, Forgetting | None]] = [("no forgetting", None)]
            options += [(f"half-life {h:g}", Forgetting(h)) for h in args.half_life]
            for label, fg in options:
                pol = cls(prob.n_arms, prob.n_features, rng=seed, forgetting=fg)
                res = run(
                    Ours(name, pol),
                    prob,
                    n_batches=args.batches,
                    batch=args.batch,
                    seed=seed,
                )
                rec = recovery(res.per_batch, res.oracle_per_batch, switch, args.batch)
                after = float(
                    res.per_batch[switch:].sum() / res.oracle_per_batch[switch:].sum()
                )
                before = float(
                    res.per_batch[:switch].sum() / res.oracle_per_batch[:switch].sum()
                )
                key = f"{name}, {label}"
                d = rows.setdefault(key, {"recovery": [], "after": [], "before": []})
                d["recovery"].append(rec)
                d["after"].append(after)
                d["before"].append(before)
                print(
                    f"seed {seed} {key:34s} recovery {rec} after {after:.4f} before {before:.4f}",
                    flush=True,
                )
    print(
        f"\nBest offer changes after {switch * args.batch:,} decisions; "
        f"{args.seeds} seeds; batches of {args.batch}, rewards one batch late"
    )
    print(
        f"{'policy':34s} {'decisions to 90% (each seed)':>30s} {'share before':>13s} {'share after':>12s}"
    )
    for key, d in rows.items():
        rec = ", ".join("never" if r is None else f"{int(r):,}" for r in d["recovery"])
        print(
            f"{key:34s} {rec:>30s} {np.mean(d['before']):13.4f} {np.mean(d['after']):12.4f}"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / "bandit_drift.json").write_text(
        json.dumps(
            {
                "switch_decision": switch * args.batch,
                "batch": args.batch,
                "half_life": args.half_life,
                "results": rows,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
