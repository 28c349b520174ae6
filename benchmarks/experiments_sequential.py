"""Sequential testing under peeking: false positive rate and power at equal n,
ours vs GrowthBook gbstats' sequential test, in the same run.

Usage::

    python benchmarks/experiments_sequential.py --reps 2000

The installed gbstats (0.2.1, pinned: later releases require numpy < 2 and
pandas < 2) has no sequential test. Its pure-Python frequentist module from
gbstats 0.8.0 runs here unchanged, so this script installs that release
without dependencies into ``benchmarks/out/peers/`` (``pip install --no-deps
--target``) and imports it from there; nothing in ``.venv`` changes.

Proportions with a 5% baseline; the planned total sample ``N*`` is the fixed
test's for a +10% relative effect at 80% power. Looks: 20 equal looks up to
``N*``, and 90 daily looks. For each: the A/A false positive rate when peeking at
every look (naive fixed-horizon test, ours tuned to ``N*``, gbstats with its
default tuning 5000 and tuned to ``N*``), and the power to detect the +10%
effect by ``N*`` (fixed test at ``N*`` only; sequential tests at every look).
Prints a table and writes ``benchmarks/out/experiments_sequential.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nbo_engine.experiments import (
    SampleStats,
    always_valid,
    proportion_effect,
    sample_size,
)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PEER = OUT / "peers" / "gbstats-0.8.0"


def load_gbstats() -> Any:
    if not (PEER / "gbstats" / "frequentist" / "tests.py").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--no-deps",
                "--target",
                str(PEER),
                "gbstats==0.8.0",
            ],
            check=True,
        )
    sys.path.insert(0, str(PEER))
    for name in [m for m in sys.modules if m == "gbstats" or m.startswith("gbstats.")]:
        del sys.modules[name]
    import gbstats.frequentist.tests as freq
    import gbstats.models.statistics as gbs

    assert Path(freq.__file__).is_relative_to(PEER)
    return freq, gbs


def simulate(
    rng: np.random.Generator,
    reps: int,
    looks: int,
    per_arm_per_look: int,
    p_c: float,
    p_t: float,
) -> tuple[SampleStats, SampleStats]:
    c = rng.binomial(per_arm_per_look, p_c, (reps, looks)).cumsum(1)
    t = rng.binomial(per_arm_per_look, p_t, (reps, looks)).cumsum(1)
    n = per_arm_per_look * np.arange(1, looks + 1) * np.ones((reps, 1))
    return SampleStats.from_proportion(n, c), SampleStats.from_proportion(n, t)


def gbstats_reject(
    freq: Any, gbs: Any, c: SampleStats, t: SampleStats, tuning: float, alpha: float
) -> np.ndarray:
    cfg = freq.SequentialConfig(
        difference_type="absolute", alpha=alpha, sequential_tuning_parameter=tuning
    )
    out = np.zeros(c.n.shape, dtype=bool)
    for i in range(c.n.shape[0]):
        for j in range(c.n.shape[1]):
            a = gbs.ProportionStatistic(n=int(c.n[i, j]), sum=float(c.sum[i, j]))
            b = gbs.ProportionStatistic(n=int(t.n[i, j]), sum=float(t.sum[i, j]))
            res = freq.SequentialTwoSidedTTest(a, b, cfg).compute_result()
            out[i, j] = res.ci[0] > 0 or res.ci[1] < 0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument(
        "--gbstats-reps", type=int, default=1000, help="gbstats runs in Python loops"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    freq, gbs = load_gbstats()
    alpha, base, mde = 0.05, 0.05, 0.1
    plan = sample_size(base, mde, power=0.8)
    n_star = plan.n_total
    rng = np.random.default_rng(args.seed)

    # same formula, same tuning: identical p-values (sanity check of the comparison)
    c0, t0 = (
        SampleStats.from_proportion(20_000, 1000),
        SampleStats.from_proportion(20_000, 1090),
    )
    ours5000 = always_valid(proportion_effect(c0, t0), 40_000, tuning_n=5000)
    ref = freq.SequentialTwoSidedTTest(
        gbs.ProportionStatistic(n=20_000, sum=1000),
        gbs.ProportionStatistic(n=20_000, sum=1090),
        freq.SequentialConfig(difference_type="absolute"),
    ).compute_result()
    same = abs(float(ours5000.p_value) - ref.p_value) / ref.p_value
    same_ci = abs(float(ours5000.ci_low) - ref.ci[0])

    rows = []
    for looks in (20, 90):
        per = int(np.ceil(plan.n_control / looks))
        for label, p_t in (
            ("A/A false positive rate", base),
            ("power at +10%", base * (1 + mde)),
        ):
            t_start = time.perf_counter()
            c, t = simulate(rng, args.reps, looks, per, base, p_t)
            e = proportion_effect(c, t, alpha)
            n_tot = c.n + t.n
            ours = always_valid(e, n_tot, tuning_n=n_star).reject.any(axis=1).mean()
            t_ours = time.perf_counter() - t_start
            naive = (e.p_value < alpha).any(axis=1).mean()
            fixed = (e.p_value[:, -1] < alpha).mean()
            k = args.gbstats_reps
            t0g = time.perf_counter()
            gb_default = (
                gbstats_reject(
                    freq, gbs, c.select(slice(0, k)), t.select(slice(0, k)), 5000, alpha
                )
                .any(axis=1)
                .mean()
            )
            t_gb = time.perf_counter() - t0g
            gb_tuned = (
                gbstats_reject(
                    freq,
                    gbs,
                    c.select(slice(0, k)),
                    t.select(slice(0, k)),
                    n_star,
                    alpha,
                )
                .any(axis=1)
                .mean()
            )
            ours_default = (
                always_valid(e, n_tot, tuning_n=5000).reject[:k].any(axis=1).mean()
            )
            rows.append(
                {
                    "looks": looks,
                    "what": label,
                    "fixed_at_horizon": float(fixed),
                    "naive_peeking": float(naive),
                    "ours_tuned": float(ours),
                    "ours_tuning_5000": float(ours_default),
                    "gbstats_default_5000": float(gb_default),
                    "gbstats_tuned": float(gb_tuned),
                    "ours_seconds": t_ours,
                    "gbstats_seconds": t_gb,
                    "reps": args.reps,
                    "gbstats_reps": k,
                }
            )
    print(
        f"\nSequential tests, proportions 5% baseline, N* = {n_star:,} (+10% at 80% power)"
    )
    print(
        f"gbstats 0.8.0 vs ours, same formula and tuning: p-values differ by {same:.1e} (relative), CI bounds by {same_ci:.1e}\n"
    )
    head = f"{'looks':>5}  {'':<24}{'fixed@N*':>9}{'naive':>8}{'ours(N*)':>10}{'ours(5000)':>11}{'gb(5000)':>10}{'gb(N*)':>8}"
    print(head)
    for r in rows:
        print(
            f"{r['looks']:>5}  {r['what']:<24}{r['fixed_at_horizon']:>9.3f}{r['naive_peeking']:>8.3f}"
            f"{r['ours_tuned']:>10.3f}{r['ours_tuning_5000']:>11.3f}{r['gbstats_default_5000']:>10.3f}{r['gbstats_tuned']:>8.3f}"
        )
    print(
        f"\n{args.reps:,} simulated experiments per row for ours ({args.gbstats_reps:,} for the gbstats columns "
        f"and ours(5000)); time per row: ours {np.mean([r['ours_seconds'] for r in rows]):.2f} s vectorised, "
        f"gbstats {np.mean([r['gbstats_seconds'] for r in rows]):.1f} s"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "experiments_sequential.json").write_text(
        json.dumps(
            {"n_star": n_star, "same_formula_rel_diff": same, "rows": rows}, indent=2
        )
    )


if __name__ == "__main__":
    main()
