"""Query functions for models, score snapshots, segments and note sentiment."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, insert, select, update

from nbo_engine.store.bulk import append_rows
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata

__all__ = [
    "SCORE_COLUMNS",
    "customer_scores",
    "finish_snapshot",
    "latest_snapshot",
    "load_model_version",
    "model_versions",
    "register_model",
    "segment_profiles",
    "snapshot_scores",
    "snapshots",
    "start_snapshot",
    "store_sentiment",
    "unscored_notes",
    "write_scores",
    "write_segment_profiles",
]

MODELS = metadata.tables["model_versions"]
SNAPSHOTS = metadata.tables["score_snapshots"]
SCORES = metadata.tables["customer_scores"]
PROFILES = metadata.tables["segment_profiles"]
SENTIMENT = metadata.tables["interaction_sentiment"]
INTERACTIONS = metadata.tables["interactions"]

#: Columns of ``customer_scores`` after the key.
SCORE_COLUMNS: tuple[str, ...] = tuple(
    c.name for c in SCORES.columns if c.name not in ("snapshot_id", "customer_id")
)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None: stored JSON stays standard."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    return value


def register_model(
    conn: Connection,
    *,
    task: str,
    family: str,
    as_of: dt.date,
    artefact: str,
    training: dict[str, Any],
    features: list[str],
    metrics: dict[str, Any],
    libraries: dict[str, str],
) -> int:
    """Store a new model version (never overwritten); returns its id."""
    result = conn.execute(
        insert(MODELS).values(
            task=task,
            family=family,
            created_at=_now(),
            as_of=as_of,
            training=json.dumps(training, default=str),
            features=json.dumps(features),
            metrics=json.dumps(_finite(metrics), default=float, allow_nan=False),
            libraries=json.dumps(libraries),
            artefact=artefact,
            artefact_sha256=hashlib.sha256(artefact.encode()).hexdigest(),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def load_model_version(engine: Engine, version_id: int) -> dict[str, Any]:
    """A model version row; the artefact's checksum is verified."""
    with read(engine) as conn:
        row = (
            conn.execute(select(MODELS).where(MODELS.c.id == version_id))
            .mappings()
            .one()
        )
    if hashlib.sha256(row["artefact"].encode()).hexdigest() != row["artefact_sha256"]:
        raise ValueError(f"model version {version_id}: artefact checksum mismatch")
    return dict(row)


def start_snapshot(engine: Engine, as_of: dt.date) -> int:
    """Open a snapshot as running (own transaction); returns its id."""
    with write(engine) as conn:
        result = conn.execute(
            insert(SNAPSHOTS).values(
                as_of=as_of, created_at=_now(), status="running", models="{}"
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_snapshot(
    conn: Connection,
    snapshot_id: int,
    *,
    status: str,
    models: dict[str, int] | None = None,
    n_customers: int = 0,
    seconds: float = 0.0,
    error: str | None = None,
) -> None:
    conn.execute(
        update(SNAPSHOTS)
        .where(SNAPSHOTS.c.id == snapshot_id)
        .values(
            status=status,
            finished_at=_now(),
            models=json.dumps(models or {}),
            n_customers=n_customers,
            seconds=seconds,
            error=error,
        )
    )


def write_scores(conn: Connection, snapshot_id: int, scores: pd.DataFrame) -> int:
    """Append a snapshot's scores (``scores`` indexed by customer_id)."""
    frame = scores.reindex(columns=list(SCORE_COLUMNS))
    table = pa.Table.from_pandas(
        frame.reset_index(names="customer_id"), preserve_index=False
    )
    table = table.append_column(
        "snapshot_id", pa.array([snapshot_id] * len(frame), pa.int64())
    )
    types = {c.name: c.type for c in SCORES.columns}
    cols = []
    for name in table.column_names:
        col = table[name]
        python_type = types[name].python_type
        if python_type is bool:
            col = col.cast(pa.bool_())
        elif python_type is float:
            col = col.cast(pa.float64())
        elif python_type is str and col.type != pa.string():
            col = col.cast(pa.string())
        cols.append(col)
    return append_rows(
        conn, "customer_scores", pa.table(cols, names=table.column_names)
    )


def write_segment_profiles(
    conn: Connection, snapshot_id: int, profiles: list[dict[str, Any]]
) -> None:
    if profiles:
        conn.execute(
            insert(PROFILES),
            [
                {
                    **p,
                    "snapshot_id": snapshot_id,
                    "stats": json.dumps(p.get("stats", {}), default=float),
                }
                for p in profiles
            ],
        )


def latest_snapshot(engine: Engine) -> dict[str, Any] | None:
    """The active snapshot: the newest one that succeeded."""
    with read(engine) as conn:
        row = (
            conn.execute(
                select(SNAPSHOTS)
                .where(SNAPSHOTS.c.status == "succeeded")
                .order_by(SNAPSHOTS.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def snapshots(engine: Engine, limit: int = 20) -> pd.DataFrame:
    with read(engine) as conn:
        return pd.read_sql(
            select(SNAPSHOTS).order_by(SNAPSHOTS.c.id.desc()).limit(limit), conn
        )


def customer_scores(
    engine: Engine, customer_id: str, snapshot_id: int | None = None
) -> dict[str, Any] | None:
    """One customer's row in a snapshot (default: the active one)."""
    if snapshot_id is None:
        snap = latest_snapshot(engine)
        if snap is None:
            return None
        snapshot_id = int(snap["id"])
    with read(engine) as conn:
        row = (
            conn.execute(
                select(SCORES).where(
                    SCORES.c.snapshot_id == snapshot_id,
                    SCORES.c.customer_id == customer_id,
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


def snapshot_scores(
    engine: Engine, snapshot_id: int, columns: list[str] | None = None
) -> pd.DataFrame:
    """A whole snapshot's scores, indexed by customer_id."""
    cols = [SCORES.c.customer_id] + [SCORES.c[c] for c in (columns or SCORE_COLUMNS)]
    with read(engine) as conn:
        frame = pd.read_sql(
            select(*cols).where(SCORES.c.snapshot_id == snapshot_id), conn
        )
    return frame.set_index("customer_id")


def segment_profiles(engine: Engine, snapshot_id: int) -> pd.DataFrame:
    with read(engine) as conn:
        return pd.read_sql(
            select(PROFILES)
            .where(PROFILES.c.snapshot_id == snapshot_id)
            .order_by(PROFILES.c.kind, PROFILES.c.size.desc()),
            conn,
        )


def unscored_notes(conn: Connection, limit: int | None = None) -> pd.DataFrame:
    """Interactions whose note has no sentiment yet: ``interaction_id, note``."""
    stmt = (
        select(INTERACTIONS.c.interaction_id, INTERACTIONS.c.note)
        .outerjoin(
            SENTIMENT, SENTIMENT.c.interaction_id == INTERACTIONS.c.interaction_id
        )
        .where(SENTIMENT.c.interaction_id.is_(None))
    )
    if limit:
        stmt = stmt.limit(limit)
    return pd.read_sql(stmt, conn)


def store_sentiment(conn: Connection, frame: pd.DataFrame, model: str) -> int:
    """Append ``interaction_id, compound`` rows."""
    table = pa.table(
        {
            "interaction_id": pa.array(frame["interaction_id"].astype(str)),
            "compound": pa.array(frame["compound"].astype(float)),
            "model": pa.array([model] * len(frame), pa.string()),
        }
    )
    return append_rows(conn, "interaction_sentiment", table)


def sentiment_frame(
    engine: Engine, customer_range: tuple[str, str] | None = None
) -> pd.DataFrame:
    """``interaction_id, compound`` of scored notes (of customers
    ``lo <= customer_id < hi`` if given)."""
    stmt = select(SENTIMENT.c.interaction_id, SENTIMENT.c.compound)
    if customer_range is not None:
        lo, hi = customer_range
        stmt = stmt.join(
            INTERACTIONS, INTERACTIONS.c.interaction_id == SENTIMENT.c.interaction_id
        ).where(INTERACTIONS.c.customer_id >= lo, INTERACTIONS.c.customer_id < hi)
    with read(engine) as conn:
        return pd.read_sql(stmt, conn)


def count_scores(engine: Engine, snapshot_id: int) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(SCORES)
                .where(SCORES.c.snapshot_id == snapshot_id)
            ).scalar_one()
        )


def model_versions(
    engine: Engine, *, task: str | None = None, limit: int = 20
) -> pd.DataFrame:
    """Model versions (without artefacts), newest first."""
    q = (
        select(
            MODELS.c.id,
            MODELS.c.task,
            MODELS.c.family,
            MODELS.c.as_of,
            MODELS.c.created_at,
            MODELS.c.metrics,
        )
        .order_by(MODELS.c.id.desc())
        .limit(limit)
    )
    if task:
        q = q.where(MODELS.c.task == task)
    with read(engine) as conn:
        return pd.read_sql(q, conn)
