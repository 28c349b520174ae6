"""Bandit quality: cumulative expected reward as a share of the oracle's.

Usage::

    python benchmarks/bandit_quality.py                # 3 seeds, 80 batches of 500
    python benchmarks/bandit_quality.py --seeds 1 --batches 30

Problems (see ``bandit_problems.py``): the simulated bank's 10 offers
(conversion reward; and value-aware, value = the offer's margin), and a
synthetic logistic problem (K = 8, d = 12). Each policy sees the same
customers, the same first two uniformly random batches, and rewards one batch
late (batches of 500). Peers in the same run: MABWiser LinUCB and LinTS (their
default alpha = 1 and a tuned alpha = 0.25) and Vowpal Wabbit
``--cb_explore_adf --squarecb``. Without a notion of value per conversion,
peers learn value x conversion as their reward in the value-aware problem;
ours learn conversions and choose by value x acceptance.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from bandit_problems import (
    OUT,
    MabWiser,
    Ours,
    SimOffers,
    SyntheticLogistic,
    VowpalSquareCB,
    run,
    sim_bank,
)
from mabwiser.mab import MAB, LearningPolicy

from nbo_engine.bandit import (
    EpsilonGreedy,
    LinearTS,
    LinUCB,
    LogisticTS,
    LogisticUCB,
)


def adapters(k: int, d: int, seed: int) -> list[Any]:
    def mw(policy: Any) -> Callable[[], Any]:
        return lambda: MAB(list(range(k)), policy, seed=seed)

    return [
        Ours("ours LinUCB", LinUCB(k, d, rng=seed)),
        Ours("ours LinearTS", LinearTS(k, d, rng=seed)),
        Ours("ours EpsilonGreedy", EpsilonGreedy(k, d, rng=seed)),
        Ours("ours LogisticTS", LogisticTS(k, d, rng=seed)),
        Ours("ours LogisticUCB", LogisticUCB(k, d, rng=seed)),
        MabWiser("MABWiser LinUCB a=1", mw(LearningPolicy.LinUCB(alpha=1.0)), k),
        MabWiser("MABWiser LinUCB a=0.25", mw(LearningPolicy.LinUCB(alpha=0.25)), k),
        MabWiser("MABWiser LinTS a=1", mw(LearningPolicy.LinTS(alpha=1.0)), k),
        MabWiser("MABWiser LinTS a=0.25", mw(LearningPolicy.LinTS(alpha=0.25)), k),
        VowpalSquareCB("VW cb_explore_adf squarecb", k, seed),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--batches", type=int, default=80)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--customers", type=int, default=20_000)
    args = ap.parse_args()
    folder = sim_bank(args.customers)
    sim = SimOffers(folder)
    problems: list[Callable[[int], Any]] = [
        lambda s: sim,
        lambda s: SimOffers(folder, value_aware=True),
        lambda s: SyntheticLogistic(seed=s),
    ]
    results: dict[str, dict[str, list[float]]] = {}
    seconds: dict[str, float] = {}
    for make in problems:
        for seed in range(args.seeds):
            prob = make(seed)
            for ad in adapters(prob.n_arms, prob.n_features, seed):
                t0 = time.perf_counter()
                res = run(ad, prob, n_batches=args.batches, batch=args.batch, seed=seed)
                seconds[ad.name] = seconds.get(ad.name, 0.0) + time.perf_counter() - t0
                results.setdefault(prob.name, {}).setdefault(ad.name, []).append(
                    res.ratio
                )
                print(
                    f"{prob.name:20s} seed {seed} {ad.name:28s} {res.ratio:.4f}",
                    flush=True,
                )
    n_dec = args.batches * args.batch
    print(
        f"\nCumulative expected reward / oracle's over {n_dec:,} decisions "
        f"(batches of {args.batch}, rewards one batch late), mean +- sd over "
        f"{args.seeds} seeds"
    )
    names = list(next(iter(results.values())))
    header = f"{'policy':28s}" + "".join(f"{p:>22s}" for p in results)
    print(header)
    for name in names:
        row = f"{name:28s}"
        for prob in results:
            v = np.array(results[prob][name])
            row += f"{v.mean():>15.4f} +-{v.std():.4f}"
        print(row)
    OUT.mkdir(exist_ok=True)
    (OUT / "bandit_quality.json").write_text(
        json.dumps(
            {
                "decisions": n_dec,
                "batch": args.batch,
                "seeds": args.seeds,
                "ratio_to_oracle": results,
                "seconds_total": seconds,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
