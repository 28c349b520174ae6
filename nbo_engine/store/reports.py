"""Weekly reports, and the reads the weekly report gathers its evidence with.

A report is one row per week (the Monday it starts), saved by upsert: running
the weekly job again for a week replaces that week's HTML and figures, so the
job stays idempotent for its period. Reads are plain SQLAlchemy Core with every
value bound, returning DataFrames (naive UTC times, as the decision log keeps
them) or small frozen dataclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata
from nbo_engine.timeutil import naive_utc as _naive

__all__ = [
    "POSITIVE_EVENT_TYPES",
    "SEGMENT_COLUMNS",
    "WeeklyReportRow",
    "ingest_runs_between",
    "last_ingest_run",
    "latest_weekly_report",
    "list_weekly_reports",
    "live_decisions",
    "monitor_reports_until",
    "offer_events_between",
    "opened_accounts",
    "policy_proposals_between",
    "policy_specs",
    "save_weekly_report",
    "segment_summary",
    "snapshots_until",
    "weekly_report",
]

REPORTS = metadata.tables["weekly_reports"]
DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
EVENTS = metadata.tables["offer_events"]
ACCOUNTS = metadata.tables["accounts"]
PROPOSALS = metadata.tables["policy_proposals"]
MONITOR = metadata.tables["monitor_reports"]
RUNS = metadata.tables["ingest_runs"]
SNAPSHOTS = metadata.tables["score_snapshots"]
SCORES = metadata.tables["customer_scores"]
VERSIONS = metadata.tables["policy_versions"]

#: Event types that count as the customer taking an offer.
POSITIVE_EVENT_TYPES: tuple[str, ...] = ("accept", "conversion")
#: Score columns a segment can come from (see
#: ``nbo_engine.decisioning.context.SEGMENT_SOURCES``).
SEGMENT_COLUMNS: tuple[str, ...] = (
    "cluster",
    "micro_segment",
    "value_tier",
    "product_affinity",
    "life_stage",
)
_CHUNK = 5000


def _aware(t: dt.datetime) -> dt.datetime:
    """For SQLModel's ``UTCDateTime`` columns (``created_at``, ``started_at``
    of the books), which take aware times only; naive means UTC."""
    return t.astimezone(dt.UTC) if t.tzinfo else t.replace(tzinfo=dt.UTC)


def _frame(
    conn: Connection, stmt: Select[Any], times: Sequence[str] = ()
) -> pd.DataFrame:
    frame = pd.read_sql(stmt, conn)
    for c in times:
        frame[c] = pd.to_datetime(frame[c], utc=True).dt.tz_localize(None)
    return frame


# ------------------------------------------------------------------ reports
@dataclass(frozen=True)
class WeeklyReportRow:
    """A saved weekly report: its HTML page and every figure as JSON text."""

    id: int
    week: dt.date
    created_at: dt.datetime
    html: str
    data: str
    job_run_id: int | None


def _report(row: Any) -> WeeklyReportRow:
    week = row["week"]
    return WeeklyReportRow(
        id=int(row["id"]),
        week=week if isinstance(week, dt.date) else dt.date.fromisoformat(str(week)),
        created_at=row["created_at"],
        html=str(row["html"]),
        data=str(row["data"]),
        job_run_id=None if row["job_run_id"] is None else int(row["job_run_id"]),
    )


def save_weekly_report(
    engine: Engine,
    *,
    week: dt.date,
    html: str,
    data: str,
    created_at: dt.datetime,
    job_run_id: int | None = None,
) -> int:
    """Insert the report of ``week`` or replace the one stored; returns its id.

    One statement, ``INSERT ... ON CONFLICT (week) DO UPDATE``, so two runs
    for the same week leave one row (the later one's content).
    """
    values = {
        "week": week,
        "created_at": _aware(created_at),
        "html": html,
        "data": data,
        "job_run_id": job_run_id,
    }
    with write(engine) as conn:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        stmt = dialect.insert(REPORTS).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=["week"],
            set_={k: stmt.excluded[k] for k in values if k != "week"},
        ).returning(REPORTS.c.id)
        return int(conn.execute(stmt).scalar_one())


def weekly_report(engine: Engine, week: dt.date) -> WeeklyReportRow | None:
    """The report of the week starting ``week`` (a Monday), or ``None``."""
    with read(engine) as conn:
        row = (
            conn.execute(select(REPORTS).where(REPORTS.c.week == week))
            .mappings()
            .first()
        )
    return None if row is None else _report(row)


def latest_weekly_report(engine: Engine) -> WeeklyReportRow | None:
    """The report of the most recent week, or ``None`` if none was saved."""
    with read(engine) as conn:
        row = (
            conn.execute(select(REPORTS).order_by(REPORTS.c.week.desc()).limit(1))
            .mappings()
            .first()
        )
    return None if row is None else _report(row)


def list_weekly_reports(engine: Engine, *, limit: int = 52) -> pd.DataFrame:
    """``id, week, created_at, job_run_id`` of saved reports, newest week first."""
    stmt = (
        select(REPORTS.c.id, REPORTS.c.week, REPORTS.c.created_at, REPORTS.c.job_run_id)
        .order_by(REPORTS.c.week.desc())
        .limit(limit)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)


# ------------------------------------------------------------------ decisions
def live_decisions(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    with_context: bool = False,
) -> pd.DataFrame:
    """Live decisions with ``since <= ts < until`` and the offers they chose.

    One row per chosen offer, plus one row (``rank``, ``offer_id`` null) for
    each decision that offered nothing (holdouts, caps, nothing eligible).
    Columns: ``decision_id, ts, customer_id, channel, policy_version_id,
    snapshot_id, experiment, variant, rank, offer_id, propensity, p_accept,
    value`` and, with ``with_context``, ``context`` (JSON list).
    """
    cols = [
        DECISIONS.c.decision_id,
        DECISIONS.c.ts,
        DECISIONS.c.customer_id,
        DECISIONS.c.channel,
        DECISIONS.c.policy_version_id,
        DECISIONS.c.snapshot_id,
        DECISIONS.c.experiment,
        DECISIONS.c.variant,
        OFFERS.c.rank,
        OFFERS.c.offer_id,
        OFFERS.c.propensity,
        OFFERS.c.p_accept,
        OFFERS.c.value,
    ]
    if with_context:
        cols.append(DECISIONS.c.context)
    stmt = (
        select(*cols)
        .select_from(
            DECISIONS.outerjoin(OFFERS, OFFERS.c.decision_id == DECISIONS.c.decision_id)
        )
        .where(
            DECISIONS.c.mode == "live",
            DECISIONS.c.ts >= _naive(since),
            DECISIONS.c.ts < _naive(until),
        )
        .order_by(DECISIONS.c.ts, DECISIONS.c.decision_id, OFFERS.c.rank)
    )
    with read(engine) as conn:
        return _frame(conn, stmt, ["ts"])


def offer_events_between(
    engine: Engine,
    *,
    since: dt.datetime,
    until: dt.datetime,
    types: Sequence[str] = POSITIVE_EVENT_TYPES,
) -> pd.DataFrame:
    """``event_id, decision_id, customer_id, offer_id, type, ts, value`` of
    events of ``types`` with ``since <= ts < until``."""
    stmt = select(
        EVENTS.c.event_id,
        EVENTS.c.decision_id,
        EVENTS.c.customer_id,
        EVENTS.c.offer_id,
        EVENTS.c.type,
        EVENTS.c.ts,
        EVENTS.c.value,
    ).where(
        EVENTS.c.type.in_(list(types)),
        EVENTS.c.ts >= _naive(since),
        EVENTS.c.ts < _naive(until),
    )
    with read(engine) as conn:
        return _frame(conn, stmt, ["ts"])


def policy_specs(engine: Engine, version_ids: Sequence[int]) -> dict[int, str]:
    """``{version_id: spec YAML}`` of the given policy versions."""
    ids = sorted({int(v) for v in version_ids})
    if not ids:
        return {}
    with read(engine) as conn:
        rows = conn.execute(
            select(VERSIONS.c.id, VERSIONS.c.spec).where(VERSIONS.c.id.in_(ids))
        ).all()
    return {int(i): str(s) for i, s in rows}


# ------------------------------------------------------------------ outcomes
def opened_accounts(engine: Engine, *, since: dt.date, until: dt.date) -> pd.DataFrame:
    """``customer_id, product, open_date`` of accounts opened in
    ``[since, until)`` (the products customers took up)."""
    stmt = select(
        ACCOUNTS.c.customer_id, ACCOUNTS.c.product, ACCOUNTS.c.open_date
    ).where(ACCOUNTS.c.open_date >= since, ACCOUNTS.c.open_date < until)
    with read(engine) as conn:
        frame = pd.read_sql(stmt, conn)
    frame["open_date"] = pd.to_datetime(frame["open_date"])
    return frame


def policy_proposals_between(
    engine: Engine, *, since: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Retune proposals created or decided in ``[since, until)``, oldest first:
    ``id, created_at, base_version_id, proposed_version_id, mode, status,
    changes`` (JSON list), ``guardrails`` (JSON list), ``decided_at,
    decided_by, note``."""
    lo, hi = _aware(since), _aware(until)
    stmt = (
        select(
            PROPOSALS.c.id,
            PROPOSALS.c.created_at,
            PROPOSALS.c.base_version_id,
            PROPOSALS.c.proposed_version_id,
            PROPOSALS.c.mode,
            PROPOSALS.c.status,
            PROPOSALS.c.changes,
            PROPOSALS.c.guardrails,
            PROPOSALS.c.decided_at,
            PROPOSALS.c.decided_by,
            PROPOSALS.c.note,
        )
        .where(
            or_(
                and_(PROPOSALS.c.created_at >= lo, PROPOSALS.c.created_at < hi),
                and_(
                    PROPOSALS.c.decided_at >= _naive(lo),
                    PROPOSALS.c.decided_at < _naive(hi),
                ),
            )
        )
        .order_by(PROPOSALS.c.id)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)


def monitor_reports_until(
    engine: Engine, *, until: dt.date, limit: int = 1
) -> pd.DataFrame:
    """The newest monitoring reports with ``as_of < until``, newest first:
    ``id, as_of, created_at, report`` (JSON), ``n_alerts, retrain_requested``."""
    stmt = (
        select(
            MONITOR.c.id,
            MONITOR.c.as_of,
            MONITOR.c.created_at,
            MONITOR.c.report,
            MONITOR.c.n_alerts,
            MONITOR.c.retrain_requested,
        )
        .where(MONITOR.c.as_of < until)
        .order_by(MONITOR.c.as_of.desc(), MONITOR.c.id.desc())
        .limit(limit)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)


def ingest_runs_between(
    engine: Engine, *, since: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """File loads started in ``[since, until)``, oldest first (every column of
    ``ingest_runs``)."""
    stmt = (
        select(RUNS)
        .where(RUNS.c.started_at >= _aware(since), RUNS.c.started_at < _aware(until))
        .order_by(RUNS.c.id)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)


def last_ingest_run(engine: Engine, *, until: dt.datetime) -> dt.datetime | None:
    """Start time of the newest file load before ``until``, or ``None``."""
    with read(engine) as conn:
        got = conn.execute(
            select(func.max(RUNS.c.started_at)).where(RUNS.c.started_at < _aware(until))
        ).scalar_one()
    if got is None:
        return None
    return pd.Timestamp(got).to_pydatetime()


# ------------------------------------------------------------------ snapshots
def snapshots_until(engine: Engine, *, until: dt.date, limit: int = 12) -> pd.DataFrame:
    """Succeeded score snapshots with ``as_of < until``, oldest first, at most
    ``limit`` (the newest ones): ``id, as_of, n_customers``."""
    stmt = (
        select(SNAPSHOTS.c.id, SNAPSHOTS.c.as_of, SNAPSHOTS.c.n_customers)
        .where(SNAPSHOTS.c.status == "succeeded", SNAPSHOTS.c.as_of < until)
        .order_by(SNAPSHOTS.c.as_of.desc(), SNAPSHOTS.c.id.desc())
        .limit(limit)
    )
    with read(engine) as conn:
        frame = pd.read_sql(stmt, conn)
    return frame.iloc[::-1].reset_index(drop=True)


def segment_summary(engine: Engine, snapshot_ids: Sequence[int]) -> pd.DataFrame:
    """Customers, summed CLV and summed churn score per snapshot and per
    combination of the segment columns (aggregated in SQL): ``snapshot_id``,
    the :data:`SEGMENT_COLUMNS`, ``n, clv_sum, clv_n, churn_sum, churn_n``."""
    ids = [int(i) for i in snapshot_ids]
    keys = [SCORES.c.snapshot_id, *(SCORES.c[c] for c in SEGMENT_COLUMNS)]
    stmt = (
        select(
            *keys,
            func.count().label("n"),
            func.sum(SCORES.c.clv_12m).label("clv_sum"),
            func.count(SCORES.c.clv_12m).label("clv_n"),
            func.sum(SCORES.c.churn_90d).label("churn_sum"),
            func.count(SCORES.c.churn_90d).label("churn_n"),
        )
        .where(SCORES.c.snapshot_id.in_(ids))
        .group_by(*keys)
    )
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)
