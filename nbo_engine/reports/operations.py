"""Sections read from the other jobs' books: policy changes (retune), drift and
model-health warnings (monitoring), data quality (ingest) and forecasts.

Each takes the rows as the store returns them and returns a section or a
:class:`~nbo_engine.reports.evidence.Missing` saying why there is none. A row
that cannot be read (malformed JSON) does not stop the report: it becomes a
line that says so.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.reports.evidence import (
    Alerts,
    DataQuality,
    Forecasts,
    Missing,
    PolicyChanges,
)

__all__ = [
    "ALERT_COLUMNS",
    "CHANGE_COLUMNS",
    "FORECAST_COLUMNS",
    "alerts",
    "check_forecasts",
    "data_quality",
    "forecasts",
    "policy_changes",
]

CHANGE_COLUMNS = ("kind", "offer", "segment", "before", "after", "reason", "evidence")
ALERT_COLUMNS = ("kind", "level", "subject", "value", "threshold", "message")
FORECAST_COLUMNS = ("series", "week", "model", "mean", "lo80", "hi80", "lo95", "hi95")
_RUN_COUNTS = (
    "rows_read",
    "rows_inserted",
    "rows_updated",
    "rows_fixed",
    "rows_quarantined",
    "duplicates_dropped",
)


def _text(v: Any) -> str:
    """A change field as text: numbers to 4 significant digits, mappings as
    ``key=value`` pairs, lists in brackets."""
    if v is None:
        return ""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int | float):
        return f"{v:.4g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_text(x)}" for k, x in sorted(v.items()))
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_text(x) for x in v) + "]"
    return str(v)


def _plain(v: Any) -> Any:
    """A cell as a plain Python value, for messages."""
    return v.item() if isinstance(v, np.generic) else v


def policy_changes(proposals: pd.DataFrame) -> PolicyChanges | Missing:
    """One row per change of the week's retune proposals.

    Parameters
    ----------
    proposals : DataFrame
        ``policy_proposals`` rows: ``id, status, mode, created_at, changes``
        (JSON list of ``{kind, offer, segment, before, after, reason,
        evidence}``).
    """
    if proposals.empty:
        return Missing("no retune proposal was made or decided this week")
    rows: list[dict[str, Any]] = []
    for p in proposals.to_dict("records"):  # a handful of proposals a week
        head = {
            "proposal_id": int(p["id"]),
            "status": str(p["status"]),
            "mode": str(p["mode"]),
            "created_at": p["created_at"],
        }
        try:
            changes = json.loads(p["changes"])
            if not isinstance(changes, list):
                raise TypeError(f"expected a JSON list, got {type(changes).__name__}")
        except (TypeError, ValueError) as exc:
            rows.append(
                {
                    **head,
                    **dict.fromkeys(CHANGE_COLUMNS, ""),
                    "kind": "unreadable",
                    "reason": f"policy_proposals id {p['id']}: changes could not be read ({exc})",
                }
            )
            continue
        if not changes:
            rows.append(
                {
                    **head,
                    **dict.fromkeys(CHANGE_COLUMNS, ""),
                    "kind": "none",
                    "reason": "the proposal changes nothing",
                }
            )
        for c in changes:
            c = c if isinstance(c, dict) else {"reason": _text(c)}
            rows.append({**head, **{k: _text(c.get(k)) for k in CHANGE_COLUMNS}})
    return PolicyChanges(
        changes=pd.DataFrame(
            rows,
            columns=["proposal_id", "status", "mode", "created_at", *CHANGE_COLUMNS],
        )
    )


def alerts(monitor: pd.DataFrame, *, week: dt.date) -> Alerts | Missing:
    """Warnings of the newest monitoring report before the week ended.

    Parameters
    ----------
    monitor : DataFrame
        ``monitor_reports`` rows, newest first: ``id, as_of, report`` (JSON
        with an ``alerts`` list of ``{kind, level, subject, value, threshold,
        message}``, ``level`` ``warn`` or ``alert``, optional),
        ``retrain_requested``.
    week : date
        Monday of the report's week (a monitoring report older than two weeks
        is not shown as this week's).
    """
    if monitor.empty:
        return Missing("no monitoring report has been made yet")
    row = monitor.iloc[0]
    as_of = pd.Timestamp(row["as_of"]).date()
    if as_of < week - dt.timedelta(days=7):
        return Missing(
            f"the newest monitoring report is of {as_of}, more than a week before "
            f"this week ({week}); is the daily monitor job running?"
        )
    try:
        report = json.loads(row["report"])
        items = report.get("alerts", []) if isinstance(report, dict) else []
    except (TypeError, ValueError) as exc:
        items = [
            {
                "kind": "unreadable",
                "subject": f"monitor_reports id {row['id']}",
                "message": f"the report could not be read ({exc})",
            }
        ]
    frame = pd.DataFrame(
        [
            {k: (a.get(k) if isinstance(a, dict) else None) for k in ALERT_COLUMNS}
            for a in (items if isinstance(items, list) else [])
        ],
        columns=list(ALERT_COLUMNS),
    )
    for c in ("kind", "level", "subject", "message"):
        frame[c] = frame[c].map(_text)
    for c in ("value", "threshold"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce")
    return Alerts(
        alerts=frame, as_of=as_of, retrain_requested=bool(row["retrain_requested"])
    )


def data_quality(
    runs: pd.DataFrame,
    *,
    since: dt.date,
    until: dt.date,
    last_run: dt.datetime | None = None,
) -> DataQuality | Missing:
    """File loads of the week per entity and quarantined rows by reason.

    Parameters
    ----------
    runs : DataFrame
        ``ingest_runs`` rows started in the week.
    since, until : date
        The week (``until`` exclusive), for the message when nothing was loaded.
    last_run : datetime, optional
        Start of the newest load before the week, named in that message.
    """
    if runs.empty:
        last = f"; the last load started {last_run:%Y-%m-%d %H:%M}" if last_run else ""
        return Missing(f"no file was loaded between {since} and {until}{last}")
    r = runs.assign(failed=(runs["status"].astype(str) != "succeeded").astype(np.int64))
    per = r.groupby("entity", sort=True).agg(
        runs=("entity", "size"),
        failed=("failed", "sum"),
        **{c: (c, "sum") for c in _RUN_COUNTS},
    )
    reasons: dict[str, int] = {}
    for text in r["quarantine_reasons"].fillna("{}").astype(str).tolist():
        try:
            got = json.loads(text)
        except ValueError:
            got = {"unreadable_reasons": 1}
        if isinstance(got, dict):
            for k, v in got.items():
                reasons[str(k)] = reasons.get(str(k), 0) + int(v)
    ordered: list[tuple[str, int]] = sorted(
        reasons.items(), key=lambda kv: (-kv[1], kv[0])
    )
    return DataQuality(
        runs=per.reset_index(),
        reasons=pd.DataFrame(ordered, columns=["reason", "rows"]),
    )


def check_forecasts(frame: pd.DataFrame) -> pd.DataFrame:
    """Validate a forecast frame; returns it sorted with ``week`` as dates.

    Parameters
    ----------
    frame : DataFrame
        ``series, week, model, mean`` and optionally the interval columns
        ``lo80, hi80, lo95, hi95`` (added as NaN when absent).

    Raises
    ------
    DataValidationError
        A required column is missing, a ``week`` does not parse as a date, or
        ``mean`` is not a finite number (the first bad row is named).
    """
    need = ["series", "week", "model", "mean"]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"forecasts: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(FORECAST_COLUMNS)} (intervals optional), got "
            f"{', '.join(map(str, frame.columns)) or 'none'}"
        )
    out = frame.copy()
    weeks = pd.to_datetime(out["week"], errors="coerce")
    if weeks.isna().any():
        i = int(np.flatnonzero(weeks.isna().to_numpy())[0])
        raise DataValidationError(
            f"forecasts row {i}: column 'week' is {_plain(frame['week'].iloc[i])!r}, "
            "expected a date"
        )
    out["week"] = weeks.dt.date
    for c in FORECAST_COLUMNS[3:]:
        out[c] = pd.to_numeric(out[c], errors="coerce") if c in out else np.nan
    bad = ~np.isfinite(out["mean"].to_numpy(np.float64))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"forecasts row {i} (series={out['series'].iloc[i]!r}): column 'mean' is "
            f"{_plain(frame['mean'].iloc[i])!r}, expected a finite number"
        )
    out["series"] = out["series"].astype(str)
    out["model"] = out["model"].astype(str)
    cols = list(FORECAST_COLUMNS) + [
        c for c in out.columns if c not in FORECAST_COLUMNS
    ]
    return (
        out[cols].sort_values(["series", "week"], kind="stable").reset_index(drop=True)
    )


def forecasts(frame: pd.DataFrame | None) -> Forecasts | Missing:
    """The forecast section (Missing when none was given)."""
    if frame is None:
        return Missing("no forecast was produced for this report")
    if frame.empty:
        return Missing("the forecast job returned no rows")
    return Forecasts(frame=check_forecasts(frame))
