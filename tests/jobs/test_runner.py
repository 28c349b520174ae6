"""The job runner: period maths, claims, catch-up, failures, force, the CLI.

Database tests run on SQLite and PostgreSQL (``engine`` fixture). Test jobs
are small functions registered for the test; what their bodies did is counted
in a file, so "ran once" is checked against what actually executed, not
against what the runner says it did.
"""

from __future__ import annotations

import datetime as dt
import doctest
import functools
import json
import logging
import multiprocessing
import time
from collections.abc import Iterator, Mapping
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from nbo_engine.config import get_settings, load_settings
from nbo_engine.errors import ConfigError, JobError
from nbo_engine.jobs import runner
from nbo_engine.jobs.runner import (
    JobContext,
    JobSpec,
    due_periods,
    period_from_key,
    period_of,
    periods_between,
    register,
    run_due,
    run_job,
    unregister,
)
from nbo_engine.store import Engine, make_engine, migrate
from nbo_engine.store import jobruns as store
from nbo_engine.store.engine import dispose_all

cli = CliRunner()
SETTINGS = load_settings()
T0 = dt.datetime(2026, 11, 25, 0, 0)


# ------------------------------------------------------------------ helpers


def _append(
    path: str, fail_on: frozenset[str], engine: Engine, ctx: JobContext
) -> Mapping[str, int | float | str]:
    """A test job body: append its period to ``path``; fail on some periods."""
    with open(path, "a") as fh:
        fh.write(f"{ctx.period_key}\n")
    time.sleep(0.05)  # long enough for a concurrent claimer to arrive meanwhile
    if ctx.period_key in fail_on:
        raise ValueError(f"customer C-0042 has no balance in {ctx.period_key}")
    return {"period": ctx.period_key, "seed": ctx.rng_seed, "hours": 1.0}


def _body_runs(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def counting_job(
    name: str, path: Path, period: str = "hourly", fail_on: tuple[str, ...] = ()
) -> JobSpec:
    fn = functools.partial(_append, str(path), frozenset(fail_on))
    return JobSpec(name, period, fn, "test job")


@pytest.fixture
def jobs() -> Iterator[list[str]]:
    """Names registered by the test, unregistered afterwards."""
    names: list[str] = []
    yield names
    for n in names:
        unregister(n)


def _register(jobs: list[str], spec: JobSpec) -> JobSpec:
    jobs.append(spec.name)
    return register(spec)


def _hour(h: int, minute: int = 0) -> dt.datetime:
    return T0 + dt.timedelta(hours=h, minutes=minute)


# ------------------------------------------------------------------ periods


@pytest.mark.parametrize(
    ("kind", "t", "key", "start", "end"),
    [
        (
            "hourly",
            dt.datetime(2026, 11, 25, 7, 59, 59),
            "2026-11-25T07",
            dt.datetime(2026, 11, 25, 7),
            dt.datetime(2026, 11, 25, 8),
        ),
        (
            "hourly",
            dt.datetime(2026, 11, 25, 8),
            "2026-11-25T08",
            dt.datetime(2026, 11, 25, 8),
            dt.datetime(2026, 11, 25, 9),
        ),
        (
            "daily",
            dt.datetime(2026, 11, 25, 23, 59),
            "2026-11-25",
            dt.datetime(2026, 11, 25),
            dt.datetime(2026, 11, 26),
        ),
        (
            "daily",
            dt.date(2026, 11, 25),
            "2026-11-25",
            dt.datetime(2026, 11, 25),
            dt.datetime(2026, 11, 26),
        ),
        (
            "weekly",
            dt.datetime(2026, 11, 29, 23, 59),
            "2026-W48",
            dt.datetime(2026, 11, 23),
            dt.datetime(2026, 11, 30),
        ),
        (
            "weekly",
            dt.datetime(2026, 11, 30),
            "2026-W49",
            dt.datetime(2026, 11, 30),
            dt.datetime(2026, 12, 7),
        ),
        # ISO years: 1 Jan 2027 (a Friday) is in 2026's 53rd week,
        # 29 Dec 2025 (a Monday) starts week 1 of 2026.
        (
            "weekly",
            dt.datetime(2027, 1, 1, 12),
            "2026-W53",
            dt.datetime(2026, 12, 28),
            dt.datetime(2027, 1, 4),
        ),
        (
            "weekly",
            dt.datetime(2025, 12, 31),
            "2026-W01",
            dt.datetime(2025, 12, 29),
            dt.datetime(2026, 1, 5),
        ),
        # Aware times are converted to UTC first.
        (
            "hourly",
            dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "2026-11-25T07",
            dt.datetime(2026, 11, 25, 7),
            dt.datetime(2026, 11, 25, 8),
        ),
    ],
)
def test_period_of(
    kind: str, t: dt.datetime, key: str, start: dt.datetime, end: dt.datetime
) -> None:
    p = period_of(kind, t)
    assert (p.key, p.start, p.end) == (key, start, end)
    assert period_from_key(kind, key) == p


@given(
    kind=st.sampled_from(runner.PERIOD_KINDS),
    t=st.datetimes(
        min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 1, 1)
    ),
    gap=st.timedeltas(min_value=dt.timedelta(0), max_value=dt.timedelta(days=900)),
)
def test_periods_tile_time_and_keys_sort_like_time(
    kind: str, t: dt.datetime, gap: dt.timedelta
) -> None:
    p = period_of(kind, t)
    assert p.start <= t < p.end
    assert period_from_key(kind, p.key) == p
    assert period_of(kind, p.end).start == p.end  # contiguous
    # job_runs finds the newest period with max(period): keys must sort as time.
    later = period_of(kind, t + gap)
    assert (later.key > p.key) == (later.start > p.start)
    assert (later.key == p.key) == (later.start == p.start)


def test_periods_between_and_due_periods() -> None:
    keys = [
        p.key
        for p in periods_between(
            "daily", dt.datetime(2026, 11, 20, 1), dt.date(2026, 11, 24)
        )
    ]
    assert keys == ["2026-11-21", "2026-11-22", "2026-11-23"]
    assert periods_between("hourly", _hour(5), _hour(5, 59)) == []
    now = _hour(10, 5)
    # Never run: only the latest ended period, whatever the limit.
    assert [p.key for p in due_periods("hourly", now, after=None, limit=24)] == [
        "2026-11-25T09"
    ]
    # Downtime: every period after the last done one, oldest first ...
    assert [
        p.key for p in due_periods("hourly", now, after="2026-11-25T06", limit=24)
    ] == [
        "2026-11-25T07",
        "2026-11-25T08",
        "2026-11-25T09",
    ]
    # ... bounded to the newest `limit`, without walking the whole gap.
    assert [
        p.key for p in due_periods("hourly", now, after="2016-11-25T06", limit=2)
    ] == [
        "2026-11-25T08",
        "2026-11-25T09",
    ]
    assert due_periods("hourly", now, after="2026-11-25T09", limit=24) == []
    assert (
        due_periods("weekly", dt.datetime(2026, 11, 30, 6), after=None, limit=1)[0].key
        == "2026-W48"
    )


def test_doctests() -> None:
    import nbo_engine.config

    for module in (runner, nbo_engine.config):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert (result.attempted > 0, result.failed) == (True, 0), module.__name__


# ------------------------------------------------------------------ errors


def test_error_messages() -> None:
    with pytest.raises(
        JobError,
        match=r"unknown job 'nope'; known jobs: .*fold_rewards, monitor, refresh_scores",
    ):
        runner.get_job("nope")
    with pytest.raises(
        JobError,
        match=r"hourly period key: got '2026-11-25 07', expected the form '2026-11-23T00'",
    ):
        period_from_key("hourly", "2026-11-25 07")
    with pytest.raises(
        JobError,
        match=r"weekly period key: got '2026-W54', expected the form '2026-W48'",
    ):
        period_from_key("weekly", "2026-W54")
    with pytest.raises(
        JobError, match=r"period: got 'monthly', expected one of hourly, daily, weekly"
    ):
        period_of("monthly", T0)
    with pytest.raises(
        JobError,
        match=r"job 'x' period: got 'monthly', expected one of hourly, daily, weekly",
    ):
        JobSpec("x", "monthly", lambda e, c: {})
    with pytest.raises(
        JobError, match=r"job name: got 'Fold-Rewards', expected lower-case letters"
    ):
        JobSpec("Fold-Rewards", "hourly", lambda e, c: {})
    with pytest.raises(JobError, match=r"job 'fold_rewards' is already registered"):
        register(JobSpec("fold_rewards", "daily", lambda e, c: {}))
    with pytest.raises(
        JobError, match=r"catch-up limit: got 0, expected an integer >= 1"
    ):
        due_periods("daily", T0, after=None, limit=0)


def test_settings_errors_name_the_setting() -> None:
    with pytest.raises(
        ConfigError,
        match=r"NBO_SCHEDULE_WEEKLY: day-of-week '1' is a number; write day names",
    ):
        load_settings(schedule_weekly="0 6 * * 1")
    with pytest.raises(
        ConfigError,
        match=r"NBO_SCHEDULE_FOLD_REWARDS: expected 5 cron fields .* got 3 in '5 \* \*'",
    ):
        load_settings(schedule_fold_rewards="5 * *")
    with pytest.raises(
        ConfigError,
        match=r"NBO_SCHEDULE_MONITOR: hour field '6\.5' in '0 6\.5 \* \* \*' has characters",
    ):
        load_settings(schedule_monitor="0 6.5 * * *")
    with pytest.raises(
        ConfigError,
        match=r"NBO_JOB_STALE_SECONDS: got 60, expected at least 3 x NBO_JOB_HEARTBEAT_SECONDS \(90\)",
    ):
        load_settings(job_stale_seconds=60)
    with pytest.raises(ConfigError, match=r"NBO_CATCH_UP_WEEKLY"):
        load_settings(catch_up_weekly=0)


def test_run_job_refuses_a_period_that_has_not_ended(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    _register(jobs, counting_job("t_future", tmp_path / "runs"))
    with pytest.raises(
        JobError,
        match=r"job 't_future': hourly period 2026-11-25T10 ends at 2026-11-25 11:00 UTC, after now \(2026-11-25 10:30 UTC\); expected a period that has ended",
    ):
        run_job(engine, "t_future", as_of=_hour(10, 15), now=_hour(10, 30))
    assert _body_runs(tmp_path / "runs") == []


# ------------------------------------------------------------------ running


def test_downtime_each_missed_period_runs_once(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    _register(jobs, counting_job("t_hourly", runs))
    first = run_due(engine, _hour(7, 5), ["t_hourly"], settings=SETTINGS)
    assert [(r.period, r.ran, r.status) for r in first] == [
        ("2026-11-25T06", True, "succeeded")
    ]
    # The scheduler is down from 07:05 to 10:05: 07, 08 and 09 were missed.
    after = run_due(engine, _hour(10, 5), ["t_hourly"], settings=SETTINGS)
    assert [(r.period, r.ran, r.record.trigger) for r in after] == [
        ("2026-11-25T07", True, "catch_up"),
        ("2026-11-25T08", True, "catch_up"),
        ("2026-11-25T09", True, "schedule"),
    ]
    # A second call (another scheduler, a repeated fire) finds nothing to do.
    assert run_due(engine, _hour(10, 59), ["t_hourly"], settings=SETTINGS) == []
    assert _body_runs(runs) == [f"2026-11-25T0{h}" for h in (6, 7, 8, 9)]
    rec = store.get_run(engine, "t_hourly", "2026-11-25T08")
    assert rec is not None
    assert rec.status == "succeeded"
    assert rec.attempt == 1
    assert rec.counts == {
        "period": "2026-11-25T08",
        "seed": runner._seed("t_hourly", "2026-11-25T08"),
        "hours": 1.0,
    }
    assert rec.finished_at is not None
    assert rec.finished_at >= rec.started_at


def test_catch_up_is_bounded_per_job(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    spec = _register(jobs, counting_job("t_bounded", runs))
    register(JobSpec(spec.name, spec.period, spec.fn, max_catch_up=3), replace=True)
    run_job(engine, "t_bounded", as_of=_hour(0), now=_hour(1))
    out = run_due(engine, _hour(12, 5), ["t_bounded"], settings=SETTINGS)
    assert [r.period for r in out] == [
        "2026-11-25T09",
        "2026-11-25T10",
        "2026-11-25T11",
    ]
    assert _body_runs(runs) == [
        "2026-11-25T00",
        "2026-11-25T09",
        "2026-11-25T10",
        "2026-11-25T11",
    ]


def test_schedule_and_catch_up_come_from_settings() -> None:
    settings = load_settings(
        schedule_refresh_scores="15 3 * * *", catch_up_refresh_scores=5
    )
    spec = runner.get_job("refresh_scores")
    assert (runner.schedule_of(spec, settings), runner.catch_up_of(spec, settings)) == (
        "15 3 * * *",
        5,
    )
    other = JobSpec("t_unknown", "weekly", spec.fn)  # no settings of its own
    assert (
        runner.schedule_of(other, settings),
        runner.catch_up_of(other, settings),
    ) == ("0 6 * * mon", 2)


def _two_process_worker(
    url: str, name: str, path: str, now_iso: str, barrier: Barrier
) -> None:
    register(counting_job(name, Path(path)))
    engine = make_engine(url)
    barrier.wait(timeout=120)
    run_due(
        engine, dt.datetime.fromisoformat(now_iso), [name], settings=load_settings()
    )


def test_two_processes_run_each_period_once(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    _register(jobs, counting_job("t_race", runs))
    run_job(engine, "t_race", as_of=_hour(0), now=_hour(1))  # last done: 00
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_two_process_worker,
            args=(url, "t_race", str(runs), _hour(8, 5).isoformat(), barrier),
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    expected = [f"2026-11-25T0{h}" for h in range(8)]
    body = _body_runs(runs)
    assert sorted(body) == expected, body  # each period's body ran exactly once
    history = store.history(engine, job="t_race", limit=100)
    assert sorted(r.period for r in history) == expected
    assert {(r.status, r.attempt) for r in history} == {("succeeded", 1)}


def test_a_crashing_job_is_recorded_and_blocks_nothing(
    engine: Engine, jobs: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    crashing, other = tmp_path / "crashing", tmp_path / "other"
    _register(jobs, counting_job("t_crash", crashing, fail_on=("2026-11-25T07",)))
    _register(jobs, counting_job("t_other", other))
    with caplog.at_level(logging.INFO, logger="nbo_engine.jobs.runner"):
        out = run_due(engine, _hour(8, 5), ["t_crash", "t_other"], settings=SETTINGS)
    assert [(r.job, r.period, r.ran, r.status) for r in out] == [
        ("t_crash", "2026-11-25T07", True, "failed"),
        ("t_other", "2026-11-25T07", True, "succeeded"),
    ]
    failed = out[0].record
    assert failed.error is not None
    assert "Traceback (most recent call last)" in failed.error
    assert "ValueError: customer C-0042 has no balance in 2026-11-25T07" in failed.error
    assert failed.counts is None
    assert failed.finished_at is not None
    # The log names the job, the period and the exception type, never the message.
    assert "job t_crash period 2026-11-25T07 failed: ValueError" in caplog.text
    assert "C-0042" not in caplog.text
    # Next hour: the failed period is retried once (attempt 2), the new one runs.
    out = run_due(engine, _hour(9, 5), ["t_crash"], settings=SETTINGS)
    assert [(r.period, r.ran, r.status, r.record.attempt) for r in out] == [
        ("2026-11-25T07", True, "failed", 2),
        ("2026-11-25T08", True, "succeeded", 1),
    ]
    # After NBO_JOB_MAX_ATTEMPTS (2) attempts the scheduler leaves it alone;
    # by hand it can still be retried.
    more = run_due(engine, _hour(9, 30), ["t_crash"], settings=SETTINGS)
    assert more == []  # 08 succeeded: the window starts after it
    manual = run_job(
        engine, "t_crash", as_of=_hour(7), now=_hour(9, 30), settings=SETTINGS
    )
    assert manual.ran
    assert manual.record.attempt == 3
    assert manual.status == "failed"
    assert _body_runs(crashing) == [
        "2026-11-25T07",
        "2026-11-25T07",
        "2026-11-25T08",
        "2026-11-25T07",
    ]


def test_failed_periods_stop_being_retried_after_max_attempts(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    _register(
        jobs, counting_job("t_broken", runs, fail_on=("2026-11-25T07", "2026-11-25T08"))
    )
    run_due(engine, _hour(8, 5), ["t_broken"], settings=SETTINGS)
    run_due(engine, _hour(9, 5), ["t_broken"], settings=SETTINGS)
    out = run_due(engine, _hour(10, 5), ["t_broken"], settings=SETTINGS)
    assert [(r.period, r.ran) for r in out] == [
        ("2026-11-25T07", False),
        ("2026-11-25T08", True),
        ("2026-11-25T09", True),
    ]
    assert (
        "failed after 2 attempt(s) (NBO_JOB_MAX_ATTEMPTS=2); `nbo jobs run t_broken --as-of 2026-11-25T07:00` retries it"
        == out[0].reason
    )
    assert _body_runs(runs).count("2026-11-25T07") == 2


def test_bad_counts_fail_the_run(engine: Engine, jobs: list[str]) -> None:
    _register(jobs, JobSpec("t_none", "daily", lambda e, c: None))  # type: ignore[arg-type,return-value]
    result = run_job(engine, "t_none", as_of=dt.date(2026, 11, 24), now=_hour(3))
    assert result.status == "failed"
    assert "JobError: job 't_none' returned NoneType, expected a mapping of counts" in (
        result.record.error or ""
    )


def test_force_reruns_a_succeeded_period(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    _register(jobs, counting_job("t_force", runs, period="daily"))
    first = run_job(engine, "t_force", as_of=dt.date(2026, 11, 24), now=_hour(3))
    again = run_job(engine, "t_force", as_of=dt.date(2026, 11, 24), now=_hour(3))
    assert (first.ran, again.ran, again.reason) == (True, False, "already succeeded")
    forced = run_job(
        engine, "t_force", as_of=dt.datetime(2026, 11, 24, 13), now=_hour(3), force=True
    )
    assert forced.ran
    assert forced.status == "succeeded"
    assert forced.record.attempt == 2
    assert forced.record.id == first.record.id  # one row per (job, period)
    assert _body_runs(runs) == ["2026-11-24", "2026-11-24"]


def test_a_dead_runner_is_taken_over_a_live_one_is_not(
    engine: Engine, jobs: list[str], tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    _register(jobs, counting_job("t_stale", runs))
    wall = runner._wall()
    # A live claim (fresh heartbeat) from another process: left alone.
    live = store.claim(
        engine,
        job="t_stale",
        period="2026-11-25T06",
        trigger="schedule",
        claimed_by="other:1",
        now=wall,
    )
    assert live is not None
    out = run_due(engine, _hour(7, 5), ["t_stale"], settings=SETTINGS)
    assert [(r.ran, r.reason) for r in out] == [(False, "running in other:1")]
    # Its process died: no heartbeat for longer than NBO_JOB_STALE_SECONDS.
    old = wall - dt.timedelta(seconds=SETTINGS.job_stale_seconds + 1)
    store.claim(
        engine,
        job="t_stale",
        period="2026-11-25T05",
        trigger="schedule",
        claimed_by="dead:2",
        now=old,
    )
    out = run_job(engine, "t_stale", as_of=_hour(5), now=_hour(7, 5), settings=SETTINGS)
    assert out.ran
    assert out.status == "succeeded"
    assert out.record.attempt == 2
    assert _body_runs(runs) == ["2026-11-25T05"]
    # Its late finish cannot overwrite the new state.
    assert (
        store.finish(engine, out.record.id, attempt=1, status="failed", now=wall)
        is None
    )


def test_reclaim_is_won_once(engine: Engine) -> None:
    wall = runner._wall()
    rec = store.claim(
        engine,
        job="t",
        period="2026-11-25",
        trigger="manual",
        claimed_by="a:1",
        now=wall,
    )
    assert rec is not None
    assert (
        store.claim(
            engine,
            job="t",
            period="2026-11-25",
            trigger="manual",
            claimed_by="b:2",
            now=wall,
        )
        is None
    )
    store.finish(
        engine, rec.id, attempt=1, status="abandoned", now=wall, error="stopped"
    )
    kw = {
        "job": "t",
        "period": "2026-11-25",
        "attempt": 1,
        "trigger": "catch_up",
        "now": wall,
        "stale_before": wall - dt.timedelta(hours=1),
    }
    won = store.reclaim(engine, claimed_by="b:2", **kw)
    lost = store.reclaim(engine, claimed_by="c:3", **kw)
    assert won is not None
    assert won.attempt == 2
    assert won.claimed_by == "b:2"
    assert won.status == "running"
    assert lost is None
    assert store.heartbeat(engine, rec.id, attempt=1, now=wall) is False
    assert store.heartbeat(engine, rec.id, attempt=2, now=wall) is True


# ------------------------------------------------------------------ shipped jobs


def test_fold_rewards_job_runs_on_an_empty_store(engine: Engine) -> None:
    result = run_job(engine, "fold_rewards", as_of=_hour(6), now=_hour(7, 5))
    assert result.status == "succeeded", result.record.error
    assert result.record.counts == {
        "policy_versions": 0,
        "states_written": 0,
        "rewards": 0,
        "positive": 0,
    }


def test_refresh_scores_job_scores_as_of_the_period_date(engine: Engine) -> None:
    # An empty store cannot be scored, but the snapshot it opened carries the
    # date the job passed: the daily period's own date.
    result = run_job(
        engine, "refresh_scores", as_of=dt.datetime(2026, 11, 20, 17), now=_hour(3)
    )
    assert result.period == "2026-11-20"
    assert result.status == "failed"
    # Imported here: at the top, every spawned test process would load pandas.
    from nbo_engine.store import scores as score_store

    snaps = score_store.snapshots(engine)
    assert [str(d)[:10] for d in snaps["as_of"]] == ["2026-11-20"]


# ------------------------------------------------------------------ CLI


@pytest.fixture
def app() -> typer.Typer:
    """The ``nbo`` app with `nbo jobs` registered (imported here, not at the
    top: the spawned test processes import this module and need no CLI)."""
    import nbo_engine.cli.jobs  # noqa: F401  (registers `nbo jobs`)
    from nbo_engine.cli._app import app

    return app


@pytest.fixture
def cli_store(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv(
        "NBO_DATABASE_URL", engine.url.render_as_string(hide_password=False)
    )
    get_settings.cache_clear()
    return engine


def test_cli_run_history_list(
    app: typer.Typer, cli_store: Engine, jobs: list[str], tmp_path: Path
) -> None:
    _register(
        jobs, counting_job("t_cli", tmp_path / "runs", fail_on=("2020-03-02T05",))
    )
    ok = cli.invoke(app, ["jobs", "run", "t_cli", "--as-of", "2020-03-02T04:30"])
    assert ok.exit_code == 0, ok.output
    assert "t_cli 2020-03-02T04: succeeded in" in ok.output
    again = cli.invoke(app, ["jobs", "run", "t_cli", "--as-of", "2020-03-02T04:30"])
    assert "not run: already succeeded" in again.output
    assert "--force runs it again" in again.output
    # An offset is honoured: 07:00 at UTC+2 is hour 05 UTC.
    bad = cli.invoke(app, ["jobs", "run", "t_cli", "--as-of", "2020-03-02T07:00+02:00"])
    assert bad.exit_code == 1
    assert "failed" in bad.output
    assert "ValueError: customer C-0042" in bad.output
    hist = cli.invoke(app, ["jobs", "history", "--job", "t_cli", "--json"])
    rows = json.loads(hist.output)
    assert [(r["period"], r["status"]) for r in rows] == [
        ("2020-03-02T05", "failed"),
        ("2020-03-02T04", "succeeded"),
    ]
    assert "Traceback" in rows[0]["error"]
    table = cli.invoke(app, ["jobs", "history"])
    assert table.exit_code == 0
    # the console's width is the terminal's: only the title is sure to show whole
    assert "Job runs" in table.output
    listed = cli.invoke(app, ["jobs", "list", "--json"])
    by_name = {r["job"]: r for r in json.loads(listed.output)}
    assert by_name["fold_rewards"]["schedule"] == "5 * * * *"
    assert by_name["refresh_scores"]["max_catch_up"] == 1
    assert by_name["t_cli"]["last_period"] == "2020-03-02T05"


def test_cli_errors(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Argument errors do not depend on the backend: one SQLite store.
    url = f"sqlite:///{tmp_path / 'nbo.db'}"
    migrate.upgrade(make_engine(url))
    monkeypatch.setenv("NBO_DATABASE_URL", url)
    get_settings.cache_clear()
    cases = [
        (
            ["jobs", "run", "nope"],
            "unknown job 'nope'; known jobs: fold_rewards, monitor, refresh_scores",
        ),
        (
            ["jobs", "run", "fold_rewards", "--as-of", "25/11/2026"],
            "--as-of: expected YYYY-MM-DD or YYYY-MM-DDTHH[:MM[:SS]][+HH:MM] (UTC when no offset), got '25/11/2026'",
        ),
        (
            ["jobs", "run", "fold_rewards", "--as-of", "2999-01-01"],
            "job 'fold_rewards': hourly period 2999-01-01T00 ends at 2999-01-01 01:00 UTC, after now",
        ),
        (["jobs", "history", "--job", "nope"], "unknown job 'nope'"),
    ]
    for args, message in cases:
        result = cli.invoke(app, args, env={"COLUMNS": "250"})
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output.replace("\n", ""), args
    dispose_all()


@pytest.mark.parametrize(
    "args",
    [
        ["jobs"],
        ["jobs", "run"],
        ["jobs", "history"],
        ["jobs", "list"],
        ["scheduler", "run"],
    ],
)
def test_cli_help(app: typer.Typer, args: list[str]) -> None:
    result = cli.invoke(app, [*args, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output
