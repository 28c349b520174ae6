"""``nbo db``: create, migrate and inspect the store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, require_migrated

db_app = typer.Typer(
    help="Create, migrate and inspect the store (NBO_DATABASE_URL).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Option(help="Target revision.")] = "head",
) -> None:
    """Migrate the store up (creates every table on an empty database)."""
    from nbo_engine.store import migrate

    e = engine()
    migrate.upgrade(e, revision)
    console.print(f"store at revision [bold]{migrate.current_revision(e)}[/]")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Option(help="Target revision; 'base' drops every table.")
    ] = "-1",
) -> None:
    """Migrate the store down one revision (or to --revision)."""
    from nbo_engine.store import migrate

    e = engine()
    migrate.downgrade(e, revision)
    console.print(f"store at revision [bold]{migrate.current_revision(e) or 'base'}[/]")


@db_app.command("status")
def db_status() -> None:
    """Schema revision, row counts and the latest file loads."""
    from nbo_engine.store import migrate, queries

    e = engine()
    console.print(f"store: {e.url.render_as_string(hide_password=True)}")
    console.print(
        f"revision: {migrate.current_revision(e) or 'none'} "
        f"(package head {migrate.head_revision()})"
    )
    require_migrated()
    t = Table("table", "rows", title="Rows")
    for name, n in queries.table_counts(e).items():
        t.add_row(name, f"{n:,}")
    console.print(t)
    runs = queries.ingest_runs(e, limit=20)
    r = Table(
        "run",
        "entity",
        "file",
        "status",
        "read",
        "inserted",
        "updated",
        "quarantined",
        title="Latest file loads",
    )
    for row in runs.itertuples():
        r.add_row(
            str(row.id),
            str(row.entity),
            Path(str(row.file)).name,
            str(row.status),
            f"{row.rows_read:,}",
            f"{row.rows_inserted:,}",
            f"{row.rows_updated:,}",
            f"{row.rows_quarantined:,}",
        )
    console.print(r)
