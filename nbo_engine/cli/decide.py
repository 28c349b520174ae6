"""``nbo policy publish|activate|rollback|list``, ``nbo decide one`` and
``nbo decisions export``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer

from nbo_engine.cli._app import app, console, engine, err, fail, progress
from nbo_engine.cli.policy import policy_app
from nbo_engine.errors import (
    DecisionInputError,
    NoActivePolicyError,
    PolicyFileError,
    StoreError,
    UnknownCustomerError,
)

decide_app = typer.Typer(help="Ask for next-best offers.", no_args_is_help=True)
app.add_typer(decide_app, name="decide")

Slot = Annotated[str, typer.Option("--slot", help="Slot: live or shadow.")]


def _check_slot(slot: str) -> None:
    if slot not in ("live", "shadow"):
        raise fail(f"--slot: expected live or shadow, got {slot!r}")


def _print(text: str) -> None:
    console.print(text, highlight=False, markup=False, soft_wrap=True)


@policy_app.command("publish")
def policy_publish(
    file: Annotated[Path, typer.Argument(help="Policy YAML file.")],
    activate: Annotated[
        bool, typer.Option("--activate", help="Serve it live at once.")
    ] = False,
    shadow: Annotated[
        bool, typer.Option("--shadow", help="Run it in shadow beside live.")
    ] = False,
    note: Annotated[str | None, typer.Option("--note", help="Why.")] = None,
) -> None:
    """Validate FILE and store it as a new immutable policy version."""
    from nbo_engine.policy import load_policy
    from nbo_engine.store.policies import publish_policy

    if activate and shadow:
        raise fail("--activate and --shadow: give one of them, got both")
    try:
        spec = load_policy(file)
    except PolicyFileError as exc:
        for problem in exc.problems:
            err.print(problem, highlight=False, markup=False, soft_wrap=True)
        raise fail(f"{file.name}: not published") from None
    slot = "live" if activate else "shadow" if shadow else None
    try:
        vid = publish_policy(
            engine(), file.read_text(), spec.name, note=note, activate=slot
        )
    except StoreError as exc:
        raise fail(str(exc)) from None
    _print(
        f"published policy {spec.name!r} as version id {vid}"
        + (f", serving in slot {slot}" if slot else "")
    )


@policy_app.command("activate")
def policy_activate(
    version_id: Annotated[int, typer.Argument(help="Policy version id.")],
    slot: Slot = "live",
) -> None:
    """Switch a slot to a published version (atomic, audited)."""
    from nbo_engine.store.policies import activate_version

    _check_slot(slot)
    try:
        a = activate_version(engine(), version_id, slot)
    except StoreError as exc:
        raise fail(str(exc)) from None
    _print(f"slot {slot}: version {a.previous_version_id} -> {a.version_id}")


@policy_app.command("rollback")
def policy_rollback(slot: Slot = "live") -> None:
    """Switch a slot back to the version it served before."""
    from nbo_engine.store.policies import rollback_slot

    _check_slot(slot)
    try:
        a = rollback_slot(engine(), slot)
    except StoreError as exc:
        raise fail(str(exc)) from None
    _print(f"slot {slot}: rolled back {a.previous_version_id} -> {a.version_id}")


@policy_app.command("list")
def policy_list() -> None:
    """Published versions, newest first, with the slots serving them."""
    from nbo_engine.store.policies import list_versions

    for v in list_versions(engine()):
        slots = f" [{', '.join(v.slots)}]" if v.slots else ""
        _print(
            f"{v.id:>5}  {v.name} v{v.version}  {v.created_at:%Y-%m-%d %H:%M}  "
            f"{v.spec_sha256[:12]}{slots}" + (f"  {v.note}" if v.note else "")
        )


@decide_app.command("one")
def decide_one(
    customer: Annotated[str, typer.Argument(help="Customer id.")],
    channel: Annotated[str, typer.Option("--channel", help="Channel.")] = "web",
    n: Annotated[int, typer.Option("--n", help="Offers wanted.")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Decide (and log) the next best offers for one customer now."""
    from nbo_engine.decisioning import Decider

    try:
        decider = Decider.load(engine())
        r = decider.decide(customer, channel, n, now=dt.datetime.now(dt.UTC))
    except (DecisionInputError, UnknownCustomerError, NoActivePolicyError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        _print(json.dumps(dataclasses.asdict(r), indent=2))
        return
    _print(
        f"decision {r.decision_id}: {len(r.offers)} offer(s) for {customer} on "
        f"{channel} (policy {r.policy_name}, version id {r.policy_version_id})"
    )
    for o in r.offers:
        _print(
            f"  {o.rank}. {o.offer_id} p_accept={o.p_accept:.3f} value={o.value:.0f} "
            f"priority={o.priority:.2f} propensity={o.propensity:.3f}: {o.message}"
        )


@decide_app.command("batch")
def decide_batch_cmd(
    out: Annotated[Path, typer.Option("--out", help="CSV or Parquet file to write.")],
    channel: Annotated[
        str, typer.Option("--channel", help="Outbound channel.")
    ] = "email",
    n: Annotated[int, typer.Option("--n", help="Offers per customer.")] = 1,
    customers: Annotated[
        Path | None,
        typer.Option(
            help="Audience: a text file of customer ids, one per line "
            "(default: every customer of the active score snapshot)."
        ),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Send time, ISO 8601 (default: now). Naive times are UTC."),
    ] = None,
    chunk: Annotated[
        int, typer.Option(min=1, help="Customers per transaction.")
    ] = 2000,
) -> None:
    """Decide (and log) offers for a whole audience, e.g. an e-mail campaign.

    The same rules as a channel's request (eligibility, contact policy,
    experiments and holdouts, bandit, arbitration) and the same decision log;
    writes one row per offer chosen: decision id, customer, rank, offer,
    product, propensity, scores and the rendered message."""
    from nbo_engine.decisioning.batch import decide_batch

    when = _when("--at", at) or dt.datetime.now(dt.UTC)
    if out.suffix not in (".csv", ".parquet"):
        raise fail(f"--out: expected a .csv or .parquet file, got {out}", 2)
    ids: list[str] | None = None
    if customers is not None:
        if not customers.exists():
            raise fail(f"--customers: {customers} does not exist", 2)
        ids = [x.strip() for x in customers.read_text().splitlines() if x.strip()]
    try:
        with progress(unit="customers") as bar:
            task = bar.add_task("deciding", total=None)

            def tick(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = decide_batch(
                engine(),
                channel=channel,
                now=when,
                n=n,
                customer_ids=ids,
                chunk=chunk,
                progress=tick,
            )
    except (DecisionInputError, UnknownCustomerError, NoActivePolicyError) as exc:
        raise fail(str(exc)) from None
    if out.suffix == ".parquet":
        result.offers.to_parquet(out, index=False)
    else:
        result.offers.to_csv(out, index=False)
    blocked = ", ".join(f"{k} {v:,}" for k, v in sorted(result.blocked.items()))
    _print(
        f"{result.decisions:,} customers decided on {channel} in "
        f"{result.seconds:.1f} s ({result.per_second:,.0f}/s): "
        f"{result.customers_with_offers:,} with offers, {len(result.offers):,} "
        f"offers written to {out}"
        + (f"; no offer because: {blocked}" if blocked else "")
        + (
            f"; {result.not_scored:,} ids not in the snapshot"
            if result.not_scored
            else ""
        )
    )


decisions_app = typer.Typer(
    help="The decision log: export it with propensities and rewards.",
    no_args_is_help=True,
)
app.add_typer(decisions_app, name="decisions")


def _when(option: str, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        raise fail(
            f"{option}: expected a date or time (ISO 8601), got {value!r}", 2
        ) from None


@decisions_app.command("export")
def decisions_export(
    out: Annotated[Path, typer.Option("--out", help="File to write.")],
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help="parquet (one row per chosen offer), vw (Vowpal Wabbit cb_adf "
            "text) or obp (Open Bandit Pipeline arrays, .npz).",
        ),
    ] = "parquet",
    policy_version: Annotated[
        int | None,
        typer.Option(help="Policy version id (default: the live one)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First decision time, ISO 8601 (UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the period (exclusive), ISO 8601.")
    ] = None,
    window_days: Annotated[
        float, typer.Option(help="Attribution window: events this many days after.")
    ] = 30.0,
    reward: Annotated[
        str, typer.Option(help="conversion (0/1) or value (sum of event values).")
    ] = "conversion",
) -> None:
    """Write live decisions with the propensity of each chosen offer and the
    reward that followed, for checking our estimates with other tools."""
    from nbo_engine.jobs.export import export_decisions

    try:
        rep = export_decisions(
            engine(),
            out,
            fmt,
            policy_version_id=policy_version,
            since=_when("--since", since),
            until=_when("--until", until),
            window_days=window_days,
            reward=reward,
        )
    except DecisionInputError as exc:
        raise fail(str(exc), 2) from None
    _print(
        f"wrote {rep.rows:,} chosen offers of {rep.decisions:,} decisions "
        f"({rep.rewarded:,} rewarded) of policy version {rep.policy_version_id} "
        f"to {rep.path} ({rep.format})"
    )


@decisions_app.command("fold")
def decisions_fold(
    window_days: Annotated[
        float,
        typer.Option(help="Attribution window: a decision is folded once it closes."),
    ] = 30.0,
    now: Annotated[
        str | None, typer.Option(help="Fold as of this time, ISO 8601 (default: now).")
    ] = None,
) -> None:
    """Fold the rewards of decisions whose attribution window has closed into
    each policy version's bandit (a new bandit state; nothing counted twice)."""
    from nbo_engine.jobs.fold_rewards import fold_rewards

    at = _when("--now", now) or dt.datetime.now(dt.UTC)
    if not window_days > 0:
        raise fail(f"--window-days: expected a positive number, got {window_days}", 2)
    try:
        results = fold_rewards(engine(), now=at, window_days=window_days)
    except (DecisionInputError, NoActivePolicyError, StoreError) as exc:
        raise fail(str(exc)) from None
    if not results:
        _print("no live decisions to fold")
    for r in results:
        if r.new_state_id is None:
            _print(f"policy version {r.policy_version_id}: {r.note}")
        else:
            _print(
                f"policy version {r.policy_version_id}: folded {r.rewards:,} chosen "
                f"offers ({r.positive:,} rewarded) into bandit state "
                f"{r.new_state_id}; decisions before {r.folded_until:%Y-%m-%d %H:%M} "
                "are in"
            )
