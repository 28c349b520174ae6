"""Job runs: one row per (job, period), claimed atomically.

The claim recipe, the same on SQLite and PostgreSQL:

* **first claim**: ``INSERT ... ON CONFLICT (job, period) DO NOTHING RETURNING
  id``. The unique constraint decides: one inserter gets the id, every other
  gets no row, however many schedulers race. On SQLite the statement runs in a
  ``BEGIN IMMEDIATE`` transaction (:func:`~nbo_engine.store.engine.write`), so a
  concurrent claimer waits for the busy timeout instead of failing with
  'database is locked'; on PostgreSQL the second inserter waits for the first
  to commit, then does nothing.
* **re-claim** (a failed or abandoned period, a ``running`` one whose
  heartbeat went stale because its process died, or any period when forced): a
  conditional ``UPDATE ... SET attempt = attempt + 1 ... WHERE job = ? AND
  period = ? AND attempt = <the attempt the claimer read> AND <status is
  reclaimable>``. The attempt number is the row's version: the first updater
  changes it, so the second one's ``WHERE`` no longer matches (PostgreSQL
  re-checks the condition on the updated row after waiting for the row lock)
  and it updates nothing.
* **finish / heartbeat** are conditional on ``status = 'running'`` and the
  claimer's attempt, so a run that was abandoned or re-claimed meanwhile can
  never overwrite the newer state.

Times are naive UTC (wall clock of the process that did the work).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, RowMapping, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from nbo_engine.errors import JobError
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata

__all__ = [
    "RECLAIMABLE",
    "STATUSES",
    "TRIGGERS",
    "JobRunRecord",
    "claim",
    "finish",
    "first_periods",
    "get_run",
    "heartbeat",
    "history",
    "last_runs",
    "last_succeeded",
    "reclaim",
]

RUNS = metadata.tables["job_runs"]

STATUSES: tuple[str, ...] = ("running", "succeeded", "failed", "abandoned")
TRIGGERS: tuple[str, ...] = ("schedule", "catch_up", "manual")
#: Statuses a re-claim may take over without forcing (a ``running`` row also
#: qualifies when its heartbeat is stale).
RECLAIMABLE: tuple[str, ...] = ("failed", "abandoned")


@dataclass(frozen=True, slots=True)
class JobRunRecord:
    """One ``job_runs`` row; ``counts`` decoded from its JSON."""

    id: int
    job: str
    period: str
    status: str
    trigger: str
    attempt: int
    claimed_by: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    counts: dict[str, Any] | None
    error: str | None

    @property
    def seconds(self) -> float | None:
        """Wall time of the (latest attempt of the) run, if it finished."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


def _record(row: RowMapping) -> JobRunRecord:
    counts = row["counts"]
    return JobRunRecord(
        id=int(row["id"]),
        job=str(row["job"]),
        period=str(row["period"]),
        status=str(row["status"]),
        trigger=str(row["trigger"]),
        attempt=int(row["attempt"]),
        claimed_by=row["claimed_by"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        heartbeat_at=row["heartbeat_at"],
        counts=json.loads(counts) if counts is not None else None,
        error=row["error"],
    )


def _fetch(conn: Connection, job: str, period: str) -> JobRunRecord | None:
    row = (
        conn.execute(select(RUNS).where(RUNS.c.job == job, RUNS.c.period == period))
        .mappings()
        .first()
    )
    return _record(row) if row is not None else None


def get_run(engine: Engine, job: str, period: str) -> JobRunRecord | None:
    """The row of ``(job, period)``, or None if nobody claimed it yet."""
    with read(engine) as conn:
        return _fetch(conn, job, period)


def claim(
    engine: Engine,
    *,
    job: str,
    period: str,
    trigger: str,
    claimed_by: str,
    now: dt.datetime,
) -> JobRunRecord | None:
    """Insert ``(job, period)`` as ``running``, attempt 1.

    Returns
    -------
    JobRunRecord or None
        The new row if this call won the slot; None if the slot already
        existed (claimed by someone else, or earlier).
    """
    values = {
        "job": job,
        "period": period,
        "status": "running",
        "trigger": trigger,
        "attempt": 1,
        "claimed_by": claimed_by,
        "started_at": now,
        "heartbeat_at": now,
    }
    ins = (
        postgresql.insert(RUNS)
        if engine.dialect.name == "postgresql"
        else sqlite.insert(RUNS)
    )
    stmt = (
        ins.values(**values)
        .on_conflict_do_nothing(index_elements=["job", "period"])
        .returning(RUNS.c.id)
    )
    with write(engine) as conn:
        run_id = conn.execute(stmt).scalar()
        if run_id is None:
            return None
        return _fetch(conn, job, period)


def reclaim(
    engine: Engine,
    *,
    job: str,
    period: str,
    attempt: int,
    trigger: str,
    claimed_by: str,
    now: dt.datetime,
    stale_before: dt.datetime,
    statuses: Iterable[str] = RECLAIMABLE,
) -> JobRunRecord | None:
    """Take over ``(job, period)`` as ``attempt + 1`` if it is still at
    ``attempt`` and its status is in ``statuses`` (or it is ``running`` with a
    heartbeat older than ``stale_before``).

    Returns
    -------
    JobRunRecord or None
        The updated row if this call won; None if the row changed meanwhile,
        is not reclaimable, or does not exist.
    """
    stale = and_(
        RUNS.c.status == "running",
        func.coalesce(RUNS.c.heartbeat_at, RUNS.c.started_at) < stale_before,
    )
    stmt = (
        update(RUNS)
        .where(
            RUNS.c.job == job,
            RUNS.c.period == period,
            RUNS.c.attempt == attempt,
            or_(RUNS.c.status.in_(list(statuses)), stale),
        )
        .values(
            status="running",
            trigger=trigger,
            attempt=RUNS.c.attempt + 1,
            claimed_by=claimed_by,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            counts=None,
            # The previous attempt's error stays visible until this one ends.
        )
    )
    with write(engine) as conn:
        if conn.execute(stmt).rowcount != 1:
            return None
        return _fetch(conn, job, period)


def finish(
    engine: Engine,
    run_id: int,
    *,
    attempt: int,
    status: str,
    now: dt.datetime,
    counts: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> JobRunRecord | None:
    """Record the end of attempt ``attempt`` of run ``run_id``.

    ``status`` is ``succeeded``, ``failed`` or ``abandoned``. Nothing changes
    (and None is returned) unless the row is still ``running`` at that attempt:
    a run abandoned or re-claimed meanwhile keeps its newer state.
    """
    if status not in STATUSES[1:]:
        raise JobError(
            f"job run status: got {status!r}, expected one of {', '.join(STATUSES[1:])}"
        )
    stmt = (
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.attempt == attempt,
            RUNS.c.status == "running",
        )
        .values(
            status=status,
            finished_at=now,
            heartbeat_at=now,
            counts=json.dumps(dict(counts), sort_keys=True)
            if counts is not None
            else None,
            error=error,
        )
    )
    with write(engine) as conn:
        if conn.execute(stmt).rowcount != 1:
            return None
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().one()
        return _record(row)


def heartbeat(engine: Engine, run_id: int, *, attempt: int, now: dt.datetime) -> bool:
    """Stamp a running attempt as alive; False if it is no longer ours."""
    stmt = (
        update(RUNS)
        .where(
            RUNS.c.id == run_id,
            RUNS.c.attempt == attempt,
            RUNS.c.status == "running",
        )
        .values(heartbeat_at=now)
    )
    with write(engine) as conn:
        return conn.execute(stmt).rowcount == 1


def history(
    engine: Engine, *, job: str | None = None, limit: int = 50
) -> list[JobRunRecord]:
    """The latest runs, newest start first (optionally of one job)."""
    stmt = select(RUNS).order_by(RUNS.c.started_at.desc(), RUNS.c.id.desc())
    if job is not None:
        stmt = stmt.where(RUNS.c.job == job)
    with read(engine) as conn:
        return [_record(r) for r in conn.execute(stmt.limit(limit)).mappings()]


def last_succeeded(engine: Engine) -> dict[str, str]:
    """Job -> its newest succeeded period key.

    Period keys of one job sort as text in time order (zero-padded
    ``2026-11-25T07``, ``2026-11-25``, ``2026-W48``), so ``max`` is the newest.
    """
    stmt = (
        select(RUNS.c.job, func.max(RUNS.c.period))
        .where(RUNS.c.status == "succeeded")
        .group_by(RUNS.c.job)
    )
    with read(engine) as conn:
        return {str(j): str(p) for j, p in conn.execute(stmt)}


def first_periods(engine: Engine) -> dict[str, str]:
    """Job -> its oldest claimed period key (any status)."""
    stmt = select(RUNS.c.job, func.min(RUNS.c.period)).group_by(RUNS.c.job)
    with read(engine) as conn:
        return {str(j): str(p) for j, p in conn.execute(stmt)}


def last_runs(engine: Engine) -> dict[str, JobRunRecord]:
    """Job -> the row of its newest period (any status)."""
    newest = (
        select(RUNS.c.job, func.max(RUNS.c.period).label("period"))
        .group_by(RUNS.c.job)
        .subquery()
    )
    stmt = select(RUNS).join(
        newest, and_(RUNS.c.job == newest.c.job, RUNS.c.period == newest.c.period)
    )
    with read(engine) as conn:
        return {str(r["job"]): _record(r) for r in conn.execute(stmt).mappings()}
