"""Outcome events (impressions, clicks, accepts, declines, conversions).

Idempotent by the client's ``event_id``: a batch is written in ONE statement,
``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id`` on both
SQLite (>= 3.35) and PostgreSQL, with every value a bound parameter. The
``RETURNING`` list is exactly the rows that were new, so the caller learns
which events were duplicates. ``ON CONFLICT (event_id)`` rather than SQLite's
``INSERT OR IGNORE``: OR IGNORE would also swallow foreign-key and NOT NULL
failures, silently dropping bad rows; here only a resent event is skipped.

Every event must refer to a live decision in the log and to an offer that
decision chose; the batch is refused as a whole otherwise, naming each
offending id, so a client never half-sends a batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from nbo_engine.errors import DataValidationError, UnknownDecisionError
from nbo_engine.store.engine import read, write
from nbo_engine.store.tables import metadata

__all__ = [
    "EVENT_TYPES",
    "MAX_BATCH",
    "EventBatchResult",
    "EventIn",
    "count_events",
    "record_events",
    "split_result",
]

EVENTS = metadata.tables["offer_events"]
DECISIONS = metadata.tables["decisions"]
CHOSEN = metadata.tables["decision_offers"]

#: What a customer can do with an offer.
EVENT_TYPES: tuple[str, ...] = (
    "impression",
    "click",
    "accept",
    "decline",
    "conversion",
)
#: Largest batch: 9 bound values per event stays under SQLite's 32,766 limit.
MAX_BATCH = 1000
_SHOW = 20  # ids named in a message before "and N more"


@dataclass(frozen=True, slots=True)
class EventIn:
    """One event as a channel reports it. ``ts`` is naive UTC."""

    event_id: str
    decision_id: str
    offer_id: str
    type: str
    ts: dt.datetime
    value: float | None = None


@dataclass(frozen=True, slots=True)
class EventBatchResult:
    """How a batch was taken: ``inserted + duplicates == received``."""

    received: int
    inserted: int
    duplicates: int
    duplicate_event_ids: tuple[str, ...]
    inserted_event_ids: tuple[str, ...] = ()


def _named(ids: Sequence[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:_SHOW])
    more = len(ids) - _SHOW
    return shown + (f" and {more} more" if more > 0 else "")


def _references(
    conn: Connection, decision_ids: list[str]
) -> dict[str, tuple[str, str, set[str]]]:
    """decision_id -> (customer_id, mode, chosen offer ids)."""
    out: dict[str, tuple[str, str, set[str]]] = {}
    stmt = (
        select(
            DECISIONS.c.decision_id,
            DECISIONS.c.customer_id,
            DECISIONS.c.mode,
            CHOSEN.c.offer_id,
        )
        .select_from(
            DECISIONS.outerjoin(CHOSEN, CHOSEN.c.decision_id == DECISIONS.c.decision_id)
        )
        .where(DECISIONS.c.decision_id.in_(decision_ids))
    )
    for decision_id, customer_id, mode, offer_id in conn.execute(stmt):
        entry = out.setdefault(decision_id, (customer_id, mode, set()))
        if offer_id is not None:
            entry[2].add(offer_id)
    return out


@lru_cache(maxsize=2)
def _insert_new(dialect_name: str) -> Any:
    """``INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id``,
    built once (executed with many parameter sets: SQLAlchemy's
    "insertmanyvalues" sends one multi-row statement and returns the ids of
    the rows inserted; ``.values(rows)`` compiled a new statement per call)."""
    dialect = sqlite if dialect_name == "sqlite" else postgresql
    return (
        dialect.insert(EVENTS)
        .on_conflict_do_nothing(index_elements=["event_id"])
        .returning(EVENTS.c.event_id)
    )


def record_events(
    engine: Engine, events: Sequence[EventIn], *, received_at: dt.datetime
) -> EventBatchResult:
    """Store a batch of events once each; report new vs already-stored.

    Parameters
    ----------
    engine
        The store.
    events
        At most :data:`MAX_BATCH` events. An ``event_id`` repeated within the
        batch counts as a duplicate of its first occurrence.
    received_at
        Aware time of receipt (UTC), stored with every new row.

    Returns
    -------
    EventBatchResult
        ``inserted`` new rows and the ids of the ``duplicates`` (resent events,
        acknowledged and not stored again).

    Raises
    ------
    UnknownDecisionError
        Some events name a decision that is not in the log, or a shadow
        decision (never served); every such id is named. Nothing is stored.
    DataValidationError
        Too many events, an unknown type, or an offer the decision did not
        choose (each event named). Nothing is stored.
    """
    if len(events) > MAX_BATCH:
        raise DataValidationError(
            f"events: got {len(events)} events in one batch, expected at most {MAX_BATCH}"
        )
    bad_types = [e.event_id for e in events if e.type not in EVENT_TYPES]
    if bad_types:
        raise DataValidationError(
            f"events {_named(bad_types)}: unknown type, expected one of "
            f"{', '.join(EVENT_TYPES)}"
        )
    if not events:
        return EventBatchResult(0, 0, 0, (), ())
    first: dict[str, EventIn] = {}
    for e in events:
        first.setdefault(e.event_id, e)
    in_batch_dupes = [e.event_id for e in events if first[e.event_id] is not e]
    with write(engine) as conn:
        refs = _references(conn, sorted({e.decision_id for e in first.values()}))
        unknown = sorted(
            {e.decision_id for e in first.values() if e.decision_id not in refs}
        )
        shadow = sorted(
            {
                e.decision_id
                for e in first.values()
                if e.decision_id in refs and refs[e.decision_id][1] != "live"
            }
        )
        if unknown or shadow:
            parts = []
            if unknown:
                parts.append(f"unknown decision id(s) {_named(unknown)}")
            if shadow:
                parts.append(
                    f"shadow decision id(s) {_named(shadow)} (never served, "
                    "so no customer saw them)"
                )
            raise UnknownDecisionError(
                "events refer to " + "; ".join(parts), unknown + shadow
            )
        wrong = [
            f"event {e.event_id!r}: offer {e.offer_id!r} was not chosen in "
            f"decision {e.decision_id!r} (chosen: "
            f"{', '.join(sorted(refs[e.decision_id][2])) or 'none'})"
            for e in first.values()
            if e.offer_id not in refs[e.decision_id][2]
        ]
        if wrong:
            more = len(wrong) - _SHOW
            raise DataValidationError(
                "; ".join(wrong[:_SHOW]) + (f"; and {more} more" if more > 0 else "")
            )
        rows = [
            {
                "event_id": e.event_id,
                "decision_id": e.decision_id,
                "customer_id": refs[e.decision_id][0],
                "offer_id": e.offer_id,
                "type": e.type,
                "ts": e.ts,
                "value": e.value,
                "received_at": received_at,
                "folded_state_id": None,
            }
            for e in first.values()
        ]
        new = {str(r[0]) for r in conn.execute(_insert_new(conn.dialect.name), rows)}
    resent = [i for i in first if i not in new]
    dupes = tuple(resent + in_batch_dupes)
    return EventBatchResult(
        received=len(events),
        inserted=len(new),
        duplicates=len(dupes),
        duplicate_event_ids=dupes,
        inserted_event_ids=tuple(i for i in first if i in new),
    )


def count_events(engine: Engine, *, decision_id: str | None = None) -> int:
    """Rows in ``offer_events`` (of one decision if given)."""
    stmt = select(func.count()).select_from(EVENTS)
    if decision_id is not None:
        stmt = stmt.where(EVENTS.c.decision_id == decision_id)
    with read(engine) as conn:
        return int(conn.execute(stmt).scalar_one())


def split_result(
    merged: EventBatchResult, requests: Sequence[Sequence[EventIn]]
) -> list[EventBatchResult]:
    """Per-request results of one :func:`record_events` call over the
    concatenated events of ``requests``, as if each request had been stored
    alone in order: the first occurrence of an id newly stored is new, every
    other occurrence (a resend, in the same request or a later one) a
    duplicate.

    >>> e = lambda i: EventIn(i, "d", "o", "click", dt.datetime(2026, 1, 1), None)
    >>> merged = EventBatchResult(3, 1, 2, ("a", "a"), ("b",))
    >>> [(r.inserted, r.duplicate_event_ids) for r in split_result(
    ...     merged, [[e("a"), e("b")], [e("b"), e("a")]])]
    [(1, ('a',)), (0, ('b', 'a'))]
    """
    fresh = set(merged.inserted_event_ids)
    out = []
    for events in requests:
        ids = [e.event_id for e in events]
        first = list(dict.fromkeys(ids))
        new = [i for i in first if i in fresh]
        fresh.difference_update(new)
        seen: set[str] = set()
        repeats = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
        dupes = [i for i in first if i not in set(new)] + repeats
        out.append(
            EventBatchResult(
                received=len(events),
                inserted=len(new),
                duplicates=len(dupes),
                duplicate_event_ids=tuple(dupes),
                inserted_event_ids=tuple(new),
            )
        )
    return out
