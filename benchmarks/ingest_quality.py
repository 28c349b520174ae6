"""Ingest accuracy against the simulator's truth.

Simulates a bank with dirt, loads it with ``nbo ingest``, and reports:

- dirt catch: the share of the manifest's spoiled rows quarantined or repaired
  with the reason the manifest expects (per kind and overall; target >= 99%);
- clean rows lost: rows a correct ingest stores that are missing (target 0);
- entity resolution precision and recall (targets >= 0.98 and >= 0.95);
- household grouping precision and recall.

Usage::

    python benchmarks/ingest_quality.py --customers 100000 --dirt 0.02
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text

from nbo_engine.simulate.scorecard import (
    dirt_catch,
    expected_loaded,
    household_scores,
    pair_scores,
)
from nbo_engine.store import make_engine, queries

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PG_BASE = os.environ.get(
    "NBO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def run(args: list[str], url: str) -> None:
    env = {**os.environ, "NBO_DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "nbo_engine.cli", *args],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--dirt", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    work = OUT / f"quality_{args.customers}_{args.dirt}_{args.seed}"
    data = work / "bank"
    if not (data / "truth" / "dirt.csv").exists():
        print(f"simulating {args.customers:,} customers ...", flush=True)
        run(
            [
                "simulate",
                "--customers",
                str(args.customers),
                "--dirt",
                str(args.dirt),
                "--seed",
                str(args.seed),
                "--out",
                str(data),
            ],
            "sqlite://",
        )
    if args.backend == "sqlite":
        db = work / "nbo.db"
        for f in work.glob("nbo.db*"):
            f.unlink()
        url = f"sqlite:///{db}"
    else:
        admin = create_engine(PG_BASE, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text("DROP SCHEMA IF EXISTS bench_quality CASCADE"))
            c.execute(text("CREATE SCHEMA bench_quality"))
        url = f"{PG_BASE}?options=-csearch_path%3Dbench_quality"
    run(["db", "upgrade"], url)
    t0 = time.perf_counter()
    run(["ingest", str(data)], url)
    seconds = time.perf_counter() - t0
    engine = make_engine(url)

    manifest = pd.read_csv(data / "truth" / "dirt.csv")
    caught = dirt_catch(
        manifest, queries.quarantine_frame(engine), queries.repairs_frame(engine)
    )
    rows = {p.stem: sum(1 for _ in p.open("rb")) - 1 for p in data.glob("*.csv")}
    expected = expected_loaded(manifest, rows)
    stored = queries.table_counts(engine)
    lost = {e: expected[e] - stored[e] for e in expected}
    aliases = pd.read_sql(
        text("SELECT alias_id, customer_id FROM customer_aliases"), engine
    )
    er = pair_scores(pd.read_csv(data / "truth" / "duplicates.csv"), aliases)
    truth = pd.read_parquet(
        data / "truth" / "customers.parquet", columns=["customer_id", "household_id"]
    )
    predicted = queries.read_table(
        engine, "customers", columns=["customer_id", "household_id"]
    )
    hh = household_scores(truth, predicted)

    by_kind = caught.groupby("kind")[["spoiled", "caught"]].sum()
    by_kind["share"] = by_kind["caught"] / by_kind["spoiled"]
    overall = caught["caught"].sum() / caught["spoiled"].sum()
    print(by_kind.to_string())
    print(
        f"dirt catch overall: {overall:.4f} of {caught['spoiled'].sum():,} spoiled rows"
    )
    print(f"clean rows lost: {sum(lost.values())} {lost}")
    print(
        f"entity resolution: precision {er.precision:.4f} recall {er.recall:.4f} "
        f"({er.true_pairs} true pairs)"
    )
    print(
        f"households: precision {hh.precision:.4f} recall {hh.recall:.4f} "
        f"({hh.true_pairs:,} true pairs)"
    )
    print(f"ingest of {sum(rows.values()):,} rows: {seconds:.1f} s")
    (OUT / f"quality_{args.customers}_{args.backend}.json").write_text(
        json.dumps(
            {
                "customers": args.customers,
                "dirt": args.dirt,
                "backend": args.backend,
                "dirt_catch": overall,
                "spoiled_rows": int(caught["spoiled"].sum()),
                "by_kind": by_kind.reset_index().to_dict("records"),
                "clean_rows_lost": lost,
                "er_precision": er.precision,
                "er_recall": er.recall,
                "er_pairs": er.true_pairs,
                "household_precision": hh.precision,
                "household_recall": hh.recall,
                "ingest_seconds": seconds,
                "rows": sum(rows.values()),
            },
            indent=2,
            default=float,
        )
    )


if __name__ == "__main__":
    main()
