"""Run every benchmark at the sizes quoted in ``docs/benchmarks.md``.

Usage::

    python benchmarks/run_all.py              # everything (about an hour on 2 cores)
    python benchmarks/run_all.py --only clv   # benchmarks whose name contains "clv"
    python benchmarks/run_all.py --list

Each benchmark runs in its own process, one after another (timings on a shared
machine are only comparable when nothing else runs); each writes its JSON under
``benchmarks/out/``. A failing benchmark is reported and the others still run;
the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: (script, arguments) in the order of docs/benchmarks.md.
RUNS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("simulate_speed.py", ("--customers", "100000")),
    ("simulate_speed.py", ("--customers", "1000000")),
    ("ingest_throughput.py", ("--rows", "5000000", "--backends", "sqlite,postgresql")),
    ("ingest_quality.py", ("--customers", "100000")),
    ("features_vs_featuretools.py", ("--customers", "20000")),
    ("clv_fit_speed.py", ("--customers", "1000000")),
    ("clv_accuracy.py", ("--customers", "50000")),
    ("segments_speed.py", ("--customers", "1000000")),
    ("segments_quality.py", ("--customers", "20000")),
    ("score_refresh.py", ("--customers", "100000")),
    ("experiments_assignment.py", ()),
    ("experiments_readout.py", ()),
    ("experiments_sequential.py", ()),
    ("uplift_scale.py", ()),
    ("ope_accuracy.py", ()),
    ("bandit_quality.py", ()),
    ("bandit_drift.py", ()),
    ("bandit_speed.py", ()),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--only", default="", help="run benchmarks whose name contains this"
    )
    ap.add_argument("--list", action="store_true", help="list the runs and exit")
    args = ap.parse_args()
    runs = [(s, a) for s, a in RUNS if args.only in s]
    if args.list or not runs:
        for script, argv in runs or RUNS:
            print(f"python benchmarks/{script} {' '.join(argv)}".rstrip())
        sys.exit(0 if runs or args.list else f"no benchmark matches {args.only!r}")
    failed = []
    for script, argv in runs:
        line = f"python benchmarks/{script} {' '.join(argv)}".rstrip()
        print(f"\n=== {line}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(HERE / script), *argv])
        print(f"=== {script}: exit {code} after {time.perf_counter() - t0:.0f} s")
        if code != 0:
            failed.append(line)
    if failed:
        sys.exit("failed:\n" + "\n".join(failed))


if __name__ == "__main__":
    main()
