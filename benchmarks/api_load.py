"""Offer API under load: `nbo serve --workers 2` on loopback, SQLite and PostgreSQL.

For each backend: simulate and score a bank, publish ``policies/catalog.yaml``
live, start the real server (2 uvicorn workers) in a subprocess, then drive it
from other processes:

1. maximum throughput with ``wrk`` (closed loop, fixed connections): ``/health``
   and ``POST /v1/offers`` for random known customers (Lua script);
2. latency at a fixed offered rate (default 1,000 req/s) with an open-loop
   generator (a second process, asyncio + uvloop over raw keep-alive HTTP/1.1
   connections): requests are *scheduled* at exact times and latency is
   measured from the scheduled time, so a stalled server cannot hide its queue
   (no coordinated omission). wrk2 is not in Debian and ``hey -q`` sends one
   fixed body; raw sockets rather than httpx keep the generator's own CPU small
   on a 2-core machine shared with the server.

Every figure for /v1/offers is also given as a ratio to /health in the same
run. Errors (non-2xx, socket errors) are counted, and the decision log is
checked after the run: every 200 answer must have its row (a closed-loop tool
stops with up to ``connections`` requests in flight, so for wrk the log may
hold up to that many more rows than answers counted, never fewer).

Usage::

    python benchmarks/api_load.py [--customers 3000] [--duration 10] [--rate 1000]
        [--backends sqlite,postgresql]

Targets (issue 5): >= 2,000 decisions/s with PostgreSQL logging, p99 < 25 ms
at 1,000 req/s, no error, no lost log row.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
PG_URL = os.environ.get(
    "NBO_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SERVE = "import nbo_engine.cli.serve; from nbo_engine.cli import app; app()"


# ------------------------------------------------------------------ store


def build_store(url: str, bank: Path) -> tuple[list[str], str]:
    """Ingest, score, publish the catalogue live; returns customer ids and a key."""
    from nbo_engine.ingest import ingest_dir
    from nbo_engine.jobs.score import refresh_scores
    from nbo_engine.store import make_engine, migrate
    from nbo_engine.store import scores as score_store
    from nbo_engine.store.apikeys import create_key
    from nbo_engine.store.policies import publish_policy

    engine = make_engine(url)
    migrate.upgrade(engine)
    ingest_dir(bank, engine=engine)
    refresh_scores(engine, train_sample=2000, churn_families=("logistic",))
    publish_policy(
        engine,
        (ROOT / "policies" / "catalog.yaml").read_text(),
        "retail_default",
        activate="live",
    )
    snap = score_store.latest_snapshot(engine)
    assert snap is not None
    ids = list(map(str, score_store.snapshot_scores(engine, int(snap["id"]), []).index))
    _, key = create_key(engine, role="channel", name="bench", rate_per_minute=10**9)
    return ids, key


def live_decisions(url: str) -> int:
    from nbo_engine.store import make_engine
    from nbo_engine.store.decisions import count_decisions

    return count_decisions(make_engine(url), mode="live")


# ------------------------------------------------------------------ server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "NBO_DATABASE_URL": url}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVE,
                "serve",
                "--port",
                str(port),
                "--workers",
                "2",
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 60
    while True:
        try:
            if (
                httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code
                == 200
            ):
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not become ready:\n{log.read_text()}")
        time.sleep(0.2)


# ------------------------------------------------------------------ wrk


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    url: str, seconds: int, connections: int, script: Path | None
) -> dict[str, Any]:
    cmd = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    pct = {
        p: _ms(v, u)
        for p, v, u in re.findall(r"\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\b", out)
    }
    return {
        "rps": rps,
        "requests": total,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
        "p50_ms": pct.get("50"),
        "p99_ms": pct.get("99"),
        "raw": out,
    }


def wrk_script(path: Path, key: str, ids: list[str]) -> Path:
    table = ",".join(f'"{i}"' for i in ids)
    path.write_text(
        f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-API-Key"] = "{key}"
local ids = {{{table}}}
math.randomseed(os.time() + tonumber(tostring({{}}):sub(8), 16))
request = function()
  local id = ids[math.random(#ids)]
  return wrk.format(nil, "/v1/offers", nil,
    '{{"customer_id":"' .. id .. '","channel":"web","n":2}}')
end
"""
    )
    return path


# ------------------------------------------------------------------ open loop


async def _open_loop(
    port: int,
    path: str,
    bodies: list[bytes] | None,
    key: str,
    rate: float,
    seconds: float,
    connections: int,
) -> dict[str, Any]:
    n = int(rate * seconds)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    lat = np.full(n, np.nan)
    done = np.zeros(n)
    status = np.zeros(n, dtype=np.int32)
    method = "POST" if bodies is not None else "GET"

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while True:
            job = await queue.get()
            if job is None:
                writer.close()
                return
            i, scheduled = job
            body = bodies[i % len(bodies)] if bodies is not None else b""
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            try:
                writer.write(head + body)
                line = await reader.readline()
                length = 0
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b""):
                        break
                    name, _, value = h.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                status[i] = int(line.split()[1])
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                status[i] = -1
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            done[i] = time.perf_counter()
            lat[i] = (done[i] - scheduled) * 1000.0

    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    await asyncio.sleep(0.2)
    t0 = time.perf_counter() + 0.05
    for i in range(n):
        at = t0 + i / rate
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, at))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    ok = status == 200
    return {
        "offered_rps": rate,
        "achieved_rps": float(n / (done.max() - t0)) if n else 0.0,
        "requests": n,
        "ok": int(ok.sum()),
        "errors": int((~ok).sum()),
        "p50_ms": float(np.nanpercentile(lat, 50)),
        "p99_ms": float(np.nanpercentile(lat, 99)),
        "max_ms": float(np.nanmax(lat)),
    }


def loadgen_main(args: argparse.Namespace) -> None:
    """Entry of the generator subprocess: prints one JSON line."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    bodies = None
    if args.ids_file:
        ids = Path(args.ids_file).read_text().split()
        rng = random.Random(7)
        bodies = [
            json.dumps(
                {"customer_id": rng.choice(ids), "channel": "web", "n": 2}
            ).encode()
            for _ in range(int(args.rate * args.duration))
        ]
    result = asyncio.run(
        _open_loop(args.port, args.path, bodies, args.key, args.rate, args.duration, 64)
    )
    print(json.dumps(result))


def run_open_loop(
    port: int, path: str, key: str, rate: float, seconds: float, ids_file: Path | None
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--loadgen", "--port", str(port), "--path", path]
    cmd += ["--key", key, "--rate", str(rate), "--duration", str(seconds)]
    if ids_file is not None:
        cmd += ["--ids-file", str(ids_file)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


# ------------------------------------------------------------------ events


def event_bodies(url: str, path: Path, resend: float = 0.5, seed: int = 7) -> list[str]:
    """``POST /v1/events`` bodies, one event each, one per line of ``path``.

    For every live decision's first offer an impression one minute after it,
    and for one in five an accept five minutes after; then a share ``resend``
    of these events again (same event id), all shuffled together, as a
    client that retries would send them.
    """
    from nbo_engine.store import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.decision_id, o.offer_id, d.ts FROM decisions d "
                "JOIN decision_offers o ON o.decision_id = d.decision_id "
                "WHERE d.mode = 'live' AND o.rank = 1 ORDER BY d.decision_id"
            )
        ).all()
    rng = random.Random(seed)
    events: list[str] = []
    for decision_id, offer_id, ts in rows:
        ts = ts if isinstance(ts, dt.datetime) else dt.datetime.fromisoformat(ts)
        kinds = [("impression", 1)] + ([("accept", 5)] if rng.random() < 0.2 else [])
        for kind, minutes in kinds:
            events.append(
                json.dumps(
                    {
                        "events": [
                            {
                                "event_id": f"{decision_id}-{kind}",
                                "decision_id": decision_id,
                                "offer_id": offer_id,
                                "type": kind,
                                "ts": (ts + dt.timedelta(minutes=minutes)).isoformat(),
                            }
                        ]
                    }
                )
            )
    bodies = events + rng.sample(events, int(resend * len(events)))
    rng.shuffle(bodies)
    path.write_text("\n".join(bodies) + "\n")
    return bodies


def events_script(path: Path, key: str, bodies_file: Path) -> Path:
    path.write_text(
        f"""
local bodies = {{}}
for line in io.lines("{bodies_file}") do bodies[#bodies + 1] = line end
local i = 0
request = function()
  i = i % #bodies + 1
  return wrk.format("POST", "/v1/events",
    {{["Content-Type"] = "application/json", ["X-API-Key"] = "{key}"}}, bodies[i])
end
"""
    )
    return path


def stored_events(url: str) -> int:
    from nbo_engine.store import make_engine

    with make_engine(url).connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM offer_events")).scalar_one())


def check_events(
    url: str, bodies: list[str], sent: int, in_flight: int
) -> dict[str, Any]:
    """Every event sent stored once, and every accept folded into the bandit
    once: a fold of the closed windows, then a second fold a day later."""
    from nbo_engine.jobs.fold_rewards import fold_rewards
    from nbo_engine.store import make_engine

    def unique(n: int) -> int:
        return len({json.loads(b)["events"][0]["event_id"] for b in bodies[:n]})

    def accepts(n: int) -> int:
        return len(
            {
                json.loads(b)["events"][0]["decision_id"]
                for b in bodies[:n]
                if '"accept"' in b
            }
        )

    lo, hi = unique(min(sent, len(bodies))), unique(min(sent + in_flight, len(bodies)))
    stored = stored_events(url)
    engine = make_engine(url)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=40)
    first = fold_rewards(engine, now=later, window_days=30)
    again = fold_rewards(engine, now=later + dt.timedelta(days=1), window_days=30)
    positive = sum(r.positive for r in first)
    a_lo, a_hi = (
        accepts(min(sent, len(bodies))),
        accepts(min(sent + in_flight, len(bodies))),
    )
    double = max(0, positive - a_hi) + sum(r.positive for r in again)
    return {
        "stored": stored,
        "expected_stored": [lo, hi],
        "stored_ok": lo <= stored <= hi,
        "rewards_folded": positive,
        "expected_rewards": [a_lo, a_hi],
        "double_counted": double,
    }


# ------------------------------------------------------------------ main


def bench_backend(
    name: str, url: str, bank: Path, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    t = time.perf_counter()
    ids, key = build_store(url, bank)
    print(
        f"[{name}] store built in {time.perf_counter() - t:.0f} s ({len(ids)} customers)"
    )
    ids_file = work / f"ids_{name}.txt"
    ids_file.write_text("\n".join(ids))
    script = wrk_script(work / f"offers_{name}.lua", key, ids)
    port = free_port()
    proc = start_server(url, port, work / f"serve_{name}.log")
    base = f"http://127.0.0.1:{port}"
    res: dict[str, Any] = {"backend": name, "customers": len(ids)}
    try:
        before = live_decisions(url)
        res["wrk_health"] = run_wrk(
            f"{base}/health", args.duration, args.connections, None
        )
        res["wrk_offers"] = run_wrk(
            f"{base}/v1/offers", args.duration, args.connections, script
        )
        res["fixed_health"] = run_open_loop(
            port, "/health", key, args.rate, args.duration, None
        )
        res["fixed_offers"] = run_open_loop(
            port, "/v1/offers", key, args.rate, args.duration, ids_file
        )
        bodies_file = work / f"events_{name}.jsonl"
        bodies = event_bodies(url, bodies_file)
        res["wrk_events"] = run_wrk(
            f"{base}/v1/events",
            args.duration,
            args.connections,
            events_script(work / f"events_{name}.lua", key, bodies_file),
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    we = res["wrk_events"]
    res["events"] = check_events(url, bodies, we["requests"], args.connections)
    res["events"]["resent_share"] = 1 - len(
        {json.loads(b)["events"][0]["event_id"] for b in bodies}
    ) / len(bodies)
    logged = live_decisions(url) - before
    w, f = res["wrk_offers"], res["fixed_offers"]
    answered = (w["requests"] - w["non_2xx"]) + f["ok"]
    res["log"] = {
        "answered_200": answered,
        "logged_rows": logged,
        "lost": max(0, answered - logged),
        "extra_in_flight": max(0, logged - answered),
        "ok": answered <= logged <= answered + args.connections,
    }
    for k in ("wrk_health", "wrk_offers", "wrk_events"):
        res[k].pop("raw")
    return res


def pg_schema() -> tuple[str, str]:
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    return schema, f"{PG_URL}?options=-csearch_path%3D{schema}"


def drop_schema(schema: str) -> None:
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def table(results: list[dict[str, Any]], rate: float) -> str:
    lines = [
        "| backend | /health max req/s | /v1/offers max decisions/s | ratio | "
        f"/health p50/p99 at {rate:.0f}/s (ms) | /v1/offers p50/p99 at {rate:.0f}/s (ms) "
        "| p99 ratio | errors | log rows (answered / logged) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        wh, wo, fh, fo = (
            r["wrk_health"],
            r["wrk_offers"],
            r["fixed_health"],
            r["fixed_offers"],
        )
        errors = (
            wh["non_2xx"] + wh["socket_errors"] + wo["non_2xx"] + wo["socket_errors"]
        )
        errors += fh["errors"] + fo["errors"]
        lines.append(
            f"| {r['backend']} | {wh['rps']:,.0f} | {wo['rps']:,.0f} | "
            f"{wo['rps'] / wh['rps']:.2f} | {fh['p50_ms']:.1f} / {fh['p99_ms']:.1f} | "
            f"{fo['p50_ms']:.1f} / {fo['p99_ms']:.1f} | "
            f"{fo['p99_ms'] / fh['p99_ms']:.1f} | {errors} | "
            f"{r['log']['answered_200']:,} / {r['log']['logged_rows']:,} |"
        )
    lines += [
        "",
        "| backend | POST /v1/events max events/s (one per request) | p50/p99 (ms) "
        "| resent share | stored / expected unique | rewards folded / expected "
        "| double-counted rewards | errors |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        we, ev = r["wrk_events"], r["events"]
        lo, hi = ev["expected_stored"]
        alo, ahi = ev["expected_rewards"]
        lines.append(
            f"| {r['backend']} | {we['rps']:,.0f} | {we['p50_ms']:.1f} / "
            f"{we['p99_ms']:.1f} | {ev['resent_share']:.2f} | {ev['stored']:,} / "
            f"{lo:,}-{hi:,} | {ev['rewards_folded']:,} / {alo:,}-{ahi:,} | "
            f"{ev['double_counted']} | {we['non_2xx'] + we['socket_errors']} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--customers", type=int, default=3000)
    p.add_argument("--duration", type=int, default=10, help="seconds per phase")
    p.add_argument("--rate", type=float, default=1000.0, help="fixed offered req/s")
    p.add_argument("--connections", type=int, default=32, help="wrk connections")
    p.add_argument("--backends", default="sqlite,postgresql")
    # generator subprocess mode
    p.add_argument("--loadgen", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--path", help=argparse.SUPPRESS)
    p.add_argument("--key", help=argparse.SUPPRESS)
    p.add_argument("--ids-file", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.loadgen:
        loadgen_main(args)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")
    from nbo_engine.simulate import SimConfig, simulate_bank

    work = Path(tempfile.mkdtemp(prefix="nbo-api-bench-"))
    bank = work / "bank"
    simulate_bank(
        SimConfig(customers=args.customers, weeks=78, seed=13, dirt=0.0), bank
    )
    results = []
    for name in args.backends.split(","):
        schema = None
        if name == "sqlite":
            url = f"sqlite:///{work / 'nbo.db'}"
        else:
            schema, url = pg_schema()
        try:
            results.append(bench_backend(name, url, bank, work, args))
        finally:
            if schema is not None:
                from nbo_engine.store.engine import dispose_all

                dispose_all()
                drop_schema(schema)
    print()
    print(table(results, args.rate))
    OUT.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "api_load",
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": {
            k: getattr(args, k)
            for k in ("customers", "duration", "rate", "connections")
        },
        "results": results,
    }
    (OUT / "api_load.json").write_text(json.dumps(payload, indent=2))
    print(f"\nwritten {OUT / 'api_load.json'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
