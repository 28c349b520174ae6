"""Every route declares who may call it, and the declaration is enforced:
each role x route on a live server, on both databases; missing, wrong and
revoked keys get 401, other roles 403."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Route

from nbo_engine.api import create_app
from nbo_engine.api.auth import (
    PUBLIC,
    ROUTE_ACCESS,
    access_of,
    check_declared,
    flat_routes,
)
from nbo_engine.errors import ConfigError
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import ROLES, create_key, revoke_key
from tests.api.conftest import Live

#: One request per route: method, path, JSON body.
CALLS: dict[tuple[str, str], tuple[str, str, Any]] = {
    ("POST", "/v1/offers"): (
        "POST",
        "/v1/offers",
        {"customer_id": "C0000001", "channel": "web"},
    ),
    ("POST", "/v1/events"): (
        "POST",
        "/v1/events",
        {
            "events": [
                {
                    "event_id": "e1",
                    "decision_id": "nope",
                    "offer_id": "cc_cashback",
                    "type": "click",
                    "ts": "2026-05-04T10:00:00Z",
                }
            ]
        },
    ),
    ("GET", "/v1/customers/{customer_id}"): ("GET", "/v1/customers/C0000001", None),
    ("GET", "/metrics"): ("GET", "/metrics", None),
    ("GET", "/health"): ("GET", "/health", None),
    ("GET", "/ready"): ("GET", "/ready", None),
    ("GET", "/openapi.json"): ("GET", "/openapi.json", None),
    ("GET", "/docs"): ("GET", "/docs", None),
    ("GET", "/docs/oauth2-redirect"): ("GET", "/docs/oauth2-redirect", None),
    ("GET", "/redoc"): ("GET", "/redoc", None),
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
    ("GET", "/v1/reports/weekly/latest"): ("GET", "/v1/reports/weekly/latest", None),
}


def _declared(app: FastAPI) -> set[tuple[str, str]]:
    out = set()
    for route in flat_routes(app.routes):
        assert isinstance(route, APIRoute | Route), route
        for method in route.methods or ():
            out.add(("GET" if method == "HEAD" else method, route.path))
    return out


def test_every_route_of_the_app_has_an_access_declaration(engine: Engine) -> None:
    app = create_app(engine)
    routes = _declared(app)
    missing = {r for r in routes if access_of(*r) is None}
    assert not missing, f"routes without a declaration: {missing}"
    # ...and the table declares nothing that does not exist (no stale entries),
    # and the matrix below calls every route.
    assert set(ROUTE_ACCESS) == routes
    assert set(CALLS) == routes


def test_an_undeclared_route_is_refused_at_startup(engine: Engine) -> None:
    app = create_app(engine)

    @app.get("/v1/secret")
    def secret() -> dict[str, str]:  # pragma: no cover - never served
        return {}

    with pytest.raises(
        ConfigError, match=r"without an access declaration.*GET /v1/secret"
    ):
        check_declared(app.routes)


def test_role_matrix_on_a_live_server(live: Live, keys: dict[str, str]) -> None:
    for (method, template), (verb, path, body) in CALLS.items():
        access = ROUTE_ACCESS[(method, template)]
        for role in ROLES:
            with live.client(keys[role]) as client:
                r = client.request(verb, path, json=body)
            if access == PUBLIC:
                assert r.status_code not in (401, 403), (path, role, r.text)
            elif role in access:
                assert r.status_code not in (401, 403), (path, role, r.text)
            else:
                assert r.status_code == 403, (path, role, r.text)
                assert r.json()["error"] == "forbidden"
                assert (
                    f"role {role!r} may not call {method} {template}"
                    in r.json()["message"]
                )
        if access != PUBLIC:
            with live.client() as anonymous:
                r = anonymous.request(verb, path, json=body)
            assert r.status_code == 401, (path, r.text)
            assert r.json()["message"].startswith("missing API key")
            assert r.headers["www-authenticate"] == "ApiKey"


def test_wrong_and_revoked_keys_get_401(
    engine: Engine, live: Live, keys: dict[str, str]
) -> None:
    good = keys["admin"]
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    for key in (forged, "nbo_deadbeef_" + "x" * 43, "not-a-key", good[:20]):
        with live.client(key) as client:
            r = client.get("/metrics")
        assert r.status_code == 401, key
        assert r.json() == {
            "error": "unauthorized",
            "message": "invalid API key",
            "fields": [],
            "request_id": r.headers["x-request-id"],
            "details": {},
        }
    record, key = create_key(engine, role="admin", name="soon revoked")
    with live.client(key) as client:
        assert client.get("/metrics").status_code == 200
        revoke_key(engine, record.id)
        r = client.get("/metrics")  # the live app caches nothing (ttl 0)
    assert r.status_code == 401
    assert r.json()["message"] == f"API key {record.prefix} was revoked"


def test_bearer_header_is_accepted(live: Live, keys: dict[str, str]) -> None:
    with live.client() as client:
        r = client.get("/metrics", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert r.status_code == 200


def test_key_cache_expires_so_revocation_takes_effect(
    engine: Engine, live_factory: Any
) -> None:
    live = live_factory(engine, key_cache_seconds=0.3)
    record, key = create_key(engine, role="admin", name="cached")
    with live.client(key) as client:
        assert client.get("/metrics").status_code == 200
        revoke_key(engine, record.id)
        import time

        time.sleep(0.4)
        assert client.get("/metrics").status_code == 401
