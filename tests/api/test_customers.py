"""GET /v1/customers/{id}: profile without identifiers, scores and segments
of the active snapshot."""

from __future__ import annotations

from nbo_engine.store import Engine
from tests.api.conftest import Live


def test_profile_scores_and_segments(
    live: Live, keys: dict[str, str], scored_customer: dict[str, str]
) -> None:
    cid = scored_customer["customer_id"]
    with live.client(keys["analyst"]) as client:
        r = client.get(f"/v1/customers/{cid}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["snapshot_id"] == int(scored_customer["snapshot_id"])
    assert body["snapshot_as_of"] == "2026-05-01"
    profile = body["profile"]
    assert profile["customer_id"] == cid
    assert profile["city"] == "Leeds"
    assert profile["products"] == ["current"]  # the savings account is closed
    assert profile["join_date"] == "2015-06-01"
    for identifier in (
        "first_name",
        "last_name",
        "email",
        "address",
        "phone",
        "birth_date",
    ):
        assert identifier not in profile
    assert scored_customer["last_name"] not in r.text
    assert scored_customer["email"] not in r.text
    assert body["scores"]["clv_12m"] == 812.5
    assert body["scores"]["churn_90d"] == 0.07
    assert body["scores"]["next_best_product"] == "credit_card"
    assert body["scores"]["marketing_consent"] is True
    assert body["scores"]["propensity_savings"] is None
    assert {"kind": "value_tier", "segment": "high", "name": "High value"} in body[
        "segments"
    ]
    assert {"kind": "life_stage", "segment": "family", "name": None} in body["segments"]


def test_unknown_customer_is_404(live: Live, keys: dict[str, str]) -> None:
    with live.client(keys["campaign_manager"]) as client:
        r = client.get("/v1/customers/C-NOBODY")
    assert r.status_code == 404
    assert r.json()["error"] == "unknown_customer"
    assert r.json()["message"] == "customer 'C-NOBODY' is not in the store"


def test_customer_without_a_snapshot(
    engine: Engine, live: Live, keys: dict[str, str], scored_customer: dict[str, str]
) -> None:
    from sqlalchemy import update

    from nbo_engine.store import write
    from nbo_engine.store.tables import metadata

    snaps = metadata.tables["score_snapshots"]
    with write(engine) as conn:
        conn.execute(update(snaps).values(status="failed"))
    with live.client(keys["admin"]) as client:
        body = client.get(f"/v1/customers/{scored_customer['customer_id']}").json()
    assert body["snapshot_id"] is None
    assert body["scores"] == {}
    assert body["segments"] == []
