"""Automated aggregate features: ours vs featuretools' deep feature synthesis.

Usage::

    python benchmarks/features_vs_featuretools.py --customers 20000

On the same simulated bank, as of the same date, both build aggregate features
of the transaction and digital-event tables per customer:

* ours: ``nbo_engine.features.build_features`` (the whole profile, including
  every slice x window x statistic aggregate; the aggregate part is timed apart);
* featuretools: ``dfs`` on an EntitySet (customers <- transactions, digital
  events), depth 1, aggregation primitives count, sum, mean, std, max, ``where``
  slices on the same categorical values, cutoff time = the as-of date, one run
  per window (30, 90, 365 days, as ours).

Then the same LightGBM importance selection (:func:`select_features`, top 40)
and the same LightGBM classifier are run on each feature set to predict 90-day
churn at the next date (out-of-time: trained as of D-90, validated as of D), so
"the features found" are compared by what they predict, not only by count.
Writes ``benchmarks/out/features_vs_featuretools.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nbo_engine.features import build_features, select_features
from nbo_engine.scoring.labels import churn_labels
from nbo_engine.scoring.models import fit_binary
from nbo_engine.scoring.selection import binary_metrics
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.simulate.files import read_bank

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def featuretools_matrix(
    tables: dict[str, pd.DataFrame], as_of: pd.Timestamp, ids: pd.Index
) -> tuple[pd.DataFrame, float]:
    import featuretools as ft

    tx = tables["transactions"][
        ["transaction_id", "customer_id", "timestamp", "amount", "category", "channel"]
    ].copy()
    dig = tables["digital_events"][
        ["event_id", "customer_id", "timestamp", "event_type", "channel"]
    ].copy()
    customers = pd.DataFrame({"customer_id": ids.astype(str)})
    warnings.simplefilter("ignore")  # woodwork's type-inference chatter
    es = ft.EntitySet("bank")
    es = es.add_dataframe(
        dataframe_name="customers", dataframe=customers, index="customer_id"
    )
    es = es.add_dataframe(
        dataframe_name="transactions",
        dataframe=tx,
        index="transaction_id",
        time_index="timestamp",
        logical_types={"category": "Categorical", "channel": "Categorical"},
    )
    es = es.add_dataframe(
        dataframe_name="digital_events",
        dataframe=dig,
        index="event_id",
        time_index="timestamp",
        logical_types={"event_type": "Categorical", "channel": "Categorical"},
    )
    es = es.add_relationship("customers", "customer_id", "transactions", "customer_id")
    es = es.add_relationship(
        "customers", "customer_id", "digital_events", "customer_id"
    )
    # Slices like ours: every category / channel / event type value.
    es.add_interesting_values(dataframe_name="transactions", max_values=12)
    es.add_interesting_values(dataframe_name="digital_events", max_values=8)
    cutoff = pd.DataFrame(
        {"customer_id": customers["customer_id"], "time": as_of + pd.Timedelta(days=1)}
    )
    t0 = time.perf_counter()
    parts = []
    for window in (30, 90, 365):  # one DFS per window, as ours has three
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            part, _ = ft.dfs(
                entityset=es,
                target_dataframe_name="customers",
                agg_primitives=["count", "sum", "mean", "std", "max"],
                trans_primitives=[],
                where_primitives=["count", "sum", "mean"],
                max_depth=1,
                cutoff_time=cutoff,
                training_window=f"{window} days",
                n_jobs=1,
                verbose=False,
            )
        parts.append(part.add_suffix(f" [{window}d]"))
    seconds = time.perf_counter() - t0
    matrix = pd.concat(parts, axis=1).select_dtypes("number").astype(np.float64)
    matrix.index = matrix.index.astype(str)
    return matrix, seconds


def evaluate(
    name: str,
    train: pd.DataFrame,
    valid: pd.DataFrame,
    y_train: np.ndarray,
    y_valid: np.ndarray,
) -> dict[str, float]:
    chosen = select_features(train, y_train, k=40)
    model = fit_binary("lightgbm", train[chosen], y_train)
    m = binary_metrics(y_valid, model.predict_raw(valid[chosen]))
    print(f"  {name:13s} {train.shape[1]:5d} features, top-40 churn AUC {m['auc']:.3f}")
    return {"n_features": int(train.shape[1]), "churn_auc": m["auc"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args()
    work = OUT / f"features_bank_{args.customers}"
    if not (work / "customers.parquet").exists():
        simulate_bank(
            SimConfig(customers=args.customers, weeks=104, seed=args.seed, dirt=0.0),
            work,
            fmt="parquet",
        )
    tables = read_bank(work)
    as_of = pd.Timestamp(tables["transactions"]["timestamp"].max()).normalize()
    dates = [as_of - pd.Timedelta(days=180), as_of - pd.Timedelta(days=90)]
    n_tx = len(tables["transactions"]) + len(tables["digital_events"])
    print(f"{args.customers:,} customers, {n_tx:,} event rows")

    ours, ours_seconds, ft_frames, ft_seconds = [], [], [], []
    for d in dates:
        t0 = time.perf_counter()
        ours.append(build_features(tables, d))
        ours_seconds.append(time.perf_counter() - t0)
        m, s = featuretools_matrix(tables, d, ours[-1].index)
        ft_frames.append(m.reindex(ours[-1].index))
        ft_seconds.append(s)
    print(
        f"  build_features (whole profile): {np.mean(ours_seconds):.2f} s per date; "
        f"featuretools dfs (aggregates only): {np.mean(ft_seconds):.2f} s per date"
    )
    labels = []
    for d in dates:
        ok, y = churn_labels(tables["accounts"], ours[dates.index(d)].index, d)
        labels.append((ok, y))
    (ok0, y0), (ok1, y1) = labels
    results = {}
    agg_cols = [c for c in ours[0].columns if c.startswith(("tx_", "dig_"))]
    for name, frames in (
        ("ours (profile)", ours),
        ("ours (aggregates)", [f[agg_cols] for f in ours]),
        ("featuretools", ft_frames),
    ):
        results[name] = evaluate(
            name,
            frames[0][ok0].select_dtypes("number"),
            frames[1][ok1].select_dtypes("number"),
            y0[ok0],
            y1[ok1],
        )
    report = {
        "customers": args.customers,
        "event_rows": n_tx,
        "ours_seconds_per_date": float(np.mean(ours_seconds)),
        "featuretools_seconds_per_date": float(np.mean(ft_seconds)),
        "speedup": float(np.mean(ft_seconds) / np.mean(ours_seconds)),
        "results": results,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "features_vs_featuretools.json").write_text(json.dumps(report, indent=2))
    print(f"  speed-up {report['speedup']:.1f}x")


if __name__ == "__main__":
    main()
