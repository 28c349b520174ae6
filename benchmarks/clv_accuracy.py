"""Holdout CLV accuracy: every nbo-engine model and lifetimes on simulated data.

Simulates ``--customers`` customers, calibrates on the history up to
``--calibration-end`` and scores the purchases and revenue of the holdout up
to ``--holdout-end`` with the metrics of ``nbo clv evaluate`` (per-customer
MAE of purchases, aggregate purchases, revenue MAE, Spearman, normalized Gini,
decile MAPE, top-decile revenue share), next to the predict-zero and
historical-average baselines. lifetimes' BG/NBD, MBG/NBD and Pareto/NBD (each
with its Gamma-Gamma) are scored the same way on the same summary.

Usage::

    python benchmarks/clv_accuracy.py --customers 50000 --freq W
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clv_sim import OUT, simulated_log

from nbo_engine.scoring import (
    calibration_holdout,
    evaluate_clv,
    holdout_metrics,
    normalize_transactions,
)

SHOW = (
    "purchases_mae",
    "purchases_predicted",
    "purchases_actual",
    "revenue_mae",
    "spearman",
    "normalized_gini",
    "decile_mape",
    "top_decile_revenue_share",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--freq", choices=["D", "W"], default="W")
    ap.add_argument("--calibration-end", default="2025-06-30")
    ap.add_argument("--holdout-end", default="2025-12-29")
    args = ap.parse_args()

    import lifetimes

    log = normalize_transactions(simulated_log(args.customers, args.seed))
    cal, hold = np.datetime64(args.calibration_end), np.datetime64(args.holdout_end)
    t0 = time.perf_counter()
    report = evaluate_clv(log, cal, hold, freq=args.freq)
    print(f"nbo-engine evaluation: {time.perf_counter() - t0:.1f} s", flush=True)
    results: dict[str, dict[str, Any]] = {
        f"nbo:{s.name}": {**s.metrics, "fit_seconds": s.fit_seconds}
        for s in report.scores
    }

    h = calibration_holdout(log, cal, hold, args.freq)
    s = h.calibration
    x, t_x, T, m = s.frequency, s.recency, s.T, s.monetary_value
    rep = x > 0
    for name, cls in (
        ("bgnbd", lifetimes.BetaGeoFitter),
        ("mbgnbd", lifetimes.ModifiedBetaGeoFitter),
        ("pareto_nbd", lifetimes.ParetoNBDFitter),
    ):
        t0 = time.perf_counter()
        try:
            f = cls().fit(x, t_x, T)
            gg = lifetimes.GammaGammaFitter().fit(x[rep], m[rep])
            pp = np.asarray(
                f.conditional_expected_number_of_purchases_up_to_time(
                    h.duration, x, t_x, T
                ),
                dtype=np.float64,
            )
            spend = np.asarray(
                gg.conditional_expected_average_profit(x, m), dtype=np.float64
            )
            nonfinite = int((~np.isfinite(pp)).sum())
            pp = np.where(np.isfinite(pp), pp, 0.0)
            results[f"lifetimes:{name}"] = {
                **holdout_metrics(
                    h.holdout_purchases, h.holdout_revenue, pp, pp * spend
                ),
                "fit_seconds": time.perf_counter() - t0,
                "nonfinite_predictions": nonfinite,
            }
        except Exception as exc:  # a peer failing is a result to report
            results[f"lifetimes:{name}"] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"lifetimes {name}: {time.perf_counter() - t0:.1f} s", flush=True)

    print(
        f"\n{s.n:,} customers, holdout {h.duration:g} periods of {args.freq}, "
        f"{h.holdout_purchases.sum():,.0f} purchases, revenue {h.holdout_revenue.sum():,.0f}"
    )
    head = f"{'model':<24}" + "".join(f"{c[:14]:>15}" for c in SHOW) + f"{'fit s':>8}"
    print(head)
    for name, r in results.items():
        if "error" in r:
            print(f"{name:<24}{r['error']}")
            continue
        cells = "".join(
            f"{r[c]:>15.3f}"
            if isinstance(r[c], float) and np.isfinite(r[c])
            else f"{'-':>15}"
            for c in SHOW
        )
        print(f"{name:<24}{cells}{r['fit_seconds']:>8.1f}")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"clv_accuracy_{args.customers}_{args.freq}.json"
    clean = {
        k: {
            kk: (None if isinstance(vv, float) and not np.isfinite(vv) else vv)
            for kk, vv in v.items()
        }
        for k, v in results.items()
    }
    out.write_text(
        json.dumps(
            {
                "customers": s.n,
                "freq": args.freq,
                "calibration_end": args.calibration_end,
                "holdout_end": args.holdout_end,
                "results": clean,
            },
            indent=2,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
