"""Query functions: every read the rest of the package needs, as DataFrames.

Keyword-only arguments after the connection or engine; parameters are always
bound, never formatted into SQL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
import pyarrow as pa
from sqlalchemy import Connection, Engine, func, insert, select, text, update

from nbo_engine.store.arrow_read import read_frame
from nbo_engine.store.engine import read
from nbo_engine.store.tables import metadata

__all__ = [
    "alias_map",
    "finish_ingest_run",
    "ingest_runs",
    "insert_quarantine",
    "insert_repairs",
    "key_values",
    "quarantine_frame",
    "quarantined_keys",
    "read_table",
    "read_tables",
    "start_ingest_run",
    "successful_run_with_sha",
    "table_counts",
]

INPUT_TABLES = (
    "market",
    "customers",
    "accounts",
    "balances",
    "transactions",
    "digital_events",
    "interactions",
    "bureau",
    "campaign_history",
)


RUNS = metadata.tables["ingest_runs"]
QUARANTINE = metadata.tables["quarantine"]
REPAIRS = metadata.tables["ingest_repairs"]
ALIASES = metadata.tables["customer_aliases"]
RELATIONSHIPS = metadata.tables["customer_relationships"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_table(
    engine: Engine,
    name: str,
    *,
    columns: Sequence[str] | None = None,
    customer_ids: Sequence[str] | None = None,
    customer_range: tuple[str, str] | None = None,
    categorical: Sequence[str] = (),
) -> pd.DataFrame:
    """An input table (optionally some columns, some customers) as a frame.

    Dates and times come back as ``datetime64`` columns whatever the backend;
    ``categorical`` columns as pandas categoricals. ``customer_range=(lo, hi)``
    selects ``lo <= customer_id < hi`` through the index (chunked scoring);
    ``customer_ids`` an explicit list (one query however long).
    """
    table = metadata.tables[name]
    if (customer_ids is not None or customer_range is not None) and not (
        "customer_id" in table.c or name == "balances"
    ):
        raise ValueError(f"read_table: {name} has no customer to select by")
    with read(engine) as conn:
        return read_frame(
            conn,
            name,
            columns=list(columns) if columns else None,
            customer_range=customer_range,
            customer_ids=customer_ids,
            categorical=categorical,
        )


def read_tables(
    engine: Engine,
    names: Sequence[str] = INPUT_TABLES,
    *,
    customer_ids: Sequence[str] | None = None,
    customer_range: tuple[str, str] | None = None,
    categorical: dict[str, Sequence[str]] | None = None,
) -> dict[str, pd.DataFrame]:
    """Several input tables at once (``build_features`` takes this mapping).

    With ``customer_ids`` or ``customer_range`` only those customers' rows (and
    their accounts' balances) are read; ``market`` is always read whole.
    """
    out: dict[str, pd.DataFrame] = {}
    ids = list(customer_ids) if customer_ids is not None else None
    cats = categorical or {}
    for name in names:
        cat = cats.get(name, ())
        if name == "market":
            out[name] = read_table(engine, name)
        elif ids is None:
            out[name] = read_table(
                engine, name, customer_range=customer_range, categorical=cat
            )
        elif name == "balances":
            accounts = out.get("accounts")
            if accounts is None:
                accounts = read_table(engine, "accounts", customer_ids=ids)
            out[name] = _read_balances(engine, accounts["account_id"].tolist())
        else:
            out[name] = read_table(engine, name, customer_ids=ids, categorical=cat)
    return out


def _read_balances(engine: Engine, account_ids: list[str]) -> pd.DataFrame:
    t = metadata.tables["balances"]
    parts = []
    with read(engine) as conn:
        for i in range(0, len(account_ids), 5000):
            stmt = select(t).where(t.c.account_id.in_(account_ids[i : i + 5000]))
            parts.append(pd.read_sql(stmt, conn))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.read_sql(select(t).where(t.c.account_id == ""), engine)
    )
    frame["month_end"] = pd.to_datetime(frame["month_end"], format="ISO8601")
    return frame


def table_counts(engine: Engine) -> dict[str, int]:
    """Row count of every input table."""
    out = {}
    with read(engine) as conn:
        for name in INPUT_TABLES:
            out[name] = int(
                conn.execute(
                    select(func.count()).select_from(metadata.tables[name])
                ).scalar_one()
            )
    return out


def key_values(conn: Connection, table: str, column: str) -> pa.Array:
    """Every value of ``table.column`` (parent keys for reference checks)."""
    t = metadata.tables[table]
    values = conn.execute(select(t.c[column])).scalars().all()
    return pa.array(values, pa.string())


def alias_map(conn: Connection) -> dict[str, str]:
    """Merged customer ids -> surviving customer id."""
    rows = conn.execute(select(ALIASES.c.alias_id, ALIASES.c.customer_id)).all()
    return dict(rows)


def quarantined_keys(conn: Connection, entity: str) -> pa.Array:
    """Keys of ``entity`` rows that sit in quarantine and were never loaded."""
    t = metadata.tables[entity]
    key = list(t.primary_key.columns)
    q = select(QUARANTINE.c.record_key).where(QUARANTINE.c.entity == entity).distinct()
    values = [v for v in conn.execute(q).scalars().all() if v is not None]
    if not values or len(key) != 1:
        return pa.array(values, pa.string())
    loaded = set(conn.execute(select(key[0]).where(key[0].in_(values))).scalars().all())
    return pa.array([v for v in values if v not in loaded], pa.string())


def start_ingest_run(
    engine: Engine, *, batch_id: str, entity: str, file: str, sha256: str | None
) -> int:
    """Record a file load as running (its own committed transaction)."""
    with engine.begin() as conn:
        result = conn.execute(
            insert(RUNS).values(
                batch_id=batch_id,
                entity=entity,
                file=file,
                file_sha256=sha256,
                status="running",
                started_at=_now(),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def finish_ingest_run(
    conn: Connection,
    run_id: int,
    *,
    status: str,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Close a run; a successful one also retires stale 'running' rows."""
    values: dict[str, Any] = {"status": status, "finished_at": _now(), "error": error}
    for k, v in (counts or {}).items():
        values[k] = json.dumps(v, sort_keys=True) if isinstance(v, dict) else v
    conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**values))
    if status == "succeeded":
        entity = conn.execute(
            select(RUNS.c.entity).where(RUNS.c.id == run_id)
        ).scalar_one()
        conn.execute(
            update(RUNS)
            .where(
                RUNS.c.entity == entity,
                RUNS.c.status == "running",
                RUNS.c.id < run_id,
            )
            .values(status="abandoned")
        )


def successful_run_with_sha(
    conn: Connection, *, entity: str, sha256: str
) -> int | None:
    """Id of an earlier successful load of a byte-identical file, if any."""
    return conn.execute(
        select(RUNS.c.id)
        .where(
            RUNS.c.entity == entity,
            RUNS.c.file_sha256 == sha256,
            RUNS.c.status == "succeeded",
        )
        .order_by(RUNS.c.id)
        .limit(1)
    ).scalar_one_or_none()


def insert_quarantine(
    conn: Connection, *, run_id: int, entity: str, file: str, rows: pa.Table
) -> None:
    """Store quarantined rows (``_row, record_key, column, reason, message, raw``)."""
    if rows.num_rows == 0:
        return
    data = rows.to_pylist()
    conn.execute(
        insert(QUARANTINE),
        [
            {
                "run_id": run_id,
                "entity": entity,
                "file": file,
                "row_number": r["_row"],
                "record_key": r["record_key"],
                "column": r["column"],
                "reason": r["reason"],
                "message": r["message"],
                "raw": r["raw"],
            }
            for r in data
        ],
    )


def insert_repairs(
    conn: Connection, *, run_id: int, entity: str, rows: pa.Table
) -> None:
    """Store repairs (``_row, record_key, column, reason, original``)."""
    if rows.num_rows == 0:
        return
    conn.execute(
        insert(REPAIRS),
        [
            {
                "run_id": run_id,
                "entity": entity,
                "row_number": r["_row"],
                "record_key": r["record_key"],
                "column": r["column"],
                "reason": r["reason"],
                "original": r["original"],
            }
            for r in rows.to_pylist()
        ],
    )


def insert_aliases(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store resolved duplicate customer records (skipping ones already known)."""
    if not rows:
        return
    known = set(
        conn.execute(
            select(ALIASES.c.alias_id).where(
                ALIASES.c.alias_id.in_([r["alias_id"] for r in rows])
            )
        )
        .scalars()
        .all()
    )
    fresh = [r for r in rows if r["alias_id"] not in known]
    if fresh:
        conn.execute(insert(ALIASES), fresh)


def replace_relationships(
    conn: Connection, links: pd.DataFrame, households: pd.DataFrame
) -> None:
    """Rewrite the relationship table and every customer's household id."""
    conn.execute(RELATIONSHIPS.delete())
    if len(links):
        conn.execute(insert(RELATIONSHIPS), links.to_dict("records"))  # type: ignore[arg-type]
    if len(households):
        conn.execute(
            text("UPDATE customers SET household_id = :h WHERE customer_id = :c"),
            [
                {"h": h, "c": c}
                for c, h in zip(
                    households["customer_id"], households["household_id"], strict=True
                )
            ],
        )


def customers_for_matching(conn: Connection) -> pd.DataFrame:
    """Stored customers with the fields entity resolution compares."""
    t = metadata.tables["customers"]
    cols = [
        "customer_id",
        "first_name",
        "last_name",
        "birth_date",
        "address",
        "postcode",
        "email",
        "phone",
        "join_date",
    ]
    return pd.read_sql(select(*[t.c[c] for c in cols]), conn)


def customers_for_households(conn: Connection) -> pd.DataFrame:
    """``customer_id, address, postcode, household_id`` of every customer."""
    t = metadata.tables["customers"]
    return pd.read_sql(
        select(t.c.customer_id, t.c.address, t.c.postcode, t.c.household_id), conn
    )


def joint_accounts(conn: Connection) -> pd.DataFrame:
    """``customer_id, joint_customer_id`` of every joint account."""
    t = metadata.tables["accounts"]
    return pd.read_sql(
        select(t.c.customer_id, t.c.joint_customer_id).where(
            t.c.joint_customer_id.is_not(None)
        ),
        conn,
    )


def ingest_runs(engine: Engine, *, limit: int = 50) -> pd.DataFrame:
    """The most recent file loads, newest first."""
    with read(engine) as conn:
        return pd.read_sql(select(RUNS).order_by(RUNS.c.id.desc()).limit(limit), conn)


def quarantine_frame(
    engine: Engine,
    *,
    entity: str | None = None,
    reason: str | None = None,
    run_id: int | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """Quarantined rows, oldest first, filtered by entity, reason and run."""
    q = select(QUARANTINE).order_by(QUARANTINE.c.id)
    if entity:
        q = q.where(QUARANTINE.c.entity == entity)
    if reason:
        q = q.where(QUARANTINE.c.reason == reason)
    if run_id is not None:
        q = q.where(QUARANTINE.c.run_id == run_id)
    if limit:
        q = q.limit(limit)
    with read(engine) as conn:
        return pd.read_sql(q, conn)


def repairs_frame(engine: Engine, *, entity: str | None = None) -> pd.DataFrame:
    """Repairs, oldest first."""
    q = select(REPAIRS).order_by(REPAIRS.c.id)
    if entity:
        q = q.where(REPAIRS.c.entity == entity)
    with read(engine) as conn:
        return pd.read_sql(q, conn)
