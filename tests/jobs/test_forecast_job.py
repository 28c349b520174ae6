"""``run_forecast`` and ``nbo forecast run`` on SQLite and PostgreSQL.

The store is the small scored bank of ``tests/scored_bank.py`` (1,500
customers, 78 weeks, no dirt): the weekly series built by SQL must equal the
ones counted from the simulator's files with pandas, tiers must split the same
totals, a run as of a past day must see only what was known then, and the
command prints, writes and draws the forecast.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nbo_engine.cli.forecast  # noqa: F401  (registers `nbo forecast`)
from nbo_engine.cli._app import app
from nbo_engine.config import get_settings
from nbo_engine.errors import DataValidationError
from nbo_engine.jobs.forecast import ForecastOutcome, data_span, run_forecast
from nbo_engine.scoring.forecast import FORECAST_COLUMNS
from nbo_engine.store import Engine

runner = CliRunner()
MODELS = ("seasonal_naive", "auto_ets", "lightgbm")
TIERS = {"platinum", "gold", "silver", "bronze", "unscored"}
_RUNS: dict[str, ForecastOutcome] = {}


@pytest.fixture
def outcome(bank_engine: Engine, bank_url: str) -> ForecastOutcome:
    """One forecast per backend, as of the last day of data (shared by tests)."""
    if bank_url not in _RUNS:
        span = data_span(bank_engine)
        assert span is not None
        _RUNS[bank_url] = run_forecast(bank_engine, as_of=span[1], models=MODELS)
    return _RUNS[bank_url]


def _files(folder: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    accounts = pd.read_csv(
        folder / "accounts.csv",
        usecols=["account_id", "product", "open_date"],
        parse_dates=["open_date"],
    )
    tx = pd.read_csv(
        folder / "transactions.csv",
        usecols=["account_id", "timestamp", "amount"],
        parse_dates=["timestamp"],
    )
    return accounts, tx


def _weekly(day: pd.Series, key: pd.Series, value: pd.Series) -> pd.Series:
    week = day.dt.normalize() - pd.to_timedelta(day.dt.weekday, unit="D")
    return value.groupby([key.to_numpy(), week.to_numpy()]).sum()


def test_series_equal_the_simulator_files(
    outcome: ForecastOutcome, decisioning_bank: Path
) -> None:
    accounts, tx = _files(decisioning_bank)
    first_day = tx["timestamp"].min().date()
    assert outcome.first_week == first_day + dt.timedelta(days=-first_day.weekday() % 7)
    assert outcome.last_week.weekday() == 0
    assert outcome.last_week + dt.timedelta(days=6) <= outcome.as_of
    hist = outcome.history
    lo, hi = pd.Timestamp(outcome.first_week), pd.Timestamp(outcome.last_week)
    opened = _weekly(
        accounts["open_date"], accounts["product"], pd.Series(1.0, accounts.index)
    )
    tx = tx.merge(accounts[["account_id", "product"]], on="account_id")
    spent = _weekly(tx["timestamp"], tx["product"], tx["amount"])
    for metric, expected in (("new_accounts", opened), ("revenue", spent)):
        weeks = expected.index.get_level_values(1)
        want = expected[(weeks >= lo) & (weeks <= hi)]
        ours = hist[(hist["metric"] == metric) & (hist["dimension"] == "product")]
        got = ours.set_index(["key", "week"])["value"]
        totals = want.groupby(level=0).sum()
        assert set(ours["key"]) == set(totals[totals != 0].index)
        # Sums of the same cents in another order: equal to rounding.
        np.testing.assert_allclose(
            got.to_numpy(), want.reindex(got.index, fill_value=0.0), rtol=1e-9
        )
        assert got.sum() == pytest.approx(want.sum(), rel=1e-9)
    assert {"current", "credit_card"} == set(
        hist.loc[
            (hist["metric"] == "revenue") & (hist["dimension"] == "product"), "key"
        ]
    )
    # The tiers split the same totals, week by week.
    by = hist.groupby(["metric", "dimension", "week"])["value"].sum().unstack(1)
    np.testing.assert_allclose(by["value_tier"], by["product"], rtol=1e-9)
    tiers = set(hist.loc[hist["dimension"] == "value_tier", "key"])
    assert tiers <= TIERS
    assert {"platinum", "gold", "silver", "bronze"} <= tiers
    assert outcome.snapshot_id is not None


def test_forecast_frames_and_counts(outcome: ForecastOutcome) -> None:
    fc, bt = outcome.forecasts, outcome.backtest
    assert list(fc.columns) == list(FORECAST_COLUMNS)
    n_series = outcome.history["series"].nunique()
    assert bt["series"].nunique() == n_series == len(outcome.chosen)
    assert len(fc) == n_series * len(MODELS) * 13
    first = pd.Timestamp(outcome.last_week) + pd.Timedelta(days=7)
    assert sorted(fc["week"].unique())[0] == first
    values = fc[["lo95", "lo80", "mean", "hi80", "hi95"]].to_numpy()
    assert (values >= 0).all()  # counts and money: clipped at zero
    assert (np.diff(values, axis=1) >= -1e-9).all()
    assert fc.groupby("series")["chosen"].sum().eq(13).all()
    # 78 weeks of history: 3 windows, and no yearly season to model.
    assert bt["windows"].eq(3).all()
    assert bt["season_length"].eq(1).all()
    assert bt["note"].str.contains("fewer than 2 seasons").all()
    chosen = bt[bt["chosen"]]
    base = bt[bt["model"] == "seasonal_naive"].set_index("series")["mase"]
    assert (chosen.set_index("series")["mase"] <= base + 1e-12).all()
    counts = outcome.counts()
    assert counts["series"] == n_series
    assert counts["history_weeks"] == outcome.history["week"].nunique()
    assert counts["forecast_rows"] == len(fc)
    assert sum(int(counts[f"chosen_{m}"]) for m in MODELS) == n_series
    assert counts["seasonal_series"] == 0


def test_a_past_as_of_sees_only_what_was_known(
    outcome: ForecastOutcome, bank_engine: Engine
) -> None:
    as_of = outcome.last_week - dt.timedelta(weeks=20) + dt.timedelta(days=2)  # Wed
    past = run_forecast(bank_engine, as_of=as_of, horizon=4, models=("seasonal_naive",))
    assert past.last_week == outcome.last_week - dt.timedelta(weeks=21)
    assert past.history["week"].max() == pd.Timestamp(past.last_week)
    keep = outcome.history[outcome.history["week"] <= pd.Timestamp(past.last_week)]
    merged = past.history.merge(keep, on=["series", "week"], suffixes=("", "_now"))
    assert len(merged) == len(past.history)
    np.testing.assert_allclose(merged["value"], merged["value_now"], rtol=1e-9)
    assert past.forecasts["week"].nunique() == 4


def test_no_data_before_as_of_is_an_error(bank_engine: Engine) -> None:
    with pytest.raises(
        DataValidationError,
        match=r"forecast as of 2000-01-01: the store has no transactions on or "
        r"before that day; expected a loaded extract",
    ):
        run_forecast(bank_engine, as_of=dt.date(2000, 1, 1))


def test_cli_prints_writes_and_draws(
    bank_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NBO_DATABASE_URL", bank_url)
    get_settings.cache_clear()
    csv, png = tmp_path / "f.csv", tmp_path / "f.png"
    r = runner.invoke(
        app,
        [
            *("forecast", "run", "--horizon", "6", "--models", "seasonal_naive"),
            *("--out", str(csv), "--plot", str(png)),
        ],
        env={"COLUMNS": "160"},
    )
    assert r.exit_code == 0, r.output
    assert "Model chosen per series" in r.output
    assert "new_accounts/product=current" in r.output
    assert "revenue/value_tier=platinum" in r.output
    assert "note (every series): fewer than 2 seasons" in r.output
    frame = pd.read_csv(csv)
    assert list(frame.columns) == list(FORECAST_COLUMNS)
    assert frame["week"].nunique() == 6
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    nowhere = str(tmp_path / "missing" / "f.csv")
    bad = runner.invoke(
        app,
        [
            "forecast",
            "run",
            "--horizon",
            "2",
            "--models",
            "seasonal_naive",
            "--out",
            nowhere,
        ],
    )
    assert bad.exit_code == 1
    assert f"--out: cannot write '{nowhere}'" in bad.output
    bad = runner.invoke(app, ["forecast", "run", "--plot", "f.svg"])
    assert bad.exit_code == 2
    assert "--plot: expected a .png file, got 'f.svg'" in bad.output
    bad = runner.invoke(app, ["forecast", "run", "--models", "prophet"])
    assert bad.exit_code == 2
    assert "--models: got 'prophet'; expected a comma-separated subset of" in bad.output
    bad = runner.invoke(app, ["forecast", "run", "--as-of", "31/12/2025"])
    assert bad.exit_code == 2
    assert "--as-of: expected YYYY-MM-DD, got '31/12/2025'" in bad.output
