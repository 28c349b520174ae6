"""``nbo simulate loop``: the engine against the simulated bank, week by week."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from nbo_engine.cli._app import console, engine, fail, require_migrated
from nbo_engine.cli.data import simulate_app
from nbo_engine.errors import NboError

if TYPE_CHECKING:
    from nbo_engine.closed_loop import WeekResult


def _row(w: WeekResult) -> list[str]:
    return [
        str(w.week),
        f"{w.start:%d %b}",
        f"{w.requests:,}",
        f"{w.served:,}",
        f"{w.accepted:,}",
        f"{w.value:,.0f}",
        f"{w.oracle:,.0f}",
        f"{w.regret:,.0f}",
        f"{w.random:,.0f}",
        f"{w.initial:,.0f}",
    ]


_COLUMNS = (
    "week",
    "from",
    "visits",
    "served",
    "accepted",
    "value",
    "oracle",
    "regret",
    "random",
    "initial",
)


@simulate_app.command("loop")
def loop(
    bank: Annotated[
        Path,
        typer.Option(
            help="Folder written by `nbo simulate` (its truth/ answers the offers); "
            "the store must hold this bank, scored, with a live policy."
        ),
    ],
    weeks: Annotated[int, typer.Option(min=1, max=520, help="Simulated weeks.")] = 12,
    requests_per_week: Annotated[
        int, typer.Option(min=1, help="Customer visits to the channels per week.")
    ] = 2000,
    seed: Annotated[int, typer.Option(help="Seed of visits and responses.")] = 0,
    start: Annotated[
        str | None,
        typer.Option(help="Monday of week 1 (default: the Monday after the history)."),
    ] = None,
    attribution_days: Annotated[
        float,
        typer.Option(min=0.5, max=60, help="Days a response counts after a decision."),
    ] = 7.0,
    out: Annotated[
        Path | None, typer.Option(help="Write the weekly table here (CSV).")
    ] = None,
    feed: Annotated[
        bool,
        typer.Option(
            help="Load the customers' take-ups and departures into the store's "
            "accounts each week (through ingest), as the bank's systems would."
        ),
    ] = True,
    retune_mode: Annotated[
        str,
        typer.Option(
            help="auto: the weekly job applies a retune when every guardrail "
            "holds; propose: it only proposes (nothing changes without approval)."
        ),
    ] = "auto",
    reports: Annotated[
        Path, typer.Option(help="Folder for the weekly uplift reports.")
    ] = Path("reports"),
    forecast: Annotated[
        bool, typer.Option(help="The weekly job also forecasts (slower).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run the closed loop: simulated customers ask the offer API (in process),
    answer by their true probabilities, rewards fold into the bandit at each
    week's end, when the engine's scheduled jobs run on the simulated clock
    (reward fold-in, monitoring, and the weekly retune and uplift report).
    Prints per week the true value of what was served, the oracle's value and
    the regret, next to a random eligible policy and the initial one."""
    import tempfile

    from nbo_engine.closed_loop import (
        BankFeed,
        LoopConfig,
        jobs_between_weeks,
        run_loop,
    )
    from nbo_engine.simulate import World

    if retune_mode not in ("auto", "propose"):
        raise fail(f"--retune-mode: expected auto or propose, got {retune_mode!r}", 2)
    first: dt.date | None = None
    if start is not None:
        try:
            first = dt.date.fromisoformat(start)
        except ValueError:
            raise fail(f"--start: expected YYYY-MM-DD, got {start!r}", 2) from None
    if not (bank / "truth" / "params.json").exists():
        raise fail(
            f"--bank: {bank} has no truth/params.json; give a folder written by "
            "`nbo simulate --out DIR`",
            2,
        )
    require_migrated()
    try:
        config = LoopConfig(
            weeks=weeks,
            requests_per_week=requests_per_week,
            seed=seed,
            start=first,
            attribution_days=attribution_days,
        )
        world = World.load(bank)
        table = Table(*_COLUMNS, title="Closed loop (values: true expected, per week)")

        def show(w: WeekResult) -> None:
            if not as_json:
                console.print(
                    f"week {w.week}: {w.served:,}/{w.requests:,} served, value "
                    f"{w.value:,.0f} vs oracle {w.oracle:,.0f}"
                )
                for change in w.changes:
                    console.print(f"  {change}")
            table.add_row(*_row(w))

        with tempfile.TemporaryDirectory(prefix="nbo-loop-") as work:
            bank_feed = BankFeed(Path(work)) if feed else None
            between = jobs_between_weeks(
                attribution_days,
                retune_mode=retune_mode,
                reports_dir=reports,
                forecast=forecast,
            )
            result = run_loop(
                engine(),
                world,
                config,
                on_week=show,
                feed=bank_feed,
                between_weeks=between,
            )
    except NboError as exc:
        raise fail(str(exc)) from None
    frame = result.frame()
    if out is not None:
        frame.to_csv(out, index=False)
    if as_json:
        print(
            json.dumps(
                {
                    "weeks": frame.to_dict(orient="records"),
                    "totals": result.totals(),
                    "seconds": round(result.seconds, 1),
                },
                indent=2,
            )
        )
        return
    console.print(table)
    t = result.totals()
    console.print(
        f"total: value {t['value']:,.0f} = {t['value'] / max(t['oracle'], 1e-9):.0%} "
        f"of the oracle's {t['oracle']:,.0f}; random eligible {t['random']:,.0f}, "
        f"initial policy {t['initial']:,.0f} ({result.seconds:.0f} s)"
    )
