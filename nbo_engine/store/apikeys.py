"""API keys: created once in plain text, stored only as a SHA-256.

Format: ``nbo_<prefix>_<secret>``, where ``prefix`` is 8 hex characters (the
row's public handle, unique) and ``secret`` is 32 random bytes, URL-safe
base64 (43 characters). A key is 256 bits of randomness, so a fast hash is
enough: there is no dictionary to attack, and SHA-256 keeps the lookup on the
request path in microseconds (a slow KDF is for low-entropy passwords).
Lookup finds the row by prefix through its unique index, then compares the
digests with :func:`hmac.compare_digest` so the time taken does not depend on
how many leading characters matched.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from nbo_engine.errors import ApiKeyError
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata

__all__ = [
    "DEFAULT_RATE_PER_MINUTE",
    "KEY_PREFIX",
    "ROLES",
    "ApiKeyRecord",
    "create_key",
    "hash_key",
    "list_keys",
    "lookup_key",
    "revoke_key",
    "split_key",
]

KEYS = metadata.tables["api_keys"]

#: Roles a key can have; the API's route table says which routes each may call.
ROLES: tuple[str, ...] = ("channel", "analyst", "campaign_manager", "admin")
KEY_PREFIX = "nbo_"
DEFAULT_RATE_PER_MINUTE = 6000
_PREFIX_HEX = 8
_SECRET_BYTES = 32
#: ``nbo_`` + 8 hex + ``_`` + 43 base64url characters.
_KEY_LENGTH = len(KEY_PREFIX) + _PREFIX_HEX + 1 + 43


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key, without its hash (never shown, never logged)."""

    id: int
    prefix: str
    role: str
    name: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    rate_per_minute: int

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    """Hex SHA-256 of the whole plain key (the only form stored)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, or None if ``key`` is not one."""
    if len(key) != _KEY_LENGTH or not key.startswith(KEY_PREFIX):
        return None
    prefix = key[len(KEY_PREFIX) : len(KEY_PREFIX) + _PREFIX_HEX]
    if key[len(KEY_PREFIX) + _PREFIX_HEX] != "_":
        return None
    if any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix


def _record(row: Any) -> ApiKeyRecord:
    revoked = row["revoked_at"]
    return ApiKeyRecord(
        id=int(row["id"]),
        prefix=str(row["prefix"]),
        role=str(row["role"]),
        name=str(row["name"]),
        created_at=row["created_at"],
        revoked_at=revoked,
        rate_per_minute=int(row["rate_per_minute"]),
    )


def _public_columns() -> list[Any]:
    return [KEYS.c[c] for c in KEYS.c.keys() if c != "key_sha256"]


def create_key(
    engine: Engine,
    *,
    role: str,
    name: str,
    rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
    now: dt.datetime | None = None,
) -> tuple[ApiKeyRecord, str]:
    """Store a new key; returns its record and the plain key (shown once).

    Raises
    ------
    ApiKeyError
        Unknown ``role``, empty ``name`` or ``rate_per_minute`` < 1.
    """
    if role not in ROLES:
        raise ApiKeyError(
            f"api key role: got {role!r}, expected one of {', '.join(ROLES)}"
        )
    if not name.strip():
        raise ApiKeyError("api key name: got an empty name, expected some text")
    if rate_per_minute < 1:
        raise ApiKeyError(
            f"api key rate_per_minute: got {rate_per_minute}, expected an integer >= 1"
        )
    created = now or dt.datetime.now(dt.UTC)
    # A prefix collision (1 in 4e9 per pair) is retried with a fresh key.
    for _ in range(5):
        prefix = secrets.token_hex(_PREFIX_HEX // 2)
        key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        try:
            with write(engine) as conn:
                result = conn.execute(
                    insert(KEYS).values(
                        prefix=prefix,
                        key_sha256=hash_key(key),
                        role=role,
                        name=name.strip(),
                        created_at=created,
                        revoked_at=None,
                        rate_per_minute=rate_per_minute,
                    )
                )
                pk = result.inserted_primary_key
                assert pk is not None
                key_id = int(pk[0])
        except IntegrityError:  # pragma: no cover - astronomically rare
            continue
        record = ApiKeyRecord(
            id=key_id,
            prefix=prefix,
            role=role,
            name=name.strip(),
            created_at=created,
            revoked_at=None,
            rate_per_minute=rate_per_minute,
        )
        return record, key
    raise ApiKeyError("api key: could not draw a unique prefix")  # pragma: no cover


def lookup_key(engine: Engine, key: str) -> ApiKeyRecord | None:
    """The record of ``key`` (revoked ones included, see ``active``), or None
    if ``key`` is malformed, unknown or does not match the stored hash."""
    prefix = split_key(key)
    if prefix is None:
        return None
    with read(engine) as conn:
        row = (
            conn.execute(select(KEYS).where(KEYS.c.prefix == prefix)).mappings().first()
        )
    if row is None:
        return None
    if not hmac.compare_digest(str(row["key_sha256"]), hash_key(key)):
        return None
    return _record(row)


def revoke_key(
    engine: Engine, key_id: int, *, now: dt.datetime | None = None
) -> ApiKeyRecord:
    """Revoke key ``key_id`` (revoking twice keeps the first time).

    Raises
    ------
    ApiKeyError
        No key has that id.
    """
    with write(engine) as conn:
        conn.execute(
            update(KEYS)
            .where(KEYS.c.id == key_id, KEYS.c.revoked_at.is_(None))
            .values(revoked_at=now or dt.datetime.now(dt.UTC))
        )
        row = (
            conn.execute(select(*_public_columns()).where(KEYS.c.id == key_id))
            .mappings()
            .first()
        )
    if row is None:
        raise ApiKeyError(f"api key id: no key has id {key_id}")
    return _record(row)


def list_keys(engine: Engine, *, include_revoked: bool = True) -> list[ApiKeyRecord]:
    """Every key's record, oldest first (never the hash)."""
    stmt = select(*_public_columns()).order_by(KEYS.c.id)
    if not include_revoked:
        stmt = stmt.where(KEYS.c.revoked_at.is_(None))
    with read(engine) as conn:
        return [_record(r) for r in conn.execute(stmt).mappings()]
