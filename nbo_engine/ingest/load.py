"""Load input files into the store: clean, de-duplicate, resolve, quarantine, upsert.

One file is one transaction: a failure (or ``kill -9``) part-way leaves the store
as it was before the file, and loading it again completes it. A byte-identical
file that was loaded before is skipped unless ``force``; reloading it anyway
changes no data (upserts skip unchanged rows).
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Full, Queue
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from nbo_engine.config import get_settings
from nbo_engine.errors import FileFormatError
from nbo_engine.ingest.anomaly import RobustReference, flag_anomalies
from nbo_engine.ingest.clean import (
    QUARANTINE_SCHEMA,
    REPAIR_SCHEMA,
    Cleaned,
    clean_chunk,
    record_keys,
)
from nbo_engine.ingest.dedupe import SeenKeys, first_occurrence, string_hash64
from nbo_engine.ingest.households import household_links, households
from nbo_engine.ingest.readers import (
    RawChunk,
    file_sha256,
    find_entity_file,
    read_chunks,
)
from nbo_engine.ingest.resolve import resolve_customers
from nbo_engine.ingest.schemas import ENTITY_ORDER, FileSchema, schema_for
from nbo_engine.store import Connection, Engine, queries
from nbo_engine.store.bulk import BulkWriter
from nbo_engine.store.engine import analyze, make_engine, write

__all__ = ["FileReport", "ingest_dir", "ingest_file"]

Progress = Callable[[str, int, int], None]  # (entity, bytes done, bytes total)


@dataclass
class FileReport:
    """What one file load did (also stored in ``ingest_runs``)."""

    entity: str
    file: str
    status: str = "succeeded"
    run_id: int | None = None
    rows_read: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_unchanged: int = 0
    rows_fixed: int = 0
    rows_quarantined: int = 0
    duplicates_dropped: int = 0
    customers_merged: int = 0
    anomalies_flagged: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    repair_reasons: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""

    def counts(self) -> dict[str, Any]:
        keys = (
            "rows_read",
            "rows_inserted",
            "rows_updated",
            "rows_unchanged",
            "rows_fixed",
            "rows_quarantined",
            "duplicates_dropped",
            "customers_merged",
            "anomalies_flagged",
            "quarantine_reasons",
            "repair_reasons",
        )
        return {k: getattr(self, k) for k in keys}


def ingest_dir(
    directory: Path,
    *,
    engine: Engine | None = None,
    as_of: dt.datetime | None = None,
    force: bool = False,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> list[FileReport]:
    """Load every ``<entity>.csv|.csv.gz|.parquet`` in ``directory``, parents first.

    Raises
    ------
    FileFormatError
        The folder has no input files.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileFormatError(f"{directory}: not a folder")
    found = [(e, find_entity_file(directory, e)) for e in ENTITY_ORDER]
    files = [(e, p) for e, p in found if p is not None]
    if not files:
        raise FileFormatError(
            f"{directory}: no input files; expected files named "
            + ", ".join(f"{e}.csv" for e in ENTITY_ORDER)
        )
    batch_id = uuid.uuid4().hex
    return [
        ingest_file(
            entity,
            path,
            engine=engine,
            as_of=as_of,
            force=force,
            chunk_rows=chunk_rows,
            progress=progress,
            batch_id=batch_id,
        )
        for entity, path in files
    ]


def ingest_file(
    entity: str,
    path: Path,
    *,
    engine: Engine | None = None,
    as_of: dt.datetime | None = None,
    force: bool = False,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
    batch_id: str | None = None,
) -> FileReport:
    """Load one file of ``entity`` (see ``docs/data-contract.md``).

    Raises
    ------
    FileFormatError
        Unreadable, empty or wrongly shaped file; nothing is stored.
    KeyError
        Unknown entity.
    """
    schema = schema_for(entity)
    path = Path(path)
    engine = engine or make_engine()
    settings = get_settings()
    chunk_rows = chunk_rows or settings.ingest_chunk_rows
    as_of = as_of or dt.datetime.now()
    t0 = time.perf_counter()
    report = FileReport(entity=entity, file=path.name)

    chunks = read_chunks(path, schema, chunk_rows)  # header problems raise here
    sha = file_sha256(path)
    if not force:
        with engine.connect() as conn:
            previous = queries.successful_run_with_sha(conn, entity=entity, sha256=sha)
        if previous is not None:
            report.status = "skipped"
            report.note = f"identical to the file loaded by run {previous}"
            report.seconds = time.perf_counter() - t0
            return report

    run_id = queries.start_ingest_run(
        engine,
        batch_id=batch_id or uuid.uuid4().hex,
        entity=entity,
        file=str(path),
        sha256=sha,
    )
    report.run_id = run_id
    size = max(path.stat().st_size, 1)
    try:
        with write(engine) as conn:
            loader = _FileLoader(
                conn,
                schema,
                report,
                as_of,
                path.name,
                run_id,
                reload_sha=sha if force else None,
            )
            for prepared in _prepared_in_background(chunks, loader):
                loader.apply(prepared)
                if progress is not None:
                    progress(entity, prepared.raw.bytes_read, size)
            loader.finish()
            queries.finish_ingest_run(
                conn, run_id, status="succeeded", counts=report.counts()
            )
    except BaseException as exc:
        with engine.begin() as conn:
            queries.finish_ingest_run(
                conn, run_id, status="failed", error=f"{type(exc).__name__}: {exc}"
            )
        raise
    analyze(engine, [entity])
    if progress is not None:
        progress(entity, size, size)
    report.seconds = time.perf_counter() - t0
    return report


def _prepared_in_background(
    chunks: Iterator[RawChunk], loader: _FileLoader
) -> Iterator[_Prepared]:
    """Read, clean and prepare the next chunks in a thread while this one is written.

    Arrow's readers and kernels and SQLite's statement steps release the GIL, so
    on two cores the preparation overlaps with the database writes. At most one
    chunk waits, so memory stays bounded; an error in the thread is raised here.
    """
    queue: Queue[_Prepared | BaseException | None] = Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for raw in chunks:
                prepared = loader.prepare(raw)
                while not stop.is_set():
                    try:
                        queue.put(prepared, timeout=0.1)
                        break
                    except Full:
                        continue
                if stop.is_set():
                    return
            queue.put(None)
        except BaseException as exc:  # handed to the consumer, re-raised there
            queue.put(exc)

    worker = threading.Thread(target=produce, name="nbo-ingest-reader", daemon=True)
    worker.start()
    try:
        while True:
            item = queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


@dataclass
class _Prepared:
    """One chunk, cleaned and checked, ready to write."""

    raw: RawChunk
    result: Cleaned
    suspects: pa.Table  # rows whose key may repeat an earlier chunk's
    encoded: Any  # the writer's encoding of result.table (None for customers)


class _FileLoader:
    """Per-file state inside the file's transaction.

    :meth:`prepare` runs in the reader thread and touches only ``seen``,
    ``anomaly_ref`` and read-only lookups; :meth:`apply` runs in the caller's
    thread and does all database work.
    """

    def __init__(
        self,
        conn: Connection,
        schema: FileSchema,
        report: FileReport,
        as_of: dt.datetime,
        file_name: str,
        run_id: int,
        reload_sha: str | None,
    ) -> None:
        self.conn = conn
        self.schema = schema
        self.entity = schema.entity
        self.report = report
        self.as_of = as_of
        self.file_name = file_name
        self.run_id = run_id
        self.seen = SeenKeys()
        self.q_reasons: Counter[str] = Counter()
        self.r_reasons: Counter[str] = Counter()
        self.fixed_rows = 0
        # Reloading an identical file (force): its quarantine rows exist already.
        self.record_rows = True
        if reload_sha is not None:
            prev = queries.successful_run_with_sha(
                conn, entity=self.entity, sha256=reload_sha
            )
            self.record_rows = prev is None
        columns = list(schema.names)
        if self.entity == "transactions":
            columns.append("is_anomalous")
        self.writer = BulkWriter(conn, self.entity, columns, schema.key)
        self.anomaly_ref: RobustReference | None = None
        self.aliases = queries.alias_map(conn)
        self.refs: dict[str, tuple[pa.Array, pa.Array, str]] = {}
        for c in schema.columns:
            if c.references:
                parent, pcol = c.references
                self.refs[c.name] = (
                    queries.key_values(conn, parent, pcol),
                    queries.quarantined_keys(conn, parent),
                    parent,
                )
        self.pending: list[Cleaned] = []  # customers are resolved as a whole
        self.alias_records: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ chunks
    def prepare(self, raw: RawChunk) -> _Prepared:
        """Everything for one chunk that needs no database (runs in a thread)."""
        cleaned = clean_chunk(
            self.schema, raw.table, raw.first_row, self.as_of, self.file_name
        )
        table = cleaned.table
        quarantine = [cleaned.quarantine]
        repairs = [cleaned.repairs]
        table, more = self._remap_aliases(table, raw)
        repairs += more
        table, dq, dr, suspects = self._dedupe(table, raw)
        quarantine.append(dq)
        repairs.append(dr)
        table, rq = self._references(table, raw)
        quarantine.append(rq)
        if self.entity == "transactions":
            table = self._anomalies(table)
        is_suspect = _np_mask(pc.is_in(table["_row"], value_set=suspects))
        suspect_rows = table.filter(pa.array(is_suspect))
        table = table.filter(pa.array(~is_suspect))
        result = Cleaned(table, pa.concat_tables(quarantine), pa.concat_tables(repairs))
        encoded = None
        if self.entity != "customers" and table.num_rows:
            encoded = self.writer.encode(table)
        return _Prepared(raw, result, suspect_rows, encoded)

    def apply(self, prepared: _Prepared) -> None:
        """Write one prepared chunk (main thread, inside the file's transaction)."""
        self.report.rows_read += prepared.raw.table.num_rows
        result = prepared.result
        if prepared.suspects.num_rows:
            keep, q, r = self._confirm_duplicates(prepared.raw, prepared.suspects)
            result = Cleaned(
                result.table,
                pa.concat_tables([result.quarantine, q]),
                pa.concat_tables([result.repairs, r]),
            )
            if keep.num_rows:
                if self.entity == "customers":
                    result = Cleaned(
                        pa.concat_tables([result.table, keep]),
                        result.quarantine,
                        result.repairs,
                    )
                else:
                    self.writer.add(keep)
        if self.entity == "customers":
            self.pending.append(result)
            return
        if prepared.encoded is not None:
            self.writer.add_encoded(prepared.encoded, result.table.num_rows)
        self._record(result)

    def finish(self) -> None:
        if self.entity == "customers":
            self._resolve_and_write()
        counts = self.writer.finish()
        if self.alias_records:
            # After the upsert: aliases reference their surviving customer.
            queries.insert_aliases(self.conn, self.alias_records)
        r = self.report
        r.rows_inserted, r.rows_updated, r.rows_unchanged = (
            counts.inserted,
            counts.updated,
            counts.unchanged,
        )
        r.rows_quarantined = sum(self.q_reasons.values())
        r.quarantine_reasons = dict(sorted(self.q_reasons.items()))
        r.repair_reasons = dict(sorted(self.r_reasons.items()))
        r.duplicates_dropped = self.r_reasons.get("duplicate_row", 0)
        r.customers_merged = self.r_reasons.get("merged_customer", 0)
        r.rows_fixed = self.fixed_rows
        if self.entity in ("customers", "accounts"):
            _rebuild_households(self.conn)

    def _write(self, result: Cleaned) -> None:
        self.writer.add(result.table)
        self._record(result)

    def _record(self, result: Cleaned) -> None:
        q, rep = result.quarantine, result.repairs
        self.q_reasons.update(q.column("reason").to_pylist())
        self.r_reasons.update(rep.column("reason").to_pylist())
        fixing = rep.filter(
            pc.invert(
                pc.is_in(
                    rep["reason"],
                    value_set=pa.array(["duplicate_row", "merged_customer"]),
                )
            )
        )
        self.fixed_rows += len(pc.unique(fixing["_row"]))
        if self.record_rows:
            queries.insert_quarantine(
                self.conn,
                run_id=self.run_id,
                entity=self.entity,
                file=self.file_name,
                rows=q,
            )
            queries.insert_repairs(
                self.conn, run_id=self.run_id, entity=self.entity, rows=rep
            )

    # ------------------------------------------------------------------ steps
    def _remap_aliases(
        self, table: pa.Table, raw: RawChunk
    ) -> tuple[pa.Table, list[pa.Table]]:
        """Point references to merged customer records at the surviving record."""
        if not self.aliases or table.num_rows == 0:
            return table, []
        out = []
        old = pa.array(list(self.aliases), pa.string())
        new = pa.array(list(self.aliases.values()), pa.string())
        for c in self.schema.columns:
            if c.references != ("customers", "customer_id"):
                continue
            col = table[c.name].combine_chunks()
            idx = pc.index_in(col, value_set=old)
            hit = pc.is_valid(idx)
            if not pc.any(hit).as_py():
                continue
            mask = _np_mask(hit)
            out.append(
                _repair_rows(
                    self.schema, raw, table["_row"], mask, c.name, "alias_remapped", col
                )
            )
            replaced = pc.replace_with_mask(col, hit, new.take(pc.drop_null(idx)))
            table = table.set_column(table.column_names.index(c.name), c.name, replaced)
        return table, out

    def _dedupe(
        self, table: pa.Table, raw: RawChunk
    ) -> tuple[pa.Table, pa.Table, pa.Table, pa.Array]:
        """Drop exact repeats of earlier rows of this chunk; quarantine same-key,
        other-values rows. Rows whose key hash was seen in an earlier chunk are
        returned as suspects (their ``_row``) for :meth:`_confirm_duplicates`."""
        no_rows = pa.array([], pa.int64())
        if table.num_rows == 0:
            return (
                table,
                QUARANTINE_SCHEMA.empty_table(),
                REPAIR_SCHEMA.empty_table(),
                no_rows,
            )
        keys = _key_strings(self.schema, table)
        h = string_hash64(keys)
        first = first_occurrence(h)
        in_chunk = first != np.arange(h.size)
        before = self.seen.contains(h) & ~in_chunk
        self.seen.add(h[~in_chunk])
        rows = table["_row"].to_numpy()
        suspects = pa.array(rows[before], pa.int64())
        if not in_chunk.any():
            return (
                table,
                QUARANTINE_SCHEMA.empty_table(),
                REPAIR_SCHEMA.empty_table(),
                suspects,
            )
        names = list(self.schema.names)
        drop = np.zeros(h.size, dtype=bool)
        conflict = np.zeros(h.size, dtype=bool)
        other_row = np.zeros(h.size, dtype=np.int64)
        key_list = keys.to_pylist()
        for p in np.flatnonzero(in_chunk):
            f = int(first[p])
            if key_list[p] != key_list[f]:
                continue  # hash collision: different keys
            same = _canon(table.slice(p, 1).select(names).to_pylist()[0]) == _canon(
                table.slice(f, 1).select(names).to_pylist()[0]
            )
            drop[p], conflict[p], other_row[p] = same, not same, rows[f]
        q, r = self._duplicate_tables(raw, table["_row"], drop, conflict, other_row)
        keep = ~(drop | conflict)
        return table.filter(pa.array(keep)), q, r, suspects

    def _confirm_duplicates(
        self, raw: RawChunk, suspects: pa.Table
    ) -> tuple[pa.Table, pa.Table, pa.Table]:
        """Compare suspects with the rows this file already wrote (by real key)."""
        names = list(self.schema.names)
        n = suspects.num_rows
        drop = np.zeros(n, dtype=bool)
        conflict = np.zeros(n, dtype=bool)
        key_tuples = [
            tuple(suspects[k][p].as_py() for k in self.schema.key) for p in range(n)
        ]
        stored = {
            tuple(_canon_value(v) for v in (r[k] for k in self.schema.key)): r
            for r in self.writer.fetch(key_tuples)
        }
        for p, kt in enumerate(key_tuples):
            prior = stored.get(tuple(_canon_value(v) for v in kt))
            if prior is None:
                continue  # hash collision with another key: a new row
            mine = suspects.slice(p, 1).select(names).to_pylist()[0]
            same = _canon(mine) == _canon({k: prior[k] for k in names})
            drop[p], conflict[p] = same, not same
        q, r = self._duplicate_tables(
            raw, suspects["_row"], drop, conflict, np.zeros(n, dtype=np.int64)
        )
        return suspects.filter(pa.array(~(drop | conflict))), q, r

    def _duplicate_tables(
        self,
        raw: RawChunk,
        row_col: pa.ChunkedArray | pa.Array,
        drop: NDArray[np.bool_],
        conflict: NDArray[np.bool_],
        other_row: NDArray[np.int64],
    ) -> tuple[pa.Table, pa.Table]:
        q = QUARANTINE_SCHEMA.empty_table()
        r = REPAIR_SCHEMA.empty_table()
        if drop.any():
            r = _repair_rows(
                self.schema,
                raw,
                row_col,
                drop,
                None,
                "duplicate_row",
                pa.array(
                    [
                        f"repeats row {o}" if o else "repeats an earlier row"
                        for o in other_row
                    ],
                    pa.string(),
                ),
            )
        if conflict.any():
            q = _quarantine_rows(
                self.schema,
                raw,
                row_col,
                conflict,
                None,
                "duplicate_key",
                [
                    f"same key as row {o} with other values"
                    if o
                    else "same key as an earlier row of this file with other values"
                    for o in other_row[conflict]
                ],
                self.file_name,
            )
        return q, r

    def _references(self, table: pa.Table, raw: RawChunk) -> tuple[pa.Table, pa.Table]:
        """Quarantine rows whose customer or account is unknown or quarantined."""
        if not self.refs or table.num_rows == 0:
            return table, QUARANTINE_SCHEMA.empty_table()
        bad = np.zeros(table.num_rows, dtype=bool)
        reason = np.full(table.num_rows, "", dtype=object)
        detail = np.full(table.num_rows, "", dtype=object)
        for col_name, (known, held, parent) in self.refs.items():
            col = table[col_name].combine_chunks()
            values = pc.unique(col.drop_null())
            if len(values) == 0:
                continue
            present = pc.unique(known.filter(pc.is_in(known, value_set=values)))
            missing = values.filter(pc.invert(pc.is_in(values, value_set=present)))
            if len(missing) == 0:
                continue
            miss = _np_mask(pc.is_in(col, value_set=missing))
            in_q = (
                _np_mask(pc.is_in(col, value_set=held))
                if len(held)
                else np.zeros(len(col), dtype=bool)
            )
            new = miss & ~bad
            reason[new & in_q] = "parent_quarantined"
            reason[new & ~in_q] = "orphan_reference"
            vals = col.to_numpy(zero_copy_only=False)
            for p in np.flatnonzero(new):
                state = "is quarantined" if in_q[p] else "is not in the store"
                detail[p] = f"column '{col_name}' {vals[p]!r}: {parent} {state}"
            bad |= miss
        if not bad.any():
            return table, QUARANTINE_SCHEMA.empty_table()
        rows = table["_row"]
        parts = []
        for code in ("orphan_reference", "parent_quarantined"):
            m = bad & (reason == code)
            if m.any():
                parts.append(
                    _quarantine_rows(
                        self.schema,
                        raw,
                        rows,
                        m,
                        None,
                        code,
                        list(detail[m]),
                        self.file_name,
                    )
                )
        return table.filter(pa.array(~bad)), pa.concat_tables(parts)

    def _anomalies(self, table: pa.Table) -> pa.Table:
        cats = table["category"].to_numpy(zero_copy_only=False)
        amounts = table["amount"].to_numpy(zero_copy_only=False)
        if self.anomaly_ref is None:
            self.anomaly_ref = RobustReference(cats, amounts)
        flags = flag_anomalies(self.anomaly_ref, cats, amounts)
        self.report.anomalies_flagged += int(flags.sum())
        return table.append_column("is_anomalous", pa.array(flags))

    def _resolve_and_write(self) -> None:
        if not self.pending:
            return
        merged = Cleaned(
            pa.concat_tables([c.table for c in self.pending]),
            pa.concat_tables([c.quarantine for c in self.pending]),
            pa.concat_tables([c.repairs for c in self.pending]),
        )
        self.pending = []
        new = merged.table.to_pandas()
        store = queries.customers_for_matching(self.conn)
        in_store = set(store["customer_id"])
        new["existing"] = new["customer_id"].isin(in_store)
        others = store[~store["customer_id"].isin(set(new["customer_id"]))].assign(
            existing=True
        )
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
            "existing",
        ]
        records = pd.concat([new[cols], others[cols]], ignore_index=True)
        matches = resolve_customers(records)
        table = merged.table
        repairs = [merged.repairs]
        if len(matches):
            alias = pa.array(matches["alias_id"].tolist(), pa.string())
            is_alias = _np_mask(pc.is_in(table["customer_id"], value_set=alias))
            alias_rows = table.filter(pa.array(is_alias))
            survivor = dict(
                zip(matches["alias_id"], matches["customer_id"], strict=True)
            )
            score = dict(zip(matches["alias_id"], matches["score"], strict=True))
            records_out = []
            for rec in alias_rows.to_pylist():
                aid = rec["customer_id"]
                records_out.append(
                    {
                        "alias_id": aid,
                        "customer_id": survivor[aid],
                        "score": float(score[aid]),
                        "run_id": self.run_id,
                        "raw": json.dumps({k: _canon_value(v) for k, v in rec.items()}),
                    }
                )
            repairs.append(
                pa.table(
                    {
                        "_row": alias_rows["_row"],
                        "record_key": alias_rows["customer_id"],
                        "column": pa.nulls(alias_rows.num_rows, pa.string()),
                        "reason": pa.array(
                            ["merged_customer"] * alias_rows.num_rows, pa.string()
                        ),
                        "original": pa.array(
                            [
                                f"resolved to {survivor[a]}"
                                for a in alias_rows["customer_id"].to_pylist()
                            ],
                            pa.string(),
                        ),
                    },
                    schema=REPAIR_SCHEMA,
                )
            )
            table = table.filter(pa.array(~is_alias))
            self.alias_records = records_out
        self._write(Cleaned(table, merged.quarantine, pa.concat_tables(repairs)))


# ------------------------------------------------------------------ helpers


def _np_mask(a: pa.Array | pa.ChunkedArray) -> NDArray[np.bool_]:
    out: NDArray[np.bool_] = pc.fill_null(a, False).to_numpy(zero_copy_only=False)
    return out


def _key_strings(schema: FileSchema, table: pa.Table) -> pa.Array:
    parts = [pc.cast(table[k], pa.string()) for k in schema.key]
    joined = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, "|")
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _canon_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return round(v, 6)
    return v


def _canon(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        v = _canon_value(v)
        if isinstance(v, str) and len(v) >= 10 and v[4] == "-" and v[7] == "-":
            v = v.replace("T", " ")
        out[k] = v
    return out


def _raw_lookup(raw: RawChunk, rows: NDArray[np.int64]) -> NDArray[np.int64]:
    return rows - raw.first_row


def _repair_rows(
    schema: FileSchema,
    raw: RawChunk,
    row_col: pa.ChunkedArray | pa.Array,
    mask: NDArray[np.bool_],
    column: str | None,
    reason: str,
    original: pa.Array,
) -> pa.Table:
    rows = np.asarray(row_col.to_numpy())[mask]
    pos = _raw_lookup(raw, rows)
    return pa.table(
        {
            "_row": pa.array(rows),
            "record_key": record_keys(schema, raw.table, pos),
            "column": pa.array([column] * rows.size, pa.string()),
            "reason": pa.array([reason] * rows.size, pa.string()),
            "original": (
                original.combine_chunks()
                if isinstance(original, pa.ChunkedArray)
                else original
            ).filter(pa.array(mask)),
        },
        schema=REPAIR_SCHEMA,
    )


def _quarantine_rows(
    schema: FileSchema,
    raw: RawChunk,
    row_col: pa.ChunkedArray | pa.Array,
    mask: NDArray[np.bool_],
    column: str | None,
    reason: str,
    details: list[str],
    file_name: str,
) -> pa.Table:
    rows = np.asarray(row_col.to_numpy())[mask]
    pos = _raw_lookup(raw, rows)
    keys = record_keys(schema, raw.table, pos)
    key_name = "|".join(schema.key)
    raw_rows = raw.table.take(pa.array(pos)).to_pylist()
    messages = [
        f"{file_name} row {r} ({key_name}={k}): {d}"
        for r, k, d in zip(rows.tolist(), keys.to_pylist(), details, strict=True)
    ]
    return pa.table(
        {
            "_row": pa.array(rows),
            "record_key": keys,
            "column": pa.array([column] * rows.size, pa.string()),
            "reason": pa.array([reason] * rows.size, pa.string()),
            "message": pa.array(messages, pa.string()),
            "raw": pa.array(
                [json.dumps(r, ensure_ascii=False) for r in raw_rows], pa.string()
            ),
        },
        schema=QUARANTINE_SCHEMA,
    )


def _rebuild_households(conn: Connection) -> None:
    customers = queries.customers_for_households(conn)
    joint = queries.joint_accounts(conn)
    links = household_links(customers, joint)
    hh = households(customers["customer_id"], links)
    current = customers.set_index("customer_id")["household_id"]
    changed = hh[
        hh["household_id"].to_numpy() != current.reindex(hh["customer_id"]).to_numpy()
    ]
    queries.replace_relationships(conn, links, changed)
