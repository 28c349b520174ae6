"""Fast reads of input tables into Arrow, then pandas.

``pandas.read_sql`` builds a Python object per value and parses dates one by
one; for millions of rows that dominates a scoring run. Here PostgreSQL streams
``COPY (SELECT ...) TO STDOUT`` as CSV straight into Arrow's multi-threaded CSV
reader, and SQLite's rows are turned into Arrow column by column; dates are
parsed by Arrow kernels and enumerations become pandas categoricals.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from typing import Any, cast

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, Table

from nbo_engine.store.tables import metadata

__all__ = ["read_frame"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _arrow_type(col: Any) -> pa.DataType:
    t = col.type
    if isinstance(t, Boolean):
        return pa.bool_()
    if isinstance(t, DateTime):
        return pa.timestamp("us")
    if isinstance(t, Date):
        return pa.date32()
    if isinstance(t, Integer):
        return pa.int64()
    if isinstance(t, Float):
        return pa.float64()
    return pa.string()


def _sql(table: Table, columns: Sequence[str], where: str, alias: str = "t") -> str:
    cols = ", ".join(f"{alias}.{_q(c)}" for c in columns)
    return f"SELECT {cols} FROM {_q(table.name)} {alias} {where}"


def read_frame(
    conn: Connection,
    name: str,
    *,
    columns: Sequence[str] | None = None,
    customer_range: tuple[str, str] | None = None,
    customer_ids: Sequence[str] | None = None,
    categorical: Sequence[str] = (),
) -> pd.DataFrame:
    """Rows of an input table as a frame with proper dtypes.

    ``customer_range=(lo, hi)`` keeps customers with ``lo <= customer_id < hi``;
    ``customer_ids`` keeps those customers (sent as one bound JSON array, so a
    100,000-customer sample is one query). For ``balances`` both go through the
    owning account. ``categorical`` columns come back as pandas categoricals.
    """
    table = metadata.tables[name]
    cols = list(columns) if columns else [c.name for c in table.columns]
    params: list[str] = []
    where = ""
    owner = "t" if "customer_id" in table.c else "a"
    join = "" if owner == "t" else "JOIN accounts a ON a.account_id = t.account_id "
    if customer_range is not None and customer_ids is not None:
        raise ValueError("read_frame: give customer_range or customer_ids, not both")
    if customer_range is not None:
        params = list(customer_range)
        where = (
            f"{join}WHERE {owner}.customer_id >= {{p}} AND {owner}.customer_id < {{p}}"
        )
    elif customer_ids is not None:
        params = [json.dumps([str(c) for c in customer_ids])]
        ids = (
            "SELECT jsonb_array_elements_text(CAST({p} AS jsonb))"
            if conn.dialect.name == "postgresql"
            else "SELECT value FROM json_each({p})"
        )
        where = f"{join}WHERE {owner}.customer_id IN ({ids})"
    types = {c: _arrow_type(table.c[c]) for c in cols}
    if conn.dialect.name == "postgresql":
        arrow = _read_postgres(conn, table, cols, where, params, types)
    else:
        arrow = _read_sqlite(conn, table, cols, where, params, types)
    for c in categorical:
        if c in arrow.column_names:
            i = arrow.column_names.index(c)
            arrow = arrow.set_column(i, c, pc.dictionary_encode(arrow[c]))
    return arrow.to_pandas(timestamp_as_object=False, date_as_object=False)


def _read_sqlite(
    conn: Connection,
    table: Table,
    cols: list[str],
    where: str,
    params: list[str],
    types: dict[str, pa.DataType],
) -> pa.Table:
    sql = _sql(table, cols, where.replace("{p}", "?"))
    # Rows come through the sqlite3 module only. A faster Arrow-native driver
    # (ADBC) was tried and removed: it links a second copy of SQLite into the
    # process, and two copies on one file break SQLite's POSIX locks and can
    # corrupt the database (sqlite.org/howtocorrupt.html, 2.2.1); it did.
    raw = _fetch_sqlite3(conn, sql, params, [types[c] for c in cols])
    return pa.table(
        [_convert(raw.column(i), types[c]) for i, c in enumerate(cols)], names=cols
    )


def _fetch_sqlite3(
    conn: Connection, sql: str, params: list[str], types: list[pa.DataType]
) -> pa.Table:
    """The same rows through the sqlite3 module: dates as text, booleans as 0/1."""
    dbapi: Any = cast(Any, conn.connection.dbapi_connection)
    cur = dbapi.cursor()
    cur.execute(sql, params)
    rows = cur.fetchall()
    cur.close()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(types)
    arrays = []
    for values, t in zip(columns, types, strict=True):
        if pa.types.is_timestamp(t) or pa.types.is_date32(t):
            arrays.append(pa.array(values, pa.string()))
        elif pa.types.is_boolean(t):
            arrays.append(
                pa.array([None if v is None else bool(v) for v in values], pa.bool_())
            )
        else:
            arrays.append(pa.array(values, t))
    return pa.table(arrays, names=[str(i) for i in range(len(types))])


def _convert(
    values: pa.ChunkedArray | pa.Array, t: pa.DataType
) -> pa.ChunkedArray | pa.Array:
    """One column as SQLite returned it (text dates, 0/1 booleans) -> type ``t``."""
    if pa.types.is_null(values.type):
        return pa.nulls(len(values), t)
    if pa.types.is_timestamp(t) or pa.types.is_date32(t):
        text = pc.cast(values, pa.string())
        parsed = pc.strptime(
            pc.utf8_slice_codeunits(text, 0, 19),
            format=("%Y-%m-%d %H:%M:%S" if pa.types.is_timestamp(t) else "%Y-%m-%d"),
            unit="us",
            error_is_null=True,
        )
        if pa.types.is_date32(t):
            return pc.cast(parsed, pa.date32())
        # Rows written by other tools may lack the time part.
        missing = pc.and_(pc.is_null(parsed), pc.is_valid(text))
        if pc.any(missing).as_py():
            alt = pc.strptime(text, format="%Y-%m-%d", unit="us", error_is_null=True)
            parsed = pc.if_else(missing, alt, parsed)
        return parsed
    if pa.types.is_boolean(t):
        if pa.types.is_boolean(values.type):
            return values
        return pc.not_equal(pc.cast(values, pa.int64()), 0)
    if values.type == t:
        return values
    return pc.cast(values, t)


def _read_postgres(
    conn: Connection,
    table: Table,
    cols: list[str],
    where: str,
    params: list[str],
    types: dict[str, pa.DataType],
) -> pa.Table:
    from psycopg import sql as psql

    dbapi: Any = cast(Any, conn.connection.dbapi_connection)
    text = _sql(table, cols, where)
    for p in params:  # literals rendered by psycopg (COPY takes no bind params)
        text = text.replace("{p}", psql.Literal(p).as_string(dbapi), 1)
    query = f"COPY ({text}) TO STDOUT (FORMAT csv)"
    buf = io.BytesIO()
    with dbapi.cursor() as cur, cur.copy(query) as copy:
        for block in copy:
            buf.write(block)
    if buf.tell() == 0:
        return pa.table({c: pa.array([], types[c]) for c in cols})
    buf.seek(0)
    read_types = {
        c: (pa.string() if pa.types.is_boolean(t) else t) for c, t in types.items()
    }
    arrow = pacsv.read_csv(
        buf,
        read_options=pacsv.ReadOptions(column_names=cols),
        convert_options=pacsv.ConvertOptions(
            column_types=read_types,
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    for c, t in types.items():
        if pa.types.is_boolean(t):
            i = arrow.column_names.index(c)
            arrow = arrow.set_column(i, c, pc.equal(arrow[c], "t"))
    return arrow
