"""Weekly series from the store, forecast 13 weeks ahead (``nbo forecast run``).

Series (ids ``metric/dimension=key``):

* ``new_accounts/product=P``: accounts of product P opened in the week (by
  ``accounts.open_date``; a joint account counts once).
* ``revenue/product=P``: **revenue** is the value of the card and account
  transactions debited in the week (sum of ``transactions.amount``, currency
  units) to accounts of product P. It is the turnover the bank's interchange
  and fee income is a share of: the store holds no fee or interest income. The
  simulated bank's transactions are purchases on current accounts and credit
  cards, so those two products have revenue. Amounts are summed at face value
  whatever their currency, as the CLV and profile features do.
* ``new_accounts/value_tier=T`` and ``revenue/value_tier=T``: the same split by
  the customer's value tier in the active score snapshot (``unscored`` for
  customers it does not hold). A tier is today's label: the history of
  ``value_tier=platinum`` is what today's platinum customers did.

Weeks run Monday to Sunday. History starts at the first Monday on or after the
first transaction day in the store (the start of the extract: before it,
accounts that were closed are missing, so openings would be undercounted), at
most ``history_weeks`` back, and ends with the last week complete on
``as_of``; later rows are ignored, so a run as of a past date sees what was
known then. A week without openings or transactions is 0.

The store is read with two aggregate queries (per day, product and tier; bound
parameters) and the weeks are built here, so the same code serves a million
customers; :func:`weekly_panel` is the pure part, shared with the benchmark.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.scoring.forecast import MODELS, ForecastConfig, forecast_panel
from nbo_engine.store import Engine, read
from nbo_engine.store.scores import latest_snapshot

__all__ = [
    "ForecastOutcome",
    "data_span",
    "monday_of",
    "run_forecast",
    "weekly_panel",
]

UNSCORED = "unscored"

# One scan of each table: daily totals per product and value tier. The
# ``{day}`` expression and ``{p}`` placeholders are filled per dialect.
_ACCOUNTS_SQL = """
SELECT {day} AS day, a.product AS product, COALESCE(s.value_tier, '{unscored}') AS tier,
       COUNT(*) AS value
FROM accounts a
LEFT JOIN customer_scores s ON s.customer_id = a.customer_id AND s.snapshot_id = {p}
WHERE a.open_date >= {p} AND a.open_date <= {p}
GROUP BY 1, 2, 3
"""
_REVENUE_SQL = """
SELECT {day} AS day, a.product AS product, COALESCE(s.value_tier, '{unscored}') AS tier,
       SUM(t.amount) AS value
FROM transactions t
JOIN accounts a ON a.account_id = t.account_id
LEFT JOIN customer_scores s ON s.customer_id = t.customer_id AND s.snapshot_id = {p}
WHERE t."timestamp" >= {p} AND t."timestamp" < {p}
GROUP BY 1, 2, 3
"""
_SPAN_SQL = 'SELECT MIN(t."timestamp"), MAX(t."timestamp") FROM transactions t'


@dataclass(frozen=True)
class ForecastOutcome:
    """What :func:`run_forecast` produced.

    ``history``: the weekly panel forecast (``series, week, value, metric,
    dimension, key``). ``forecasts`` and ``backtest``: see
    :class:`nbo_engine.scoring.forecast.ForecastResult` (``forecasts`` has every
    model, ``chosen`` marks each series' model). ``first_week`` and
    ``last_week`` are the Mondays of the first and last weeks of history;
    ``snapshot_id`` is the score snapshot whose value tiers split the series
    (None when there is none: no tier series then).
    """

    as_of: dt.date
    first_week: dt.date
    last_week: dt.date
    horizon: int
    snapshot_id: int | None
    history: pd.DataFrame
    forecasts: pd.DataFrame
    backtest: pd.DataFrame
    chosen: dict[str, str]
    seconds: float

    def counts(self) -> dict[str, int | float | str]:
        """Figures for a job-run row: series, weeks, rows, models chosen."""
        bt = self.backtest
        first = bt.drop_duplicates("series")
        out: dict[str, int | float | str] = {
            "series": int(first.shape[0]),
            "history_weeks": int(self.history["week"].nunique()),
            "horizon": self.horizon,
            "forecast_rows": int(self.forecasts.shape[0]),
            "backtested_series": int((first["windows"] > 0).sum()),
            "seasonal_series": int((first["season_length"] > 1).sum()),
            "snapshot_id": self.snapshot_id if self.snapshot_id is not None else 0,
            "seconds": round(self.seconds, 3),
        }
        for name in MODELS:
            out[f"chosen_{name}"] = sum(1 for m in self.chosen.values() if m == name)
        return out

    def chosen_forecasts(self) -> pd.DataFrame:
        """Rows of each series' chosen model."""
        return self.forecasts[self.forecasts["chosen"]].reset_index(drop=True)


def monday_of(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def weekly_panel(
    daily: pd.DataFrame, first_week: dt.date, last_week: dt.date
) -> pd.DataFrame:
    """Daily totals -> one complete weekly series per (metric, dimension, key).

    Parameters
    ----------
    daily : frame with ``day`` (date), ``metric``, ``dimension``, ``key`` and
        ``value`` (a count or currency units), any number of rows per day.
    first_week, last_week : Mondays bounding the weeks kept (both included).

    Returns
    -------
    Frame ``series, week, value, metric, dimension, key``: every week from
    ``first_week`` to ``last_week`` for every series with a nonzero total in
    that span (missing weeks are 0); ``series`` is ``metric/dimension=key``.

    Examples
    --------
    >>> daily = pd.DataFrame({"day": ["2025-01-07", "2025-01-08", "2025-01-20"],
    ...     "metric": "new_accounts", "dimension": "product", "key": "savings",
    ...     "value": [1, 2, 5]})
    >>> p = weekly_panel(daily, dt.date(2025, 1, 6), dt.date(2025, 1, 20))
    >>> p[["week", "value"]].astype(str).values.tolist()
    [['2025-01-06', '3.0'], ['2025-01-13', '0.0'], ['2025-01-20', '5.0']]
    """
    weeks = pd.date_range(first_week, last_week, freq="7D")
    cols = ["series", "week", "value", "metric", "dimension", "key"]
    if daily.empty or weeks.empty:
        return pd.DataFrame(columns=cols)
    day = pd.to_datetime(daily["day"]).dt.normalize()
    week = day - pd.to_timedelta(day.dt.weekday, unit="D")
    frame = daily.assign(week=week)
    frame = frame[(frame["week"] >= weeks[0]) & (frame["week"] <= weeks[-1])]
    keys = ["metric", "dimension", "key"]
    sums = frame.groupby([*keys, "week"], observed=True)["value"].sum()
    totals = sums.groupby(level=keys, observed=True).sum()
    live = totals[totals != 0].index
    if live.empty:
        return pd.DataFrame(columns=cols)
    full = pd.MultiIndex.from_tuples(
        [(*k, w) for k in live for w in weeks], names=[*keys, "week"]
    )
    out = sums.reindex(full, fill_value=0.0).astype(np.float64).reset_index()
    out["series"] = out["metric"] + "/" + out["dimension"] + "=" + out["key"]
    return out[cols]


def _param(dialect: str) -> str:
    return "?" if dialect == "sqlite" else "%s"


def _day_expr(dialect: str, column: str) -> str:
    return f"date({column})" if dialect == "sqlite" else f"CAST({column} AS date)"


def _as_param(value: dt.date | dt.datetime, dialect: str) -> object:
    """SQLite stores dates and times as ISO text: compare as text there."""
    if dialect != "sqlite":
        return value
    return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else str(value)


def data_span(engine: Engine) -> tuple[dt.date, dt.date] | None:
    """First and last day with transactions in the store (None when empty)."""
    with read(engine) as conn:
        lo, hi = conn.exec_driver_sql(_SPAN_SQL).one()
    if lo is None:
        return None
    return pd.Timestamp(lo).date(), pd.Timestamp(hi).date()


def _daily(
    engine: Engine, snapshot_id: int | None, first: dt.date, end: dt.date
) -> pd.DataFrame:
    """Daily openings and revenue per product and tier in ``[first, end)``."""
    dialect = engine.dialect.name
    p = _param(dialect)
    snap = snapshot_id if snapshot_id is not None else -1
    accounts_sql = _ACCOUNTS_SQL.format(
        day=_day_expr(dialect, "a.open_date"), p=p, unscored=UNSCORED
    )
    revenue_sql = _REVENUE_SQL.format(
        day=_day_expr(dialect, 't."timestamp"'), p=p, unscored=UNSCORED
    )
    start = dt.datetime.combine(first, dt.time())
    stop = dt.datetime.combine(end, dt.time())
    last_day = end - dt.timedelta(days=1)
    with read(engine) as conn:
        opened = conn.exec_driver_sql(
            accounts_sql,
            (snap, _as_param(first, dialect), _as_param(last_day, dialect)),
        ).all()
        spent = conn.exec_driver_sql(
            revenue_sql,
            (snap, _as_param(start, dialect), _as_param(stop, dialect)),
        ).all()
    parts = []
    for metric, rows in (("new_accounts", opened), ("revenue", spent)):
        frame = pd.DataFrame(rows, columns=["day", "product", "tier", "value"])
        frame["value"] = frame["value"].astype(np.float64)
        parts.append(
            frame.assign(metric=metric, dimension="product", key=frame["product"])
        )
        if snapshot_id is not None:
            parts.append(
                frame.assign(metric=metric, dimension="value_tier", key=frame["tier"])
            )
    cols = ["day", "metric", "dimension", "key", "value"]
    return pd.concat([f[cols] for f in parts], ignore_index=True)


def run_forecast(
    engine: Engine,
    *,
    as_of: dt.date,
    horizon: int = 13,
    models: Sequence[str] = MODELS,
    history_weeks: int = 156,
    season_length: int = 52,
    seed: int = 0,
) -> ForecastOutcome:
    """Build the weekly series as of ``as_of`` and forecast ``horizon`` weeks.

    Every model in ``models`` (plus the seasonal-naive baseline) is backtested
    on rolling origins and each series keeps the one with the lowest MASE (see
    :mod:`nbo_engine.scoring.forecast`). Nothing is written to the store.

    Raises
    ------
    DataValidationError
        The store holds no transactions on or before ``as_of``, or no complete
        week between the start of the extract and ``as_of``.
    ConfigError
        ``horizon``, ``models``, ``season_length`` out of range.
    """
    t0 = time.perf_counter()
    config = ForecastConfig(
        horizon=horizon,
        season_length=season_length,
        models=tuple(models),
        nonnegative=True,
        gaps="zero",
        seed=seed,
    )
    span = data_span(engine)
    if span is None or span[0] > as_of:
        raise DataValidationError(
            f"forecast as of {as_of}: the store has no transactions on or before "
            "that day; expected a loaded extract (nbo ingest DIR)"
        )
    last_week = monday_of(as_of + dt.timedelta(days=1)) - dt.timedelta(days=7)
    extract = monday_of(span[0] + dt.timedelta(days=6))  # first whole week
    first_week = max(extract, last_week - dt.timedelta(weeks=history_weeks - 1))
    if first_week > last_week:
        raise DataValidationError(
            f"forecast as of {as_of}: no complete week between the start of the "
            f"extract ({span[0]}) and {as_of}; expected at least one Monday-to-Sunday "
            "week"
        )
    snap = latest_snapshot(engine)
    snapshot_id = int(snap["id"]) if snap is not None else None
    end = last_week + dt.timedelta(days=7)
    history = weekly_panel(
        _daily(engine, snapshot_id, first_week, end), first_week, last_week
    )
    if history.empty:
        raise DataValidationError(
            f"forecast as of {as_of}: no account openings or transactions between "
            f"{first_week} and {last_week}; nothing to forecast"
        )
    result = forecast_panel(history[["series", "week", "value"]], config)
    return ForecastOutcome(
        as_of=as_of,
        first_week=first_week,
        last_week=last_week,
        horizon=horizon,
        snapshot_id=snapshot_id,
        history=history,
        forecasts=result.forecasts,
        backtest=result.backtest,
        chosen=result.chosen,
        seconds=time.perf_counter() - t0,
    )
