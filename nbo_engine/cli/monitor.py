"""``nbo monitor run`` and ``nbo monitor show``: drift, model health, acceptance."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, fail, require_migrated
from nbo_engine.errors import NboError

monitor_app = typer.Typer(
    help="Drift of scores and features, model health on arrived outcomes, "
    "acceptance rates per offer and channel.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")

_LEVEL_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green"}


def _num(value: Any, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def _pct(value: Any) -> str:
    return "" if value is None else f"{value:.1%}"


def render(report: dict[str, Any], report_id: int | None = None) -> None:
    """Print a saved monitor report: context, drift, health, acceptance,
    alerts and retraining."""
    snap = report.get("snapshot") or {}
    ref = report.get("reference") or {}
    head = f"monitor report {report_id} " if report_id is not None else "monitor "
    console.print(
        f"[bold]{head}[/]as of {report.get('as_of')}: snapshot "
        f"{snap.get('id', '-')} ({snap.get('as_of', '-')}) against "
        f"{ref.get('id', '-')} ({ref.get('as_of', '-')})"
    )
    for note in report.get("notes", []):
        console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)

    drift = report.get("drift", [])
    if drift:
        t = Table(
            "column",
            "role",
            "kind",
            "PSI",
            "level",
            "KS D",
            "KS p (Holm)",
            title="Drift against the reference snapshot",
        )
        for d in sorted(drift, key=lambda r: -(r.get("psi") or 0.0)):
            level = d["level"]
            t.add_row(
                d["column"],
                d["role"],
                d["kind"],
                _num(d.get("psi"), ".3f"),
                f"[{_LEVEL_STYLE[level]}]{level}[/]",
                _num(d.get("ks_statistic"), ".3f"),
                _num(d.get("ks_pvalue_holm"), ".2g")
                + (" *" if d.get("ks_significant") else ""),
            )
        console.print(t)

    health = report.get("health", [])
    if health:
        hs = report.get("health_snapshot") or {}
        t = Table(
            "score",
            "customers",
            "positives",
            "predicted",
            "observed",
            "AUC",
            "AUC at training",
            "ECE",
            "Brier",
            "status",
            title=(
                f"Model health: snapshot {hs.get('id', '-')} ({hs.get('as_of', '-')}) "
                f"against outcomes through {hs.get('outcomes_through', '-')}"
            ),
        )
        for h in health:
            t.add_row(
                h["subject"],
                f"{h['n']:,}",
                f"{h['positives']:,}",
                _pct(h.get("mean_predicted")),
                _pct(h.get("base_rate")),
                _num(h.get("auc"), ".3f"),
                _num(h.get("auc_baseline"), ".3f"),
                _num(h.get("ece"), ".3f"),
                _num(h.get("brier"), ".4f"),
                h["status"] if h["status"] == "ok" else f"[dim]{h['status']}[/]",
            )
        console.print(t)

    acceptance = report.get("acceptance", [])
    if acceptance:
        t = Table(
            "offer",
            "channel",
            "shown",
            "accepted",
            "rate (95% CI)",
            "previous window",
            title="Acceptance per offer and channel",
        )
        for a in acceptance:
            t.add_row(
                a["offer_id"],
                a["channel"],
                f"{a['shown']:,}",
                f"{a['accepted']:,}",
                f"{_pct(a.get('rate'))} ({_pct(a['ci_low'])}-{_pct(a['ci_high'])})",
                f"{_pct(a.get('previous_rate'))} of {a['previous_shown']:,}",
            )
        console.print(t)

    alerts = report.get("alerts", [])
    if alerts:
        console.print(f"[bold]{len(alerts)} alert(s)[/]")
        for a in alerts:
            style = _LEVEL_STYLE[a["level"]]
            console.print(
                f"[{style}]{a['level']}[/] [bold]{escape(a['subject'])}[/]: "
                f"{escape(a['message'])}",
                soft_wrap=True,
            )
    else:
        console.print("[green]no alerts[/]")
    for r in report.get("retrain", []):
        console.print(
            f"[bold red]retrain[/] [bold]{r['model']}[/]: {escape('; '.join(r['reasons']))}",
            soft_wrap=True,
        )


def _day(value: str | None) -> dt.date:
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise fail(f"--as-of: expected a date YYYY-MM-DD, got {value!r}", 2) from None


@monitor_app.command("run")
def monitor_run(
    as_of: Annotated[
        str | None,
        typer.Option(help="The day monitored, YYYY-MM-DD (default: today, UTC)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the saved report as JSON.")
    ] = False,
) -> None:
    """Compare the newest snapshot with the one before, judge the models on
    arrived outcomes, rate offers; save the report."""
    from nbo_engine.jobs.monitor import run_monitor

    day = _day(as_of)
    try:
        require_migrated()
        outcome = run_monitor(engine(), as_of=day)
    except (NboError, ValueError) as exc:
        raise fail(str(exc)) from None
    if json_out:
        console.print_json(
            json.dumps({"report_id": outcome.report_id, **outcome.report})
        )
        return
    render(outcome.report, outcome.report_id)


@monitor_app.command("show")
def monitor_show(
    report_id: Annotated[
        int | None, typer.Option("--id", help="Report id (default: the latest).")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON.")
    ] = False,
) -> None:
    """The latest monitor report (or --id): drift table, health, alerts."""
    from nbo_engine.store.monitoring import latest_report

    try:
        require_migrated()
        row = latest_report(engine(), report_id=report_id)
    except (NboError, ValueError) as exc:
        raise fail(str(exc)) from None
    if row is None:
        which = f"with id {report_id}" if report_id is not None else "yet"
        raise fail(f"no monitor report {which}; run `nbo monitor run`")
    if json_out:
        console.print_json(json.dumps({"report_id": row["id"], **row["report"]}))
        return
    render(row["report"], int(row["id"]))
