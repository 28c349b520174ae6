"""CLV fit speed and agreement: nbo-engine vs lifetimes on the same customers.

Simulates ``--customers`` customers (two years), summarises them at a daily
grain (frequency, recency, T, monetary value, as lifetimes'
``summary_data_from_transaction_data``), then fits in the same run:

* BG/NBD + Gamma-Gamma: ours (``fit_clv``) and lifetimes' ``BetaGeoFitter`` +
  ``GammaGammaFitter`` (target: >= 20x faster, parameters within 1e-3);
* MBG/NBD: ours and ``ModifiedBetaGeoFitter``;
* Pareto/NBD: ours and ``ParetoNBDFitter`` (skip with ``--skip-lifetimes-pareto``).

Also counts non-finite P(alive) and expected purchases each library returns
for every customer. Prints a table and writes ``benchmarks/out/clv_fit_speed.json``.

Usage::

    python benchmarks/clv_fit_speed.py --customers 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nbo_engine.scoring.compress import PurchaseRows
from nbo_engine.scoring.pareto_nbd import pareto_nbd_loglik

sys.path.insert(0, str(Path(__file__).resolve().parent))

from clv_sim import OUT, simulated_log

from nbo_engine.scoring import fit_clv, normalize_transactions, summarize


def _time(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _rel(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] / b[k] - 1.0) for k in b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--freq", choices=["D", "W"], default="D")
    ap.add_argument("--skip-lifetimes-pareto", action="store_true")
    args = ap.parse_args()

    import lifetimes

    print(f"simulating {args.customers:,} customers ...", flush=True)
    log = normalize_transactions(simulated_log(args.customers, args.seed))
    end = np.datetime64(log["date"].max().date())
    s = summarize(log, end, args.freq)
    print(f"{s.n:,} customers, {len(log):,} transactions, freq {args.freq}", flush=True)
    x, t_x, T, m = s.frequency, s.recency, s.T, s.monetary_value
    rep = x > 0
    rows: list[dict[str, Any]] = []

    def row(
        model: str,
        ours_s: float,
        theirs_s: float | None,
        rel: float | None,
        extra: dict[str, Any],
    ) -> None:
        rows.append(
            {
                "model": model,
                "ours_seconds": round(ours_s, 2),
                "lifetimes_seconds": None if theirs_s is None else round(theirs_s, 2),
                "speedup": None if theirs_s is None else round(theirs_s / ours_s, 1),
                "max_rel_param_diff": rel,
                **extra,
            }
        )
        print(rows[-1], flush=True)

    # BG/NBD + Gamma-Gamma
    ours, t_ours = _time(lambda: fit_clv(s, "bgnbd"))

    def lt_bg() -> tuple[Any, Any]:
        bg = lifetimes.BetaGeoFitter().fit(x, t_x, T)
        gg = lifetimes.GammaGammaFitter().fit(x[rep], m[rep])
        return bg, gg

    (bg, gg), t_lt = _time(lt_bg)
    theirs = {
        **bg.params_.to_dict(),
        **{"p": gg.params_["p"], "q": gg.params_["q"], "gamma": gg.params_["v"]},
    }
    ours_p = ours.params
    pa_lt = bg.conditional_probability_alive(x, t_x, T)
    ey_lt = bg.conditional_expected_number_of_purchases_up_to_time(
        365.0 / s.period_days, x, t_x, T
    )
    pred = ours.predict(s, 365.0)
    row(
        "bgnbd+gamma_gamma",
        t_ours,
        t_lt,
        _rel(ours_p, theirs),
        {
            "params_ours": ours_p,
            "params_lifetimes": theirs,
            "rows_compressed": ours.purchase.n_rows,
            "nonfinite_ours": int(
                (~np.isfinite(pred[["p_alive", "expected_purchases"]].to_numpy())).sum()
            ),
            "nonfinite_lifetimes": int(
                (~np.isfinite(np.asarray(pa_lt))).sum()
                + (~np.isfinite(np.asarray(ey_lt))).sum()
            ),
        },
    )

    ours, t_ours = _time(lambda: fit_clv(s, "mbgnbd", spend=False))
    mbg, t_lt = _time(lambda: lifetimes.ModifiedBetaGeoFitter().fit(x, t_x, T))
    row(
        "mbgnbd",
        t_ours,
        t_lt,
        _rel(ours.params, mbg.params_.to_dict()),
        {"params_ours": ours.params, "params_lifetimes": mbg.params_.to_dict()},
    )

    ours, t_ours = _time(lambda: fit_clv(s, "pareto_nbd", spend=False))
    if args.skip_lifetimes_pareto:
        row("pareto_nbd", t_ours, None, None, {"params_ours": ours.params})
    else:
        pn, t_lt = _time(lambda: lifetimes.ParetoNBDFitter().fit(x, t_x, T))
        theirs = pn.params_.to_dict()
        # When the parameters differ, which fit is better? The exact Pareto/NBD
        # log-likelihood of each parameter set on the same customers (lifetimes'
        # own objective returns nan/inf at this size, so ours is used).
        rows_all = PurchaseRows.build(x, t_x, T)

        def total_ll(p: dict[str, float]) -> float:
            logp = np.log([p["r"], p["alpha"], p["s"], p["beta"]])
            ll, _ = pareto_nbd_loglik(logp, rows_all)
            return float((ll * rows_all.weight).sum())

        row(
            "pareto_nbd",
            t_ours,
            t_lt,
            _rel(ours.params, theirs),
            {
                "params_ours": ours.params,
                "params_lifetimes": theirs,
                "loglik_ours": total_ll(ours.params),
                "loglik_lifetimes": total_ll(theirs),
            },
        )

    print()
    print(
        f"{'model':<20}{'ours s':>9}{'lifetimes s':>13}{'speedup':>9}{'max rel diff':>14}"
    )
    for r in rows:
        lt = "-" if r["lifetimes_seconds"] is None else f"{r['lifetimes_seconds']:.1f}"
        sp = "-" if r["speedup"] is None else f"{r['speedup']:.1f}x"
        rd = (
            "-" if r["max_rel_param_diff"] is None else f"{r['max_rel_param_diff']:.1e}"
        )
        print(f"{r['model']:<20}{r['ours_seconds']:>9.1f}{lt:>13}{sp:>9}{rd:>14}")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"clv_fit_speed_{s.n}_{args.freq}.json"
    out.write_text(
        json.dumps(
            {
                "customers": s.n,
                "transactions": len(log),
                "freq": args.freq,
                "results": rows,
            },
            indent=2,
            default=float,
        )
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
