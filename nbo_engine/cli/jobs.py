"""``nbo jobs run|history|list`` and ``nbo scheduler run``."""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, err, fail, require_migrated
from nbo_engine.errors import NboError

if TYPE_CHECKING:
    from nbo_engine.jobs.runner import JobRunRecord, RunResult

jobs_app = typer.Typer(
    help="Run the scheduled jobs by hand, list them, read their run history.",
    no_args_is_help=True,
)
scheduler_app = typer.Typer(
    help="Run the job scheduler (cron triggers from NBO_SCHEDULE_* settings).",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(scheduler_app, name="scheduler")

_AS_OF_FORMS = "YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]][+HH:MM] (UTC when no offset)"


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _time(t: dt.datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}" if t is not None else ""


def _counts(counts: dict[str, Any] | None) -> str:
    return " ".join(f"{k}={v}" for k, v in (counts or {}).items())


def _last_line(error: str | None) -> str:
    lines = [ln for ln in (error or "").strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _record_json(rec: JobRunRecord) -> dict[str, Any]:
    out = asdict(rec)
    for key in ("started_at", "finished_at", "heartbeat_at"):
        out[key] = out[key].isoformat() if out[key] is not None else None
    out["seconds"] = rec.seconds
    return out


def _parse_as_of(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of: expected {_AS_OF_FORMS}, got {value!r}", 2) from None


def _describe(result: RunResult) -> str:
    rec = result.record
    head = f"{result.job} {result.period}"
    where = f"run {rec.id}, attempt {rec.attempt}"
    if not result.ran:
        hint = "; --force runs it again" if rec.status == "succeeded" else ""
        return f"{head}: not run: {result.reason} ({where}){hint}"
    took = f" in {rec.seconds:.1f} s" if rec.seconds is not None else ""
    counts = f": {_counts(rec.counts)}" if rec.counts else ""
    return f"{head}: {rec.status}{took} ({where}){counts}"


@jobs_app.command("run")
def jobs_run(
    name: Annotated[str, typer.Argument(help="Job name (see `nbo jobs list`).")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help=f"A time inside the period to run: {_AS_OF_FORMS}. The period "
            "must have ended. Default: the latest period that has ended.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Run the period again even if it already succeeded."
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the run as JSON.")
    ] = False,
) -> None:
    """Run job NAME for one period now, recorded in the run history.

    A period another runner is running is never started twice. A failed or
    abandoned period runs again; a succeeded one only with --force. Exits 1
    if the job failed (the traceback is in `nbo jobs history --json`).
    """
    from nbo_engine.jobs.runner import run_job

    when = _parse_as_of(as_of)
    try:
        require_migrated()
        result = run_job(engine(), name, as_of=when, force=force)
    except NboError as exc:
        raise fail(str(exc), 2) from None
    if json_out:
        payload = {
            "job": result.job,
            "period": result.period,
            "ran": result.ran,
            "reason": result.reason,
            "run": _record_json(result.record),
        }
        console.print_json(json.dumps(payload))
    elif result.ran and result.record.status == "failed":
        err.print(
            f"{_describe(result)}: {_last_line(result.record.error)}; full "
            f"traceback: nbo jobs history --job {name} --json",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    else:
        _print(_describe(result))
    if result.ran and result.record.status == "failed":
        raise typer.Exit(1)


@jobs_app.command("history")
def jobs_history(
    job: Annotated[
        str | None, typer.Option("--job", help="Only this job's runs.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, help="Most recent runs shown.")
    ] = 20,
    json_out: Annotated[
        bool,
        typer.Option(
            "--json", help="Print the runs as JSON, full tracebacks included."
        ),
    ] = False,
) -> None:
    """The latest job runs, newest first: period, status, attempts, counts, error."""
    from nbo_engine.jobs.runner import get_job
    from nbo_engine.store import jobruns

    try:
        if job is not None:
            get_job(job)
        require_migrated()
        runs = jobruns.history(engine(), job=job, limit=limit)
    except NboError as exc:
        raise fail(str(exc), 2) from None
    if json_out:
        console.print_json(json.dumps([_record_json(r) for r in runs]))
        return
    t = Table(
        "run",
        "job",
        "period",
        "status",
        "trigger",
        "attempt",
        "started (UTC)",
        "seconds",
        "counts",
        "error",
        title="Job runs",
    )
    for r in runs:
        t.add_row(
            str(r.id),
            r.job,
            r.period,
            r.status,
            r.trigger,
            str(r.attempt),
            _time(r.started_at),
            f"{r.seconds:.1f}" if r.seconds is not None else "",
            _counts(r.counts),
            _last_line(r.error)[:100],
        )
    console.print(t)


@jobs_app.command("list")
def jobs_list(
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the jobs as JSON.")
    ] = False,
) -> None:
    """Every job: period, cron schedule (UTC), next fire, catch-up, latest run."""
    from nbo_engine.jobs.runner import JOBS
    from nbo_engine.scheduler import plan
    from nbo_engine.store import jobruns

    try:
        planned = plan()
        require_migrated()
        last = jobruns.last_runs(engine())
    except NboError as exc:
        raise fail(str(exc)) from None
    rows = []
    for p in planned:
        rec = last.get(p.job)
        rows.append(
            {
                "job": p.job,
                "period": p.period,
                "schedule": p.cron,
                "next_fire": p.next_fire.isoformat(),
                "max_catch_up": p.max_catch_up,
                "description": JOBS[p.job].description,
                "last_period": rec.period if rec else None,
                "last_status": rec.status if rec else None,
                "last_started": rec.started_at.isoformat() if rec else None,
            }
        )
    if json_out:
        console.print_json(json.dumps(rows))
        return
    t = Table(
        "job",
        "period",
        "schedule (UTC)",
        "next fire (UTC)",
        "catch-up",
        "last run",
        "what it does",
        title="Jobs",
    )
    for row, p in zip(rows, planned, strict=True):
        last_run = (
            f"{row['last_period']} {row['last_status']}" if row["last_period"] else ""
        )
        t.add_row(
            p.job,
            p.period,
            p.cron,
            f"{p.next_fire:%Y-%m-%d %H:%M}",
            str(p.max_catch_up),
            last_run,
            str(row["description"]),
        )
    console.print(t)


@scheduler_app.command("run")
def scheduler_run(
    job: Annotated[
        list[str] | None,
        typer.Option(
            "--job", help="Schedule only this job (repeat for several; default: all)."
        ),
    ] = None,
) -> None:
    """Run the scheduler in the foreground until SIGTERM or Ctrl-C.

    At start it runs every period missed while it was down (at most
    NBO_CATCH_UP_<JOB> per job), then each job on its NBO_SCHEDULE_<JOB> cron.
    Several schedulers may run at once: each period runs once. On SIGTERM or
    SIGINT it starts nothing new, gives the running job
    NBO_SCHEDULER_GRACE_SECONDS to finish, records it abandoned otherwise
    (the next start runs it again), and exits 0.
    """
    from nbo_engine.scheduler import Planned, run_scheduler

    def show(planned: list[Planned]) -> None:
        t = Table(
            "job",
            "period",
            "schedule (UTC)",
            "next fire (UTC)",
            "catch-up",
            "misfire grace (s)",
            title="Scheduled (missed periods are caught up now)",
        )
        for p in planned:
            t.add_row(
                p.job,
                p.period,
                p.cron,
                f"{p.next_fire:%Y-%m-%d %H:%M:%S}",
                str(p.max_catch_up),
                str(p.misfire_grace_seconds),
            )
        console.print(t)

    try:
        require_migrated()
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # apscheduler logs every fire at INFO; its warnings (skipped fires) stay.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        abandoned = run_scheduler(engine(), jobs=job or None, on_start=show)
    except NboError as exc:
        raise fail(str(exc), 2) from None
    for rec in abandoned:
        _print(
            f"abandoned {rec.job} {rec.period} (run {rec.id}); the next start runs it"
        )
    _print("scheduler stopped")
