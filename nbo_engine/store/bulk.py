"""Bulk upserts of Arrow batches, inside the caller's transaction.

PostgreSQL: each batch is streamed with ``COPY ... FROM STDIN`` into an unindexed
temporary stage table (dropped at commit); :meth:`BulkWriter.finish` then
upserts the stage into the target with one ``INSERT ... SELECT ... ON CONFLICT
DO UPDATE ... WHERE ... IS DISTINCT FROM``, so unchanged rows are not rewritten.

SQLite: each batch goes straight into the target with ``executemany`` of an
``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement (one prepared
statement, bound parameters). Inserted rows are counted from the rowid high-water
mark (these tables are never deleted from by the loader).

Either way the caller's transaction makes the whole file atomic.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Connection

__all__ = ["BulkWriter", "UpsertCounts", "arrow_to_rows"]


@dataclass(frozen=True)
class UpsertCounts:
    inserted: int
    updated: int
    unchanged: int


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def arrow_to_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as tuples of SQLite-ready values (ISO text dates, 0/1 booleans)."""
    cols = []
    for col in table.columns:
        t = col.type
        if pa.types.is_date(t) or pa.types.is_timestamp(t):
            col = pc.cast(col, pa.string())
        elif pa.types.is_boolean(t):
            col = pc.cast(col, pa.int8())
        cols.append(col.to_pylist())
    return list(zip(*cols, strict=True))


class BulkWriter:
    """Upsert batches of rows into ``table`` keyed on ``key``.

    ``columns`` are the columns written; other columns of the table (for
    example ``customers.household_id``) keep their values on update.
    """

    def __init__(
        self, conn: Connection, table: str, columns: Sequence[str], key: Sequence[str]
    ) -> None:
        self.conn = conn
        self.table = table
        self.columns = list(columns)
        self.key = list(key)
        self.dialect = conn.dialect.name
        self.rows = 0
        self._changes = 0
        self._dbapi: Any = cast(Any, conn.connection.dbapi_connection)
        cols = ", ".join(_q(c) for c in self.columns)
        keys = ", ".join(_q(k) for k in self.key)
        values = [c for c in self.columns if c not in self.key]
        target = _q(table)
        if values:
            sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in values)
            if self.dialect == "sqlite":
                diff = " OR ".join(
                    f"{target}.{_q(c)} IS NOT excluded.{_q(c)}" for c in values
                )
            else:
                diff = (
                    f"({', '.join(f'{target}.{_q(c)}' for c in values)}) IS DISTINCT "
                    f"FROM ({', '.join(f'excluded.{_q(c)}' for c in values)})"
                )
            conflict = f"ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {diff}"
        else:
            conflict = f"ON CONFLICT ({keys}) DO NOTHING"
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in self.columns)
            self._sql = f"INSERT INTO {target} ({cols}) VALUES ({marks}) {conflict}"
            cur = self._dbapi.cursor()
            cur.execute(f"SELECT coalesce(max(rowid), 0) FROM {target}")
            self._rowid_before = int(cur.fetchone()[0])
            cur.close()
        else:
            self.stage = f"nbo_stage_{table}"
            with self._dbapi.cursor() as cur:
                cur.execute(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_q(self.stage)} "
                    f"(LIKE {target} INCLUDING DEFAULTS) ON COMMIT DROP"
                )
                cur.execute(f"TRUNCATE {_q(self.stage)}")
            self._copy_sql = f"COPY {_q(self.stage)} ({cols}) FROM STDIN (FORMAT csv)"
            self._upsert_sql = (
                f"WITH ins AS (INSERT INTO {target} ({cols}) SELECT {cols} FROM "
                f"{_q(self.stage)} {conflict} RETURNING (xmax = 0) AS fresh) "
                "SELECT count(*) FILTER (WHERE fresh), count(*) FROM ins"
            )

    def add(self, batch: pa.Table) -> None:
        """Write one batch (columns in ``self.columns`` order, by name)."""
        if batch.num_rows == 0:
            return
        batch = batch.select(self.columns)
        self.rows += batch.num_rows
        if self.dialect == "sqlite":
            cur = self._dbapi.cursor()
            cur.executemany(self._sql, arrow_to_rows(batch))
            self._changes += max(cur.rowcount, 0)
            cur.close()
        else:
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
            with self._dbapi.cursor() as cur, cur.copy(self._copy_sql) as copy:
                copy.write(buf.getbuffer())

    def finish(self) -> UpsertCounts:
        """Apply the staged rows (PostgreSQL) and count what changed."""
        if self.dialect == "sqlite":
            cur = self._dbapi.cursor()
            cur.execute(f"SELECT coalesce(max(rowid), 0) FROM {_q(self.table)}")
            inserted = int(cur.fetchone()[0]) - self._rowid_before
            cur.close()
            updated = self._changes - inserted
        else:
            with self._dbapi.cursor() as cur:
                cur.execute(self._upsert_sql)
                fresh, total = cur.fetchone()
                cur.execute(f"TRUNCATE {_q(self.stage)}")
            inserted, updated = int(fresh), int(total) - int(fresh)
        return UpsertCounts(inserted, updated, self.rows - inserted - updated)

    def fetch(self, keys: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
        """Rows already written by this writer (or stored) with these keys."""
        if not keys:
            return []
        source = _q(self.table) if self.dialect == "sqlite" else _q(self.stage)
        cols = ", ".join(_q(c) for c in self.columns)
        out: list[dict[str, Any]] = []
        mark = "?" if self.dialect == "sqlite" else "%s"
        cond = " AND ".join(f"{_q(k)} = {mark}" for k in self.key)
        cur = self._dbapi.cursor()
        for k in keys:
            cur.execute(f"SELECT {cols} FROM {source} WHERE {cond}", k)
            row = cur.fetchone()
            if row is not None:
                out.append(dict(zip(self.columns, row, strict=True)))
        cur.close()
        return out
