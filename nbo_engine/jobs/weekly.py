"""The weekly job: retune the policy from the week's evidence, forecast, and
write the weekly uplift report.

Order matters: the retune runs first, so the report shows the changes it made
or proposed this week with their reasons; forecasts run before the report so
it can show them. Each step is idempotent for its week (a re-run proposes
again from the same evidence, and the report's row is replaced), so the job
is too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nbo_engine.retune import Guardrails
from nbo_engine.store import Engine

__all__ = ["WeeklyOutcome", "run_weekly"]


@dataclass(frozen=True)
class WeeklyOutcome:
    week: dt.date
    retune_status: str
    changes: int
    refusals: int
    report_html: Path
    forecast_series: int
    missing_sections: int

    def counts(self) -> dict[str, int | float | str]:
        return {
            "week": self.week.isoformat(),
            "retune": self.retune_status,
            "changes": self.changes,
            "refusals": self.refusals,
            "forecast_series": self.forecast_series,
            "missing_sections": self.missing_sections,
            "report": str(self.report_html),
        }


def run_weekly(
    engine: Engine,
    *,
    week_start: dt.date,
    out_dir: Path,
    mode: Literal["propose", "auto"] = "propose",
    forecast: bool = True,
    now: dt.datetime | None = None,
    run_id: int | None = None,
    guardrails: Guardrails | None = None,
    lookback_weeks: int = 4,
    window_days: float = 30.0,
) -> WeeklyOutcome:
    """Retune, forecast and report the week that starts ``week_start``.

    Parameters
    ----------
    week_start : any day of the week (its Monday is used).
    out_dir : reports go to ``out_dir/<Monday>/``.
    mode : retune mode: ``propose`` (a campaign manager approves with
        ``nbo policy approve``) or ``auto`` (applied when every guardrail holds).
    forecast : also forecast the next 13 weeks for the report.
    now : the job's time (default: the end of the week); the simulated loop
        passes its clock.
    run_id : the ``job_runs`` row, kept with the proposal and the report.
    guardrails, lookback_weeks, window_days : the retune's (see
        :func:`nbo_engine.jobs.retune.run_retune`); default guardrails when None.
    """
    from nbo_engine.jobs.retune import run_retune
    from nbo_engine.jobs.weekly_report import write_weekly_report

    monday = week_start - dt.timedelta(days=week_start.weekday())
    end = dt.datetime.combine(monday + dt.timedelta(days=7), dt.time())
    at = now or end
    tuned = run_retune(
        engine,
        week_start=monday,
        mode=mode,
        run_id=run_id,
        now=at,
        guardrails=guardrails or Guardrails(),
        lookback_weeks=lookback_weeks,
        window_days=window_days,
    )
    forecasts = None
    n_series = 0
    if forecast:
        from nbo_engine.jobs.forecast import run_forecast

        fc = run_forecast(engine, as_of=monday + dt.timedelta(days=6))
        forecasts = fc.chosen_forecasts()
        n_series = int(forecasts["series"].nunique()) if len(forecasts) else 0
    report = write_weekly_report(
        engine,
        week=monday,
        out_dir=Path(out_dir) / monday.isoformat(),
        forecasts=forecasts,
        now=at,
        job_run_id=run_id,
    )
    counts = report.counts()
    return WeeklyOutcome(
        week=monday,
        retune_status=tuned.status,
        changes=len(tuned.changes),
        refusals=len(tuned.refusals),
        report_html=report.html,
        forecast_series=n_series,
        missing_sections=int(counts.get("missing_sections", 0)),
    )
