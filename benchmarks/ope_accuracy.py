"""Accuracy of the off-policy estimators on logs from the simulated bank.

For each reward (30-day conversion, 13-week retention), target policy (near:
15% of the logging policy's mass moved to a greedy policy; far: 90% greedy),
sample size and replication: customers are drawn from a simulated bank,
contexts are built from observable attributes only, the logging policy (a
softmax mixed with 20% uniform, propensities >= 0.02) picks offers and rewards
are drawn from the world's true probabilities. The target's true value is
computed exactly from the same probabilities. Reported per estimator: bias,
RMSE, coverage and mean width of the 95% interval, effective sample size.

Peers: Open Bandit Pipeline (``obp``) is the reference OPE library but needs
torch, which this project does not install; its IPW/SNIPW/DR/Switch-DR/DRos
formulas are the ones implemented here (see tests/evaluation/test_ope.py for
the row-by-row transcription). Two baselines are measured in the same run:
the direct method (``dm``: the reward model alone, no correction) and DR with
the *true* reward function (``dr-oracle``), the best any reward model can do.

Run:  .venv/bin/python benchmarks/ope_accuracy.py [--replications 100]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.evaluation.ope import cross_fit_ridge_rewards, estimate_policy_value
from nbo_engine.simulate import SimConfig, World, simulate_bank

OUT = Path(__file__).parent / "out" / "ope_accuracy.json"
CONFIG = SimConfig(customers=8000, weeks=26, seed=21, dirt=0.0)
INCOME = {"<20k": 0, "20-40k": 1, "40-70k": 2, "70-100k": 3, "100k+": 4}
OCCUPATIONS = ("employed", "self_employed", "student", "retired", "unemployed")
METHODS = ("ips", "snips", "dm", "dr", "switch-dr", "dr-os", "dr-oracle")


def _softmax(s: NDArray[np.float64]) -> NDArray[np.float64]:
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def build_bank(out: Path) -> dict[str, NDArray[np.float64]]:
    simulate_bank(CONFIG, out)
    world = World.load(out)
    cust = pd.read_csv(out / "customers.csv", parse_dates=["birth_date", "join_date"])
    acc = pd.read_csv(out / "accounts.csv")
    end = pd.Timestamp(CONFIG.end_date)
    x = pd.DataFrame(index=cust["customer_id"])
    x["age"] = ((end - cust["birth_date"]).dt.days / 365.25).to_numpy()
    x["income"] = cust["income_band"].map(INCOME).fillna(-1).to_numpy()
    x["dependants"] = cust["dependants"].fillna(0).to_numpy()
    x["tenure"] = ((end - cust["join_date"]).dt.days / 365.25).to_numpy()
    for occ in OCCUPATIONS:
        x[f"occ_{occ}"] = (cust["occupation"] == occ).to_numpy(float)
    held = acc[acc["close_date"].isna()]
    held = pd.crosstab(held["customer_id"], held["product"]).clip(upper=1)
    x = x.join(held.add_prefix("held_")).fillna(0.0)
    z = ((x - x.mean()) / x.std().replace(0.0, 1.0)).to_numpy()
    ids = x.index.to_numpy(str)
    k = len(world.offer_ids)
    p = world.probabilities(np.repeat(ids, k), np.tile(world.offer_ids, ids.size))
    g = np.random.default_rng(0)
    logging = 0.8 * _softmax(z @ g.normal(0, 0.5, (z.shape[1], k))) + 0.2 / k
    greedy = np.eye(k)[np.argmax(z @ g.normal(0, 1.0, (z.shape[1], k)), axis=1)]
    greedy = 0.9 * greedy + 0.1 / k
    return {
        "contexts": z,
        "convert": p.p_convert_treated.reshape(-1, k),
        "retain": 1.0 - p.p_churn_treated.reshape(-1, k),
        "logging": logging,
        "near": 0.85 * logging + 0.15 * greedy,
        "far": greedy,
    }


def run(
    bank: dict[str, NDArray[np.float64]], reward: str, target: str, n: int, reps: int
) -> dict[str, dict[str, float]]:
    table, pi_all, mu_all = bank[reward], bank[target], bank["logging"]
    truth = float(np.mean(np.sum(pi_all * table, axis=1)))
    k = mu_all.shape[1]
    res: dict[str, list[tuple[float, bool, float]]] = {m: [] for m in METHODS}
    ess: list[float] = []
    seconds: dict[str, float] = dict.fromkeys(METHODS, 0.0)
    for rep in range(reps):
        rng = np.random.default_rng(1_000_000 + rep)
        idx = rng.integers(0, table.shape[0], n)
        cum = mu_all[idx].cumsum(axis=1)
        a = np.minimum((rng.random(n)[:, None] > cum).sum(axis=1), k - 1)
        r = (rng.random(n) < table[idx, a]).astype(float)
        mu, pi, x = mu_all[idx, a], pi_all[idx], bank["contexts"][idx]
        t0 = time.perf_counter()
        q = cross_fit_ridge_rewards(x, a, r, k)
        fit = time.perf_counter() - t0
        for m in METHODS:
            t0 = time.perf_counter()
            if m == "dm":
                v = np.sum(pi * q, axis=1)
                est, se = float(v.mean()), float(v.std(ddof=1) / np.sqrt(n))
                lo, hi = est - 1.96 * se, est + 1.96 * se
            else:
                e = estimate_policy_value(
                    r,
                    a,
                    mu,
                    pi,
                    method="dr" if m == "dr-oracle" else m,  # type: ignore[arg-type]
                    reward_model=table[idx] if m == "dr-oracle" else q,
                )
                est, lo, hi = e.value, e.ci_low, e.ci_high
                if m == "ips":
                    ess.append(e.effective_sample_size)
            seconds[m] += (
                time.perf_counter()
                - t0
                + (fit if m not in ("ips", "snips", "dr-oracle") else 0.0)
            )
            res[m].append((est - truth, lo <= truth <= hi, hi - lo))
    out: dict[str, dict[str, float]] = {}
    for m, rows in res.items():
        arr = np.array(rows, dtype=float)
        out[m] = {
            "truth": truth,
            "bias": float(arr[:, 0].mean()),
            "rmse": float(np.sqrt(np.mean(arr[:, 0] ** 2))),
            "coverage": float(arr[:, 1].mean()),
            "width": float(arr[:, 2].mean()),
            "ess": float(np.mean(ess)),
            "ms_per_call": 1000 * seconds[m] / reps,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replications", type=int, default=100)
    ap.add_argument("--sizes", default="1000,3000,10000")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        bank = build_bank(Path(tmp))
    results = []
    header = f"{'reward':8} {'target':6} {'n':>6} {'method':10} {'bias':>9} {'rmse':>8} {'rmse/ips':>8} {'cover':>6} {'width':>8} {'ess':>7} {'ms':>6}"
    print(header)
    print("-" * len(header))
    for reward in ("convert", "retain"):
        for target in ("near", "far"):
            for n in sizes:
                t0 = time.perf_counter()
                out = run(bank, reward, target, n, args.replications)
                for m, s in out.items():
                    results.append(
                        {"reward": reward, "target": target, "n": n, "method": m, **s}
                    )
                    print(
                        f"{reward:8} {target:6} {n:>6} {m:10} {s['bias']:+9.5f} {s['rmse']:8.5f} "
                        f"{s['rmse'] / out['ips']['rmse']:8.2f} {s['coverage']:6.2f} {s['width']:8.5f} "
                        f"{s['ess']:7.0f} {s['ms_per_call']:6.1f}",
                        flush=True,
                    )
                print(f"  ({time.perf_counter() - t0:.0f} s)", flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "config": {
                    "customers": CONFIG.customers,
                    "weeks": CONFIG.weeks,
                    "seed": CONFIG.seed,
                },
                "replications": args.replications,
                "results": results,
            },
            indent=2,
        )
    )
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
