"""A full score refresh (features, CLV, churn, propensity, segments): time and memory.

Usage::

    python benchmarks/score_refresh.py --customers 100000
    python benchmarks/score_refresh.py --customers 1000000 --backend postgresql

Simulates a bank (two years, 2% dirt, Parquet), loads it with ``nbo ingest``
into a fresh store, then runs ``nbo score --json`` in a child process under
``/usr/bin/time`` and reports its wall time, peak resident memory, the time of
each stage and the out-of-time model metrics. The simulated files and the
loaded store are kept under ``benchmarks/out/`` and reused by later runs of the
same size (pass ``--fresh`` to rebuild). Writes
``benchmarks/out/score_refresh_<N>_<backend>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def nbo(*args: str, env: dict[str, str], timed: bool = False) -> tuple[str, int]:
    """Run ``nbo ARGS``; return stdout and (when ``timed``) peak RSS in bytes."""
    cmd = [sys.executable, "-m", "nbo_engine.cli", *args]
    if timed:
        cmd = ["/usr/bin/time", "-f", "%M", *cmd]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"nbo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    peak = int(done.stderr.strip().splitlines()[-1]) * 1024 if timed else 0
    return done.stdout, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--train-sample", type=int, default=100_000)
    ap.add_argument("--fresh", action="store_true", help="re-simulate and reload")
    args = ap.parse_args()
    work = OUT / f"score_{args.customers}"
    data = work / "data"
    env = {**os.environ, "COLUMNS": "200"}
    if args.backend == "sqlite":
        env["NBO_DATABASE_URL"] = f"sqlite:///{work / 'nbo.db'}"
    else:
        schema = f"bench_score_{args.customers}"
        env["NBO_DATABASE_URL"] = f"{PG}?options=-csearch_path%3D{schema}"
    stamp = work / f"loaded_{args.backend}"
    if args.fresh:
        shutil.rmtree(work, ignore_errors=True)
    if not (data / "customers.parquet").exists():
        t0 = time.perf_counter()
        nbo(
            "simulate",
            "--customers",
            str(args.customers),
            "--weeks",
            "104",
            "--seed",
            "7",
            "--dirt",
            "0.02",
            "--format",
            "parquet",
            "--out",
            str(data),
            env=env,
        )
        print(f"simulated in {time.perf_counter() - t0:.0f} s")
    if not stamp.exists():
        if args.backend == "postgresql":
            import psycopg

            with psycopg.connect(PG.replace("+psycopg", ""), autocommit=True) as c:
                c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
                c.execute(f'CREATE SCHEMA "{schema}"')
        else:
            for suffix in ("", "-wal", "-shm"):
                (work / f"nbo.db{suffix}").unlink(missing_ok=True)
        nbo("db", "upgrade", env=env)
        t0 = time.perf_counter()
        nbo("ingest", str(data), env=env)
        print(f"ingested in {time.perf_counter() - t0:.0f} s")
        stamp.touch()
    nbo("db", "upgrade", env=env)  # a store kept from an older version
    t0 = time.perf_counter()
    out, peak = nbo(
        "score", "--json", "--train-sample", str(args.train_sample), env=env, timed=True
    )
    wall = time.perf_counter() - t0
    report = json.loads(out)
    m = report["metrics"]
    result = {
        "customers": args.customers,
        "backend": args.backend,
        "train_sample": args.train_sample,
        "wall_seconds": round(wall, 1),
        "peak_rss_gib": round(peak / 2**30, 2),
        "scored": report["n_customers"],
        "stages": report["stages"],
        "churn": {
            "winner": m["churn"]["winner"],
            "holdout_auc": m["churn"]["holdout"]["auc"],
            "candidates": {
                c["family"]: round(c["mean_auc"], 4) for c in m["churn"]["candidates"]
            },
        },
        "propensity_auc": {p: round(v["auc"], 4) for p, v in m["propensity"].items()},
        "clv": m["clv"].get("chosen"),
        "warnings": m.get("warnings", []),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"score_refresh_{args.customers}_{args.backend}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
