"""Error messages of the key store and the event store, pinned."""

from __future__ import annotations

import datetime as dt

import pytest

from nbo_engine.errors import ApiKeyError, DataValidationError, UnknownDecisionError
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import create_key, lookup_key, revoke_key, split_key
from nbo_engine.store.events import EventIn, record_events
from tests.api.conftest import write_decision

NOW = dt.datetime(2026, 5, 4, tzinfo=dt.UTC)


def test_key_errors(sqlite_engine: Engine) -> None:
    with pytest.raises(
        ApiKeyError,
        match=r"^api key role: got 'root', expected one of channel, analyst, campaign_manager, admin$",
    ):
        create_key(sqlite_engine, role="root", name="x")
    with pytest.raises(ApiKeyError, match=r"^api key name: got an empty name"):
        create_key(sqlite_engine, role="admin", name="  ")
    with pytest.raises(
        ApiKeyError, match=r"^api key rate_per_minute: got 0, expected an integer >= 1$"
    ):
        create_key(sqlite_engine, role="admin", name="x", rate_per_minute=0)
    with pytest.raises(ApiKeyError, match=r"^api key id: no key has id 42$"):
        revoke_key(sqlite_engine, 42)


def test_malformed_keys_are_not_looked_up(sqlite_engine: Engine) -> None:
    record, key = create_key(sqlite_engine, role="admin", name="x")
    assert split_key(key) == record.prefix
    for bad in ("", key + "x", key.replace("nbo_", "xyz_"), key[:12] + "-" + key[13:]):
        assert split_key(bad) is None
        assert lookup_key(sqlite_engine, bad) is None


def test_event_errors(sqlite_engine: Engine) -> None:
    d = write_decision(sqlite_engine, offers=("cc_cashback",))
    ev = EventIn("e1", d, "cc_cashback", "impression", dt.datetime(2026, 5, 4))
    with pytest.raises(
        DataValidationError,
        match=r"^events: got 1001 events in one batch, expected at most 1000$",
    ):
        record_events(sqlite_engine, [ev] * 1001, received_at=NOW)
    with pytest.raises(
        DataValidationError,
        match=r"^events 'e1': unknown type, expected one of impression, click, accept, decline, conversion$",
    ):
        record_events(
            sqlite_engine,
            [EventIn("e1", d, "cc_cashback", "buy", ev.ts)],
            received_at=NOW,
        )
    many = [EventIn(f"x{i}", f"d{i:02d}", "o", "click", ev.ts) for i in range(25)]
    with pytest.raises(
        UnknownDecisionError,
        match=r"^events refer to unknown decision id\(s\) 'd00', .*'d19' and 5 more$",
    ) as info:
        record_events(sqlite_engine, many, received_at=NOW)
    assert len(info.value.decision_ids) == 25
    assert record_events(sqlite_engine, [], received_at=NOW).received == 0
