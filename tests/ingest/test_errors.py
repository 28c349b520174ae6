"""Unusable files are refused with a message that says what is wrong, and
nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from nbo_engine.errors import FileFormatError
from nbo_engine.ingest import ingest_dir, ingest_file
from nbo_engine.store import Engine


def _rows(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() or 0)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"market.csv: file is empty \(expected a header row\)"),
        (
            b"week_start,policy_rate\n2024-01-01,5\n",
            r"market.csv: missing required column\(s\) unemployment_rate, "
            r"house_price_index; expected columns for 'market'",
        ),
        (
            b"week_start,policy_rate,unemployment_rate,house_price_index,colour\n",
            r"market.csv: unexpected column\(s\) colour",
        ),
        (b"week_start,week_start,policy_rate\n", r"market.csv: header repeats column"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", r"market.csv: not a text CSV"),
    ],
)
def test_bad_files_are_refused(
    engine: Engine, tmp_path: Path, content: bytes, match: str
) -> None:
    path = tmp_path / "market.csv"
    path.write_bytes(content)
    with pytest.raises(FileFormatError, match=match):
        ingest_file("market", path, engine=engine)
    assert _rows(engine, "ingest_runs") == 0
    assert _rows(engine, "market") == 0


def test_unsupported_suffix(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "market.xlsx"
    path.write_bytes(b"PK\x03\x04")
    with pytest.raises(FileFormatError, match="unsupported file type"):
        ingest_file("market", path, engine=engine)


def test_unknown_entity(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(
        KeyError, match="unknown entity 'loans'; expected one of market"
    ):
        ingest_file("loans", tmp_path / "loans.csv", engine=engine)


def test_folder_without_files(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(FileFormatError, match="no input files; expected files named"):
        ingest_dir(tmp_path, engine=engine)


def test_broken_row_later_in_the_file_rolls_the_whole_file_back(
    engine: Engine, tmp_path: Path
) -> None:
    import datetime as dt

    start = dt.date(1950, 1, 2)
    lines = ["week_start,policy_rate,unemployment_rate,house_price_index"]
    # Over 1 MB, so the broken row sits in a later block than the first.
    lines += [
        f"{start + dt.timedelta(days=i)},5.000000,4.000000,100.000000"
        for i in range(30_000)
    ]
    lines.append('2040-01-01,"5,4,100')  # unterminated quote
    path = tmp_path / "market.csv"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=r"market\.csv"):
        ingest_file("market", path, engine=engine, chunk_rows=1000)
    assert _rows(engine, "market") == 0
    assert _rows(engine, "quarantine") == 0
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status, error FROM ingest_runs")).one()
    assert status[0] == "failed"
    assert "FileFormatError" in status[1]


def test_parquet_with_typed_columns(engine: Engine, tmp_path: Path) -> None:
    import datetime as dt

    table = pa.table(
        {
            "week_start": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 8)]),
            "policy_rate": [5.25, 5.0],
            "unemployment_rate": [4.0, 4.1],
            "house_price_index": [100.0, 100.2],
        }
    )
    pq.write_table(table, tmp_path / "market.parquet")
    report = ingest_file("market", tmp_path / "market.parquet", engine=engine)
    assert (report.rows_read, report.rows_inserted, report.rows_quarantined) == (
        2,
        2,
        0,
    )
