"""``nbo report``: the weekly uplift report."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

from nbo_engine.cli._app import app, console, engine, fail, require_migrated
from nbo_engine.errors import NboError

report_app = typer.Typer(
    help="The weekly uplift report (HTML page, CSV and JSON of every figure).",
    no_args_is_help=True,
)
app.add_typer(report_app, name="report")


@report_app.command("weekly")
def weekly(
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Folder for report.html, figures/*.csv and figures.json."
        ),
    ],
    week: Annotated[
        str | None,
        typer.Option(
            help="Any day of the week to report (YYYY-MM-DD); default the last "
            "full week (Monday to Sunday) before today."
        ),
    ] = None,
) -> None:
    """Write the weekly uplift report of a week and save it in the store."""
    from nbo_engine.jobs.weekly_report import monday_of, write_weekly_report

    if week is None:
        day = monday_of(dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=7)
    else:
        try:
            day = dt.date.fromisoformat(week)
        except ValueError:
            raise fail(
                f"--week: expected a date as YYYY-MM-DD, got {week!r}", 2
            ) from None
    try:
        require_migrated()
        outcome = write_weekly_report(engine(), week=day, out_dir=out)
    except NboError as exc:
        raise fail(str(exc)) from None

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    say(f"weekly report of {outcome.week} written to {outcome.html}")
    say(
        f"figures: {len(outcome.figures_csv)} CSV files in "
        f"{outcome.html.parent / 'figures'} and {outcome.figures_json}"
    )
    for section, reason in outcome.evidence.missing().items():
        say(f"{section}: not available because {reason}")
