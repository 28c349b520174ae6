"""The job registry and runner shared by the CLI and the scheduler.

A job is a function ``fn(engine, ctx) -> counts`` run once per **period**
(hourly, daily or weekly, in UTC). Running a period means:

1. claim its ``(job, period)`` slot in ``job_runs`` (atomic, see
   :mod:`nbo_engine.store.jobruns`): whoever does not get it does not run it,
   so a period runs once however many schedulers or hands start it;
2. run the body with a :class:`JobContext`, while a daemon thread stamps the
   row's heartbeat (a claim whose heartbeat goes stale belonged to a dead
   process and may be taken over);
3. record ``succeeded`` with the counts (JSON), or ``failed`` with the full
   traceback in the row. The log line of a failure names only the job, the
   period and the exception type: messages can hold customer data, rows are
   access-controlled, logs are shipped everywhere.

A job's own failure never raises out of :func:`run_job` or :func:`run_due`,
so one broken job neither stops the others nor the scheduler.

:func:`run_due` is the scheduler's (and a simulated clock's) entry point: for
each job, every period that has ended by ``now`` since its last succeeded one,
at most ``catch_up_<job>`` of them, oldest first. Period arithmetic only ever
uses the ``now`` it is given; the wall clock stamps the rows' bookkeeping
times (started, heartbeat, finished), which describe the real process.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import socket
import threading
import traceback
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from nbo_engine.config import Settings, get_settings
from nbo_engine.errors import JobError
from nbo_engine.store import Engine
from nbo_engine.store import jobruns as store
from nbo_engine.store.jobruns import JobRunRecord
from nbo_engine.timeutil import naive_utc as _naive_utc

__all__ = [
    "DEFAULT_CATCH_UP",
    "DEFAULT_SCHEDULE",
    "JOBS",
    "PERIOD_KINDS",
    "JobContext",
    "JobFn",
    "JobRunRecord",
    "JobSpec",
    "Period",
    "RunResult",
    "abandon_active_runs",
    "active_runs",
    "catch_up_of",
    "due_periods",
    "get_job",
    "period_from_key",
    "period_of",
    "periods_between",
    "register",
    "run_due",
    "run_job",
    "schedule_of",
    "unregister",
]

log = logging.getLogger(__name__)

PeriodKind = Literal["hourly", "daily", "weekly"]
PERIOD_KINDS: tuple[str, ...] = ("hourly", "daily", "weekly")
_STEP = {
    "hourly": dt.timedelta(hours=1),
    "daily": dt.timedelta(days=1),
    "weekly": dt.timedelta(weeks=1),
}
_KEY_FORMAT = {"hourly": "%Y-%m-%dT%H", "daily": "%Y-%m-%d", "weekly": "%G-W%V"}
#: Cron (UTC) and catch-up limit of a job without a ``schedule_<name>`` /
#: ``catch_up_<name>`` setting or an override on its spec.
DEFAULT_SCHEDULE = {
    "hourly": "5 * * * *",
    "daily": "30 2 * * *",
    "weekly": "0 6 * * mon",
}
DEFAULT_CATCH_UP = {"hourly": 24, "daily": 3, "weekly": 2}


# ------------------------------------------------------------------ periods


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC interval ``[start, end)`` and its key."""

    kind: str
    key: str
    start: dt.datetime  # naive UTC
    end: dt.datetime  # naive UTC, exclusive


def _check_kind(kind: str) -> None:
    if kind not in _STEP:
        raise JobError(
            f"period: got {kind!r}, expected one of {', '.join(PERIOD_KINDS)}"
        )


def _starting(kind: str, start: dt.datetime) -> Period:
    return Period(kind, start.strftime(_KEY_FORMAT[kind]), start, start + _STEP[kind])


def period_of(kind: str, t: dt.datetime | dt.date) -> Period:
    """The period of ``kind`` that contains time ``t``.

    Parameters
    ----------
    kind : {'hourly', 'daily', 'weekly'}
        Weekly periods are ISO weeks, Monday 00:00 to Monday 00:00 UTC.
    t : datetime or date
        Naive times are UTC; aware ones are converted; a date is its 00:00.

    Examples
    --------
    >>> period_of("hourly", dt.datetime(2026, 11, 25, 7, 59)).key
    '2026-11-25T07'
    >>> p = period_of("weekly", dt.datetime(2026, 11, 25, 7, 59))
    >>> p.key, p.start, p.end
    ('2026-W48', datetime.datetime(2026, 11, 23, 0, 0), datetime.datetime(2026, 11, 30, 0, 0))
    >>> period_of("weekly", dt.date(2027, 1, 1)).key  # ISO year of the Monday
    '2026-W53'
    """
    _check_kind(kind)
    t = _naive_utc(t)
    if kind == "hourly":
        start = t.replace(minute=0, second=0, microsecond=0)
    else:
        day = t.date() - dt.timedelta(days=t.weekday() if kind == "weekly" else 0)
        start = dt.datetime(day.year, day.month, day.day)
    return _starting(kind, start)


def period_from_key(kind: str, key: str) -> Period:
    """The period named ``key`` (``2026-11-25T07``, ``2026-11-25``, ``2026-W48``)."""
    _check_kind(kind)
    fmt = _KEY_FORMAT[kind]
    try:
        start = (
            dt.datetime.strptime(key + "-1", fmt + "-%u")
            if kind == "weekly"
            else dt.datetime.strptime(key, fmt)
        )
    except ValueError:
        start = None
    if start is None or start.strftime(fmt) != key:
        example = _starting(kind, dt.datetime(2026, 11, 23)).key
        raise JobError(f"{kind} period key: got {key!r}, expected the form {example!r}")
    return _starting(kind, start)


def periods_between(
    kind: str, since: dt.datetime | dt.date, until: dt.datetime | dt.date
) -> list[Period]:
    """Every period lying wholly in ``[since, until]``, oldest first.

    Examples
    --------
    >>> [p.key for p in periods_between("hourly", dt.datetime(2026, 11, 25, 6, 30),
    ...                                 dt.datetime(2026, 11, 25, 9, 5))]
    ['2026-11-25T07', '2026-11-25T08']
    """
    _check_kind(kind)
    since, until = _naive_utc(since), _naive_utc(until)
    p = period_of(kind, since)
    if p.start < since:
        p = _starting(kind, p.end)
    out = []
    while p.end <= until:
        out.append(p)
        p = _starting(kind, p.end)
    return out


def due_periods(
    kind: str,
    now: dt.datetime,
    *,
    after: str | None,
    limit: int,
) -> list[Period]:
    """Periods to run at ``now``: those ended since period ``after`` (a key;
    None: only the latest ended period), the newest ``limit`` of them, oldest
    first.

    Examples
    --------
    >>> [p.key for p in due_periods("hourly", dt.datetime(2026, 11, 25, 10, 5),
    ...                             after="2026-11-25T07", limit=24)]
    ['2026-11-25T08', '2026-11-25T09']
    >>> [p.key for p in due_periods("daily", dt.datetime(2026, 11, 25, 2, 30),
    ...                             after=None, limit=3)]
    ['2026-11-24']
    """
    if limit < 1:
        raise JobError(f"catch-up limit: got {limit}, expected an integer >= 1")
    latest = _starting(kind, period_of(kind, now).start - _STEP[kind])
    if after is None:
        return [latest]
    first = period_from_key(kind, after).end
    # Only the tail matters: never walk years of hours after a long outage.
    first = max(first, latest.start - (limit - 1) * _STEP[kind])
    return periods_between(kind, first, latest.end)


# ------------------------------------------------------------------ registry


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a job body knows about the run it is doing."""

    job: str
    period_key: str
    period_start: dt.datetime  # naive UTC
    period_end: dt.datetime  # naive UTC, exclusive
    as_of: dt.datetime  # the period end: the job sees data up to here
    run_id: int
    trigger: str  # schedule, catch_up, manual
    rng_seed: int  # the same for every attempt at this (job, period)
    #: The settings the runner was given (jobs read their knobs here, so a
    #: caller such as the simulated loop can run them with its own).
    settings: Settings | None = None


JobFn = Callable[[Engine, JobContext], Mapping[str, int | float | str]]


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A registered job.

    ``schedule`` and ``max_catch_up`` override the ``schedule_<name>`` and
    ``catch_up_<name>`` settings (else :data:`DEFAULT_SCHEDULE` and
    :data:`DEFAULT_CATCH_UP` by period).
    """

    name: str
    period: str
    fn: JobFn
    description: str = ""
    schedule: str | None = None
    max_catch_up: int | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name.islower():
            raise JobError(
                f"job name: got {self.name!r}, expected lower-case letters, "
                "digits and underscores"
            )
        if self.period not in PERIOD_KINDS:
            raise JobError(
                f"job {self.name!r} period: got {self.period!r}, expected one of "
                f"{', '.join(PERIOD_KINDS)}"
            )


#: Every job the CLI and the scheduler know, by name (see :func:`register`).
JOBS: dict[str, JobSpec] = {}


def register(spec: JobSpec, *, replace: bool = False) -> JobSpec:
    """Add ``spec`` to :data:`JOBS` (``replace`` to redefine a name)."""
    if spec.name in JOBS and not replace and JOBS[spec.name] != spec:
        raise JobError(f"job {spec.name!r} is already registered")
    JOBS[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove job ``name`` (tests)."""
    JOBS.pop(name, None)


def get_job(name: str) -> JobSpec:
    """The spec of job ``name``.

    Raises
    ------
    JobError
        Unknown name; the message lists the known jobs.
    """
    spec = JOBS.get(name)
    if spec is None:
        raise JobError(
            f"unknown job {name!r}; known jobs: {', '.join(sorted(JOBS)) or 'none'}"
        )
    return spec


def schedule_of(spec: JobSpec, settings: Settings) -> str:
    """The job's cron: spec override, else ``schedule_<name>``, else by period."""
    if spec.schedule is not None:
        return spec.schedule
    value = getattr(settings, f"schedule_{spec.name}", None)
    return str(value) if value is not None else DEFAULT_SCHEDULE[spec.period]


def catch_up_of(spec: JobSpec, settings: Settings) -> int:
    """Most periods one :func:`run_due` runs for the job."""
    if spec.max_catch_up is not None:
        return spec.max_catch_up
    value = getattr(settings, f"catch_up_{spec.name}", None)
    return int(value) if value is not None else DEFAULT_CATCH_UP[spec.period]


# ------------------------------------------------------------------ running


@dataclass(frozen=True, slots=True)
class RunResult:
    """One period considered: whether this call ran it, and its row now."""

    job: str
    period: str
    ran: bool
    record: JobRunRecord
    reason: str = ""  # why it did not run, when it did not

    @property
    def status(self) -> str:
        return self.record.status


#: Runs executing in this process: run id -> (row, id of the thread running it).
_ACTIVE: dict[int, tuple[JobRunRecord, int]] = {}
_ACTIVE_LOCK = threading.Lock()


def _wall() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _claimer() -> str:
    # Read per claim: a forked or spawned child has its own pid.
    return f"{socket.gethostname()}:{os.getpid()}"


def _seed(job: str, period: str) -> int:
    digest = hashlib.blake2b(f"{job}:{period}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big")


def active_runs(threads: Collection[int] | None = None) -> list[JobRunRecord]:
    """Runs this process is executing now (only in ``threads``, if given)."""
    with _ACTIVE_LOCK:
        return [r for r, t in _ACTIVE.values() if threads is None or t in threads]


def _say(level: int, rec: JobRunRecord, text: str, *args: object) -> None:
    # Job, period, run and attempt only: never a message or customer data.
    log.log(
        level,
        f"job %s period %s {text} (run %d, attempt %d)",
        rec.job,
        rec.period,
        *args,
        rec.id,
        rec.attempt,
    )


def abandon_active_runs(
    engine: Engine, reason: str, threads: Collection[int] | None = None
) -> list[JobRunRecord]:
    """Record the runs this process is executing (in ``threads``, if given) as
    ``abandoned`` with error ``reason``; their bodies' later results are then
    ignored."""
    out = []
    for rec in active_runs(threads):
        done = store.finish(
            engine,
            rec.id,
            attempt=rec.attempt,
            status="abandoned",
            now=_wall(),
            error=reason,
        )
        if done is not None:
            _say(logging.WARNING, rec, "abandoned")
            out.append(done)
    return out


def _counts(spec: JobSpec, out: object) -> dict[str, int | float | str]:
    if not isinstance(out, Mapping):
        raise JobError(
            f"job {spec.name!r} returned {type(out).__name__}, expected a mapping "
            "of counts (str -> int, float or str)"
        )
    ok = (int, float, str)
    bad = [
        k
        for k, v in out.items()
        if not isinstance(k, str) or isinstance(v, bool) or not isinstance(v, ok)
    ]
    if bad:
        raise JobError(
            f"job {spec.name!r} counts: values of {bad!r} are not int, float or str"
        )
    return dict(out)


def _heartbeat(engine: Engine, rec: JobRunRecord, every: float) -> threading.Event:
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                if not store.heartbeat(
                    engine, rec.id, attempt=rec.attempt, now=_wall()
                ):
                    return  # no longer ours (abandoned or taken over)
            except Exception as exc:  # the next beat may succeed
                _say(logging.WARNING, rec, "heartbeat failed: %s", type(exc).__name__)

    threading.Thread(target=beat, daemon=True, name=f"nbo-heartbeat-{rec.id}").start()
    return stop


def _execute(
    engine: Engine, spec: JobSpec, period: Period, rec: JobRunRecord, settings: Settings
) -> JobRunRecord:
    ctx = JobContext(
        job=spec.name,
        period_key=period.key,
        period_start=period.start,
        period_end=period.end,
        as_of=period.end,
        run_id=rec.id,
        trigger=rec.trigger,
        rng_seed=_seed(spec.name, period.key),
        settings=settings,
    )
    with _ACTIVE_LOCK:
        _ACTIVE[rec.id] = (rec, threading.get_ident())
    beating = _heartbeat(engine, rec, settings.job_heartbeat_seconds)
    status, counts, error = "failed", None, None
    _say(logging.INFO, rec, "started by %s", rec.trigger)
    try:
        counts = _counts(spec, spec.fn(engine, ctx))
        status = "succeeded"
    except Exception as exc:
        error = traceback.format_exc()
        _say(logging.WARNING, rec, "failed: %s", type(exc).__name__)
    except BaseException:  # interpreter or thread shutting down mid-run
        store.finish(
            engine,
            rec.id,
            attempt=rec.attempt,
            status="abandoned",
            now=_wall(),
            error=traceback.format_exc(),
        )
        raise
    finally:
        beating.set()
        with _ACTIVE_LOCK:
            _ACTIVE.pop(rec.id, None)
    done = store.finish(
        engine,
        rec.id,
        attempt=rec.attempt,
        status=status,
        now=_wall(),
        counts=counts,
        error=error,
    )
    if done is None:  # abandoned or taken over while it ran: theirs stands
        _say(logging.WARNING, rec, "ended %s but is no longer ours", status)
        return store.get_run(engine, spec.name, period.key) or rec
    if status == "succeeded":
        _say(logging.INFO, rec, "succeeded in %.1f s", done.seconds or 0.0)
    return done


Mode = Literal["due", "manual", "force"]


def _run_period(
    engine: Engine,
    spec: JobSpec,
    period: Period,
    *,
    trigger: str,
    mode: Mode,
    settings: Settings,
) -> RunResult:
    me, wall, key = _claimer(), _wall(), period.key
    rec = store.claim(
        engine, job=spec.name, period=key, trigger=trigger, claimed_by=me, now=wall
    )
    if rec is not None:
        return RunResult(
            spec.name, key, True, _execute(engine, spec, period, rec, settings)
        )
    seen = store.get_run(engine, spec.name, key)
    assert seen is not None  # rows are never deleted

    def skip(reason: str, row: JobRunRecord = seen) -> RunResult:
        return RunResult(spec.name, key, False, row, reason)

    stale_before = wall - dt.timedelta(seconds=settings.job_stale_seconds)
    if (
        seen.status == "running"
        and (seen.heartbeat_at or seen.started_at) >= stale_before
    ):
        return skip(f"running in {seen.claimed_by}")
    if seen.status == "succeeded" and mode != "force":
        return skip("already succeeded")
    if mode == "due" and seen.attempt >= settings.job_max_attempts:
        # Bounded: a job that kills its process (out of memory) must not
        # crash-loop the scheduler through catch-ups.
        return skip(
            f"{seen.status} after {seen.attempt} attempt(s) "
            f"(NBO_JOB_MAX_ATTEMPTS={settings.job_max_attempts}); "
            f"`nbo jobs run {spec.name} --as-of {period.start:%Y-%m-%dT%H:%M}` retries it"
        )
    statuses = store.RECLAIMABLE + (("succeeded",) if mode == "force" else ())
    rec = store.reclaim(
        engine,
        job=spec.name,
        period=key,
        attempt=seen.attempt,
        trigger=trigger,
        claimed_by=me,
        now=wall,
        stale_before=stale_before,
        statuses=statuses,
    )
    if rec is None:
        return skip(
            "claimed by another runner", store.get_run(engine, spec.name, key) or seen
        )
    return RunResult(
        spec.name, key, True, _execute(engine, spec, period, rec, settings)
    )


def run_job(
    engine: Engine,
    name: str,
    *,
    as_of: dt.datetime | dt.date | None = None,
    trigger: str = "manual",
    force: bool = False,
    now: dt.datetime | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Run job ``name`` for one period, by hand.

    Parameters
    ----------
    as_of : datetime or date, optional
        A time inside the period to run (UTC when naive; a date is its
        00:00). Default: the latest period that has ended by ``now``.
    trigger : str
        Recorded on the row (``manual``, ``schedule``, ``catch_up``).
    force : bool
        Run it again even if it already succeeded. A failed or abandoned
        period is re-run without forcing; one running elsewhere never is.
    now : datetime, optional
        The present (default: the wall clock); a period must have ended by it.

    Returns
    -------
    RunResult
        ``ran`` False with a ``reason`` when the slot was not ours; when it
        ran, ``record.status`` is ``succeeded`` or ``failed`` (the job's own
        exception is recorded, not raised).

    Raises
    ------
    JobError
        Unknown job, or a period that has not ended by ``now``.
    """
    spec = get_job(name)
    settings = settings or get_settings()
    now = _naive_utc(now) if now is not None else _wall()
    if as_of is None:
        period = due_periods(spec.period, now, after=None, limit=1)[0]
    else:
        period = period_of(spec.period, as_of)
        if period.end > now:
            raise JobError(
                f"job {name!r}: {spec.period} period {period.key} ends at "
                f"{period.end:%Y-%m-%d %H:%M} UTC, after now ({now:%Y-%m-%d %H:%M} "
                "UTC); expected a period that has ended"
            )
    mode: Mode = "force" if force else "manual"
    return _run_period(
        engine, spec, period, trigger=trigger, mode=mode, settings=settings
    )


def run_due(
    engine: Engine,
    now: dt.datetime,
    jobs: Iterable[str] | None = None,
    *,
    trigger: str = "schedule",
    settings: Settings | None = None,
    stop: threading.Event | None = None,
) -> list[RunResult]:
    """Run, for each job, every period ended by ``now`` that is not done.

    For each job (default: all of :data:`JOBS`, in registration order): the
    periods ended since its newest succeeded period (since its first claimed
    one if none succeeded; only the latest ended one for a job never run),
    the newest ``catch_up_<job>`` of them, oldest first. A slot someone else
    holds or finished is skipped; an abandoned one, or one whose runner died
    (stale heartbeat), is taken over; a failed one is retried until it has
    had ``job_max_attempts`` attempts. Older periods are recorded with
    trigger ``catch_up``, the latest with ``trigger``.

    ``now`` is the only clock consulted for what is due (a simulated clock
    drives the closed loop with it). ``stop``, once set, stops starting new
    periods (the running one finishes).

    Returns
    -------
    list of RunResult
        Every period considered, in the order considered.
    """
    settings = settings or get_settings()
    specs = [get_job(n) for n in jobs] if jobs is not None else list(JOBS.values())
    now = _naive_utc(now)
    done = store.last_succeeded(engine)
    first = store.first_periods(engine)
    out: list[RunResult] = []
    for spec in specs:
        after = done.get(spec.name)
        if after is None and spec.name in first:  # never succeeded: from its first
            start = period_from_key(spec.period, first[spec.name]).start
            after = _starting(spec.period, start - _STEP[spec.period]).key
        limit = catch_up_of(spec, settings)
        periods = due_periods(spec.period, now, after=after, limit=limit)
        for i, period in enumerate(periods):
            if stop is not None and stop.is_set():
                return out
            kind = trigger if i == len(periods) - 1 else "catch_up"
            try:
                out.append(
                    _run_period(
                        engine,
                        spec,
                        period,
                        trigger=kind,
                        mode="due",
                        settings=settings,
                    )
                )
            except Exception as exc:  # the store itself failed: on to the next job
                log.error(
                    "job %s period %s could not be run: %s",
                    spec.name,
                    period.key,
                    type(exc).__name__,
                )
                break
    return out


# ------------------------------------------------------------------ the jobs


def _fold_rewards(engine: Engine, ctx: JobContext) -> dict[str, int | float | str]:
    from nbo_engine.jobs.fold_rewards import fold_rewards

    window = (ctx.settings or get_settings()).attribution_days
    results = fold_rewards(engine, now=ctx.as_of, window_days=window)
    return {
        "policy_versions": len(results),
        "states_written": sum(r.new_state_id is not None for r in results),
        "rewards": sum(r.rewards for r in results),
        "positive": sum(r.positive for r in results),
    }


def _refresh_scores(engine: Engine, ctx: JobContext) -> dict[str, int | float | str]:
    from nbo_engine.jobs.score import refresh_scores

    report = refresh_scores(engine, ctx.period_start.date())
    return {
        "snapshot_id": report.snapshot_id,
        "as_of": report.as_of.isoformat(),
        "customers": report.n_customers,
        "models": len(report.models),
        "seconds": round(report.seconds, 3),
    }


def _monitor(engine: Engine, ctx: JobContext) -> dict[str, int | float | str]:
    from nbo_engine.jobs.monitor import run_monitor

    # the day that just ended: snapshots and outcomes up to it
    return dict(
        run_monitor(engine, as_of=ctx.period_start.date(), run_id=ctx.run_id).counts()
    )


def _weekly(engine: Engine, ctx: JobContext) -> dict[str, int | float | str]:
    from pathlib import Path

    from nbo_engine.jobs.weekly import run_weekly

    settings = ctx.settings or get_settings()
    out = run_weekly(
        engine,
        week_start=ctx.period_start.date(),
        out_dir=Path(settings.reports_dir),
        mode=settings.retune_mode,
        forecast=settings.weekly_forecast,
        now=ctx.as_of,
        run_id=ctx.run_id,
        guardrails=settings.guardrails(),
        lookback_weeks=settings.retune_lookback_weeks,
        window_days=settings.attribution_days,
    )
    return out.counts()


def _builtin_jobs() -> list[JobSpec]:
    # The one place the shipped jobs are declared; the scheduler and
    # `nbo jobs` list them in this order.
    return [
        JobSpec(
            "fold_rewards",
            "hourly",
            _fold_rewards,
            "fold closed attribution windows into the bandits",
        ),
        JobSpec(
            "refresh_scores",
            "daily",
            _refresh_scores,
            "features, CLV, churn, propensity, segments -> a new snapshot",
        ),
        JobSpec(
            "monitor",
            "daily",
            _monitor,
            "drift of features and scores, model health, acceptance rates",
        ),
        JobSpec(
            "weekly",
            "weekly",
            _weekly,
            "retune from the week's evidence, forecast, weekly uplift report",
        ),
    ]


for _spec in _builtin_jobs():
    register(_spec)
