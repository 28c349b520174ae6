"""POST /v1/events on a live server, both databases: idempotent by event id
(a resent batch is acknowledged and stored once), unknown decisions named,
one INSERT statement per batch."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, select

from nbo_engine.store import Engine, read
from nbo_engine.store.events import EventIn, count_events, record_events
from nbo_engine.store.tables import metadata
from tests.api.conftest import Live, write_decision


def _event(
    decision_id: str, n: int, type_: str = "impression", **kw: Any
) -> dict[str, Any]:
    return {
        "event_id": f"ev-{decision_id[:6]}-{n}",
        "decision_id": decision_id,
        "offer_id": kw.pop("offer_id", "cc_cashback"),
        "type": type_,
        "ts": "2026-05-04T11:00:00+01:00",
        **kw,
    }


def test_a_resent_batch_is_stored_once(
    engine: Engine, live: Live, keys: dict[str, str]
) -> None:
    d1 = write_decision(engine, customer_id="C0000007")
    d2 = write_decision(engine, customer_id="C0000008", offers=("savings_boost",))
    batch = [
        _event(d1, 1),
        _event(d1, 2, "accept"),
        _event(d2, 1, "conversion", offer_id="savings_boost", value=90.5),
    ]
    with live.client(keys["channel"]) as client:
        first = client.post("/v1/events", json={"events": batch})
        again = client.post("/v1/events", json={"events": batch})
        mixed = client.post(
            "/v1/events", json={"events": [batch[0], _event(d1, 3, "click"), batch[0]]}
        )
    assert first.status_code == 200, first.text
    assert first.json() == {
        "received": 3,
        "inserted": 3,
        "duplicates": 0,
        "duplicate_event_ids": [],
    }
    assert again.status_code == 200
    assert again.json() == {
        "received": 3,
        "inserted": 0,
        "duplicates": 3,
        "duplicate_event_ids": [e["event_id"] for e in batch],
    }
    assert mixed.json()["inserted"] == 1
    assert mixed.json()["duplicates"] == 2
    assert count_events(engine) == 4
    assert count_events(engine, decision_id=d1) == 3
    with read(engine) as conn:
        rows = {
            r.event_id: r for r in conn.execute(select(metadata.tables["offer_events"]))
        }
    conv = rows[batch[2]["event_id"]]
    # customer from the decision log; time stored as naive UTC (10:00 +01:00).
    assert conv.customer_id == "C0000008"
    assert conv.ts == dt.datetime(2026, 5, 4, 10, 0)
    assert conv.value == pytest.approx(90.5)
    assert conv.type == "conversion"


def test_unknown_and_shadow_decisions_are_named_and_nothing_is_stored(
    engine: Engine, live: Live, keys: dict[str, str]
) -> None:
    good = write_decision(engine)
    shadow = write_decision(engine, mode="shadow")
    batch = [
        _event(good, 1),
        _event("d-missing-1", 1),
        _event(shadow, 1),
        _event("d-missing-2", 2),
    ]
    with live.client(keys["channel"]) as client:
        r = client.post("/v1/events", json={"events": batch})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "unknown_decision"
    assert "unknown decision id(s) 'd-missing-1', 'd-missing-2'" in body["message"]
    assert f"shadow decision id(s) '{shadow}'" in body["message"]
    assert body["details"]["decision_ids"] == ["d-missing-1", "d-missing-2", shadow]
    assert count_events(engine) == 0


def test_an_offer_the_decision_did_not_choose_is_refused(
    engine: Engine, live: Live, keys: dict[str, str]
) -> None:
    d = write_decision(engine, offers=("cc_cashback",))
    with live.client(keys["channel"]) as client:
        r = client.post(
            "/v1/events", json={"events": [_event(d, 1, offer_id="mortgage_switch")]}
        )
    assert r.status_code == 422
    assert r.json()["error"] == "invalid_input"
    assert (
        f"event 'ev-{d[:6]}-1': offer 'mortgage_switch' was not chosen in decision "
        f"'{d}' (chosen: cc_cashback)" == r.json()["message"]
    )
    assert count_events(engine) == 0


def test_one_insert_statement_per_batch_with_bound_parameters(engine: Engine) -> None:
    d = write_decision(engine)
    statements: list[tuple[str, Any]] = []

    def spy(conn: Any, cursor: Any, stmt: str, params: Any, *_: Any) -> None:
        statements.append((stmt, params))

    events = [
        EventIn(f"e{i}", d, "cc_cashback", "impression", dt.datetime(2026, 5, 4))
        for i in range(50)
    ]
    event.listen(engine, "before_cursor_execute", spy)
    try:
        result = record_events(engine, events, received_at=dt.datetime.now(dt.UTC))
    finally:
        event.remove(engine, "before_cursor_execute", spy)
    inserts = [s for s, _ in statements if s.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1
    assert "ON CONFLICT (event_id) DO NOTHING" in inserts[0]
    assert "e17" not in inserts[0]  # values are bound, never formatted in
    assert (result.inserted, result.duplicates) == (50, 0)
    # A batch wholly resent: nothing new, every id reported.
    again = record_events(engine, events[:10], received_at=dt.datetime.now(dt.UTC))
    assert (again.inserted, again.duplicates) == (0, 10)
    assert again.duplicate_event_ids == tuple(f"e{i}" for i in range(10))
