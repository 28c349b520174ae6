"""``nbo retune run``, ``nbo policy proposals`` and ``nbo policy approve``."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer

from nbo_engine.cli._app import app, console, engine, fail
from nbo_engine.cli.policy import policy_app
from nbo_engine.errors import NboError, ProposalStateError

retune_app = typer.Typer(
    help="Retune the live policy from the week's evidence, with guardrails.",
    no_args_is_help=True,
)
app.add_typer(retune_app, name="retune")

MODES = ("propose", "auto")


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


def _last_week(today: dt.date) -> dt.date:
    """The Monday of the last full week before ``today``."""
    return today - dt.timedelta(days=today.weekday() + 7)


@retune_app.command("run")
def retune_run(
    week: Annotated[
        str | None,
        typer.Option(
            "--week",
            help="First day of the week to retune on (YYYY-MM-DD); default the "
            "Monday of last week.",
        ),
    ] = None,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="propose (a campaign manager approves with `nbo policy approve`) "
            "or auto (applied at once when every guardrail passes).",
        ),
    ] = "propose",
    actor: Annotated[
        str, typer.Option("--actor", help="Recorded as the author.")
    ] = "retune",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Gather the week's evidence, propose changes, check the guardrails, and
    store the proposal (or apply it in auto mode, or roll back the last change
    if a guardrail degraded)."""
    from nbo_engine.jobs.retune import run_retune

    if mode not in MODES:
        raise fail(f"--mode: expected one of {', '.join(MODES)}, got {mode!r}", 2)
    if week is None:
        start = _last_week(dt.datetime.now(dt.UTC).date())
    else:
        try:
            start = dt.date.fromisoformat(week)
        except ValueError:
            raise fail(f"--week: expected a date YYYY-MM-DD, got {week!r}", 2) from None
    try:
        out = run_retune(
            engine(),
            week_start=start,
            mode="auto" if mode == "auto" else "propose",
            actor=actor,
        )
    except NboError as exc:  # RetuneError, StoreError, ...
        raise fail(str(exc)) from None
    if as_json:
        _print(
            json.dumps(
                {
                    "week_start": start.isoformat(),
                    "mode": mode,
                    "status": out.status,
                    "base_version_id": out.base_version_id,
                    "proposal_id": out.proposal_id,
                    "proposed_version_id": out.proposed_version_id,
                    "changes": [c.to_dict() for c in out.changes],
                    "refusals": list(out.refusals),
                    "rollback": None if out.rollback is None else out.rollback.reason,
                    "counts": out.counts(),
                    "notes": list(out.notes),
                },
                indent=2,
                default=str,
            )
        )
        return
    _print(
        f"retune of the week of {start} ({mode}): {out.status}"
        + (f", proposal {out.proposal_id}" if out.proposal_id else "")
        + (
            f", policy version {out.proposed_version_id}"
            if out.proposed_version_id
            else ""
        )
    )
    for c in out.changes:
        _print(f"  {c.label}: {c.reason}")
    for r in out.refusals:
        _print(f"  {r}")
    if out.rollback is not None and out.status == "rolled_back":
        _print(f"  {out.rollback.reason}")
    if out.status == "proposed":
        _print(f"approve with: nbo policy approve {out.proposed_version_id}")


@policy_app.command("proposals")
def policy_proposals(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only this status: proposed, applied, refused, rolled_back, "
            "superseded.",
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="Newest N.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Retune proposals, newest first: status, versions, changes and why."""
    from nbo_engine.store.proposals import list_proposals

    if limit < 1:
        raise fail(f"--limit: expected an integer >= 1, got {limit}", 2)
    try:
        rows = list_proposals(engine(), status=status, limit=limit)
    except ProposalStateError as exc:
        raise fail(f"--status: {exc}", 2) from None
    if as_json:
        _print(json.dumps([r.to_dict() for r in rows], indent=2, default=str))
        return
    if not rows:
        _print("no proposals")
        return
    for r in rows:
        version = r.proposed_version_id if r.proposed_version_id else "-"
        _print(
            f"{r.id:>5}  {r.status:<11} {r.mode:<7} version {version} (from "
            f"{r.base_version_id})  {r.created_at:%Y-%m-%d %H:%M}  "
            f"{r.decided_by or ''}"
        )
        for c in r.changes:
            _print(
                f"         {c['kind']} {c.get('offer') or c.get('experiment') or ''}"
                f"{' in ' + c['segment'] if c.get('segment') else ''}: {c['reason']}"
            )
        if r.status == "refused":
            for g in r.guardrails:
                if not g["passed"]:
                    _print(f"         {g['name']}: {g['reason']}")


@policy_app.command("approve")
def policy_approve(
    version: Annotated[
        int, typer.Argument(help="Policy version id a retune proposal published.")
    ],
    actor: Annotated[
        str, typer.Option("--actor", help="Who approves (recorded).")
    ] = "campaign_manager",
) -> None:
    """Apply a proposed retune: the live slot switches to VERSION (atomic,
    audited with the approver)."""
    from nbo_engine.jobs.retune import approve

    try:
        row = approve(engine(), version, actor)
    except NboError as exc:  # ProposalStateError, StoreError, a spec that fails
        raise fail(str(exc)) from None
    _print(
        f"proposal {row.id} applied by {actor}: policy version {version} now serves "
        f"live (was {row.base_version_id})"
    )
