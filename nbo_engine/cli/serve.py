"""``nbo serve`` (the offer API under uvicorn) and ``nbo apikey`` (its keys)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from nbo_engine.cli._app import app, console, engine, err, fail, require_migrated
from nbo_engine.errors import ApiKeyError, StoreError

__all__ = ["log_config"]

apikey_app = typer.Typer(
    help="Create, revoke and list API keys (only their hashes are stored).",
    no_args_is_help=True,
)
app.add_typer(apikey_app, name="apikey")


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, plus ours; uvicorn's access log is off (it prints raw
    paths, which hold customer ids), ``nbo_engine.api.access`` logs route
    templates instead."""
    fmt = "%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s"
    handler = {"class": "logging.StreamHandler", "formatter": "plain"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": fmt}},
        "handlers": {"stderr": {**handler, "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper()},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "nbo_engine": {"handlers": ["stderr"], "level": level.upper()},
        },
    }


def _metrics_dir(workers: int) -> Path | None:
    """A clean PROMETHEUS_MULTIPROC_DIR for several workers (a given one is
    emptied of stale files; otherwise a temporary one is made)."""
    if workers < 2:
        return None
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        return None  # the user's directory: left in place
    path = Path(tempfile.mkdtemp(prefix="nbo-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    return path


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="uvicorn worker processes.")
    ] = 2,
    log_level: Annotated[
        str, typer.Option(help="debug, info, warning or error.")
    ] = "info",
) -> None:
    """Serve the offer API (NBO_DATABASE_URL) with uvicorn."""
    import uvicorn

    levels = ("debug", "info", "warning", "error")
    if log_level.lower() not in levels:
        raise fail(
            f"--log-level: got {log_level!r}, expected one of {', '.join(levels)}"
        )
    try:
        require_migrated()
    except StoreError as exc:
        raise fail(str(exc)) from None
    made = _metrics_dir(workers)
    console.print(
        f"serving on http://{host}:{port} with {workers} worker"
        f"{'s' if workers != 1 else ''} (docs at /docs)",
        highlight=False,
    )
    try:
        uvicorn.run(
            "nbo_engine.api:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config(log_level),
            access_log=False,
            server_header=False,
        )
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


@apikey_app.command("create")
def apikey_create(
    role: Annotated[
        str, typer.Option(help="channel, analyst, campaign_manager or admin.")
    ],
    name: Annotated[str, typer.Option(help="Who or what uses the key.")],
    rate_per_minute: Annotated[
        int, typer.Option(help="Requests per minute allowed (per worker).")
    ] = 6000,
) -> None:
    """Create a key and print it once: only its SHA-256 is stored."""
    from nbo_engine.store.apikeys import create_key

    try:
        record, key = create_key(
            engine(), role=role, name=name, rate_per_minute=rate_per_minute
        )
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    err.print(
        f"created key {record.id} ({record.prefix}) for {escape(record.name)}, "
        f"role {record.role}, {record.rate_per_minute}/min. Store it now: it "
        "cannot be shown again.",
        highlight=False,
    )
    # The key alone on stdout, so `KEY=$(nbo apikey create ...)` works.
    print(key)


@apikey_app.command("revoke")
def apikey_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (nbo apikey list).")],
) -> None:
    """Revoke a key (takes effect in running servers within 5 s)."""
    from nbo_engine.store.apikeys import revoke_key

    try:
        record = revoke_key(engine(), key_id)
    except ApiKeyError as exc:
        raise fail(str(exc)) from None
    console.print(
        f"revoked key {record.id} ({record.prefix}, {escape(record.name)}) "
        f"at {record.revoked_at:%Y-%m-%d %H:%M:%S}",
        highlight=False,
    )


@apikey_app.command("list")
def apikey_list() -> None:
    """List keys: id, prefix, role, name, rate, created, revoked (no secrets)."""
    from nbo_engine.store.apikeys import list_keys

    t = Table("id", "prefix", "role", "name", "per min", "created", "revoked")
    for r in list_keys(engine()):
        t.add_row(
            str(r.id),
            r.prefix,
            r.role,
            escape(r.name),
            f"{r.rate_per_minute:,}",
            f"{r.created_at:%Y-%m-%d %H:%M}",
            f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "",
        )
    console.print(t)
