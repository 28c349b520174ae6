"""The scheduler: cron parsing, a real apscheduler run, SIGTERM of `nbo scheduler run`.

Nothing here is mocked: the apscheduler tests run a real ``BackgroundScheduler``
on a per-second cron for a couple of seconds, and the signal test starts
`nbo scheduler run` as a subprocess and sends it SIGTERM while its jobs run.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from nbo_engine.config import load_settings
from nbo_engine.errors import ConfigError, JobError
from nbo_engine.jobs.runner import JobContext, JobSpec, register, unregister
from nbo_engine.scheduler import JobScheduler, cron_trigger, plan
from nbo_engine.store import Engine
from nbo_engine.store import jobruns as store

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime(2026, 11, 25, 7, 20, tzinfo=dt.UTC)  # a Wednesday


def _mark(
    path: str, seconds: float, engine: Engine, ctx: JobContext
) -> Mapping[str, int | float | str]:
    """Test job body: note its start and end in ``path``, sleep in between."""
    with open(path, "a") as fh:
        fh.write(f"start {ctx.job} {ctx.period_key}\n")
    time.sleep(seconds)
    with open(path, "a") as fh:
        fh.write(f"end {ctx.job} {ctx.period_key}\n")
    return {"slept": seconds}


def marking_job(name: str, path: Path, seconds: float, **kw: object) -> JobSpec:
    return JobSpec(name, "hourly", functools.partial(_mark, str(path), seconds), **kw)  # type: ignore[arg-type]


def _lines(path: Path, word: str) -> list[str]:
    if not path.exists():
        return []
    return [
        ln.split(" ", 1)[1]
        for ln in path.read_text().splitlines()
        if ln.startswith(word + " ")
    ]


@pytest.fixture
def jobs() -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    for n in names:
        unregister(n)


# ------------------------------------------------------------------ plan


def test_plan_uses_settings_and_one_period_of_misfire_grace(
    jobs: list[str], tmp_path: Path
) -> None:
    jobs.append("t_weekly")
    register(
        JobSpec(
            "t_weekly", "weekly", functools.partial(_mark, str(tmp_path / "m"), 0.0)
        )
    )  # type: ignore[arg-type]
    settings = load_settings(
        schedule_refresh_scores="15 3 * * *", catch_up_fold_rewards=6
    )
    planned = {
        p.job: p
        for p in plan(["fold_rewards", "refresh_scores", "t_weekly"], settings, now=NOW)
    }
    fold, scores, weekly = (
        planned["fold_rewards"],
        planned["refresh_scores"],
        planned["t_weekly"],
    )
    assert (
        fold.cron,
        fold.next_fire,
        fold.max_catch_up,
        fold.misfire_grace_seconds,
    ) == (
        "5 * * * *",
        dt.datetime(2026, 11, 25, 8, 5, tzinfo=dt.UTC),
        6,
        3_600,
    )
    assert (
        scores.cron,
        scores.next_fire,
        scores.max_catch_up,
        scores.misfire_grace_seconds,
    ) == (
        "15 3 * * *",
        dt.datetime(2026, 11, 26, 3, 15, tzinfo=dt.UTC),
        1,
        86_400,
    )
    # No setting of its own: the weekly default, Monday 06:00 UTC (not Tuesday:
    # day names, never apscheduler 3's Monday-based numbers).
    assert (weekly.cron, weekly.next_fire, weekly.misfire_grace_seconds) == (
        "0 6 * * mon",
        dt.datetime(2026, 11, 30, 6, 0, tzinfo=dt.UTC),
        604_800,
    )


def test_cron_errors_name_the_setting(jobs: list[str], tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"NBO_SCHEDULE_WEEKLY: day-of-week '0' is a number"
    ):
        cron_trigger("0 6 * * 0", "NBO_SCHEDULE_WEEKLY")
    with pytest.raises(
        ConfigError,
        match=r"NBO_SCHEDULE_MONITOR: .*61.* higher than the maximum value \(59\) in '61 \* \* \* \*'",
    ):
        cron_trigger("61 * * * *", "NBO_SCHEDULE_MONITOR")
    jobs.append("t_never")
    register(marking_job("t_never", tmp_path / "m", 0.0, schedule="0 0 31 2 *"))
    with pytest.raises(
        ConfigError, match=r"job 't_never' schedule: '0 0 31 2 \*' never fires"
    ):
        plan(["t_never"], load_settings(), now=NOW)
    with pytest.raises(JobError, match=r"unknown job 'nope'; known jobs:"):
        plan(["nope"], load_settings(), now=NOW)


# ------------------------------------------------------------------ real runs


def test_two_real_schedulers_run_each_period_once(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    for name in ("t_tick", "t_tock"):
        jobs.append(name)
        register(marking_job(name, marks, 0.2, schedule="* * * * * *"))  # every second
    settings = load_settings()
    first = JobScheduler(engine, jobs=["t_tick", "t_tock"], settings=settings)
    second = JobScheduler(engine, jobs=["t_tick", "t_tock"], settings=settings)
    first.start()
    second.start()
    try:
        time.sleep(2.5)
    finally:
        assert first.stop(grace=10) == []
        assert second.stop(grace=10) == []
    for name in ("t_tick", "t_tock"):
        # Each scheduler fired the job at start and then every second ...
        assert first.fires[name] >= 2
        assert second.fires[name] >= 2
        # ... and the (job, period) claim let each ended hour run once in all.
        ran = [p for p in _lines(marks, "start") if p.startswith(name + " ")]
        assert ran, name
        assert len(ran) == len(set(ran)), ran
        for line in ran:
            rec = store.get_run(engine, name, line.split()[1])
            assert rec is not None
            assert (rec.status, rec.attempt, rec.trigger) == (
                "succeeded",
                1,
                "catch_up",
            )


def child_main() -> None:
    """`nbo scheduler run` in a subprocess, with two test jobs registered."""
    marks, slow = os.environ["TEST_MARKS"], float(os.environ["TEST_SLOW_SECONDS"])
    register(marking_job("t_short", Path(marks), 1.5))
    register(marking_job("t_long", Path(marks), slow))
    import nbo_engine.cli.jobs  # noqa: F401  (registers the commands)
    from nbo_engine.cli._app import app

    app(["scheduler", "run", "--job", "t_short", "--job", "t_long"])


def test_sigterm_finishes_or_abandons_and_exits_cleanly(
    engine: Engine, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    # t_short last succeeded three hours before the latest ended hour: the
    # start catches up three periods of 1.5 s each, one after the other.
    latest = dt.datetime.now(dt.UTC).replace(
        tzinfo=None, minute=0, second=0, microsecond=0
    ) - dt.timedelta(hours=1)
    done = latest - dt.timedelta(hours=3)
    rec = store.claim(
        engine,
        job="t_short",
        period=f"{done:%Y-%m-%dT%H}",
        trigger="manual",
        claimed_by="test",
        now=done,
    )
    assert rec is not None
    store.finish(engine, rec.id, attempt=1, status="succeeded", now=done)

    env = {
        **os.environ,
        "NBO_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "NBO_SCHEDULER_GRACE_SECONDS": "4",
        "TEST_MARKS": str(marks),
        "TEST_SLOW_SECONDS": "120",
        "COLUMNS": "200",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from tests.jobs.test_scheduler import child_main; child_main()",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while (
            len(_lines(marks, "start")) < 2
            and time.monotonic() < deadline
            and proc.poll() is None
        ):
            time.sleep(0.05)
        assert len(_lines(marks, "start")) == 2, (proc.poll(), _lines(marks, "start"))
        proc.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        out, errors = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reap it and close the pipes
    assert proc.returncode == 0, errors
    assert stopped_in < 4 + 3, stopped_in  # the grace, plus a little
    assert "Scheduled" in out
    assert "scheduler stopped" in out
    assert "SIGTERM received, stopping" in errors

    runs = {(r.job, r.period): r for r in store.history(engine, limit=100)}
    assert not [r for r in runs.values() if r.status == "running"]
    # The short job's running period finished within the grace; the two
    # periods after it never started.
    first = f"{done + dt.timedelta(hours=1):%Y-%m-%dT%H}"
    assert runs["t_short", first].status == "succeeded"
    assert _lines(marks, "start").count(f"t_short {first}") == 1
    assert [k for k in runs if k[0] == "t_short"] == [
        ("t_short", first),
        ("t_short", f"{done:%Y-%m-%dT%H}"),
    ]
    # The long one outlived the grace: abandoned, the next start re-claims it.
    (long_line,) = [ln for ln in _lines(marks, "start") if ln.startswith("t_long ")]
    long_period = long_line.split()[1]  # the latest ended hour when it started
    long_run = runs["t_long", long_period]
    assert long_run.status == "abandoned"
    assert long_run.error is not None
    assert "the scheduler stopped (SIGTERM)" in long_run.error
    assert "within the 4 s grace" in long_run.error
    assert f"abandoned t_long {long_period}" in out
    assert _lines(marks, "end") == [f"t_short {first}"]
