"""/metrics: decisions, latency, events by type, errors by route and status;
summed over two uvicorn workers in multi-process mode."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from nbo_engine.store import Engine, make_engine, migrate
from nbo_engine.store.apikeys import create_key
from tests.api.conftest import Live, write_decision


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def _value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return float(samples.get((name, frozenset(labels.items())), 0.0))


def test_metrics_count_events_errors_and_latency(
    engine: Engine, live: Live, keys: dict[str, str]
) -> None:
    d = write_decision(engine)
    with live.client(keys["admin"]) as admin, live.client(keys["channel"]) as channel:
        before = _samples(admin.get("/metrics").text)
        events = [
            {
                "event_id": f"m{i}",
                "decision_id": d,
                "offer_id": "cc_cashback",
                "type": "impression" if i < 3 else "click",
                "ts": "2026-05-04T10:00:00Z",
            }
            for i in range(4)
        ]
        assert channel.post("/v1/events", json={"events": events}).status_code == 200
        assert (
            channel.post("/v1/events", json={"events": events[:1]}).status_code == 200
        )
        assert channel.get("/v1/customers/C1").status_code == 403
        response = admin.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("nbo_events_total", type="impression", outcome="inserted") == 3
    assert delta("nbo_events_total", type="click", outcome="inserted") == 1
    assert delta("nbo_events_total", type="impression", outcome="duplicate") == 1
    assert (
        delta(
            "nbo_http_errors_total", route="/v1/customers/{customer_id}", status="403"
        )
        == 1
    )
    assert (
        delta(
            "nbo_http_requests_total", route="/v1/events", method="POST", status="200"
        )
        == 2
    )
    assert delta("nbo_http_request_duration_seconds_count", route="/v1/events") == 2
    assert (
        "nbo_decision_latency_seconds_bucket",
        frozenset({("channel", "web"), ("le", "0.025")}),
    ) in after
    assert "# HELP nbo_decisions_total Decisions served" in response.text


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_two_workers_sum_their_metrics(tmp_path: Path) -> None:
    """``nbo serve --workers 2``: counters written by both workers are summed,
    whichever worker answers the scrape."""
    url = f"sqlite:///{tmp_path / 'nbo.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    _, key = create_key(engine, role="admin", name="scraper")
    metrics_dir = tmp_path / "prom"
    port = _free_port()
    env = {
        **os.environ,
        "NBO_DATABASE_URL": url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    code = "import nbo_engine.cli.serve; from nbo_engine.cli import app; app()"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                code,
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
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        n = 60
        for _ in range(n):  # a new connection each: spread over both workers
            assert httpx.get(f"{base}/health").status_code == 200
        files = {p.name for p in metrics_dir.glob("counter_*.db")}
        totals = set()
        for _ in range(4):
            text = httpx.get(f"{base}/metrics", headers={"X-API-Key": key}).text
            totals.add(
                _value(
                    _samples(text),
                    "nbo_http_requests_total",
                    route="/health",
                    method="GET",
                    status="200",
                )
            )
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert len(files) == 2, files  # both workers wrote counters
    # Startup probes add a few /health hits; every scrape sees the same sum.
    assert len(totals) == 1
    assert totals.pop() >= n
