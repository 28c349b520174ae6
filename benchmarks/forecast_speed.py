"""Weekly forecasts: fit + rolling-origin backtest time per model on a bank's series.

Usage::

    python benchmarks/forecast_speed.py [--customers 100000] [--weeks 104]
    python benchmarks/forecast_speed.py --customers 100000 --ingest   # + the job on SQLite

Simulates a bank (no dirt, Parquet; kept under ``benchmarks/out/`` and reused),
builds the series ``nbo forecast run`` builds (weekly new accounts and revenue
per product and per value tier) from the files with pandas and
:func:`nbo_engine.jobs.forecast.weekly_panel` (value tiers from each customer's
total spend, standing in for the score snapshot's CLV tiers: the same number of
series), then times :func:`nbo_engine.scoring.forecast.forecast_panel` with
each model next to the seasonal-naive baseline (3 backtest windows of 13 weeks
+ the final fit), and all models together.

Peer, same run: statsforecast's own loop, ``StatsForecast.cross_validation``
(same 3 windows) + ``forecast`` with ``AutoETS``, ``AutoARIMA`` and
``SeasonalNaive`` on the same panel, with the same season length; its mean
absolute errors must equal ours for the models both run.

``--ingest`` also loads customers, accounts and transactions into a SQLite store
(kept) and times ``run_forecast`` end to end (the two aggregate queries + the
models).

Prints a table and writes ``benchmarks/out/forecast_speed_<N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from nbo_engine.jobs.forecast import monday_of, weekly_panel
from nbo_engine.scoring.forecast import MODELS, ForecastConfig, forecast_panel
from nbo_engine.scoring.segmentation.tiers import value_tiers
from nbo_engine.simulate import SimConfig, simulate_bank

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"
H, WINDOWS = 13, 3


def bank(customers: int, weeks: int) -> Path:
    folder = OUT / f"forecast_{customers}_{weeks}" / "data"
    if not (folder / "transactions.parquet").exists():
        t0 = time.perf_counter()
        simulate_bank(
            SimConfig(customers=customers, weeks=weeks, seed=1, dirt=0.0),
            folder,
            fmt="parquet",
        )
        print(f"simulated {customers:,} customers in {time.perf_counter() - t0:.0f} s")
    return folder


def panel_from_files(folder: Path) -> tuple[pd.DataFrame, dict[str, float]]:
    t0 = time.perf_counter()
    accounts = pd.read_parquet(
        folder / "accounts.parquet",
        columns=["account_id", "customer_id", "product", "open_date"],
    )
    tx = pd.read_parquet(
        folder / "transactions.parquet",
        columns=["account_id", "customer_id", "timestamp", "amount"],
    )
    t_read = time.perf_counter() - t0
    spend = tx.groupby("customer_id")["amount"].sum()
    ids = accounts["customer_id"].unique()
    tier_of = pd.Series(
        value_tiers(spend.reindex(ids).to_numpy(np.float64)).labels, index=ids
    )
    tx = tx.merge(accounts[["account_id", "product"]], on="account_id")
    tx["day"] = tx["timestamp"].dt.normalize()
    tx["tier"] = tx["customer_id"].map(tier_of).fillna("unscored")
    accounts["day"] = pd.to_datetime(accounts["open_date"])
    accounts["tier"] = accounts["customer_id"].map(tier_of).fillna("unscored")
    accounts["value"] = 1.0
    tx["value"] = tx["amount"]
    parts = []
    for metric, frame in (("new_accounts", accounts), ("revenue", tx)):
        for dim, col in (("product", "product"), ("value_tier", "tier")):
            g = frame.groupby(["day", col], observed=True)["value"].sum().reset_index()
            parts.append(
                g.rename(columns={col: "key"}).assign(metric=metric, dimension=dim)
            )
    daily = pd.concat(parts, ignore_index=True)
    first_day = tx["day"].min().date()
    last_day = tx["day"].max().date()
    first_week = monday_of(first_day + dt.timedelta(days=6))
    last_week = monday_of(last_day + dt.timedelta(days=1)) - dt.timedelta(days=7)
    panel = weekly_panel(daily, first_week, last_week)
    return panel, {
        "read_seconds": t_read,
        "build_seconds": time.perf_counter() - t0 - t_read,
        "transactions": float(len(tx)),
    }


def ours(panel: pd.DataFrame, models: tuple[str, ...]) -> tuple[float, pd.DataFrame]:
    config = ForecastConfig(
        horizon=H, n_windows=WINDOWS, models=models, nonnegative=True
    )
    t0 = time.perf_counter()
    result = forecast_panel(panel[["series", "week", "value"]], config)
    return time.perf_counter() - t0, result.backtest


def peer(panel: pd.DataFrame, season: int) -> tuple[float, pd.DataFrame]:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoARIMA, AutoETS, SeasonalNaive

    df = panel.rename(columns={"series": "unique_id", "week": "ds", "value": "y"})[
        ["unique_id", "ds", "y"]
    ]
    sf = StatsForecast(
        models=[
            AutoETS(season_length=1),
            AutoARIMA(season_length=1),
            SeasonalNaive(season_length=season),
        ],
        freq="7D",
        n_jobs=1,
    )
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cv = sf.cross_validation(
            df=df, h=H, step_size=H, n_windows=WINDOWS, level=[80, 95]
        )
        sf.forecast(df=df, h=H, level=[80, 95])
    seconds = time.perf_counter() - t0
    maes = {
        name: (cv[col] - cv["y"]).abs().groupby(cv["unique_id"]).mean()
        for name, col in (
            ("auto_ets", "AutoETS"),
            ("auto_arima", "AutoARIMA"),
            ("seasonal_naive", "SeasonalNaive"),
        )
    }
    return seconds, pd.DataFrame(maes)


def job(folder: Path, customers: int) -> dict[str, float]:
    """Load customers, accounts and transactions into SQLite; time the job.

    Transactions go in as CSV: ingest quarantines the Parquet timestamps the
    simulator writes (``timestamp[ms]`` becomes ``'2024-01-01 08:59:57.000'``,
    refused as ``invalid_date``; reported to the lead).
    """
    import shutil

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from nbo_engine.ingest import ingest_dir
    from nbo_engine.jobs.forecast import data_span, run_forecast
    from nbo_engine.store import make_engine, migrate

    work = folder.parent / "store"
    engine = make_engine(f"sqlite:///{work / 'nbo.db'}")
    stamp = work / "loaded"
    if not stamp.exists():
        shutil.rmtree(work, ignore_errors=True)
        (work / "input").mkdir(parents=True)
        for name in ("customers", "accounts"):
            shutil.copy(folder / f"{name}.parquet", work / "input")
        tx = pq.read_table(folder / "transactions.parquet")
        i = tx.column_names.index("timestamp")
        seconds = pc.cast(tx["timestamp"], pa.timestamp("s"))  # no ".000"
        tx = tx.set_column(
            i, "timestamp", pc.strftime(seconds, format="%Y-%m-%d %H:%M:%S")
        )
        pacsv.write_csv(tx, work / "input" / "transactions.csv")
        migrate.upgrade(engine)
        t0 = time.perf_counter()
        ingest_dir(work / "input", engine=engine)
        print(
            f"ingested {customers:,} customers' accounts and transactions in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        stamp.touch()
    span = data_span(engine)
    assert span is not None, "no transactions were loaded"
    t0 = time.perf_counter()
    outcome = run_forecast(engine, as_of=span[1])
    total = time.perf_counter() - t0
    t0 = time.perf_counter()
    run_forecast(engine, as_of=span[1], models=("seasonal_naive",))
    return {
        "run_forecast_seconds": total,
        "series_build_seconds": time.perf_counter() - t0,  # baseline only: ~the SQL
        "series": float(outcome.history["series"].nunique()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--ingest", action="store_true", help="also time the job on SQLite")
    args = ap.parse_args()
    folder = bank(args.customers, args.weeks)
    panel, build = panel_from_files(folder)
    n_series = panel["series"].nunique()
    n_weeks = panel["week"].nunique()
    print(
        f"panel: {n_series} series x {n_weeks} weeks from "
        f"{build['transactions']:,.0f} transactions (read {build['read_seconds']:.1f} s, "
        f"build {build['build_seconds']:.1f} s)"
    )
    rows: dict[str, dict[str, float]] = {}
    tables = {}
    for name in MODELS:
        models = (
            ("seasonal_naive",)
            if name == "seasonal_naive"
            else ("seasonal_naive", name)
        )
        seconds, bt = ours(panel, models)
        mine = bt[bt["model"] == name]
        tables[name] = mine.set_index("series")
        rows[name] = {
            "seconds": seconds,
            "mean_mase": float(mine["mase"].mean()),
            "coverage80": float(mine["coverage80"].mean()),
            "coverage95": float(mine["coverage95"].mean()),
        }
    seconds, bt = ours(panel, MODELS)
    chosen = bt[bt["chosen"]]
    season = int(bt["season_length"].max())
    rows["all (chosen per series)"] = {
        "seconds": seconds,
        "mean_mase": float(chosen["mase"].mean()),
        "coverage80": float(chosen["coverage80"].mean()),
        "coverage95": float(chosen["coverage95"].mean()),
    }
    peer_seconds, peer_mae = peer(panel, season)
    agree = {
        name: float(
            np.max(
                np.abs(tables[name]["mae"].reindex(peer_mae.index) - peer_mae[name])
                / peer_mae[name].abs().clip(lower=1e-12)
            )
        )
        for name in ("auto_ets", "auto_arima", "seasonal_naive")
    }
    stats_ours = sum(
        rows[m]["seconds"] for m in ("seasonal_naive", "auto_ets", "auto_arima")
    )

    print(
        f"\n{'model':<26}{'fit+backtest s':>15}{'mean MASE':>11}{'cover80':>9}{'cover95':>9}"
    )
    for name, r in rows.items():
        print(
            f"{name:<26}{r['seconds']:>15.2f}{r['mean_mase']:>11.3f}"
            f"{r['coverage80']:>9.3f}{r['coverage95']:>9.3f}"
        )
    print(
        f"{'statsforecast CV+forecast':<26}{peer_seconds:>15.2f}   (AutoETS, AutoARIMA, "
        f"SeasonalNaive; ours for the same three: {stats_ours:.2f} s)"
    )
    print(
        "largest relative MAE difference ours vs statsforecast's loop: "
        + ", ".join(f"{k} {v:.1e}" for k, v in agree.items())
    )
    doc = {
        "customers": args.customers,
        "weeks_simulated": args.weeks,
        "series": n_series,
        "history_weeks": n_weeks,
        "season_length": season,
        "horizon": H,
        "windows": WINDOWS,
        "panel": build,
        "ours": rows,
        "statsforecast": {
            "seconds": peer_seconds,
            "ours_same_models_seconds": stats_ours,
            "max_relative_mae_difference": agree,
        },
    }
    if args.ingest:
        doc["job"] = job(folder, args.customers)
        print(
            f"run_forecast on SQLite ({doc['job']['series']:.0f} series; no score "
            f"snapshot, so no tier series): {doc['job']['run_forecast_seconds']:.1f} s "
            f"in all, {doc['job']['series_build_seconds']:.1f} s with the baseline "
            "alone (the two aggregate queries)"
        )
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"forecast_speed_{args.customers}.json"
    path.write_text(json.dumps(doc, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
