"""The decision log, contact history, the decision profile and bandit states.

Decisions run in short write transactions (``Decider.decide_many``): lock
the customers (:func:`lock_customers`: PostgreSQL advisory transaction locks;
SQLite's ``BEGIN IMMEDIATE`` already serialises writers), read their profile
rows (:func:`read_profiles`) and recent contact histories
(:func:`read_contact_histories`), decide, insert the decision rows
(:func:`insert_decisions`), commit. Reading the history and writing the new
contact under one lock is what keeps contact caps exact when two processes
decide for the same customer at once.

Times in ``decisions`` (and, by the events API, ``offer_events``) are naive
UTC. The input tables hold bank-local times without a zone; the few hours
between them do not matter to the day counts read here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    and_,
    bindparam,
    case,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.types import Date, DateTime, String

from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.store.engine import read, write
from nbo_engine.store.scores import SCORE_COLUMNS
from nbo_engine.store.tables import metadata
from nbo_engine.timeutil import naive_utc as _naive_utc

__all__ = [
    "DERIVED_FIELDS",
    "POSITIVE_EVENTS",
    "BanditStateRow",
    "ContactHistory",
    "DecisionRows",
    "Stamp",
    "count_decisions",
    "decision_log",
    "decision_record",
    "decisions_frame",
    "ensure_bandit_state",
    "first_bandit_state",
    "insert_decisions",
    "latest_bandit_state",
    "load_bandit_state",
    "lock_customers",
    "mark_events_folded",
    "newest_state_id",
    "positive_events",
    "read_contact_histories",
    "read_contact_history",
    "read_profile",
    "read_profiles",
    "read_stamp",
    "save_bandit_state",
    "versions_with_live_decisions",
]

DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
EVENTS = metadata.tables["offer_events"]
STATES = metadata.tables["bandit_states"]
SLOTS = metadata.tables["policy_slots"]
SNAPSHOTS = metadata.tables["score_snapshots"]
SCORES = metadata.tables["customer_scores"]
CUSTOMERS = metadata.tables["customers"]
ACCOUNTS = metadata.tables["accounts"]
BUREAU = metadata.tables["bureau"]
INTERACTIONS = metadata.tables["interactions"]
DIGITAL = metadata.tables["digital_events"]
CAMPAIGNS = metadata.tables["campaign_history"]

T = TypeVar("T")

_BUREAU = (
    "credit_score",
    "total_debt",
    "open_trades",
    "delinquencies_12m",
    "utilisation",
)
#: Profile fields read from the input tables at decision time (on top of the
#: snapshot's score columns and the customer's name, city and dependants),
#: named as in the feature frame. Only those a policy's rules read are queried.
DERIVED_FIELDS: tuple[str, ...] = (
    *(f"held_{p}" for p in PRODUCTS),
    *(f"bureau_{c}" for c in _BUREAU),
    "svc_complaints_90",
    "svc_days_since_complaint",
    "dig_days_since_login",
    "cmp_days_since_contact",
    "days_since_open",
)
_CUSTOMER_FIELDS = ("first_name", "last_name", "city", "dependants")
_DAY_SECONDS = 86_400.0
_PRODUCT_BIT = {f"held_{p}": i for i, p in enumerate(PRODUCTS)}


# ------------------------------------------------------------------ profile
@lru_cache(maxsize=64)
def _profile_stmt(fields: frozenset[str], bulk: bool = False) -> Select[Any]:
    """One customer's profile (``:cid``), or with ``bulk`` every customer in
    ``:cids`` (expanding): the derived fields are subqueries correlated on
    the outer score row, so both read the same columns the same way."""
    cid = SCORES.c.customer_id
    today = bindparam("today", type_=Date)
    since90 = bindparam("since90", type_=DateTime)
    cols: list[Any] = [SCORES.c[c] for c in SCORE_COLUMNS]
    if "customer_id" not in SCORE_COLUMNS:
        cols.insert(0, SCORES.c.customer_id)
    cols += [CUSTOMERS.c[c] for c in _CUSTOMER_FIELDS]
    cols += [
        CUSTOMERS.c.marketing_consent.label("_consent_now"),
        CUSTOMERS.c.do_not_contact.label("_dnc_now"),
    ]
    open_now = and_(
        ACCOUNTS.c.customer_id == cid,
        ACCOUNTS.c.open_date <= today,
        or_(ACCOUNTS.c.close_date.is_(None), ACCOUNTS.c.close_date > today),
    )
    if any(f"held_{p}" in fields for p in PRODUCTS):
        # one correlated lookup for every product (a bit each), not one
        # EXISTS per product: PostgreSQL turns those into hashed subplans
        # that scan the whole accounts table on every request
        bit = case(
            {p: 1 << i for i, p in enumerate(PRODUCTS)},
            value=ACCOUNTS.c.product,
            else_=0,
        )
        cols.append(
            select(func.sum(bit.distinct()))
            .where(open_now)
            .scalar_subquery()
            .label("_held_bits")
        )
    for c in _BUREAU:
        if f"bureau_{c}" in fields:
            cols.append(
                select(BUREAU.c[c])
                .where(BUREAU.c.customer_id == cid, BUREAU.c.as_of <= today)
                .order_by(BUREAU.c.as_of.desc())
                .limit(1)
                .scalar_subquery()
                .label(f"bureau_{c}")
            )
    complaint = and_(
        INTERACTIONS.c.customer_id == cid, INTERACTIONS.c.complaint.is_(True)
    )
    if "svc_complaints_90" in fields:
        cols.append(
            select(func.count())
            .where(complaint, INTERACTIONS.c.timestamp >= since90)
            .scalar_subquery()
            .label("svc_complaints_90")
        )
    last: dict[str, Any] = {
        "svc_days_since_complaint": select(func.max(INTERACTIONS.c.timestamp)).where(
            complaint
        ),
        "dig_days_since_login": select(func.max(DIGITAL.c.timestamp)).where(
            DIGITAL.c.customer_id == cid, DIGITAL.c.event_type == "login"
        ),
        "cmp_days_since_contact": select(func.max(CAMPAIGNS.c.contact_date)).where(
            CAMPAIGNS.c.customer_id == cid, CAMPAIGNS.c.treated.is_(True)
        ),
        "days_since_open": select(func.max(ACCOUNTS.c.open_date)).where(
            ACCOUNTS.c.customer_id == cid
        ),
    }
    for name, stmt in last.items():
        if name in fields:
            cols.append(stmt.scalar_subquery().label(f"_last_{name}"))
    return (
        select(*cols)
        .select_from(
            SCORES.outerjoin(CUSTOMERS, CUSTOMERS.c.customer_id == SCORES.c.customer_id)
        )
        .where(
            SCORES.c.snapshot_id == bindparam("snap"),
            cid.in_(bindparam("cids", expanding=True))
            if bulk
            else cid == bindparam("cid", type_=String),
        )
    )


def _days_between(now: dt.datetime, then: Any) -> float | None:
    if then is None:
        return None
    if isinstance(then, dt.datetime):
        return (now - _naive_utc(then)).total_seconds() / _DAY_SECONDS
    if isinstance(then, dt.date):
        return float((now.date() - then).days)
    return None


def read_profile(
    conn: Connection,
    snapshot_id: int,
    customer_id: str,
    now: dt.datetime,
    fields: Iterable[str] = (),
) -> dict[str, Any] | None:
    """One customer's decision profile, or ``None`` if not in the snapshot.

    The snapshot's score columns, the customer's ``first_name``,
    ``last_name``, ``city``, ``dependants`` and current ``marketing_consent``
    and ``do_not_contact`` (the customers table wins over the snapshot: a
    withdrawn consent counts at once), plus whichever of
    :data:`DERIVED_FIELDS` are in ``fields``, computed as of ``now`` in one
    statement (one round trip).
    """
    wanted = frozenset(f for f in fields if f in DERIVED_FIELDS)
    now = _naive_utc(now)
    row = (
        conn.execute(
            _profile_stmt(wanted),
            {
                "cid": customer_id,
                "snap": snapshot_id,
                "today": now.date(),
                "since90": now - dt.timedelta(days=90),
            },
        )
        .mappings()
        .first()
    )
    return None if row is None else _finish_profile(dict(row), now, wanted)


def read_profiles(
    conn: Connection,
    snapshot_id: int,
    customer_ids: Sequence[str],
    now: dt.datetime,
    fields: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The decision profiles of many customers (those in the snapshot), read
    exactly as :func:`read_profile` reads one, in one statement per 4,096."""
    wanted = frozenset(f for f in fields if f in DERIVED_FIELDS)
    now = _naive_utc(now)
    stmt = _profile_stmt(wanted, bulk=True)
    params: dict[str, Any] = {
        "snap": snapshot_id,
        "today": now.date(),
        "since90": now - dt.timedelta(days=90),
    }
    ids = list(customer_ids)
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), _CHUNK):
        part = _padded(ids[i : i + _CHUNK])
        rows = conn.execute(stmt, params | {"cids": part}).mappings()
        out += [_finish_profile(dict(r), now, wanted) for r in rows]
    return out


#: Customers per statement of the bulk reads.
_CHUNK = 4096


def _padded(ids: list[str]) -> list[str]:
    """``ids`` padded to the next power of two by repeating the last one.

    An expanding ``IN`` list renders one SQL text per list length; padded,
    the decision path's micro-batches use a dozen texts, which psycopg
    prepares after a few executions, so PostgreSQL stops planning the long
    profile statement (3 ms) on every batch. Repeats match nothing new.
    """
    size = 1 << max(len(ids) - 1, 0).bit_length()
    return ids + ids[-1:] * (size - len(ids))


def _finish_profile(
    row: Mapping[str, Any], now: dt.datetime, wanted: frozenset[str]
) -> dict[str, Any]:
    out = dict(row)
    consent, dnc = out.pop("_consent_now"), out.pop("_dnc_now")
    if consent is not None:
        out["marketing_consent"] = bool(consent)
    if dnc is not None:
        out["do_not_contact"] = bool(dnc)
    bits = int(out.pop("_held_bits", None) or 0)
    for name in wanted:
        if name.startswith("held_"):
            out[name] = bool(bits >> _PRODUCT_BIT[name] & 1)
        elif f"_last_{name}" in out:
            out[name] = _days_between(now, out.pop(f"_last_{name}"))
    return out


# ------------------------------------------------------------------ history
@dataclass(frozen=True)
class ContactHistory:
    """A customer's recent live contacts and offer events.

    ``shown_*`` have one entry per offer shown in a live decision (shape
    (n_shown,)); ``event_*`` one per offer event (shape (n_events,)). Ages are
    in days before the decision time (>= 0).
    """

    shown_age: NDArray[np.float64]
    shown_channel: NDArray[np.object_]
    shown_offer: NDArray[np.object_]
    shown_decision: NDArray[np.object_]
    event_age: NDArray[np.float64]
    event_offer: NDArray[np.object_]
    event_type: NDArray[np.object_]

    @classmethod
    def empty(cls) -> ContactHistory:
        f, o = np.empty(0), np.empty(0, dtype=object)
        return cls(f, o, o, o, f, o, o)


#: Contacts logged up to this long after a decision's ``now`` still count in
#: its history (another server's clock may run a little ahead); later ones
#: belong to a replay, a backfill or a simulation run ahead in time, and a
#: decision is never capped by contacts that came after it.
CLOCK_SKEW = dt.timedelta(hours=1)


@lru_cache(maxsize=2)
def _history_stmt(bulk: bool = False) -> Any:
    since = bindparam("since", type_=DateTime)

    def who(column: Any) -> Any:
        if bulk:
            return column.in_(bindparam("cids", expanding=True))
        return column == bindparam("cid", type_=String)

    shown = (
        select(
            literal("d").label("kind"),
            DECISIONS.c.ts.label("ts"),
            DECISIONS.c.channel.label("what"),
            OFFERS.c.offer_id.label("offer_id"),
            DECISIONS.c.decision_id.label("decision_id"),
            DECISIONS.c.customer_id.label("customer_id"),
        )
        .select_from(
            DECISIONS.join(OFFERS, OFFERS.c.decision_id == DECISIONS.c.decision_id)
        )
        .where(
            who(DECISIONS.c.customer_id),
            DECISIONS.c.mode == "live",
            DECISIONS.c.ts >= since,
        )
    )
    events = select(
        literal("e").label("kind"),
        EVENTS.c.ts.label("ts"),
        EVENTS.c.type.label("what"),
        EVENTS.c.offer_id.label("offer_id"),
        EVENTS.c.decision_id.label("decision_id"),
        EVENTS.c.customer_id.label("customer_id"),
    ).where(who(EVENTS.c.customer_id), EVENTS.c.ts >= since)
    until = bindparam("until", type_=DateTime)
    shown = shown.where(DECISIONS.c.ts < until)
    events = events.where(EVENTS.c.ts < until)
    return union_all(shown, events)


def read_contact_history(
    conn: Connection,
    customer_id: str,
    now: dt.datetime,
    window_days: float,
    *,
    before: dt.datetime | None = None,
) -> ContactHistory:
    """Offers shown to the customer in live decisions and their offer events
    in the ``window_days`` before ``now`` (one statement), up to
    :data:`CLOCK_SKEW` after it. With ``before``, only rows strictly earlier
    (to replay a logged decision)."""
    now = _naive_utc(now)
    params: dict[str, Any] = {
        "cid": customer_id,
        "since": now - dt.timedelta(days=window_days),
        "until": _naive_utc(before) if before is not None else now + CLOCK_SKEW,
    }
    rows = conn.execute(_history_stmt(), params).all()
    if not rows:
        return ContactHistory.empty()
    return _history_of(rows, now)


def read_contact_histories(
    conn: Connection,
    customer_ids: Sequence[str],
    now: dt.datetime,
    window_days: float,
) -> dict[str, ContactHistory]:
    """:func:`read_contact_history` for many customers, one statement per
    4,096; customers without contacts in the window are absent."""
    now = _naive_utc(now)
    since = now - dt.timedelta(days=window_days)
    ids = list(customer_ids)
    rows: list[Any] = []
    for i in range(0, len(ids), _CHUNK):
        rows += conn.execute(
            _history_stmt(bulk=True),
            {
                "since": since,
                "until": now + CLOCK_SKEW,
                "cids": _padded(ids[i : i + _CHUNK]),
            },
        ).all()
    by_customer: dict[str, list[Any]] = {}
    for r in rows:
        by_customer.setdefault(r[5], []).append(r)
    return {c: _history_of(rs, now) for c, rs in by_customer.items()}


def _history_of(rows: Sequence[Any], now: dt.datetime) -> ContactHistory:
    kind = np.array([r[0] for r in rows], dtype=object)
    age = np.array(
        [(now - _naive_utc(r[1])).total_seconds() / _DAY_SECONDS for r in rows]
    )
    what = np.array([r[2] for r in rows], dtype=object)
    offer = np.array([r[3] for r in rows], dtype=object)
    dec = np.array([r[4] for r in rows], dtype=object)
    d = kind == "d"
    e = ~d
    return ContactHistory(age[d], what[d], offer[d], dec[d], age[e], offer[e], what[e])


# ------------------------------------------------------------------ the log
@dataclass(frozen=True)
class DecisionRows:
    """Rows to insert: ``decisions`` and ``decision_offers`` dicts."""

    decisions: Sequence[Mapping[str, Any]]
    offers: Sequence[Mapping[str, Any]]


def insert_decisions(conn: Connection, rows: DecisionRows) -> None:
    """Insert decision rows (and their offers) on ``conn``'s transaction."""
    if rows.decisions:
        conn.execute(insert(DECISIONS), [dict(r) for r in rows.decisions])
    if rows.offers:
        conn.execute(insert(OFFERS), [dict(r) for r in rows.offers])


def _lock_key(customer_id: str) -> int:
    digest = hashlib.blake2b(customer_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_customers(conn: Connection, customer_ids: Sequence[str]) -> None:
    """Take the customers' decision locks (PostgreSQL advisory transaction
    locks) in key order, so two batches cannot deadlock. SQLite: nothing to do, the
    write transaction already holds the database's write lock."""
    if conn.dialect.name != "postgresql" or not customer_ids:
        return
    keys = sorted({_lock_key(c) for c in customer_ids})
    conn.execute(
        text("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(:keys) AS k"),
        {"keys": keys},
    )


def decision_record(engine: Engine, decision_id: str) -> dict[str, Any] | None:
    """A logged decision with ``eligible`` and ``context`` decoded and its
    ``offers`` (list of dicts by rank), or ``None``."""
    with read(engine) as conn:
        row = (
            conn.execute(
                select(DECISIONS).where(DECISIONS.c.decision_id == decision_id)
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        offers = (
            conn.execute(
                select(OFFERS)
                .where(OFFERS.c.decision_id == decision_id)
                .order_by(OFFERS.c.rank)
            )
            .mappings()
            .all()
        )
    out = dict(row)
    out["eligible"] = json.loads(out["eligible"])
    out["context"] = json.loads(out["context"])
    out["offers"] = [dict(o) for o in offers]
    return out


def decisions_frame(engine: Engine, decision_ids: Sequence[str]) -> pd.DataFrame:
    """The logged decisions ``decision_ids`` (in that order, unknown ids
    dropped) with their first-ranked offer: columns ``decision_id, ts,
    customer_id, channel, policy_version_id, bandit_state_id, experiment,
    variant, eligible`` (JSON list), ``context`` (JSON list), ``offer_id``
    (None when nothing was offered) and ``propensity``."""
    ids = list(decision_ids)
    cols = [
        DECISIONS.c.decision_id,
        DECISIONS.c.ts,
        DECISIONS.c.customer_id,
        DECISIONS.c.channel,
        DECISIONS.c.policy_version_id,
        DECISIONS.c.bandit_state_id,
        DECISIONS.c.experiment,
        DECISIONS.c.variant,
        DECISIONS.c.eligible,
        DECISIONS.c.context,
        OFFERS.c.offer_id,
        OFFERS.c.propensity,
    ]
    parts = []
    with read(engine) as conn:
        for i in range(0, len(ids), 5000):
            stmt = (
                select(*cols)
                .select_from(
                    DECISIONS.outerjoin(
                        OFFERS,
                        and_(
                            OFFERS.c.decision_id == DECISIONS.c.decision_id,
                            OFFERS.c.rank == 1,
                        ),
                    )
                )
                .where(DECISIONS.c.decision_id.in_(ids[i : i + 5000]))
            )
            parts.append(pd.read_sql(stmt, conn))
    if not parts:
        return pd.DataFrame(columns=[c.name for c in cols])
    frame = pd.concat(parts, ignore_index=True).set_index("decision_id")
    order = [d for d in ids if d in frame.index]
    return frame.loc[order].reset_index()


def count_decisions(
    engine: Engine, *, customer_id: str | None = None, mode: str | None = None
) -> int:
    """Number of logged decisions (optionally of one customer / mode)."""
    stmt = select(func.count()).select_from(DECISIONS)
    if customer_id is not None:
        stmt = stmt.where(DECISIONS.c.customer_id == customer_id)
    if mode is not None:
        stmt = stmt.where(DECISIONS.c.mode == mode)
    with read(engine) as conn:
        return int(conn.execute(stmt).scalar_one())


# ------------------------------------------------------------------ bandit state
@dataclass(frozen=True)
class BanditStateRow:
    """A stored bandit state (``state`` is the bandit's own bytes format)."""

    id: int
    policy_version_id: int
    created_at: dt.datetime
    algorithm: str
    state: bytes
    n_rewards: int
    source: str
    note: str | None
    folded_until: dt.datetime | None = None
    carried_from_state_id: int | None = None


def _state_row(r: Mapping[str, Any]) -> BanditStateRow:
    return BanditStateRow(
        int(r["id"]),
        int(r["policy_version_id"]),
        r["created_at"],
        str(r["algorithm"]),
        bytes(r["state"]),
        int(r["n_rewards"]),
        str(r["source"]),
        r["note"],
        r.get("folded_until"),
        r.get("carried_from_state_id"),
    )


def save_bandit_state(
    engine: Engine | Connection,
    policy_version_id: int,
    algorithm: str,
    state: bytes,
    *,
    source: str,
    n_rewards: int = 0,
    note: str | None = None,
    folded_until: dt.datetime | None = None,
    carried_from_state_id: int | None = None,
) -> int:
    """Store a new bandit state (never overwritten); returns its id.

    ``carried_from_state_id``: the state (of another version) this one was
    carried over from; it links the two versions' learning
    (:func:`fold_lines`)."""
    values = {
        "carried_from_state_id": carried_from_state_id,
        "folded_until": None if folded_until is None else _naive_utc(folded_until),
        "policy_version_id": policy_version_id,
        "created_at": dt.datetime.now(dt.UTC),
        "algorithm": algorithm,
        "state": state,
        "n_rewards": n_rewards,
        "source": source,
        "note": note,
    }
    if isinstance(engine, Connection):
        key = engine.execute(insert(STATES).values(**values)).inserted_primary_key
    else:
        with write(engine) as conn:
            key = conn.execute(insert(STATES).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


def latest_bandit_state(
    engine: Engine, policy_version_id: int
) -> BanditStateRow | None:
    """The newest state of a policy version's bandit, or ``None``."""
    return _end_state(engine, policy_version_id, newest=True)


def first_bandit_state(engine: Engine, policy_version_id: int) -> BanditStateRow | None:
    """The first state of a policy version's bandit (before any learning)."""
    return _end_state(engine, policy_version_id, newest=False)


def _end_state(
    engine: Engine, policy_version_id: int, *, newest: bool
) -> BanditStateRow | None:
    order = STATES.c.id.desc() if newest else STATES.c.id.asc()
    with read(engine) as conn:
        row = (
            conn.execute(
                select(STATES)
                .where(STATES.c.policy_version_id == policy_version_id)
                .order_by(order)
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if row is None else _state_row(dict(row))


def load_bandit_state(engine: Engine, state_id: int) -> BanditStateRow | None:
    """One stored state by id, or ``None``."""
    with read(engine) as conn:
        row = (
            conn.execute(select(STATES).where(STATES.c.id == state_id))
            .mappings()
            .first()
        )
    return None if row is None else _state_row(dict(row))


def ensure_bandit_state(
    engine: Engine,
    policy_version_id: int,
    initial: Callable[[], tuple[str, bytes]],
) -> BanditStateRow:
    """The newest state of a version's bandit, creating an ``init`` row from
    ``initial() -> (algorithm, bytes)`` when it has none."""
    row = latest_bandit_state(engine, policy_version_id)
    if row is not None:
        return row
    algorithm, blob = initial()
    save_bandit_state(
        engine, policy_version_id, algorithm, blob, source="init", note="initial"
    )
    row = latest_bandit_state(engine, policy_version_id)
    assert row is not None
    return row


# ------------------------------------------------------------------ refresh
@dataclass(frozen=True)
class Stamp:
    """What a decider was built from: slot versions, newest bandit state per
    version, active snapshot. Equal stamps mean nothing changed."""

    live: int | None
    shadow: int | None
    states: tuple[tuple[int, int], ...]
    snapshot: int | None


def read_stamp(engine: Engine) -> Stamp:
    """The current :class:`Stamp` (two small indexed queries)."""
    with read(engine) as conn:
        slots = dict(conn.execute(select(SLOTS.c.slot, SLOTS.c.version_id)).all())
        snap = conn.execute(
            select(func.max(SNAPSHOTS.c.id)).where(SNAPSHOTS.c.status == "succeeded")
        ).scalar_one()
        versions = [v for v in (slots.get("live"), slots.get("shadow")) if v]
        states: list[tuple[int, int]] = []
        if versions:
            states = [
                (int(v), int(s))
                for v, s in conn.execute(
                    select(STATES.c.policy_version_id, func.max(STATES.c.id))
                    .where(STATES.c.policy_version_id.in_(versions))
                    .group_by(STATES.c.policy_version_id)
                ).all()
            ]
    return Stamp(
        live=slots.get("live"),
        shadow=slots.get("shadow"),
        states=tuple(sorted(states)),
        snapshot=None if snap is None else int(snap),
    )


# ------------------------------------------------------------------ the log, for export
#: Event types that count as the customer taking the offer.
POSITIVE_EVENTS = ("accept", "conversion")


def decision_log(
    engine: Engine,
    *,
    policy_version_id: int | Sequence[int],
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    mode: str = "live",
) -> pd.DataFrame:
    """One row per chosen offer of each logged decision, oldest first.

    Columns: ``decision_id, ts, customer_id, channel, experiment, variant,
    eligible`` (JSON list), ``context`` (JSON list), ``rank, offer_id,
    propensity``. ``policy_version_id``: one version or several;
    ``since``/``until`` bound ``ts`` (naive UTC, half-open).
    """
    versions = (
        [int(policy_version_id)]
        if isinstance(policy_version_id, int | np.integer)
        else [int(v) for v in policy_version_id]
    )
    stmt = (
        select(
            DECISIONS.c.decision_id,
            DECISIONS.c.ts,
            DECISIONS.c.customer_id,
            DECISIONS.c.channel,
            DECISIONS.c.experiment,
            DECISIONS.c.variant,
            DECISIONS.c.eligible,
            DECISIONS.c.context,
            OFFERS.c.rank,
            OFFERS.c.offer_id,
            OFFERS.c.propensity,
        )
        .select_from(
            DECISIONS.join(OFFERS, OFFERS.c.decision_id == DECISIONS.c.decision_id)
        )
        .where(
            DECISIONS.c.policy_version_id.in_(versions),
            DECISIONS.c.mode == mode,
        )
        .order_by(DECISIONS.c.ts, DECISIONS.c.decision_id, OFFERS.c.rank)
    )
    if since is not None:
        stmt = stmt.where(DECISIONS.c.ts >= _naive_utc(since))
    if until is not None:
        stmt = stmt.where(DECISIONS.c.ts < _naive_utc(until))
    with read(engine) as conn:
        frame = pd.read_sql(stmt, conn)
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def positive_events(engine: Engine, decision_ids: Sequence[str]) -> pd.DataFrame:
    """``decision_id, offer_id, ts, value`` of accept/conversion events on the
    given decisions (ids sent in batches of 5,000, parameters bound)."""
    ids = list(decision_ids)
    parts = []
    with read(engine) as conn:
        for i in range(0, len(ids), 5000):
            stmt = select(
                EVENTS.c.decision_id, EVENTS.c.offer_id, EVENTS.c.ts, EVENTS.c.value
            ).where(
                EVENTS.c.decision_id.in_(ids[i : i + 5000]),
                EVENTS.c.type.in_(POSITIVE_EVENTS),
            )
            parts.append(pd.read_sql(stmt, conn))
    if not parts:
        return pd.DataFrame(columns=["decision_id", "offer_id", "ts", "value"])
    frame = pd.concat(parts, ignore_index=True)
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def mark_events_folded(
    conn: Connection, decision_ids: Sequence[str], state_id: int
) -> int:
    """Mark the not-yet-folded events of ``decision_ids`` as counted by
    ``state_id``; returns how many were marked."""
    ids = list(decision_ids)
    n = 0
    for i in range(0, len(ids), 5000):
        n += conn.execute(
            update(EVENTS)
            .where(
                EVENTS.c.decision_id.in_(ids[i : i + 5000]),
                EVENTS.c.folded_state_id.is_(None),
            )
            .values(folded_state_id=state_id)
        ).rowcount
    return n


def newest_state_id(conn: Connection, policy_version_id: int) -> int | None:
    """Id of the newest state of a version, read inside ``conn``'s transaction."""
    got = conn.execute(
        select(func.max(STATES.c.id)).where(
            STATES.c.policy_version_id == policy_version_id
        )
    ).scalar_one()
    return None if got is None else int(got)


def lineage_heads(engine: Engine) -> dict[int, int]:
    """Each version whose bandit was carried on -> the version its learning
    continues in now (versions absent from the map continue in themselves).

    A retune that carries a version's bandit to a new version records the
    state it started from (``carried_from_state_id``). Following these links
    from a version to its newest carried successor, again and again, ends at
    its *head*; the fold (:mod:`nbo_engine.jobs.fold_rewards`) puts every
    version's decisions into its head's state, so a bandit goes on learning
    from the decisions of the versions before it, each decision once.
    """
    with read(engine) as conn:
        rows = conn.execute(
            select(STATES.c.policy_version_id, STATES.c.carried_from_state_id).where(
                STATES.c.carried_from_state_id.is_not(None)
            )
        ).all()
        ids = sorted({int(r[1]) for r in rows})
        owner = {
            int(i): int(v)
            for i, v in conn.execute(
                select(STATES.c.id, STATES.c.policy_version_id).where(
                    STATES.c.id.in_(ids)
                )
            ).all()
        }
    successor: dict[int, int] = {}
    for version, from_state in rows:
        parent = owner[int(from_state)]
        if parent != int(version):
            successor[parent] = max(successor.get(parent, 0), int(version))
    heads = {}
    for v in successor:
        head, seen = v, {v}
        while head in successor and successor[head] not in seen:
            head = successor[head]
            seen.add(head)
        heads[v] = head
    return heads


def fold_lines(engine: Engine, versions: Sequence[int]) -> dict[int, list[int]]:
    """The versions of ``versions`` grouped by their lineage head
    (:func:`lineage_heads`): ``{head: [versions whose decisions fold into
    the head's state]}``, heads ascending."""
    heads = lineage_heads(engine)
    out: dict[int, list[int]] = {}
    for v in sorted(set(versions)):
        out.setdefault(heads.get(v, v), []).append(v)
    return dict(sorted(out.items()))


def versions_with_live_decisions(engine: Engine) -> list[int]:
    """Policy versions that have served live decisions."""
    with read(engine) as conn:
        rows = conn.execute(
            select(DECISIONS.c.policy_version_id)
            .where(DECISIONS.c.mode == "live")
            .distinct()
        ).all()
    return sorted(int(r[0]) for r in rows)
