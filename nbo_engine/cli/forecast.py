"""``nbo forecast run``: weekly new accounts and revenue, 13 weeks ahead."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, fail, require_migrated
from nbo_engine.errors import NboError

if TYPE_CHECKING:
    from nbo_engine.jobs.forecast import ForecastOutcome

forecast_app = typer.Typer(
    help="Forecasts of weekly new accounts and revenue per product and value tier.",
    no_args_is_help=True,
)
app.add_typer(forecast_app, name="forecast")


def _num(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


@forecast_app.command("run")
def forecast_run(
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Last day of data to use, YYYY-MM-DD (default: the last day with "
            "transactions). Forecasts start the week after the last complete week.",
        ),
    ] = None,
    horizon: Annotated[
        int, typer.Option("--horizon", min=1, max=104, help="Weeks ahead.")
    ] = 13,
    models: Annotated[
        str | None,
        typer.Option(
            "--models",
            help="Comma-separated candidates among seasonal_naive, auto_ets, "
            "auto_arima, lightgbm (default all; seasonal_naive always runs).",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write every model's forecasts (with `chosen`) to this CSV."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Draw history and the chosen forecast fan to this PNG."
        ),
    ] = None,
) -> None:
    """Backtest every model per series, keep the best by MASE, print its forecast.

    Per series: the chosen model, its MASE and the seasonal-naive baseline's over
    the backtest windows, then the next weeks with 80% and 95% intervals.
    """
    from nbo_engine.jobs.forecast import data_span, run_forecast
    from nbo_engine.scoring.forecast import MODELS

    chosen_models = MODELS
    if models is not None:
        chosen_models = tuple(m.strip() for m in models.split(",") if m.strip())
        unknown = [m for m in chosen_models if m not in MODELS]
        if unknown or not chosen_models:
            raise fail(
                f"--models: got {models!r}; expected a comma-separated subset of "
                f"{', '.join(MODELS)}",
                2,
            )
    day = None
    if as_of is not None:
        try:
            day = dt.date.fromisoformat(as_of.strip())
        except ValueError:
            raise fail(f"--as-of: expected YYYY-MM-DD, got {as_of!r}", 2) from None
    for option, path, suffix in (("--out", out, ".csv"), ("--plot", plot, ".png")):
        if path is not None and path.suffix.lower() != suffix:
            raise fail(f"{option}: expected a {suffix} file, got {str(path)!r}", 2)
    try:
        require_migrated()
        if day is None:
            span = data_span(engine())
            if span is None:
                raise fail(
                    "the store has no transactions; load data first (nbo ingest DIR)"
                )
            day = span[1]
        with console.status("forecasting"):
            outcome = run_forecast(
                engine(), as_of=day, horizon=horizon, models=chosen_models
            )
    except NboError as exc:
        raise fail(str(exc)) from None
    _print(outcome)
    for option, path in (("--out", out), ("--plot", plot)):
        if path is None:
            continue
        try:
            if option == "--out":
                outcome.forecasts.to_csv(path, index=False, date_format="%Y-%m-%d")
            else:
                draw(outcome, path)
        except OSError as exc:
            raise fail(f"{option}: cannot write {str(path)!r} ({exc})") from None
        console.print(
            f"{'forecasts' if option == '--out' else 'plot'} written to {escape(str(path))}"
        )


def _print(outcome: ForecastOutcome) -> None:
    bt = outcome.backtest
    console.print(
        f"forecast as of {outcome.as_of}: {bt['series'].nunique()} series, "
        f"history {outcome.first_week} .. week of {outcome.last_week}, "
        f"{outcome.horizon} weeks ahead, {int(bt['windows'].max())} backtest windows "
        f"({outcome.seconds:.1f} s)"
    )
    summary = Table(
        "series",
        "model",
        "MASE",
        "base",
        "c80",
        "c95",
        title="Model chosen per series (rolling-origin backtest)",
        caption="MASE of the chosen model and of the seasonal-naive baseline "
        "(base); c80/c95: share of backtest weeks inside its 80%/95% intervals",
    )
    summary.columns[0].overflow = "fold"
    for column in summary.columns[1:]:
        column.no_wrap = True
    base = bt[bt["model"] == "seasonal_naive"].set_index("series")
    for _, r in bt[bt["chosen"]].iterrows():
        summary.add_row(
            escape(str(r["series"])),
            str(r["model"]),
            _num(r["mase"]),
            _num(base.loc[r["series"], "mase"]),
            _num(r["coverage80"]),
            _num(r["coverage95"]),
        )
    console.print(summary)
    notes = bt[bt["note"] != ""].groupby("note", sort=False)["series"].unique()
    for note, ids in notes.items():
        which = "every series" if len(ids) == len(base) else ", ".join(ids)
        console.print(f"note ({escape(which)}): {escape(str(note))}", soft_wrap=True)
    fc = outcome.chosen_forecasts()
    for sid, rows in fc.groupby("series", sort=True):
        t = Table(
            "week",
            "mean",
            "80% interval",
            "95% interval",
            title=f"{escape(str(sid))} ({rows['model'].iloc[0]})",
        )
        for _, r in rows.iterrows():
            t.add_row(
                str(r["week"].date()),
                _num(r["mean"]),
                f"{_num(r['lo80'])} .. {_num(r['hi80'])}",
                f"{_num(r['lo95'])} .. {_num(r['hi95'])}",
            )
        console.print(t)


def draw(outcome: ForecastOutcome, path: Path, history_weeks: int = 52) -> None:
    """History (last ``history_weeks``) and each series' chosen forecast with
    its 80% and 95% fan, one panel per series, to a PNG."""
    from matplotlib.figure import Figure

    fc = outcome.chosen_forecasts()
    ids = sorted(fc["series"].unique())
    cols = 3
    rows = max(1, -(-len(ids) // cols))
    fig = Figure(figsize=(4.2 * cols, 2.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    hist = outcome.history
    for ax, sid in zip(axes.ravel(), ids, strict=False):
        h = hist[hist["series"] == sid].tail(history_weeks)
        f = fc[fc["series"] == sid]
        ax.plot(h["week"], h["value"], color="0.25", lw=1.2, label="history")
        ax.fill_between(f["week"], f["lo95"], f["hi95"], color="C0", alpha=0.18)
        ax.fill_between(f["week"], f["lo80"], f["hi80"], color="C0", alpha=0.35)
        ax.plot(f["week"], f["mean"], color="C0", lw=1.6, label=f["model"].iloc[0])
        ax.set_title(sid, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper left")
    for ax in axes.ravel()[len(ids) :]:
        ax.set_visible(False)
    fig.suptitle(f"Forecasts as of {outcome.as_of} (80% and 95% intervals)")
    fig.savefig(path, dpi=110)
