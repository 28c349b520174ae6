"""Wall time and peak memory of each scheduled job, and of the closed loop.

Usage::

    python benchmarks/jobs_speed.py --customers 100000
    python benchmarks/jobs_speed.py --customers 20000 --weeks 2

Builds (or reuses, under ``benchmarks/out/jobs_<N>/``) a simulated bank,
ingested and scored (the real ``nbo`` commands), with the example catalogue
live and a 5% global holdout running; runs ``nbo simulate loop`` for
``--weeks`` weeks (jobs on, as the demo does) to fill the decision log, the
events and the accounts fed back; then runs each job by hand for the week after
(``nbo jobs run NAME --as-of ... --force``) in its own process under
``/usr/bin/time``, so each peak resident memory is that job's alone. Writes
``benchmarks/out/jobs_speed_<N>.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
JOBS = ("fold_rewards", "monitor", "weekly", "refresh_scores")


def nbo(*args: str, env: dict[str, str]) -> tuple[str, float, int]:
    """Run ``nbo ARGS``: stdout, wall seconds, peak RSS in bytes."""
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "nbo_engine.cli", *args]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        sys.exit(f"nbo {' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    peak = int(done.stderr.strip().splitlines()[-1]) * 1024
    return done.stdout, seconds, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--weeks", type=int, default=2)
    ap.add_argument("--requests-per-week", type=int, default=5000)
    ap.add_argument("--fresh", action="store_true", help="rebuild the scored store")
    args = ap.parse_args()
    work = OUT / f"jobs_{args.customers}"
    data = work / "data"
    env = {**os.environ, "COLUMNS": "200"}
    env["NBO_DATABASE_URL"] = f"sqlite:///{work / 'nbo.db'}"
    env["NBO_REPORTS_DIR"] = str(work / "reports")
    base = work / "scored.db"
    rows: list[dict[str, object]] = []

    def step(name: str, *cmd: str) -> str:
        out, seconds, peak = nbo(*cmd, env=env)
        rows.append(
            {
                "step": name,
                "seconds": round(seconds, 1),
                "peak_gib": round(peak / 2**30, 2),
            }
        )
        print(f"{name:<28} {seconds:8.1f} s {peak / 2**30:7.2f} GiB", flush=True)
        return out

    if args.fresh or not base.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        step(
            "simulate",
            "simulate",
            "--customers",
            str(args.customers),
            "--seed",
            "7",
            "--dirt",
            "0",
            "--format",
            "parquet",
            "--out",
            str(data),
        )
        step("db upgrade", "db", "upgrade")
        step("ingest", "ingest", str(data))
        step("score", "score", "--json")
        shutil.copy(work / "nbo.db", base)
    else:
        for suffix in ("", "-wal", "-shm"):
            (work / f"nbo.db{suffix}").unlink(missing_ok=True)
        shutil.copy(base, work / "nbo.db")
        step("db upgrade", "db", "upgrade")
    step(
        "policy publish",
        "policy",
        "publish",
        str(ROOT / "policies" / "catalog.yaml"),
        "--activate",
    )
    holdout = ROOT / "policies" / "experiments" / "global_holdout.yaml"
    created = step("global holdout", "experiment", "create", str(holdout))
    name = created.split("'")[1]  # created experiment 'NAME' (holdout): draft...
    step("global holdout start", "experiment", "start", name)
    out = step(
        f"loop {args.weeks} weeks",
        "simulate",
        "loop",
        "--bank",
        str(data),
        "--weeks",
        str(args.weeks),
        "--requests-per-week",
        str(args.requests_per_week),
        "--json",
        "--reports",
        str(work / "reports"),
    )
    weeks = json.loads(out[out.index("{") :])["weeks"]
    last = dt.date.fromisoformat(weeks[-1]["start"])
    as_of = (last + dt.timedelta(days=7, hours=0)).isoformat()
    for job in JOBS:
        step(f"job {job}", "jobs", "run", job, "--as-of", f"{as_of}T06:00", "--force")
    path = OUT / f"jobs_speed_{args.customers}.json"
    path.write_text(json.dumps({"customers": args.customers, "steps": rows}, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
