"""Policy versions and the slots that serve them.

A published policy is a new immutable row of ``policy_versions`` (the YAML as
written, its SHA-256, a version number per policy name). Which version serves
is one row per slot in ``policy_slots`` (``live`` and ``shadow``): activation
and rollback are one ``UPDATE`` of that row plus an audit row in
``policy_activations``, in one transaction, with the slot row locked first so
two concurrent switches serialise (``SELECT ... FOR UPDATE`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite). Validation of the spec is the caller's
(:func:`nbo_engine.policy.parse_policy`); this module stores text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from nbo_engine.errors import StoreError
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata

__all__ = [
    "SLOTS",
    "Activation",
    "PolicyVersionInfo",
    "activate_version",
    "activations",
    "list_versions",
    "load_version",
    "publish_policy",
    "read_slot",
    "read_slots",
    "rollback_slot",
]

VERSIONS = metadata.tables["policy_versions"]
SLOT_TABLE = metadata.tables["policy_slots"]
ACTIVATIONS = metadata.tables["policy_activations"]

#: The slots a version can serve from.
SLOTS: tuple[str, ...] = ("live", "shadow")


@dataclass(frozen=True)
class PolicyVersionInfo:
    """A published policy version (``spec`` is the YAML as published)."""

    id: int
    name: str
    version: int
    created_at: dt.datetime
    created_by: str | None
    spec_sha256: str
    note: str | None
    spec: str = ""
    slots: tuple[str, ...] = ()


@dataclass(frozen=True)
class Activation:
    """One switch of a slot (a row of ``policy_activations``)."""

    id: int
    slot: str
    version_id: int | None
    previous_version_id: int | None
    at: dt.datetime
    actor: str | None
    reason: str | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_slot(slot: str) -> None:
    if slot not in SLOTS:
        raise StoreError(f"slot: expected one of {', '.join(SLOTS)}, got {slot!r}")


def sha256_of(spec_text: str) -> str:
    """Checksum stored with a version (of the UTF-8 YAML text)."""
    return hashlib.sha256(spec_text.encode()).hexdigest()


def publish_policy(
    engine: Engine,
    spec_text: str,
    name: str,
    *,
    created_by: str | None = None,
    note: str | None = None,
    activate: str | None = None,
    actor: str | None = None,
) -> int:
    """Store ``spec_text`` as the next version of policy ``name``.

    Parameters
    ----------
    spec_text : the policy YAML, already validated by the caller.
    name : the policy's ``name``; versions count 1, 2, ... per name.
    activate : a slot (``live`` or ``shadow``) to switch to the new version in
        the same transaction, or ``None``.

    Returns
    -------
    int
        The new ``policy_versions.id``.
    """
    if activate is not None:
        _check_slot(activate)
    for _attempt in range(3):  # a concurrent publish of the same name: retry
        try:
            with write(engine) as conn:
                latest = conn.execute(
                    select(func.max(VERSIONS.c.version)).where(VERSIONS.c.name == name)
                ).scalar_one()
                result = conn.execute(
                    insert(VERSIONS).values(
                        name=name,
                        version=int(latest or 0) + 1,
                        created_at=_now(),
                        created_by=created_by,
                        spec=spec_text,
                        spec_sha256=sha256_of(spec_text),
                        note=note,
                    )
                )
                key = result.inserted_primary_key
                assert key is not None
                version_id = int(key[0])
                if activate is not None:
                    _switch(
                        conn,
                        activate,
                        version_id,
                        actor=actor or created_by,
                        reason="publish" + (f": {note}" if note else ""),
                    )
                return version_id
        except IntegrityError:
            continue
    raise StoreError(
        f"policy {name!r}: could not allocate a version number after 3 attempts "
        "(concurrent publishes)"
    )


def _lock_slot(conn: Connection, slot: str) -> int | None:
    stmt = select(SLOT_TABLE.c.version_id).where(SLOT_TABLE.c.slot == slot)
    if conn.dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).first()
    if row is None:
        raise StoreError(
            f"slot {slot!r} is missing from policy_slots; run `nbo db upgrade`"
        )
    return None if row[0] is None else int(row[0])


def _switch(
    conn: Connection,
    slot: str,
    version_id: int | None,
    *,
    actor: str | None,
    reason: str | None,
    previous: int | None = None,
    locked: bool = False,
) -> Activation:
    if not locked:
        previous = _lock_slot(conn, slot)
    if version_id is not None:
        exists = conn.execute(
            select(VERSIONS.c.id).where(VERSIONS.c.id == version_id)
        ).first()
        if exists is None:
            raise StoreError(
                f"policy version {version_id} does not exist; see `nbo policy list`"
            )
    at = _now()
    conn.execute(
        update(SLOT_TABLE)
        .where(SLOT_TABLE.c.slot == slot)
        .values(version_id=version_id, updated_at=at)
    )
    result = conn.execute(
        insert(ACTIVATIONS).values(
            slot=slot,
            version_id=version_id,
            previous_version_id=previous,
            at=at,
            actor=actor,
            reason=reason,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return Activation(int(key[0]), slot, version_id, previous, at, actor, reason)


def activate_version(
    engine: Engine,
    version_id: int | None,
    slot: str = "live",
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Activation:
    """Switch ``slot`` to ``version_id`` atomically, with an audit row.

    ``version_id=None`` empties the slot (allowed for ``shadow`` only).

    Raises
    ------
    StoreError
        Unknown slot or version, or emptying ``live``.
    """
    _check_slot(slot)
    if version_id is None and slot == "live":
        raise StoreError(
            "slot 'live': expected a policy version id, got None (the live slot "
            "cannot be emptied; activate another version or roll back)"
        )
    why = "activate" + (f": {reason}" if reason else "")
    with write(engine) as conn:
        return _switch(conn, slot, version_id, actor=actor, reason=why)


def rollback_slot(
    engine: Engine,
    slot: str = "live",
    *,
    actor: str | None = None,
    reason: str | None = None,
) -> Activation:
    """Switch ``slot`` back to the version it held before its last switch.

    Each rollback steps one switch back in the slot's history, skipping the
    switches already undone, so two rollbacks after v1 -> v2 -> v3 serve v1.

    Raises
    ------
    StoreError
        Nothing to roll back to (or it would empty the live slot).
    """
    _check_slot(slot)
    with write(engine) as conn:
        current = _lock_slot(conn, slot)
        history = conn.execute(
            select(
                ACTIVATIONS.c.version_id,
                ACTIVATIONS.c.previous_version_id,
                ACTIVATIONS.c.reason,
            )
            .where(ACTIVATIONS.c.slot == slot)
            .order_by(ACTIVATIONS.c.id)
        ).all()
        # Replay the history as a stack: a switch pushes, a rollback pops.
        stack: list[int | None] = []
        for _version, previous, why in history:
            if (why or "").startswith("rollback") and stack:
                stack.pop()
            else:
                stack.append(previous)
        if not stack:
            raise StoreError(
                f"slot {slot!r}: nothing to roll back to (no earlier activation)"
            )
        target = stack[-1]
        if target is None and slot == "live":
            raise StoreError(
                "slot 'live': nothing to roll back to (the version before was the "
                "empty slot)"
            )
        return _switch(
            conn,
            slot,
            target,
            actor=actor,
            reason="rollback" + (f": {reason}" if reason else ""),
            previous=current,
            locked=True,
        )


def read_slot(engine: Engine, slot: str = "live") -> int | None:
    """The version id serving from ``slot`` (``None``: empty)."""
    _check_slot(slot)
    return read_slots(engine)[slot]


def read_slots(engine: Engine) -> dict[str, int | None]:
    """``{slot: version_id or None}`` of every slot."""
    with read(engine) as conn:
        rows = conn.execute(select(SLOT_TABLE.c.slot, SLOT_TABLE.c.version_id)).all()
    out: dict[str, int | None] = dict.fromkeys(SLOTS)
    out.update({s: (None if v is None else int(v)) for s, v in rows})
    return out


def _info(row: dict[str, object], slots: tuple[str, ...]) -> PolicyVersionInfo:
    return PolicyVersionInfo(
        id=int(row["id"]),  # type: ignore[call-overload]
        name=str(row["name"]),
        version=int(row["version"]),  # type: ignore[call-overload]
        created_at=row["created_at"],  # type: ignore[arg-type]
        created_by=row["created_by"],  # type: ignore[arg-type]
        spec_sha256=str(row["spec_sha256"]),
        note=row["note"],  # type: ignore[arg-type]
        spec=str(row.get("spec") or ""),
        slots=slots,
    )


def load_version(engine: Engine, version_id: int) -> PolicyVersionInfo:
    """One version with its YAML; the checksum is verified.

    Raises
    ------
    StoreError
        Unknown id, or the stored text does not match its checksum.
    """
    with read(engine) as conn:
        row = (
            conn.execute(select(VERSIONS).where(VERSIONS.c.id == version_id))
            .mappings()
            .first()
        )
    if row is None:
        raise StoreError(
            f"policy version {version_id} does not exist; see `nbo policy list`"
        )
    if sha256_of(row["spec"]) != row["spec_sha256"]:
        raise StoreError(f"policy version {version_id}: spec checksum mismatch")
    return _info(dict(row), ())


def list_versions(engine: Engine, limit: int = 100) -> list[PolicyVersionInfo]:
    """Published versions, newest first, each with the slots serving it
    (without the YAML text)."""
    slots = read_slots(engine)
    with read(engine) as conn:
        rows = (
            conn.execute(
                select(*[c for c in VERSIONS.c if c.name != "spec"])
                .order_by(VERSIONS.c.id.desc())
                .limit(limit)
            )
            .mappings()
            .all()
        )
    return [
        _info(dict(r), tuple(s for s, v in slots.items() if v == r["id"])) for r in rows
    ]


def activations(
    engine: Engine, slot: str | None = None, limit: int = 100
) -> list[Activation]:
    """The audit of slot switches, newest first."""
    stmt = select(ACTIVATIONS).order_by(ACTIVATIONS.c.id.desc()).limit(limit)
    if slot is not None:
        _check_slot(slot)
        stmt = stmt.where(ACTIVATIONS.c.slot == slot)
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    return [
        Activation(
            int(r["id"]),
            str(r["slot"]),
            r["version_id"],
            r["previous_version_id"],
            r["at"],
            r["actor"],
            r["reason"],
        )
        for r in rows
    ]
