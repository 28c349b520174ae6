"""No personal data in logs: customer ids only as pseudonyms, never names,
e-mails or addresses, whatever the request and whatever goes wrong."""

from __future__ import annotations

import logging

import pytest

from nbo_engine.api.logs import pseudonym
from nbo_engine.store import Engine
from tests.api.conftest import Live, write_decision


def test_no_pii_in_logs(
    engine: Engine,
    live: Live,
    keys: dict[str, str],
    scored_customer: dict[str, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cid = scored_customer["customer_id"]
    d = write_decision(engine, customer_id=cid)
    caplog.set_level(logging.DEBUG)
    with live.client(keys["admin"]) as admin, live.client(keys["channel"]) as channel:
        assert admin.get(f"/v1/customers/{cid}").status_code == 200
        assert channel.get(f"/v1/customers/{cid}").status_code == 403
        admin.get(f"/v1/customers/{cid}x")  # 404 naming the id to the caller
        channel.post("/v1/offers", json={"customer_id": cid, "channel": "web"})
        channel.post("/v1/offers", json={"customer_id": cid, "channel": "fax"})
        event = {
            "event_id": f"ev-{cid}",
            "decision_id": d,
            "offer_id": "cc_cashback",
            "type": "impression",
            "ts": "2026-05-04T10:00:00Z",
        }
        assert channel.post("/v1/events", json={"events": [event]}).status_code == 200
        bad = {**event, "decision_id": f"unknown-for-{cid}"}
        assert channel.post("/v1/events", json={"events": [bad]}).status_code == 422
    # Server-side records only: httpx/httpcore are this test's client, and
    # uvicorn's access log (raw paths) is switched off by `nbo serve`
    # (test_serve_switches_off_uvicorns_access_log).
    client_side = ("httpx", "httpcore", "uvicorn.access")
    text = "\n".join(
        f"{r.name} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if not r.name.startswith(client_side)
    )
    assert "nbo_engine.api.access" in text  # access lines were captured...
    assert "/v1/customers/{customer_id}" in text  # ...with the route template
    for secret in (
        cid,
        scored_customer["first_name"],
        scored_customer["last_name"],
        scored_customer["email"],
        scored_customer["address"],
        scored_customer["postcode"],
    ):
        assert secret not in text, secret


def test_pseudonym_is_stable_and_hides_the_id() -> None:
    assert pseudonym("C0000042") == pseudonym("C0000042")
    assert pseudonym("C0000042") != pseudonym("C0000043")
    assert "C0000042" not in pseudonym("C0000042")
    assert len(pseudonym("C0000042")) == len("cust:") + 12


def test_serve_switches_off_uvicorns_access_log() -> None:
    from nbo_engine.cli.serve import log_config

    access = log_config("debug")["loggers"]["uvicorn.access"]
    assert access == {"handlers": [], "level": "CRITICAL", "propagate": False}
