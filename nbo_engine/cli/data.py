"""``nbo simulate``, ``nbo ingest``, ``nbo quarantine``, ``nbo contract``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.progress import TaskID
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, fail, progress, require_migrated
from nbo_engine.errors import NboError

if TYPE_CHECKING:
    from nbo_engine.ingest import FileReport

quarantine_app = typer.Typer(
    help="Rows that could not be loaded, with the reason.", no_args_is_help=True
)
app.add_typer(quarantine_app, name="quarantine")


# ---------------------------------------------------------------------- simulate


simulate_app = typer.Typer(
    help="Simulate a bank with known ground truth (and run the closed loop on it)."
)
app.add_typer(simulate_app, name="simulate")


@simulate_app.callback(invoke_without_command=True)
def simulate(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the files (and truth/).")
    ] = None,
    customers: Annotated[
        int, typer.Option(min=1, help="Number of customers.")
    ] = 20_000,
    weeks: Annotated[
        int, typer.Option(min=14, max=520, help="Weeks of history.")
    ] = 104,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same bank.")] = 0,
    format: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    dirt: Annotated[
        float, typer.Option(min=0.0, max=0.5, help="Share of rows to spoil.")
    ] = 0.02,
    end_date: Annotated[
        str, typer.Option(help="Last day of the history (YYYY-MM-DD).")
    ] = "2025-12-29",
    chunk: Annotated[
        int,
        typer.Option(min=1000, help="Customers simulated at a time (bounds memory)."),
    ] = 50_000,
) -> None:
    """Simulate a bank with known ground truth into OUT (truth in OUT/truth).

    `nbo simulate loop` runs the engine against such a bank, week by week."""
    from nbo_engine.simulate import SimConfig, simulate_bank

    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise fail("--out: expected the folder to write the bank to", 2)

    if format not in ("csv", "parquet"):
        raise fail(f"--format: expected csv or parquet, got {format!r}", 2)
    try:
        end = dt.date.fromisoformat(end_date)
    except ValueError:
        raise fail(f"--end-date: expected YYYY-MM-DD, got {end_date!r}", 2) from None
    config = SimConfig(
        customers=customers,
        weeks=weeks,
        seed=seed,
        end_date=end,
        dirt=dirt,
        chunk_customers=chunk,
    )
    fmt: Literal["csv", "parquet"] = "csv" if format == "csv" else "parquet"
    with progress(transient=True) as bar:
        task = bar.add_task("simulating", total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        summary = simulate_bank(config, out, fmt, progress=tick)
    t = Table(
        "file", "rows", title=f"Simulated bank in {out} ({summary.seconds:.1f} s)"
    )
    for name, n in summary.rows.items():
        t.add_row(f"{name}.{format}", f"{n:,}")
    t.add_row("spoiled rows (truth/dirt.csv)", f"{summary.spoiled_rows:,}")
    console.print(t)


# ---------------------------------------------------------------------- ingest


@app.command()
def ingest(
    path: Annotated[
        Path, typer.Argument(help="A folder of input files, or one file with --entity.")
    ],
    entity: Annotated[
        str | None, typer.Option(help="Entity of a single FILE, e.g. transactions.")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(help="Dates after this are future_date (default: now)."),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Reload files identical to ones already loaded.")
    ] = False,
    chunk_rows: Annotated[
        int | None,
        typer.Option(min=1000, help="Rows per chunk (default NBO_INGEST_CHUNK_ROWS)."),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as JSON.")
    ] = False,
) -> None:
    """Load input files: clean, de-duplicate, resolve customers, quarantine bad rows.

    Each file is one transaction: it loads whole or not at all. See
    docs/data-contract.md for the columns and rules.
    """
    from nbo_engine.ingest import ENTITY_ORDER, ingest_dir, ingest_file

    when = None
    if as_of:
        try:
            when = dt.datetime.fromisoformat(as_of)
        except ValueError:
            raise fail(
                f"--as-of: expected YYYY-MM-DD[THH:MM:SS], got {as_of!r}", 2
            ) from None
    if entity is not None and entity not in ENTITY_ORDER:
        raise fail(
            f"--entity: unknown entity {entity!r}; expected one of "
            f"{', '.join(ENTITY_ORDER)}",
            2,
        )
    try:
        require_migrated()
        with progress() as bar:
            tasks: dict[str, TaskID] = {}

            def tick(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done, total=total)

            if entity is not None:
                if path.is_dir():
                    raise fail(f"{path}: is a folder; with --entity give one file", 2)
                reports = [
                    ingest_file(
                        entity,
                        path,
                        as_of=when,
                        force=force,
                        chunk_rows=chunk_rows,
                        progress=tick,
                    )
                ]
            else:
                if not path.is_dir():
                    raise fail(f"{path}: not a folder; for one file add --entity", 2)
                reports = ingest_dir(
                    path, as_of=when, force=force, chunk_rows=chunk_rows, progress=tick
                )
    except NboError as exc:
        raise fail(str(exc)) from None
    if json_out:
        console.print_json(
            json.dumps(
                [
                    {
                        **r.counts(),
                        "entity": r.entity,
                        "file": r.file,
                        "status": r.status,
                        "run_id": r.run_id,
                        "seconds": round(r.seconds, 3),
                        "note": r.note,
                    }
                    for r in reports
                ]
            )
        )
        return
    _print_ingest(reports)


def _print_ingest(reports: list[FileReport]) -> None:
    t = Table(
        "file",
        "status",
        "read",
        "inserted",
        "updated",
        "unchanged",
        "fixed",
        "quarantined",
        "duplicates",
        "merged",
        "anomalies",
        "rows/s",
        title="Ingest summary",
    )
    for r in reports:
        rate = f"{r.rows_read / r.seconds:,.0f}" if r.seconds > 0 else ""
        t.add_row(
            r.file,
            r.status,
            f"{r.rows_read:,}",
            f"{r.rows_inserted:,}",
            f"{r.rows_updated:,}",
            f"{r.rows_unchanged:,}",
            f"{r.rows_fixed:,}",
            f"{r.rows_quarantined:,}",
            f"{r.duplicates_dropped:,}",
            f"{r.customers_merged:,}",
            f"{r.anomalies_flagged:,}",
            rate,
        )
    console.print(t)
    reasons = Table(
        "file",
        "quarantined by reason",
        "repaired by reason",
        title="Reasons (nbo quarantine list shows the rows)",
    )
    for r in reports:
        if r.quarantine_reasons or r.repair_reasons:
            reasons.add_row(
                r.file,
                ", ".join(f"{k} {v:,}" for k, v in r.quarantine_reasons.items()),
                ", ".join(f"{k} {v:,}" for k, v in r.repair_reasons.items()),
            )
    console.print(reasons)
    for r in reports:
        if r.note:
            console.print(f"{r.file}: {r.status}, {r.note} (use --force to reload)")


# ---------------------------------------------------------------------- quarantine


@quarantine_app.command("list")
def quarantine_list(
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    run: Annotated[int | None, typer.Option(help="Only this ingest run.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 50,
) -> None:
    """Show quarantined rows with their reason and message."""
    from nbo_engine.store import queries

    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    frame = queries.quarantine_frame(
        engine(), entity=entity, reason=reason, run_id=run, limit=limit
    )
    t = Table("run", "file", "row", "reason", "message", title="Quarantined rows")
    for row in frame.itertuples():
        t.add_row(
            str(row.run_id),
            str(row.file),
            str(row.row_number),
            str(row.reason),
            str(row.message),
        )
    console.print(t)
    if frame.empty:
        console.print("no quarantined rows match")


@quarantine_app.command("export")
def quarantine_export(
    out: Annotated[Path, typer.Option(help="CSV or Parquet file to write.")],
    entity: Annotated[str | None, typer.Option(help="Only this entity.")] = None,
    reason: Annotated[str | None, typer.Option(help="Only this reason code.")] = None,
    run: Annotated[int | None, typer.Option(help="Only this ingest run.")] = None,
) -> None:
    """Write quarantined rows (with the raw row as JSON) to a file."""
    from nbo_engine.store import queries

    try:
        require_migrated()
    except NboError as exc:
        raise fail(str(exc)) from None
    frame = queries.quarantine_frame(engine(), entity=entity, reason=reason, run_id=run)
    if out.suffix.lower() == ".parquet":
        frame.to_parquet(out, index=False)
    elif out.suffix.lower() == ".csv":
        frame.to_csv(out, index=False)
    else:
        raise fail(f"--out: expected a .csv or .parquet file, got {out.name!r}", 2)
    console.print(f"wrote {len(frame):,} quarantined rows to {out}")


# ---------------------------------------------------------------------- contract


@app.command()
def contract(
    out: Annotated[
        Path | None, typer.Option(help="Write to this file instead of printing.")
    ] = None,
) -> None:
    """Print the input data contract (docs/data-contract.md is generated by this)."""
    from nbo_engine.ingest.schemas import contract_markdown

    text = contract_markdown()
    if out is None:
        console.print(text, markup=False, highlight=False)
    else:
        out.write_text(text + "\n")
        console.print(f"wrote {out}")
