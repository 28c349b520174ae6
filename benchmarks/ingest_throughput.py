"""Ingest throughput of transactions vs the raw loaders, in the same run.

For each backend, the same clean transactions file (from the simulator, no dirt)
is loaded into the same indexed table with foreign keys, twice from the same
starting state (customers and accounts already loaded):

- raw:  PostgreSQL ``psql \\copy`` / the ``sqlite3`` shell's ``.import``;
- ours: ``nbo ingest --entity transactions FILE`` (parsing, validation,
  normalisation, de-duplication, reference checks, anomaly flags, upsert and
  bookkeeping included), run as a separate process whose peak RSS is recorded.

Usage::

    python benchmarks/ingest_throughput.py --rows 5000000
    python benchmarks/ingest_throughput.py --rows 20000000 --backends postgresql

Prints a table and writes JSON to ``benchmarks/out/ingest_<rows>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PG_BASE = os.environ.get(
    "NBO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TX_PER_CUSTOMER = 28.0  # simulated transactions per customer over two years
COLUMNS = [
    "transaction_id",
    "account_id",
    "customer_id",
    "timestamp",
    "amount",
    "currency",
    "category",
    "channel",
    "is_anomalous",
]


def nbo(args: list[str], url: str) -> tuple[float, int]:
    """Run ``nbo ARGS``; return wall seconds and the child's peak RSS (bytes)."""
    env = {**os.environ, "NBO_DATABASE_URL": url}
    t0 = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "nbo_engine.cli", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - t0
    peak_kib = int(done.stderr.strip().splitlines()[-1])
    return seconds, peak_kib * 1024


def make_data(rows: int, work: Path) -> Path:
    """A clean bank with at least ``rows`` transactions; files cut to ``rows``."""
    data = work / f"bank_{rows}"
    if (data / "transactions.csv").exists():
        return data
    customers = math.ceil(rows / TX_PER_CUSTOMER * 1.1)
    raw = work / f"sim_{customers}"
    if not (raw / "transactions.csv").exists():
        print(f"simulating {customers:,} customers ...", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nbo_engine.cli",
                "simulate",
                "--customers",
                str(customers),
                "--dirt",
                "0",
                "--seed",
                "1",
                "--out",
                str(raw),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    data.mkdir(parents=True, exist_ok=True)
    for name in ("customers", "accounts"):
        shutil.copy(raw / f"{name}.csv", data / f"{name}.csv")
    with (
        (raw / "transactions.csv").open("rb") as src,
        (data / "transactions.csv").open("wb") as dst,
    ):
        for i, line in enumerate(src):
            if i > rows:
                break
            dst.write(line)
    n = sum(1 for _ in (data / "transactions.csv").open("rb")) - 1
    if n < rows:
        raise SystemExit(f"only {n:,} transactions simulated; raise TX_PER_CUSTOMER")
    # The raw loaders get the table's exact columns, pre-formatted.
    table = pacsv.read_csv(
        data / "transactions.csv",
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in COLUMNS[:-1]}
        ),
    )
    table = table.append_column("is_anomalous", pa.array(["0"] * table.num_rows))
    pacsv.write_csv(
        table,
        data / "transactions_raw_sqlite.csv",
        pacsv.WriteOptions(include_header=False),
    )
    table = table.set_column(8, "is_anomalous", pa.array(["false"] * table.num_rows))
    pacsv.write_csv(
        table, data / "transactions_raw_pg.csv", pacsv.WriteOptions(include_header=True)
    )
    return data


def bench_sqlite(
    data: Path, work: Path, rows: int, ours_only: bool = False
) -> dict[str, float]:
    base = work / "sqlite_base.db"
    for f in work.glob("sqlite_*.db*"):
        f.unlink()
    url = f"sqlite:///{base}"
    nbo(["db", "upgrade"], url)
    for name in ("customers", "accounts"):
        nbo(["ingest", "--entity", name, str(data / f"{name}.csv")], url)
    raw_db, our_db = work / "sqlite_raw.db", work / "sqlite_ours.db"
    shutil.copy(base, raw_db)
    shutil.copy(base, our_db)
    script = (
        f"PRAGMA foreign_keys=ON;\nPRAGMA journal_mode=WAL;\n"
        f".import --csv {data / 'transactions_raw_sqlite.csv'} transactions\n"
    )
    t0 = time.perf_counter()
    if not ours_only:
        subprocess.run(
            ["sqlite3", str(raw_db)],
            input=script.encode(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    raw = time.perf_counter() - t0
    ours, peak = nbo(
        ["ingest", "--entity", "transactions", str(data / "transactions.csv")],
        f"sqlite:///{our_db}",
    )
    with create_engine(f"sqlite:///{our_db}").connect() as c:
        loaded = c.execute(text("SELECT count(*) FROM transactions")).scalar()
    with create_engine(f"sqlite:///{raw_db}").connect() as c:
        raw_loaded = (
            rows
            if ours_only
            else c.execute(text("SELECT count(*) FROM transactions")).scalar()
        )
    assert loaded == raw_loaded == rows, (loaded, raw_loaded, rows)
    return {"raw_seconds": raw, "ours_seconds": ours, "ours_peak_rss": peak}


def bench_postgres(data: Path, rows: int, ours_only: bool = False) -> dict[str, float]:
    schema = "bench_ingest"
    admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        c.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{PG_BASE}?options=-csearch_path%3D{schema}"
    nbo(["db", "upgrade"], url)
    for name in ("customers", "accounts"):
        nbo(["ingest", "--entity", name, str(data / f"{name}.csv")], url)
    dsn = PG_BASE.replace("postgresql+psycopg://", "postgresql://")
    copy = (
        f"\\copy {schema}.transactions ({', '.join(COLUMNS)}) FROM "
        f"'{data / 'transactions_raw_pg.csv'}' WITH (FORMAT csv, HEADER true)"
    )
    with admin.connect() as c:
        c.execute(text("CHECKPOINT"))
    t0 = time.perf_counter()
    if not ours_only:
        subprocess.run(["psql", dsn, "-q", "-c", copy], check=True)
    raw = time.perf_counter() - t0
    with admin.connect() as c:
        raw_loaded = (
            rows
            if ours_only
            else c.execute(text(f"SELECT count(*) FROM {schema}.transactions")).scalar()
        )
        c.execute(text(f"TRUNCATE {schema}.transactions"))
        c.execute(text("CHECKPOINT"))
    ours, peak = nbo(
        ["ingest", "--entity", "transactions", str(data / "transactions.csv")], url
    )
    with admin.connect() as c:
        loaded = c.execute(text(f"SELECT count(*) FROM {schema}.transactions")).scalar()
        c.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    assert loaded == raw_loaded == rows, (loaded, raw_loaded, rows)
    return {"raw_seconds": raw, "ours_seconds": ours, "ours_peak_rss": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--work", type=Path, default=OUT / "ingest_work")
    ap.add_argument(
        "--ours-only",
        action="store_true",
        help="skip the raw loaders (peak-memory runs at 20M rows)",
    )
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = make_data(args.rows, args.work)
    results = {}
    for backend in args.backends.split(","):
        print(f"{backend}: loading {args.rows:,} transactions ...", flush=True)
        r = (
            bench_sqlite(data, args.work, args.rows, args.ours_only)
            if backend == "sqlite"
            else bench_postgres(data, args.rows, args.ours_only)
        )
        r["ours_rows_per_s"] = args.rows / r["ours_seconds"]
        ratio = ""
        if not args.ours_only:
            r["raw_rows_per_s"] = args.rows / max(r["raw_seconds"], 1e-9)
            r["ratio"] = r["ours_rows_per_s"] / r["raw_rows_per_s"]
            ratio = f"ratio {r['ratio']:.2f}, "
            print(
                f"  raw  {r['raw_rows_per_s']:>12,.0f} rows/s "
                f"({r['raw_seconds']:.1f} s)"
            )
        results[backend] = r
        print(
            f"  ours {r['ours_rows_per_s']:>12,.0f} rows/s ({r['ours_seconds']:.1f} s), "
            f"{ratio}peak RSS {r['ours_peak_rss'] / 2**30:.2f} GiB",
            flush=True,
        )
    OUT.mkdir(exist_ok=True)
    (OUT / f"ingest_{args.rows}.json").write_text(
        json.dumps({"rows": args.rows, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
