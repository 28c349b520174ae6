"""The scheduler: apscheduler 3.x cron triggers that call :func:`run_due`.

apscheduler decides *when to look*; ``job_runs`` decides *what runs*. Each
fire of a job's trigger calls ``run_due(engine, now, [job])``, which claims
each ended period's ``(job, period)`` slot before running it, so a period runs
once however many schedulers are started, and a late or repeated fire is
harmless. The traps of apscheduler 3 this design avoids:

* **Job stores cannot be shared between processes** (two schedulers on one
  SQLAlchemyJobStore run jobs twice or miss them), and a persisted job that no
  longer unpickles is silently deleted; pickles in a table are also code that
  anyone with write access to it can make us run. So: a ``MemoryJobStore``
  only, rebuilt from settings at every start; nothing is pickled.
* **Missed runs at start**: a memory store has no past, so each job's first
  fire is set to "now" (``next_run_time``): it runs ``run_due`` with trigger
  ``catch_up``, which runs every period missed while we were down (bounded by
  ``catch_up_<job>``), once each, oldest first.
* **misfire_grace_time** defaults to 1 s, after which a late fire (a busy
  thread pool, a suspended VM, a clock step) is silently dropped, e.g. a whole
  week of the weekly job. We set it to one period of the job: a fire later
  than that is overtaken by the next fire anyway, and since ``run_due`` works
  out what is due from the table, running late never does harm.
* **coalesce=True**: several missed fires collapse into one; one ``run_due``
  already runs every missed period, so more fires would only find them done.
* **max_instances=1**: a fire while the previous one of the same job is still
  running is skipped (logged by apscheduler); the running one catches up.
* **Day-of-week numbers**: apscheduler 3 counts 0 as Monday, crontab as
  Sunday; settings must name days (``mon``), see :func:`~nbo_engine.config.cron_problem`.
* **Time zone**: the scheduler and triggers are UTC, like the periods (no
  daylight-saving gaps or repeats); the default would be the host's zone.
* **Shutdown** (``shutdown(wait=True)`` has no timeout): on SIGTERM/SIGINT we
  stop firing, stop starting periods, give the running job
  ``scheduler_grace_seconds`` to finish, then record it ``abandoned`` (the next
  start re-claims it) and return. Job bodies run in daemon threads so a job
  that does not stop cannot hold the process open.
"""

from __future__ import annotations

import datetime as dt
import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]

from nbo_engine.config import Settings, cron_problem, get_settings
from nbo_engine.errors import ConfigError
from nbo_engine.jobs.runner import (
    JOBS,
    JobRunRecord,
    JobSpec,
    abandon_active_runs,
    catch_up_of,
    get_job,
    run_due,
    schedule_of,
)
from nbo_engine.store import Engine

__all__ = ["JobScheduler", "Planned", "cron_trigger", "plan", "run_scheduler"]

log = logging.getLogger(__name__)

_PERIOD_SECONDS = {"hourly": 3_600, "daily": 86_400, "weekly": 604_800}


def cron_trigger(expr: str, setting: str) -> CronTrigger:
    """A UTC trigger for ``expr`` (5 crontab fields, or 6 with a leading
    second); ``setting`` names where it came from in error messages.

    Raises
    ------
    ConfigError
        The expression does not parse.
    """
    problem = cron_problem(expr)
    if problem is None:
        fields = expr.split()
        second = fields.pop(0) if len(fields) == 6 else "0"
        names = ("minute", "hour", "day", "month", "day_of_week")
        try:
            return CronTrigger(
                second=second, **dict(zip(names, fields, strict=True)), timezone=dt.UTC
            )
        except ValueError as exc:
            problem = f"{exc} in {expr!r}"
    raise ConfigError(f"{setting}: {problem}")


@dataclass(frozen=True, slots=True)
class Planned:
    """One scheduled job as it will run."""

    job: str
    period: str
    cron: str
    next_fire: dt.datetime  # aware UTC
    max_catch_up: int
    misfire_grace_seconds: int


def _setting_name(spec: JobSpec) -> str:
    if spec.schedule is not None:
        return f"job {spec.name!r} schedule"
    return f"NBO_SCHEDULE_{spec.name.upper()}"


def plan(
    jobs: Sequence[str] | None = None,
    settings: Settings | None = None,
    now: dt.datetime | None = None,
) -> list[Planned]:
    """What the scheduler would run: each job's cron, next fire and limits.

    Raises
    ------
    JobError, ConfigError
        An unknown job, or a cron expression that does not parse.
    """
    settings = settings or get_settings()
    now = now or dt.datetime.now(dt.UTC)
    specs = [get_job(n) for n in jobs] if jobs else list(JOBS.values())
    out = []
    for spec in specs:
        cron = schedule_of(spec, settings)
        trigger = cron_trigger(cron, _setting_name(spec))
        fire = trigger.get_next_fire_time(None, now)
        if fire is None:
            raise ConfigError(f"{_setting_name(spec)}: {cron!r} never fires")
        out.append(
            Planned(
                spec.name,
                spec.period,
                cron,
                fire,
                catch_up_of(spec, settings),
                _PERIOD_SECONDS[spec.period],
            )
        )
    return out


class JobScheduler:
    """A background apscheduler running :func:`run_due` on each job's cron.

    ``start()`` fires every job at once (the catch-up), then on its cron;
    ``stop()`` stops firing, waits up to ``grace`` seconds for running work
    and records what is still running as abandoned.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        jobs: Sequence[str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings or get_settings()
        self.plan = plan(jobs, self.settings)
        self._stop = threading.Event()  # no new periods
        self._hard_stop = threading.Event()  # stop waiting for the running ones
        self._lock = threading.Lock()
        #: Fires so far per job (each fire may run nothing: periods run once).
        self.fires: Counter[str] = Counter()
        self._workers: list[threading.Thread] = []
        self._scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(self.settings.scheduler_threads)},
            timezone=dt.UTC,
        )

    def start(self) -> None:
        """Add every job (first fire now: catch-up) and start firing."""
        now = dt.datetime.now(dt.UTC)
        for p in self.plan:
            self._scheduler.add_job(
                self._fire,
                cron_trigger(p.cron, p.job),  # parsed (and checked) by plan()
                args=(p.job,),
                id=p.job,
                name=p.job,
                misfire_grace_time=p.misfire_grace_seconds,
                coalesce=True,
                max_instances=1,
                next_run_time=now,
            )
        self._scheduler.start()

    def _fire(self, name: str) -> None:
        # Runs in apscheduler's pool thread; the work runs in a daemon thread
        # so a job that outlives the grace cannot keep the process alive.
        if self._stop.is_set():
            return
        with self._lock:
            trigger = "schedule" if self.fires[name] else "catch_up"
            self.fires[name] += 1
            worker = threading.Thread(
                target=self._work,
                args=(name, dt.datetime.now(dt.UTC), trigger),
                name=f"nbo-job-{name}",
                daemon=True,
            )
            # Started under the lock: a thread not yet started is not alive,
            # and another fire pruning the list must not drop it.
            worker.start()
            self._workers = [w for w in self._workers if w.is_alive()] + [worker]
        while worker.is_alive() and not self._hard_stop.is_set():
            worker.join(0.2)

    def _work(self, name: str, now: dt.datetime, trigger: str) -> None:
        try:
            run_due(
                self.engine,
                now,
                [name],
                trigger=trigger,
                settings=self.settings,
                stop=self._stop,
            )
        except Exception as exc:  # never let a store outage kill the thread silently
            log.error("scheduler: job %s fire failed: %s", name, type(exc).__name__)

    def busy(self) -> bool:
        """Whether any fire is still running a job."""
        with self._lock:
            return any(w.is_alive() for w in self._workers)

    def stop(
        self, grace: float | None = None, reason: str = "stop"
    ) -> list[JobRunRecord]:
        """Stop firing and starting periods; wait up to ``grace`` seconds
        (default ``scheduler_grace_seconds``) for running jobs; record those
        still running as ``abandoned``.

        Returns
        -------
        list of JobRunRecord
            The runs abandoned (empty when everything finished in time).
        """
        grace = self.settings.scheduler_grace_seconds if grace is None else grace
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        deadline = time.monotonic() + grace
        while (
            self.busy() and time.monotonic() < deadline and not self._hard_stop.is_set()
        ):
            time.sleep(0.05)
        with self._lock:
            threads = {w.ident for w in self._workers if w.is_alive()}
        self._hard_stop.set()  # from now on no fire waits for its worker
        if not threads:
            return []
        return abandon_active_runs(
            self.engine,
            f"abandoned: the scheduler stopped ({reason}) and the run did not "
            f"finish within the {grace:g} s grace (NBO_SCHEDULER_GRACE_SECONDS)",
            threads={t for t in threads if t is not None},
        )

    def stop_waiting(self) -> None:
        """Make a ``stop()`` in progress abandon the running jobs now."""
        self._hard_stop.set()


def run_scheduler(
    engine: Engine,
    *,
    jobs: Sequence[str] | None = None,
    settings: Settings | None = None,
    on_start: Callable[[list[Planned]], None] | None = None,
) -> list[JobRunRecord]:
    """Run the scheduler in the foreground until SIGTERM or SIGINT.

    The first signal stops new runs and waits up to
    ``scheduler_grace_seconds`` for the running job; a second one stops
    waiting. Returns the runs recorded as abandoned.
    """
    sched = JobScheduler(engine, jobs=jobs, settings=settings)
    got: list[str] = []
    wake = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if got:
            sched.stop_waiting()  # second signal
        got.append(name)
        wake.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        sched.start()
        if on_start is not None:
            on_start(sched.plan)
        while not wake.wait(0.5):
            pass
        log.info("scheduler: %s received, stopping", got[0])
        return sched.stop(reason=got[0])
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
