"""Fixtures of the API tests: a live uvicorn server on a free port, keys per
role, and decisions written as the decision log holds them."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import insert

from nbo_engine.api import create_app
from nbo_engine.store import Engine, write
from nbo_engine.store.apikeys import ROLES, create_key
from nbo_engine.store.tables import metadata


@dataclass
class Live:
    """A running server: its base URL and the app it serves."""

    url: str
    app: FastAPI

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10.0)


def serve_in_thread(app: FastAPI) -> tuple[uvicorn.Server, threading.Thread, str]:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live_factory() -> Iterator[Callable[..., Live]]:
    """Start ``create_app(engine, **kw)`` under a real uvicorn (stopped after)."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(engine: Engine, **kw: float) -> Live:
        app = create_app(engine, **kw)
        server, thread, url = serve_in_thread(app)
        running.append((server, thread))
        return Live(url, app)

    yield start
    for server, thread in running:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live(engine: Engine, live_factory: Callable[..., Live]) -> Live:
    return live_factory(engine, key_cache_seconds=0.0)


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite store, for tests whose subject touches no SQL
    (request validation, OpenAPI, rate limiting): one backend is enough."""
    from nbo_engine.store import make_engine, migrate
    from nbo_engine.store.engine import dispose_all

    e = make_engine(f"sqlite:///{tmp_path / 'nbo.db'}")
    migrate.upgrade(e)
    yield e
    dispose_all()


@pytest.fixture
def keys(engine: Engine) -> dict[str, str]:
    """One key per role (generous rate), plain text."""
    return {
        role: create_key(
            engine, role=role, name=f"test {role}", rate_per_minute=100_000
        )[1]
        for role in ROLES
    }


POLICY_TEXT = "name: test_policy\n# a stored version; decisions below refer to it\n"


def write_decision(
    engine: Engine,
    *,
    customer_id: str = "C0000001",
    offers: tuple[str, ...] = ("cc_cashback", "savings_boost"),
    mode: str = "live",
    version_id: int | None = None,
) -> str:
    """A decision row and its chosen offers, as the decision log stores them."""
    decision_id = uuid.uuid4().hex
    with write(engine) as conn:
        if version_id is None:
            result = conn.execute(
                insert(metadata.tables["policy_versions"]).values(
                    name="test_policy",
                    version=int(decision_id[:6], 16),
                    created_at=dt.datetime.now(dt.UTC),
                    spec=POLICY_TEXT,
                    spec_sha256="0" * 64,
                )
            )
            assert result.inserted_primary_key is not None
            version_id = int(result.inserted_primary_key[0])
        conn.execute(
            insert(metadata.tables["decisions"]).values(
                decision_id=decision_id,
                request_id=None,
                customer_id=customer_id,
                channel="web",
                ts=dt.datetime(2026, 5, 4, 10, 0),
                mode=mode,
                policy_version_id=version_id,
                eligible=json.dumps(list(offers)),
                context=json.dumps([0.0, 1.0]),
                n_requested=len(offers),
            )
        )
        conn.execute(
            insert(metadata.tables["decision_offers"]),
            [
                {
                    "decision_id": decision_id,
                    "rank": i + 1,
                    "offer_id": o,
                    "propensity": 0.5,
                }
                for i, o in enumerate(offers)
            ],
        )
    return decision_id


#: A customer whose personal data must never reach a log.
PII = {
    "customer_id": "C-PII-000417",
    "first_name": "Philippa",
    "last_name": "Quennell-Ashdown",
    "email": "philippa.qa@example.org",
    "address": "17 Larkspur Mews",
    "postcode": "ZZ9 4QX",
}


@pytest.fixture
def scored_customer(engine: Engine) -> dict[str, str]:
    """One customer with accounts, a succeeded snapshot and segment profiles."""
    import pandas as pd

    from nbo_engine.store import scores

    cid = PII["customer_id"]
    with write(engine) as conn:
        conn.execute(
            insert(metadata.tables["customers"]).values(
                customer_id=cid,
                first_name=PII["first_name"],
                last_name=PII["last_name"],
                birth_date=dt.date(1980, 2, 3),
                address=PII["address"],
                city="Leeds",
                postcode=PII["postcode"],
                email=PII["email"],
                phone="+44 7700 900417",
                income_band="40-60k",
                join_date=dt.date(2015, 6, 1),
                marketing_consent=True,
            )
        )
        conn.execute(
            insert(metadata.tables["accounts"]),
            [
                {
                    "account_id": "A-1",
                    "customer_id": cid,
                    "product": "current",
                    "open_date": dt.date(2015, 6, 1),
                    "close_date": None,
                    "balance": 1200.0,
                    "currency": "GBP",
                },
                {
                    "account_id": "A-2",
                    "customer_id": cid,
                    "product": "savings",
                    "open_date": dt.date(2016, 1, 1),
                    "close_date": dt.date(2020, 1, 1),
                    "balance": 0.0,
                    "currency": "GBP",
                },
            ],
        )
    sid = scores.start_snapshot(engine, dt.date(2026, 5, 1))
    frame = pd.DataFrame(
        {
            "clv_12m": [812.5],
            "churn_90d": [0.07],
            "value_tier": ["high"],
            "life_stage": ["family"],
            "next_best_product": ["credit_card"],
            "marketing_consent": [True],
        },
        index=pd.Index([cid], name="customer_id"),
    )
    with write(engine) as conn:
        scores.write_scores(conn, sid, frame)
        scores.write_segment_profiles(
            conn,
            sid,
            [
                {
                    "kind": "value_tier",
                    "segment": "high",
                    "name": "High value",
                    "size": 1,
                    "share": 1.0,
                    "description": "The top fifth by CLV.",
                }
            ],
        )
        scores.finish_snapshot(conn, sid, status="succeeded", n_customers=1)
    return {**PII, "snapshot_id": str(sid)}


@pytest.fixture
def bank_keys(bank_engine: Engine) -> dict[str, str]:
    return {
        role: create_key(
            bank_engine, role=role, name=f"bank {role}", rate_per_minute=100_000
        )[1]
        for role in ROLES
    }


@pytest.fixture
def bank_live(
    bank_engine: Engine,
    live_factory: Callable[..., Live],
) -> Live:
    return live_factory(bank_engine, key_cache_seconds=0.0, refresh_seconds=0.2)
