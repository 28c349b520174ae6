"""Publish, activate and roll back policy versions: immutable, atomic, audited."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import func, select

from nbo_engine.errors import StoreError
from nbo_engine.store import Engine, read
from nbo_engine.store.policies import (
    activate_version,
    activations,
    list_versions,
    load_version,
    publish_policy,
    read_slots,
    rollback_slot,
)
from nbo_engine.store.tables import metadata

TEXT = (Path(__file__).resolve().parents[2] / "policies" / "catalog.yaml").read_text()


def _count(engine: Engine, table: str) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(metadata.tables[table])
            ).scalar_one()
        )


def test_publish_numbers_versions_and_keeps_text(engine: Engine) -> None:
    v1 = publish_policy(engine, TEXT, "retail_default", note="first")
    v2 = publish_policy(engine, TEXT + "\n# tweak\n", "retail_default")
    other = publish_policy(engine, TEXT, "other")
    info = {v.id: v for v in list_versions(engine)}
    assert (info[v1].version, info[v2].version, info[other].version) == (1, 2, 1)
    assert load_version(engine, v1).spec == TEXT
    assert info[v1].spec_sha256 == hashlib.sha256(TEXT.encode()).hexdigest()
    assert info[v1].note == "first"
    assert read_slots(engine) == {
        "live": None,
        "shadow": None,
    }  # publishing alone serves nothing
    assert _count(engine, "policy_activations") == 0


def test_activate_and_rollback_are_audited(engine: Engine) -> None:
    v1 = publish_policy(engine, TEXT, "p", activate="live", actor="alice")
    v2 = publish_policy(engine, TEXT, "p")
    v3 = publish_policy(engine, TEXT, "p")
    activate_version(engine, v2, "live", actor="bob", reason="better")
    activate_version(engine, v3, "live")
    activate_version(engine, v2, "shadow")
    assert read_slots(engine) == {"live": v3, "shadow": v2}
    assert [v.slots for v in list_versions(engine) if v.id == v3] == [("live",)]
    back = rollback_slot(engine, "live", actor="carol")
    assert back.version_id == v2
    assert back.previous_version_id == v3
    assert rollback_slot(engine, "live").version_id == v1  # one more step back
    with pytest.raises(StoreError, match="nothing to roll back to"):
        rollback_slot(engine, "live")
    assert read_slots(engine)["live"] == v1
    log = activations(engine, "live")
    assert [(a.version_id, a.previous_version_id) for a in reversed(log)] == [
        (v1, None),
        (v2, v1),
        (v3, v2),
        (v2, v3),
        (v1, v2),
    ]
    assert log[-1].actor == "alice"
    assert log[-2].reason == "activate: better"
    assert log[0].reason == "rollback"
    assert log[1].actor == "carol"
    # shadow: rolling back to the empty slot is allowed
    assert rollback_slot(engine, "shadow").version_id is None
    assert read_slots(engine)["shadow"] is None


def test_failed_switch_changes_nothing(engine: Engine) -> None:
    v1 = publish_policy(engine, TEXT, "p", activate="live")
    n = _count(engine, "policy_activations")
    with pytest.raises(StoreError, match="policy version 999 does not exist"):
        activate_version(engine, 999, "live")
    assert read_slots(engine)["live"] == v1
    assert _count(engine, "policy_activations") == n
