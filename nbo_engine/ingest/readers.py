"""Read CSV and Parquet input files in bounded chunks, every column as text.

Everything is read as strings so that one parser (``clean.py``) applies the
contract's rules whatever the file's physical types, and a bad value in one row
cannot make the whole file unreadable.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from nbo_engine.errors import FileFormatError
from nbo_engine.ingest.schemas import FileSchema

__all__ = ["RawChunk", "file_sha256", "find_entity_file", "read_chunks"]

SUFFIXES = (".csv", ".parquet", ".csv.gz")


@dataclass(frozen=True)
class RawChunk:
    """Rows ``first_row .. first_row + n - 1`` (1-based data rows) as strings."""

    table: pa.Table
    first_row: int
    bytes_read: int  # position in the file after this chunk (for progress)


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (identical files are not loaded twice)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def find_entity_file(directory: Path, entity: str) -> Path | None:
    """``DIR/<entity>.csv``, ``.csv.gz`` or ``.parquet`` if present."""
    for suffix in SUFFIXES:
        path = directory / f"{entity}{suffix}"
        if path.exists():
            return path
    return None


def _check_header(path: Path, schema: FileSchema, names: list[str]) -> list[str]:
    """Columns in file order; raises naming what is missing or unexpected."""
    clean = [n.strip().lower() for n in names]
    if len(set(clean)) != len(clean):
        dup = sorted({n for n in clean if clean.count(n) > 1})
        raise FileFormatError(f"{path.name}: header repeats column(s) {', '.join(dup)}")
    missing = [c for c in schema.required if c not in clean]
    unknown = [c for c in clean if c not in schema.names]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing required column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unexpected column(s) {', '.join(unknown)}")
        raise FileFormatError(
            f"{path.name}: {'; '.join(parts)}; expected columns for '{schema.entity}': "
            f"{', '.join(schema.names)} (see docs/data-contract.md)"
        )
    return clean


def _conform(table: pa.Table, schema: FileSchema, names: list[str]) -> pa.Table:
    """Contract column order, every column a string, absent optionals as nulls."""
    cols = {}
    for spec in schema.columns:
        if spec.name in names:
            col = table.column(names.index(spec.name))
            if col.type != pa.string():
                col = col.cast(pa.string())
            cols[spec.name] = col
        else:
            cols[spec.name] = pa.nulls(table.num_rows, pa.string())
    return pa.table(cols)


def read_chunks(path: Path, schema: FileSchema, chunk_rows: int) -> Iterator[RawChunk]:
    """The file in chunks of about ``chunk_rows`` rows.

    The file and its header are checked now; the rows are read as the returned
    iterator is consumed (a broken row later in the file raises then).

    Raises
    ------
    FileFormatError
        The file is missing, empty, not CSV/Parquet, or its header does not
        match the contract (the message lists what is missing or unexpected).
    """
    if not path.exists():
        raise FileFormatError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise FileFormatError(f"{path.name}: file is empty (expected a header row)")
    name = path.name.lower()
    if name.endswith(".parquet"):
        return _read_parquet(path, schema, chunk_rows)
    elif name.endswith(".csv") or name.endswith(".csv.gz"):
        return _read_csv(path, schema, chunk_rows)
    else:
        raise FileFormatError(
            f"{path.name}: unsupported file type; expected one of {', '.join(SUFFIXES)}"
        )


class _CountingFile(io.RawIOBase):
    """A read-only file that counts the bytes handed to the CSV reader."""

    def __init__(self, path: Path) -> None:
        self._f = path.open("rb")
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        n = self._f.readinto(b)
        self.count += n or 0
        return n or 0

    def close(self) -> None:
        self._f.close()
        super().close()


def _csv_stream(path: Path) -> tuple[_CountingFile, pa.NativeFile]:
    counter = _CountingFile(path)
    stream: pa.NativeFile = pa.PythonFile(counter, mode="r")
    if path.name.lower().endswith(".gz"):
        stream = pa.CompressedInputStream(stream, "gzip")
    return counter, stream


def _read_csv(path: Path, schema: FileSchema, chunk_rows: int) -> Iterator[RawChunk]:
    """Check the header now; return the generator of chunks."""
    with path.open("rb") as f:
        head = f.read(4096)
    if b"\x00" in head and not path.name.lower().endswith(".gz"):
        raise FileFormatError(f"{path.name}: not a text CSV file (binary content)")
    try:
        counter, stream = _csv_stream(path)
        header_reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(block_size=1 << 16)
        )
        names = header_reader.schema.names
        header_reader.close()
        counter.close()
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileFormatError(f"{path.name}: not a readable CSV file ({exc})") from exc
    clean = _check_header(path, schema, names)
    return _iter_csv(path, schema, names, clean, chunk_rows)


def _iter_csv(
    path: Path, schema: FileSchema, names: list[str], clean: list[str], chunk_rows: int
) -> Iterator[RawChunk]:
    convert = pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    # Roughly 100 bytes a row: a block holds about chunk_rows rows.
    read = pacsv.ReadOptions(block_size=max(1 << 20, min(chunk_rows * 100, 1 << 30)))
    counter, stream = _csv_stream(path)
    row = 1
    try:
        reader = pacsv.open_csv(stream, read_options=read, convert_options=convert)
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                break
            except pa.ArrowInvalid as exc:
                raise FileFormatError(
                    f"{path.name}: CSV parse error after data row {row - 1}: {exc}"
                ) from exc
            table = _conform(pa.Table.from_batches([batch]), schema, clean)
            yield RawChunk(table, row, counter.count)
            row += batch.num_rows
    except pa.ArrowInvalid as exc:
        raise FileFormatError(f"{path.name}: not a readable CSV file ({exc})") from exc
    finally:
        counter.close()


def _read_parquet(
    path: Path, schema: FileSchema, chunk_rows: int
) -> Iterator[RawChunk]:
    try:
        pf = pq.ParquetFile(str(path))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileFormatError(
            f"{path.name}: not a readable Parquet file ({exc})"
        ) from exc
    clean = _check_header(path, schema, pf.schema_arrow.names)
    return _iter_parquet(path, pf, schema, clean, chunk_rows)


def _iter_parquet(
    path: Path,
    pf: pq.ParquetFile,
    schema: FileSchema,
    clean: list[str],
    chunk_rows: int,
) -> Iterator[RawChunk]:
    total = max(pf.metadata.num_rows, 1)
    size = path.stat().st_size
    row = 1
    for batch in pf.iter_batches(batch_size=chunk_rows):
        table = _conform(pa.Table.from_batches([batch]), schema, clean)
        yield RawChunk(table, row, int(size * min(1.0, (row + batch.num_rows) / total)))
        row += batch.num_rows
