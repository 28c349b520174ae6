"""``nbo clv``: customer lifetime value models on a transaction log."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, fail
from nbo_engine.errors import NboError

clv_app = typer.Typer(
    help="Customer lifetime value: BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gamma, ML.",
    no_args_is_help=True,
)
app.add_typer(clv_app, name="clv")


def _date(option: str, value: str) -> np.datetime64:
    try:
        return np.datetime64(dt.date.fromisoformat(value.strip()), "D")
    except ValueError:
        raise fail(f"{option}: expected a date YYYY-MM-DD, got {value!r}", 2) from None


def read_transactions(
    path: Path, customer_col: str, date_col: str, amount_col: str
) -> pd.DataFrame:
    """Read a CSV or Parquet transaction log and normalise it (see
    ``nbo_engine.scoring.rfm.normalize_transactions``)."""
    from nbo_engine.errors import FileFormatError
    from nbo_engine.scoring.rfm import normalize_transactions

    if not path.exists():
        raise FileFormatError(f"{path}: no such file")
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        elif path.suffix.lower() == ".csv" or suffix == ".csv.gz":
            frame = pd.read_csv(path, dtype={customer_col: str}, low_memory=False)
        else:
            raise FileFormatError(
                f"{path.name}: unsupported file type {path.suffix!r}; expected .csv, "
                ".csv.gz or .parquet"
            )
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        if isinstance(exc, FileFormatError):
            raise
        raise FileFormatError(f"{path.name}: cannot be read ({exc})") from None
    return normalize_transactions(
        frame, customer_col, date_col, amount_col, source=path.name
    )


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    return str(v)


@clv_app.command("evaluate")
def clv_evaluate(
    transactions: Annotated[
        Path,
        typer.Option(
            "--transactions",
            help="Transaction log (CSV or Parquet).",
            show_default=False,
        ),
    ],
    calibration_end: Annotated[
        str,
        typer.Option(
            "--calibration-end",
            help="Last day of the calibration period (YYYY-MM-DD, inclusive).",
            show_default=False,
        ),
    ],
    holdout_end: Annotated[
        str,
        typer.Option(
            "--holdout-end",
            help="Last day of the holdout period (YYYY-MM-DD, inclusive).",
            show_default=False,
        ),
    ],
    customer_col: Annotated[
        str, typer.Option("--customer-col", help="Customer id column.")
    ] = "customer_id",
    date_col: Annotated[
        str, typer.Option("--date-col", help="Date or timestamp column.")
    ] = "date",
    amount_col: Annotated[
        str, typer.Option("--amount-col", help="Amount column.")
    ] = "amount",
    freq: Annotated[
        str,
        typer.Option(
            "--freq", help="Period for frequency/recency/T: D (day) or W (week)."
        ),
    ] = "D",
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated subset of bgnbd,mbgnbd,pareto_nbd,ml (default all).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the ML model.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Fit every CLV model on the calibration period; score it on the holdout.

    Prints, per model and for the predict-zero and historical-average baselines:
    per-customer MAE of purchases, purchases predicted vs actual, revenue MAE,
    Spearman correlation, normalized Gini, decile MAPE and the share of holdout
    revenue in the top predicted decile.
    """
    from nbo_engine.scoring.clv_evaluate import CLV_MODELS, evaluate_clv

    freq = freq.strip().upper()
    if freq not in ("D", "W"):
        raise fail(f"--freq: expected D or W, got {freq!r}", 2)
    cal = _date("--calibration-end", calibration_end)
    hold = _date("--holdout-end", holdout_end)
    if hold <= cal:
        raise fail(
            f"--holdout-end {hold} is not after --calibration-end {cal}; expected a "
            "later holdout end",
            2,
        )
    chosen = (
        [m.strip() for m in models.split(",") if m.strip()]
        if models is not None
        else list(CLV_MODELS)
    )
    unknown = [m for m in chosen if m not in CLV_MODELS]
    if unknown:
        raise fail(
            f"--models: unknown {', '.join(unknown)}; expected some of "
            f"{', '.join(CLV_MODELS)}",
            2,
        )
    try:
        log = read_transactions(transactions, customer_col, date_col, amount_col)
        report = evaluate_clv(log, cal, hold, freq=freq, models=chosen, seed=seed)
    except NboError as exc:
        raise fail(str(exc), 2) from None
    doc = {"transactions": str(transactions), **report.to_dict()}
    if as_json:
        typer.echo(json.dumps(doc, indent=2))
        return
    table = Table(
        "model",
        "purchases MAE",
        "purchases pred / actual",
        "revenue MAE",
        "Spearman",
        "norm. Gini",
        "decile MAPE",
        "top-decile share",
        "fit s",
        title=(
            f"CLV holdout {report.calibration_end} .. {report.holdout_end} "
            f"({report.customers:,} customers, {report.holdout_periods:g} periods "
            f"of {freq})"
        ),
    )
    for name, m in doc["models"].items():
        label = f"{name} (baseline)" if m["kind"] == "baseline" else name
        table.add_row(
            label,
            _fmt(m["purchases_mae"]),
            f"{_fmt(m['purchases_predicted'], 0)} / {_fmt(m['purchases_actual'], 0)}",
            _fmt(m["revenue_mae"], 2),
            _fmt(m["spearman"]),
            _fmt(m["normalized_gini"]),
            _fmt(m["decile_mape"]),
            _fmt(m["top_decile_revenue_share"]),
            _fmt(m["fit_seconds"], 1),
        )
    console.print(table)
