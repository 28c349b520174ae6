"""Reads the monitor needs, and its reports (``monitor_reports``).

Counts are SQL aggregates; the statistics are done in
:mod:`nbo_engine.monitoring`. Times in ``decisions`` and ``offer_events`` are
naive UTC (see :mod:`nbo_engine.store.decisions`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Engine, Float, and_, func, insert, select

from nbo_engine.store.decisions import POSITIVE_EVENTS
from nbo_engine.store.engine import read, write
from nbo_engine.store.scores import SCORE_COLUMNS, snapshot_scores
from nbo_engine.store.tables import metadata

__all__ = [
    "SCORE_KINDS",
    "acceptance_counts",
    "data_through",
    "latest_report",
    "model_info",
    "monitor_reports",
    "save_report",
    "snapshot_frame",
    "succeeded_snapshots",
]

REPORTS = metadata.tables["monitor_reports"]
SNAPSHOTS = metadata.tables["score_snapshots"]
SCORES = metadata.tables["customer_scores"]
MODELS = metadata.tables["model_versions"]
ACCOUNTS = metadata.tables["accounts"]
DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
EVENTS = metadata.tables["offer_events"]

#: How each ``customer_scores`` column is compared: floats as numbers, text
#: and flags as categories.
SCORE_KINDS: dict[str, Literal["numeric", "categorical"]] = {
    c: ("numeric" if isinstance(SCORES.c[c].type, Float) else "categorical")
    for c in SCORE_COLUMNS
}
_FLAGS = tuple(c for c in SCORE_COLUMNS if isinstance(SCORES.c[c].type, Boolean))


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def succeeded_snapshots(engine: Engine, *, until: dt.date) -> list[dict[str, Any]]:
    """Succeeded score snapshots dated on or before ``until``, newest first
    (by ``as_of``, then id): ``id, as_of, models`` (task -> model version id)
    and ``n_customers``."""
    stmt = (
        select(
            SNAPSHOTS.c.id,
            SNAPSHOTS.c.as_of,
            SNAPSHOTS.c.models,
            SNAPSHOTS.c.n_customers,
        )
        .where(SNAPSHOTS.c.status == "succeeded", SNAPSHOTS.c.as_of <= until)
        .order_by(SNAPSHOTS.c.as_of.desc(), SNAPSHOTS.c.id.desc())
    )
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        {
            "id": int(r["id"]),
            "as_of": _date(r["as_of"]),
            "models": {k: int(v) for k, v in json.loads(r["models"] or "{}").items()},
            "n_customers": int(r["n_customers"] or 0),
        }
        for r in rows
    ]


def snapshot_frame(
    engine: Engine, snapshot_id: int, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """A snapshot's scores indexed by customer_id: numeric columns as float64
    (NaN for missing), categorical as text (flags ``true``/``false``, missing
    as None), the same on SQLite and PostgreSQL."""
    cols = list(columns) if columns is not None else list(SCORE_COLUMNS)
    frame = snapshot_scores(engine, snapshot_id, cols)
    frame.index = frame.index.astype(str)
    for c in cols:
        if SCORE_KINDS[c] == "numeric":
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(np.float64)
        elif c in _FLAGS:
            known = frame[c].notna().to_numpy()
            text = np.full(len(frame), None, dtype=object)
            text[known] = np.where(
                frame[c].to_numpy()[known].astype(bool), "true", "false"
            )
            frame[c] = text
        else:
            frame[c] = frame[c].astype(object).where(frame[c].notna(), None)
    return frame


def data_through(engine: Engine) -> dt.date | None:
    """The newest account opening or closing date in the store: outcomes
    (churn, take-up) are known up to this day."""
    with read(engine) as conn:
        opened, closed = conn.execute(
            select(func.max(ACCOUNTS.c.open_date), func.max(ACCOUNTS.c.close_date))
        ).one()
    days = [_date(d) for d in (opened, closed) if d is not None]
    return max(days) if days else None


def model_info(engine: Engine, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """``task, family, as_of, features`` (list) and ``metrics`` (dict) of the
    given model versions (artefacts are not read)."""
    wanted = sorted({int(i) for i in ids})
    if not wanted:
        return {}
    stmt = select(
        MODELS.c.id,
        MODELS.c.task,
        MODELS.c.family,
        MODELS.c.as_of,
        MODELS.c.features,
        MODELS.c.metrics,
    ).where(MODELS.c.id.in_(wanted))
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return {
        int(r["id"]): {
            "task": r["task"],
            "family": r["family"],
            "as_of": _date(r["as_of"]),
            "features": list(json.loads(r["features"] or "[]")),
            "metrics": dict(json.loads(r["metrics"] or "{}")),
        }
        for r in rows
    }


def acceptance_counts(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    accept_within_days: float,
) -> pd.DataFrame:
    """Per offer and channel, live decisions in ``[since, until)`` (naive UTC)
    that showed the offer (``shown``) and those followed by an accept or
    conversion event on it within ``accept_within_days`` (``accepted``).

    Two queries: a GROUP BY for the offers shown, and the first positive event
    of each accepted (decision, offer) pair -- few rows, so the time window is
    applied here rather than in dialect-specific SQL.
    """
    window = and_(
        DECISIONS.c.mode == "live", DECISIONS.c.ts >= since, DECISIONS.c.ts < until
    )
    joined = DECISIONS.join(OFFERS, OFFERS.c.decision_id == DECISIONS.c.decision_id)
    shown_stmt = (
        select(OFFERS.c.offer_id, DECISIONS.c.channel, func.count().label("shown"))
        .select_from(joined)
        .where(window)
        .group_by(OFFERS.c.offer_id, DECISIONS.c.channel)
    )
    first = func.min(EVENTS.c.ts).label("first_ts")
    accepted_stmt = (
        select(
            OFFERS.c.offer_id,
            DECISIONS.c.channel,
            DECISIONS.c.decision_id,
            DECISIONS.c.ts,
            first,
        )
        .select_from(
            joined.join(
                EVENTS,
                and_(
                    EVENTS.c.decision_id == DECISIONS.c.decision_id,
                    EVENTS.c.offer_id == OFFERS.c.offer_id,
                ),
            )
        )
        .where(window, EVENTS.c.type.in_(POSITIVE_EVENTS))
        .group_by(
            OFFERS.c.offer_id,
            DECISIONS.c.channel,
            DECISIONS.c.decision_id,
            DECISIONS.c.ts,
        )
    )
    with read(engine) as conn:
        shown = pd.read_sql(shown_stmt, conn)
        pairs = pd.read_sql(accepted_stmt, conn)
    shown["shown"] = shown["shown"].astype(np.int64)
    if pairs.empty:
        return shown.assign(accepted=np.zeros(len(shown), dtype=np.int64))
    delay = pd.to_datetime(pairs["first_ts"]) - pd.to_datetime(pairs["ts"])
    pairs = pairs[delay < pd.Timedelta(days=accept_within_days)]
    accepted = (
        pairs.groupby(["offer_id", "channel"]).size().rename("accepted").reset_index()
    )
    out = shown.merge(accepted, on=["offer_id", "channel"], how="left")
    out["accepted"] = out["accepted"].fillna(0).astype(np.int64)
    return out


def save_report(
    engine: Engine,
    *,
    created_at: dt.datetime,
    as_of: dt.date,
    snapshot_id: int | None,
    reference_snapshot_id: int | None,
    report: dict[str, Any],
    n_alerts: int,
    retrain_requested: bool,
    job_run_id: int | None = None,
) -> int:
    """Store a monitor report (a new row, never overwritten); returns its id.
    ``report`` must be strict JSON (no NaN)."""
    # The column is timezone-checked (aware values only); a naive time is UTC.
    aware = (
        created_at.astimezone(dt.UTC)
        if created_at.tzinfo
        else created_at.replace(tzinfo=dt.UTC)
    )
    with write(engine) as conn:
        result = conn.execute(
            insert(REPORTS).values(
                created_at=aware,
                as_of=as_of,
                snapshot_id=snapshot_id,
                reference_snapshot_id=reference_snapshot_id,
                report=json.dumps(report, allow_nan=False),
                n_alerts=n_alerts,
                retrain_requested=retrain_requested,
                job_run_id=job_run_id,
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def _row(r: Any) -> dict[str, Any]:
    out = dict(r)
    out["report"] = json.loads(out["report"])
    out["as_of"] = _date(out["as_of"])
    out["retrain_requested"] = bool(out["retrain_requested"])
    return out


def latest_report(
    engine: Engine, *, report_id: int | None = None
) -> dict[str, Any] | None:
    """The newest monitor report (or the one with ``report_id``), its
    ``report`` parsed; ``None`` if there is none."""
    stmt = select(REPORTS)
    if report_id is not None:
        stmt = stmt.where(REPORTS.c.id == report_id)
    stmt = stmt.order_by(REPORTS.c.id.desc()).limit(1)
    with read(engine) as conn:
        row = conn.execute(stmt).mappings().first()
    return _row(row) if row is not None else None


def monitor_reports(engine: Engine, *, limit: int = 20) -> pd.DataFrame:
    """Recent reports without their JSON, newest first."""
    stmt = (
        select(
            REPORTS.c.id,
            REPORTS.c.created_at,
            REPORTS.c.as_of,
            REPORTS.c.snapshot_id,
            REPORTS.c.reference_snapshot_id,
            REPORTS.c.n_alerts,
            REPORTS.c.retrain_requested,
            REPORTS.c.job_run_id,
        )
        .order_by(REPORTS.c.id.desc())
        .limit(limit)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)
