"""The ``nbo`` Typer app and the helpers every command module shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from nbo_engine import __version__
from nbo_engine.errors import StoreError

if TYPE_CHECKING:
    from nbo_engine.store import Engine

__all__ = ["app", "console", "engine", "err", "fail", "progress", "require_migrated"]

app = typer.Typer(
    name="nbo",
    help="nbo-engine: next-best-offer and experimentation engine for retail banks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

console = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``error: message`` on stderr; return the Exit to raise.

    Not wrapped to the terminal (paths and column lists stay whole), and any
    brackets in the message are printed as written, not read as markup.
    """
    from rich.markup import escape

    err.print(
        f"[bold red]error:[/] {escape(message)}",
        highlight=False,
        markup=True,
        soft_wrap=True,
    )
    return typer.Exit(code)


def engine() -> Engine:
    """The store named by ``NBO_DATABASE_URL``."""
    from nbo_engine.store.engine import make_engine

    return make_engine()


def require_migrated() -> None:
    """Raise ``StoreError`` unless the store is at the package's head revision."""
    from nbo_engine.store import migrate

    e = engine()
    current = migrate.current_revision(e)
    head = migrate.head_revision()
    if current != head:
        raise StoreError(
            f"the store at {e.url.render_as_string(hide_password=True)} is at "
            f"revision {current or 'none'}, expected {head}; run `nbo db upgrade`"
        )


def progress(transient: bool = False, *, unit: str = "bytes") -> Progress:
    """A rich progress bar on stderr (bytes or ``unit``, elapsed, remaining)."""
    return Progress(
        TextColumn("{task.description:<16}"),
        BarColumn(),
        DownloadColumn()
        if unit == "bytes"
        else TextColumn(f"{{task.completed:,.0f}} {unit}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[
        bool, typer.Option("--version", help="Print the version.")
    ] = False,
) -> None:
    if version:
        console.print(f"nbo-engine {__version__}")
        raise typer.Exit()
