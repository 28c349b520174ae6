"""In-process ``Decider.decide`` speed with decision logging, SQLite and PostgreSQL.

Usage::

    python benchmarks/decide_speed.py                     # both backends
    python benchmarks/decide_speed.py --backends sqlite --decisions 2000

A ``--customers`` bank is simulated, ingested and scored once per backend (the
real score job), ``policies/catalog.yaml`` is published live, and one thread
then asks for ``--n`` offers on web for distinct customers in turn (so contact
caps do not empty the answers). Each decision is one committed transaction:
customer lock, profile row, contact history, log rows. Reported: decisions/s,
latency p50/p99 (``--threads``: concurrent deciding threads in one process, as
an API worker's thread pool runs them), and, as the no-database reference in the same run, the pure
decision (``decide_core``) on the same profiles already in memory. With
``--shadow`` a second policy decides in shadow on every request.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import create_engine, text

from nbo_engine.decisioning import Decider, decide_core
from nbo_engine.decisioning.decide import decision_rng
from nbo_engine.ingest import ingest_dir
from nbo_engine.jobs.score import refresh_scores
from nbo_engine.simulate import SimConfig, simulate_bank
from nbo_engine.store import decisions as dstore
from nbo_engine.store import make_engine, migrate, read
from nbo_engine.store import scores as sstore
from nbo_engine.store.decisions import ContactHistory
from nbo_engine.store.policies import publish_policy

OUT = Path(__file__).parent / "out"
CATALOG = Path(__file__).parents[1] / "policies" / "catalog.yaml"
PG_URL = os.environ.get(
    "NBO_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = dt.datetime(2026, 4, 15, 11, tzinfo=dt.UTC)


def _store(
    backend: str, bank: Path, work: Path, shadow: bool
) -> tuple[str, str | None]:
    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{work / 'decide_bench.db'}"
    else:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    e = make_engine(url)
    migrate.upgrade(e)
    ingest_dir(bank, engine=e)
    refresh_scores(e, train_sample=2000, churn_families=("logistic", "lightgbm"))
    publish_policy(e, CATALOG.read_text(), "retail_default", activate="live")
    if shadow:
        publish_policy(e, CATALOG.read_text(), "retail_default", activate="shadow")
    return url, schema


def _run(url: str, decisions: int, n: int, threads: int) -> dict[str, Any]:
    e = make_engine(url)
    decider = Decider.load(e)
    snap = decider.snapshot_id
    assert snap is not None
    ids = list(sstore.snapshot_scores(e, snap, ["age"]).index.astype(str))
    rng = np.random.default_rng(0)
    order = [ids[i] for i in rng.permutation(len(ids))]
    order = (order * (decisions // len(order) + 1))[:decisions]
    for cid in order[:50]:  # warm up (compiled statements, pools)
        decider.decide(cid, "web", n, now=NOW - dt.timedelta(days=2))
    lat = np.empty(len(order))
    counts = np.zeros(len(order), dtype=np.int64)

    def work(lo: int) -> None:
        for i in range(lo, len(order), threads):
            t = time.perf_counter()
            r = decider.decide(order[i], "web", n, now=NOW + dt.timedelta(seconds=i))
            lat[i] = time.perf_counter() - t
            counts[i] = len(r.offers)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    seconds = time.perf_counter() - t0
    served = int(counts.sum())
    # no-database reference: the same decisions on profiles held in memory
    with read(e) as conn:
        rows = [
            dstore.read_profile(conn, snap, cid, NOW, decider.live.derived_fields)
            for cid in order[:2000]
        ]
    empty = ContactHistory.empty()
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        assert row is not None
        decide_core(
            decider.live,
            row,
            empty,
            channel="web",
            n=n,
            now=NOW,
            rng=decision_rng(f"{i:032x}"),
        )
    core_rate = len(rows) / (time.perf_counter() - t0)
    logged = dstore.count_decisions(e, mode="live")
    return {
        "decisions": len(order),
        "decisions_per_s": len(order) / seconds,
        "p50_ms": float(np.percentile(lat, 50) * 1e3),
        "p99_ms": float(np.percentile(lat, 99) * 1e3),
        "offers_per_decision": served / len(order),
        "core_only_per_s": core_rate,
        "logged_live_rows": logged,
        "shadow": decider.shadow is not None,
        "threads": threads,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backends", default="sqlite,postgresql")
    ap.add_argument("--customers", type=int, default=3000)
    ap.add_argument("--decisions", type=int, default=5000)
    ap.add_argument("--n", type=int, default=3)
    ap.add_argument("--shadow", action="store_true")
    ap.add_argument(
        "--threads",
        default="1,8",
        help="comma list: concurrent deciding threads in one process",
    )
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="decide_bench_"))
    bank = work / "bank"
    simulate_bank(SimConfig(customers=args.customers, weeks=78, seed=1, dirt=0.0), bank)
    results: dict[str, Any] = {}
    for backend in args.backends.split(","):
        url, schema = _store(backend, bank, work, args.shadow)
        try:
            for th in (int(t) for t in args.threads.split(",")):
                results[f"{backend} x{th}"] = _run(url, args.decisions, args.n, th)
        finally:
            if schema is not None:
                from nbo_engine.store.engine import dispose_all

                dispose_all()
                admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    print(
        f"{'backend x threads':<19}{'decisions/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'offers':>8}{'core-only/s':>13}"
    )
    for backend, r in results.items():
        print(
            f"{backend:<19}{r['decisions_per_s']:>12.0f}{r['p50_ms']:>9.2f}"
            f"{r['p99_ms']:>9.2f}{r['offers_per_decision']:>8.2f}"
            f"{r['core_only_per_s']:>13.0f}"
        )
    OUT.mkdir(exist_ok=True)
    out = OUT / "decide_speed.json"
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
