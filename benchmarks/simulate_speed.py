"""Simulator speed and peak memory at a given size.

Usage::

    python benchmarks/simulate_speed.py --customers 100000
    python benchmarks/simulate_speed.py --customers 1000000

Runs ``nbo simulate`` (two years, 2% dirt, CSV) in a child process and reports
wall time, peak resident memory and rows written.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--format", default="csv")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    args = ap.parse_args()
    out = OUT / f"simulate_{args.customers}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    done = subprocess.run(
        [
            "/usr/bin/time",
            "-f",
            "%M",
            sys.executable,
            "-m",
            "nbo_engine.cli",
            "simulate",
            "--customers",
            str(args.customers),
            "--weeks",
            str(args.weeks),
            "--format",
            args.format,
            "--out",
            str(out),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - t0
    peak = int(done.stderr.strip().splitlines()[-1]) * 1024
    rows = 0
    size = 0
    for p in out.glob(f"*.{args.format}"):
        size += p.stat().st_size
        if args.format == "csv":
            rows += sum(1 for _ in p.open("rb")) - 1
    print(
        f"{args.customers:,} customers, {args.weeks} weeks: {seconds:.1f} s, "
        f"peak RSS {peak / 2**30:.2f} GiB, {rows:,} rows, {size / 2**30:.2f} GiB"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / f"simulate_{args.customers}.json").write_text(
        json.dumps(
            {
                "customers": args.customers,
                "weeks": args.weeks,
                "seconds": seconds,
                "peak_rss": peak,
                "rows": rows,
                "bytes": size,
            },
            indent=2,
        )
    )
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
