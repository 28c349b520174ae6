"""``/v1/experiments`` on a live server, on SQLite and PostgreSQL: who may call
what, validation errors that name the field, the lifecycle, and a readout of
decisions served through ``/v1/offers``."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
import yaml

from nbo_engine.experiments import assign_one, parse_experiment
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import ROLES
from tests.api.conftest import Live
from tests.scored_bank import Customers

YAML = {"content-type": "application/yaml"}


def definition(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "offer",
        "start": "2026-01-01",
        "variants": [
            {"name": "control", "weight": 0.5, "control": True},
            {"name": "cashback", "weight": 0.5, "treatment": "cc_cashback"},
        ],
        "metrics": {"primary": "conversion", "guardrails": ["churn"]},
        **extra,
    }


def as_yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False)


#: route -> (method, path, body); bodies valid enough to pass authorisation
CALLS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("POST", "/v1/experiments"): ("POST", "/v1/experiments", {"name": "x"}),
    ("GET", "/v1/experiments"): ("GET", "/v1/experiments", None),
    ("GET", "/v1/experiments/{name}"): ("GET", "/v1/experiments/nope", None),
    ("POST", "/v1/experiments/{name}/start"): (
        "POST",
        "/v1/experiments/nope/start",
        None,
    ),
    ("POST", "/v1/experiments/{name}/stop"): (
        "POST",
        "/v1/experiments/nope/stop",
        {"reason": "x"},
    ),
}
ALLOWED = {
    "channel": set(),
    "analyst": {("GET", "/v1/experiments"), ("GET", "/v1/experiments/{name}")},
    "campaign_manager": set(CALLS),
    "admin": set(CALLS),
}


def test_roles(live: Live, keys: dict[str, str]) -> None:
    assert set(ALLOWED) == set(ROLES)
    for role in ROLES:
        with live.client(keys[role]) as client:
            for route, (verb, path, body) in CALLS.items():
                r = client.request(verb, path, json=body)
                if route in ALLOWED[role]:
                    assert r.status_code not in (401, 403), (role, path, r.text)
                else:
                    assert r.status_code == 403, (role, path, r.text)
                    allowed = sorted(x for x in ROLES if route in ALLOWED[x])
                    assert r.json()["message"] == (
                        f"role {role!r} may not call {route[0]} {route[1]}; "
                        f"allowed: {', '.join(allowed)}"
                    )
    with live.client() as anonymous:
        assert anonymous.get("/v1/experiments").status_code == 401


def test_analyst_may_read_but_not_write(live: Live, keys: dict[str, str]) -> None:
    with live.client(keys["campaign_manager"]) as manager:
        assert (
            manager.post(
                "/v1/experiments", content=as_yaml(definition("ro")), headers=YAML
            ).status_code
            == 201
        )
    with live.client(keys["analyst"]) as analyst:
        assert analyst.get("/v1/experiments").json()["experiments"][0]["name"] == "ro"
        assert analyst.get("/v1/experiments/ro").json()["status"] == "draft"
        r = analyst.post("/v1/experiments/ro/start")
        assert r.status_code == 403
        assert r.json()["message"] == (
            "role 'analyst' may not call POST /v1/experiments/{name}/start; "
            "allowed: admin, campaign_manager"
        )
    with live.client(keys["channel"]) as channel:
        r = channel.get("/v1/experiments/ro")
        assert r.status_code == 403
        assert r.json()["error"] == "forbidden"


def _fields(r: httpx.Response) -> dict[str, str]:
    return {f["field"]: f["message"] for f in r.json()["fields"]}


def test_a_bad_definition_names_the_field(live: Live, keys: dict[str, str]) -> None:
    spec = definition("bad")
    spec["variants"][1]["weight"] = 1.5
    spec["metrics"]["secondary"] = [{"name": "opens", "kind": "mean"}]
    with live.client(keys["campaign_manager"]) as client:
        r = client.post("/v1/experiments", content=as_yaml(spec), headers=YAML)
        assert r.status_code == 422, r.text
        body = r.json()
        assert body["error"] == "validation_error"
        assert body["message"] == "1 invalid field: variants[1].weight"
        assert _fields(r) == {
            "variants[1].weight": "Input should be less than or equal to 1"
        }
        # the lines, with their line numbers, are in details
        assert body["details"]["problems"] == [
            "body:9 variants.1.weight: Input should be less than or equal to 1, got 1.5"
        ]
        # once the spec parses, the store's checks name their fields too
        spec["variants"][1]["weight"] = 0.5
        r = client.post("/v1/experiments", json=spec)
        assert r.status_code == 422
        assert set(_fields(r)) == {"metrics.secondary[0].name"}
        assert _fields(r)["metrics.secondary[0].name"].startswith(
            "unknown outcome 'opens'; expected one of conversion, value"
        )
        r = client.post("/v1/experiments", content="name: [unclosed", headers=YAML)
        assert r.status_code == 422
        assert set(_fields(r)) == {"(body)"}
        assert r.json()["details"]["problems"][0].startswith("body: not valid YAML")
        r = client.post("/v1/experiments", content="", headers=YAML)
        assert r.status_code == 422
        assert _fields(r) == {"(body)": "Field required"}
        r = client.post("/v1/experiments", content=" \n", headers=YAML)
        assert r.status_code == 422
        assert _fields(r) == {
            "(body)": "expected an experiment definition, got an empty body"
        }
        r = client.post(
            "/v1/experiments",
            content="{",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 422
        assert r.json()["fields"][0]["type"] == "json_invalid"
        assert client.get("/v1/experiments").json() == {"experiments": []}


def test_lifecycle(live: Live, keys: dict[str, str]) -> None:
    text = as_yaml(definition("life", layer={"name": "web", "start": 0, "end": 6000}))
    with live.client(keys["campaign_manager"]) as client:
        r = client.post("/v1/experiments", content=text, headers=YAML)
        assert r.status_code == 201, r.text
        created = r.json()
        assert (created["status"], created["kind"], created["layer"]) == (
            "draft",
            "offer",
            "web",
        )
        assert created["spec_text"] == text  # stored as submitted
        assert created["spec"]["variants"][1]["treatment"] == "cc_cashback"
        assert created["created_by"].startswith("test campaign_manager (key ")
        r = client.post("/v1/experiments", content=text, headers=YAML)
        assert r.status_code == 409
        assert r.json()["message"] == (
            "experiment 'life' already exists (draft); expected a new name"
        )
        detail = client.get("/v1/experiments/life").json()
        assert detail["readout"] is None
        assert [c["action"] for c in detail["changes"]] == ["create"]
        r = client.post("/v1/experiments/life/start", json={"note": "go"})
        assert r.status_code == 200
        assert r.json()["status"] == "running"
        # another experiment on overlapping slots of the layer cannot start
        other = json.dumps(
            definition("other", layer={"name": "web", "start": 5000, "end": 10000}),
            indent=1,
        )
        r = client.post(
            "/v1/experiments",
            content=other,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 201
        assert r.json()["spec_text"] == other  # JSON is stored as sent too
        r = client.post("/v1/experiments/other/start")
        assert r.status_code == 409
        assert r.json()["error"] == "conflict"
        assert "overlap on slots 5000-6000" in r.json()["message"]
        detail = client.get("/v1/experiments/life").json()
        readout = detail["readout"]
        assert readout["units"] == {"control": 0, "cashback": 0}
        assert readout["decision"] == "keep_running"
        assert [p["variant"] for p in readout["primary"]] == ["cashback"]
        r = client.post("/v1/experiments/life/stop", json={})
        assert r.status_code == 422
        assert set(_fields(r)) == {"reason"}
        r = client.post("/v1/experiments/life/stop", json={"reason": "wrong audience"})
        assert r.status_code == 200
        assert (r.json()["status"], r.json()["stop_reason"]) == (
            "stopped",
            "wrong audience",
        )
        r = client.post("/v1/experiments/life/start")
        assert r.status_code == 409
        listed = client.get("/v1/experiments", params={"status": "stopped"}).json()
        assert [e["name"] for e in listed["experiments"]] == ["life"]
        assert listed["experiments"][0]["variants"] == ["control", "cashback"]
        r = client.get("/v1/experiments/nope")
        assert r.status_code == 404
        assert r.json()["error"] == "unknown_experiment"
        detail = client.get("/v1/experiments/life").json()
        assert [c["action"] for c in detail["changes"]] == ["create", "start", "stop"]
        assert detail["changes"][1]["detail"] == {"note": "go"}
        assert detail["changes"][-1]["detail"]["reason"] == "wrong audience"


def test_the_global_holdout_is_an_experiment_of_kind_holdout(
    live: Live, keys: dict[str, str]
) -> None:
    with live.client(keys["admin"]) as client:
        r = client.post(
            "/v1/experiments", content="salt: gh-2026\nshare: 0.02\n", headers=YAML
        )
        assert r.status_code == 201, r.text
        assert (r.json()["name"], r.json()["kind"]) == (
            "global-holdout-gh-2026",
            "holdout",
        )
        assert (
            client.post("/v1/experiments/global-holdout-gh-2026/start").status_code
            == 200
        )
        detail = client.get("/v1/experiments/global-holdout-gh-2026").json()
        assert detail["status"] == "running"
        assert detail["readout"] is None


@pytest.mark.usefixtures("bank_engine")
def test_decisions_served_through_the_api_are_read_out(
    bank_live: Live,
    bank_keys: dict[str, str],
    customers: Customers,
    bank_engine: Engine,
) -> None:
    name = f"api-{uuid.uuid4().hex[:8]}"
    spec = definition(name)
    ids = customers.take(12)
    with (
        bank_live.client(bank_keys["campaign_manager"]) as manager,
        bank_live.client(bank_keys["channel"]) as channel,
    ):
        assert manager.post("/v1/experiments", json=spec).status_code == 201
        assert manager.post(f"/v1/experiments/{name}/start").status_code == 200
        try:
            deadline = time.monotonic() + 10
            while True:  # the app's decider refreshes every 0.2 s
                r = channel.post(
                    "/v1/offers", json={"customer_id": ids[0], "channel": "web"}
                )
                assert r.status_code == 200, r.text
                if r.json()["experiment"] == name or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert r.json()["experiment"] == name
            parsed = parse_experiment(spec)
            for cid in ids:
                r = channel.post(
                    "/v1/offers", json={"customer_id": cid, "channel": "mobile"}
                )
                assert r.json()["variant"] == assign_one(parsed, cid)
            detail = manager.get(f"/v1/experiments/{name}").json()
        finally:
            manager.post(f"/v1/experiments/{name}/stop", json={"reason": "test over"})
    want = {"control": 0, "cashback": 0}
    for cid in ids:
        want[str(assign_one(parsed, cid))] += 1
    assert detail["readout"]["units"] == want
    assert detail["readout"]["srm_mismatch"] is False
