"""POST /v1/offers for real: a scored simulated bank, the example catalogue
published live, a live uvicorn server, both databases. No mocks: the answer
must match the decision log row, events must close the loop, and /ready and
/metrics must reflect it."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from nbo_engine.api import create_app
from nbo_engine.store import Engine, read
from nbo_engine.store.decisions import count_decisions, decision_record
from nbo_engine.store.events import count_events
from nbo_engine.store.tables import metadata
from tests.api.conftest import Live
from tests.scored_bank import Customers, catalog_with, serving


def test_offers_are_ranked_rendered_and_logged(
    bank_engine: Engine,
    bank_live: Live,
    bank_keys: dict[str, str],
    customers: Customers,
) -> None:
    served = 0
    with bank_live.client(bank_keys["channel"]) as client:
        for cid in customers.take(5):
            r = client.post(
                "/v1/offers",
                json={"customer_id": cid, "channel": "web", "n": 3, "context": None},
                headers={"X-Request-ID": f"req-{cid}"},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["customer_id"], body["channel"]) == (cid, "web")
            assert body["policy_name"] == "retail_default"
            offers = body["offers"]
            assert [o["rank"] for o in offers] == list(range(1, len(offers) + 1))
            assert len(offers) <= 3
            served += len(offers)
            for o in offers:
                assert 0 < o["propensity"] <= 1
                assert o["message"]
            logged = decision_record(bank_engine, body["decision_id"])
            assert logged is not None
            assert logged["customer_id"] == cid
            assert logged["request_id"] == f"req-{cid}"
            assert logged["mode"] == "live"
            assert logged["policy_version_id"] == body["policy_version_id"]
            assert [(o["offer_id"], o["rank"]) for o in logged["offers"]] == [
                (o["offer_id"], o["rank"]) for o in offers
            ]
            assert [o["propensity"] for o in logged["offers"]] == pytest.approx(
                [o["propensity"] for o in offers]
            )
    assert served > 0  # the catalogue has offers for ordinary customers


def test_events_close_the_loop_on_a_served_decision(
    bank_engine: Engine,
    bank_live: Live,
    bank_keys: dict[str, str],
    customers: Customers,
) -> None:
    with bank_live.client(bank_keys["channel"]) as client:
        body = {}
        for cid in customers.take(10):  # the first customer with an offer
            body = client.post(
                "/v1/offers", json={"customer_id": cid, "channel": "web", "n": 2}
            ).json()
            if body["offers"]:
                break
        assert body["offers"], "no offer for 10 customers"
        offer = body["offers"][0]["offer_id"]
        batch = [
            {
                "event_id": f"{body['decision_id']}-{t}",
                "decision_id": body["decision_id"],
                "offer_id": offer,
                "type": t,
                "ts": "2026-04-15T11:05:00Z",
            }
            for t in ("impression", "click", "accept")
        ]
        first = client.post("/v1/events", json={"events": batch}).json()
        again = client.post("/v1/events", json={"events": batch}).json()
    assert (first["inserted"], first["duplicates"]) == (3, 0)
    assert (again["inserted"], again["duplicates"]) == (0, 3)
    assert count_events(bank_engine, decision_id=body["decision_id"]) == 3
    events = metadata.tables["offer_events"]
    with read(bank_engine) as conn:
        owners = set(
            conn.execute(
                select(events.c.customer_id).where(
                    events.c.decision_id == body["decision_id"]
                )
            ).scalars()
        )
    assert owners == {body["customer_id"]}


def test_engine_errors_map_to_statuses(
    bank_live: Live, bank_keys: dict[str, str], customers: Customers
) -> None:
    (cid,) = customers.take(1)
    with bank_live.client(bank_keys["admin"]) as client:
        unknown = client.post(
            "/v1/offers", json={"customer_id": "C-NOT-A-CUSTOMER", "channel": "web"}
        )
        too_many = client.post(
            "/v1/offers", json={"customer_id": cid, "channel": "web", "n": 10}
        )
        bad_context = client.post(
            "/v1/offers",
            json={
                "customer_id": cid,
                "channel": "web",
                "context": {"no_such_field": 1},
            },
        )
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "unknown_customer"
    assert "'C-NOT-A-CUSTOMER'" in unknown.json()["message"]
    assert too_many.status_code == 422
    assert too_many.json()["error"] == "invalid_input"
    assert "n" in too_many.json()["message"]
    assert bad_context.status_code == 422
    assert "no_such_field" in bad_context.json()["message"]


def test_ready_metrics_and_policy_switch(
    bank_engine: Engine,
    bank_live: Live,
    bank_keys: dict[str, str],
    customers: Customers,
) -> None:
    with bank_live.client(bank_keys["channel"]) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        assert ready.json()["status"] == "ready"
        before = count_decisions(bank_engine, mode="live")
        first = client.post(
            "/v1/offers", json={"customer_id": customers.take(1)[0], "channel": "web"}
        ).json()
        # A new version published live reaches the server within its refresh
        # interval (0.2 s here), without a restart.
        spec = catalog_with(name="retail_renamed")
        with serving(bank_engine, spec) as version:
            deadline = time.monotonic() + 5
            while True:
                second = client.post(
                    "/v1/offers",
                    json={"customer_id": customers.take(1)[0], "channel": "web"},
                ).json()
                if (
                    second["policy_version_id"] == version
                    or time.monotonic() > deadline
                ):
                    break
                time.sleep(0.1)
        assert second["policy_version_id"] == version != first["policy_version_id"]
        assert second["policy_name"] == "retail_renamed"
    assert count_decisions(bank_engine, mode="live") >= before + 2
    with bank_live.client(bank_keys["admin"]) as admin:
        text = admin.get("/metrics").text
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }
    assert samples[("nbo_decisions_total", (("channel", "web"),))] >= 2
    assert samples[("nbo_decision_latency_seconds_count", (("channel", "web"),))] >= 2


def test_no_live_policy_is_503_and_not_ready(
    engine: Engine, live_factory: object, keys: dict[str, str]
) -> None:
    live = live_factory(engine)  # type: ignore[operator]
    with live.client(keys["channel"]) as client:
        r = client.post("/v1/offers", json={"customer_id": "C1", "channel": "web"})
        ready = client.get("/ready")
    assert r.status_code == 503
    assert r.json()["error"] == "no_live_policy"
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["migration"].startswith("ok: ")
    assert ready.json()["checks"]["policy"].startswith("failed: no live policy")


def test_app_builds_without_a_database_round_trip(engine: Engine) -> None:
    # create_app only reads the migration scripts; the store is read lazily.
    app = create_app(engine)
    assert app.title == "nbo-engine offer API"
