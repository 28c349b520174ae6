"""Invalid requests get 422 with every invalid field named by its path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from nbo_engine.api.problems import field_path
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import create_key
from tests.api.conftest import Live


@pytest.fixture
def client(
    sqlite_engine: Engine, live_factory: Callable[..., Live]
) -> Iterator[httpx.Client]:
    # starlette's TestClient warns (httpx2) at import, so a live server it is;
    # validation happens before any SQL, so SQLite alone covers it.
    live = live_factory(sqlite_engine)
    _, key = create_key(sqlite_engine, role="admin", name="validation")
    with live.client(key) as c:
        yield c


def _fields(body: dict[str, Any]) -> dict[str, str]:
    return {f["field"]: f["message"] for f in body["fields"]}


def test_offers_fields_are_named(client: httpx.Client) -> None:
    r = client.post("/v1/offers", json={"channel": "fax", "n": 0, "extra": 1})
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "validation_error"
    fields = _fields(body)
    assert fields["customer_id"] == "Field required"
    assert fields["channel"].startswith("Input should be 'web', 'mobile', 'branch'")
    assert fields["n"] == "Input should be greater than or equal to 1"
    assert fields["extra"] == "Extra inputs are not permitted"
    assert body["message"] == "4 invalid fields: customer_id, channel, n, extra"
    assert all(f["location"] == "body" for f in body["fields"])


def test_event_fields_are_named_with_their_index(client: httpx.Client) -> None:
    ok = {
        "event_id": "e1",
        "decision_id": "d1",
        "offer_id": "o1",
        "type": "click",
        "ts": "2026-05-04T10:00:00Z",
    }
    bad = {**ok, "type": "purchase", "ts": "yesterday"}
    r = client.post("/v1/events", json={"events": [ok, bad, {**ok, "value": "1e999"}]})
    assert r.status_code == 422
    fields = _fields(r.json())
    assert set(fields) == {"events[1].type", "events[1].ts", "events[2].value"}
    assert (
        "'impression', 'click', 'accept', 'decline' or 'conversion'"
        in fields["events[1].type"]
    )


def test_empty_and_oversized_batches(client: httpx.Client) -> None:
    assert _fields(client.post("/v1/events", json={"events": []}).json()) == {
        "events": "List should have at least 1 item after validation, not 0"
    }
    one = {
        "event_id": "e",
        "decision_id": "d",
        "offer_id": "o",
        "type": "click",
        "ts": "2026-05-04T10:00:00Z",
    }
    r = client.post("/v1/events", json={"events": [one] * 1001})
    assert _fields(r.json()) == {
        "events": "List should have at most 1000 items after validation, not 1001"
    }


def test_malformed_json_and_path_parameter(client: httpx.Client) -> None:
    r = client.post(
        "/v1/offers", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["fields"][0]["type"] == "json_invalid"
    r = client.get("/v1/customers/" + "x" * 129)
    assert r.status_code == 422
    assert r.json()["fields"][0]["field"] == "customer_id"
    assert r.json()["fields"][0]["location"] == "path"


def test_unknown_route_has_the_error_shape(client: httpx.Client) -> None:
    r = client.get("/v1/nothing")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("loc", "expected"),
    [
        (("body", "events", 2, "type"), ("body", "events[2].type")),
        (("body",), ("body", "(body)")),
        (("query", "n"), ("query", "n")),
        (("body", "context", "page"), ("body", "context.page")),
        ((), ("body", "(body)")),
    ],
)
def test_field_path(loc: tuple[Any, ...], expected: tuple[str, str]) -> None:
    assert field_path(loc) == expected
