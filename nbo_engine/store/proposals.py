"""Retune proposals and their audit trail, and the reads a retune gathers.

A proposal (``policy_proposals``) is saved with the policy version it
published (immutable, not serving until applied), its changes and guardrail
checks as JSON, and a status:

* ``proposed`` -- awaiting a campaign manager's approval;
* ``applied`` -- its version was switched into the live slot;
* ``refused`` -- a guardrail refused it (nothing was published);
* ``rolled_back`` -- applied, then rolled back by a guardrail;
* ``superseded`` -- a newer proposal replaced it before anyone approved it.

``decided_at`` / ``decided_by`` hold the latest transition; ``note`` is a
JSON object ``{"summary": ..., "deferred": [...], "history": [...]}`` whose
``history`` lists every transition ``{status, at, actor, reason}``: the full
audit trail, next to ``policy_activations`` for the slot switches.

Applying a proposal (:func:`apply_proposal`) switches the live slot and marks
the proposal in ONE transaction, with the live slot locked first and checked
to still serve the version the proposal was made against.

The retune's evidence reads are here too (the only package that speaks SQL):
the live decisions of a period *including those that offered nothing* (the
holdout controls, which :func:`nbo_engine.store.decisions.decision_log`
leaves out), outcomes from the input tables, and score columns of a snapshot
for a set of customers.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    String,
    and_,
    func,
    insert,
    literal,
    null,
    select,
    update,
)

from nbo_engine.errors import ProposalStateError
from nbo_engine.store.engine import read, write
from nbo_engine.store.policies import _lock_slot, _switch
from nbo_engine.store.tables import metadata
from nbo_engine.timeutil import naive_utc as _naive

__all__ = [
    "STATUSES",
    "TRANSITIONS",
    "ProposalRow",
    "apply_proposal",
    "customer_outcomes",
    "get_proposal",
    "insert_proposal",
    "last_applied",
    "list_proposals",
    "mark_proposal",
    "period_decisions",
    "proposal_for_version",
    "snapshot_columns",
]

PROPOSALS = metadata.tables["policy_proposals"]
DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
ACCOUNTS = metadata.tables["accounts"]
INTERACTIONS = metadata.tables["interactions"]
SCORES = metadata.tables["customer_scores"]

STATUSES: tuple[str, ...] = (
    "proposed",
    "applied",
    "refused",
    "rolled_back",
    "superseded",
)
#: status -> statuses it may move to.
TRANSITIONS: Mapping[str, tuple[str, ...]] = {
    "proposed": ("applied", "superseded"),
    "applied": ("rolled_back",),
    "refused": (),
    "rolled_back": (),
    "superseded": (),
}
_BATCH = 5000


@dataclass(frozen=True)
class ProposalRow:
    """A stored proposal with its JSON decoded."""

    id: int
    created_at: dt.datetime
    base_version_id: int
    proposed_version_id: int | None
    mode: str
    status: str
    changes: list[dict[str, Any]]
    guardrails: list[dict[str, Any]]
    decided_at: dt.datetime | None
    decided_by: str | None
    job_run_id: int | None
    summary: str
    deferred: list[dict[str, Any]]
    history: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO text)."""
        out = dict(self.__dict__)
        for k in ("created_at", "decided_at"):
            out[k] = None if out[k] is None else out[k].isoformat()
        return out


def _row(r: Mapping[str, Any]) -> ProposalRow:
    note = json.loads(r["note"]) if r["note"] else {}
    return ProposalRow(
        id=int(r["id"]),
        created_at=r["created_at"],
        base_version_id=int(r["base_version_id"]),
        proposed_version_id=(
            None if r["proposed_version_id"] is None else int(r["proposed_version_id"])
        ),
        mode=str(r["mode"]),
        status=str(r["status"]),
        changes=json.loads(r["changes"]),
        guardrails=json.loads(r["guardrails"]),
        decided_at=r["decided_at"],
        decided_by=r["decided_by"],
        job_run_id=None if r["job_run_id"] is None else int(r["job_run_id"]),
        summary=str(note.get("summary", "")),
        deferred=list(note.get("deferred", [])),
        history=list(note.get("history", [])),
    )


def _entry(
    status: str, at: dt.datetime, actor: str | None, reason: str | None
) -> dict[str, Any]:
    return {
        "status": status,
        "at": _naive(at).isoformat(),
        "actor": actor,
        "reason": reason,
    }


def _get(conn: Connection, proposal_id: int) -> ProposalRow:
    r = (
        conn.execute(select(PROPOSALS).where(PROPOSALS.c.id == proposal_id))
        .mappings()
        .first()
    )
    if r is None:
        raise ProposalStateError(
            f"proposal {proposal_id} does not exist; see `nbo policy proposals`"
        )
    return _row(dict(r))


def _transition(
    conn: Connection,
    p: ProposalRow,
    status: str,
    *,
    actor: str | None,
    at: dt.datetime,
    reason: str | None,
) -> ProposalRow:
    if status not in STATUSES:
        raise ProposalStateError(
            f"status: expected one of {', '.join(STATUSES)}, got {status!r}"
        )
    allowed = TRANSITIONS[p.status]
    if status not in allowed:
        raise ProposalStateError(
            f"proposal {p.id} is {p.status}: it cannot become {status} (allowed: "
            f"{', '.join(allowed) or 'none, it is final'})"
        )
    note = {
        "summary": p.summary,
        "deferred": p.deferred,
        "history": [*p.history, _entry(status, at, actor, reason)],
    }
    # Compare-and-set on the status: a concurrent transition makes this a no-op.
    done = conn.execute(
        update(PROPOSALS)
        .where(PROPOSALS.c.id == p.id, PROPOSALS.c.status == p.status)
        .values(
            status=status,
            decided_at=_naive(at),
            decided_by=actor,
            note=json.dumps(note),
        )
    ).rowcount
    if done != 1:
        raise ProposalStateError(
            f"proposal {p.id} changed while being marked {status}; read it again"
        )
    return _get(conn, p.id)


# ------------------------------------------------------------------ proposals
def insert_proposal(
    engine: Engine,
    *,
    base_version_id: int,
    proposed_version_id: int | None,
    mode: str,
    status: str,
    changes: Sequence[Mapping[str, Any]],
    guardrails: Sequence[Mapping[str, Any]],
    summary: str,
    deferred: Sequence[Mapping[str, Any]] = (),
    actor: str | None = None,
    at: dt.datetime,
    job_run_id: int | None = None,
    activate: bool = False,
) -> ProposalRow:
    """Store a proposal (``status`` ``proposed`` or ``refused``), in one
    transaction that also marks older ``proposed`` ones ``superseded`` and,
    with ``activate``, switches the live slot to ``proposed_version_id`` and
    marks the new proposal ``applied`` (the live slot must still serve
    ``base_version_id``).

    Raises
    ------
    ProposalStateError
        An unknown status, ``activate`` without a version, or the live slot
        no longer serving the base version.
    """
    if status not in ("proposed", "refused"):
        raise ProposalStateError(
            f"status: a new proposal is proposed or refused, got {status!r}"
        )
    if activate and (proposed_version_id is None or status != "proposed"):
        raise ProposalStateError(
            "activate: expected a proposed version to activate, got "
            f"version {proposed_version_id!r} with status {status!r}"
        )
    note = {
        "summary": summary,
        "deferred": [dict(d) for d in deferred],
        "history": [_entry(status, at, actor, summary)],
    }
    with write(engine) as conn:
        result = conn.execute(
            insert(PROPOSALS).values(
                created_at=at if at.tzinfo else at.replace(tzinfo=dt.UTC),
                base_version_id=base_version_id,
                proposed_version_id=proposed_version_id,
                mode=mode,
                status=status,
                changes=json.dumps([dict(c) for c in changes]),
                guardrails=json.dumps([dict(g) for g in guardrails]),
                decided_at=_naive(at),
                decided_by=actor,
                job_run_id=job_run_id,
                note=json.dumps(note),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        new_id = int(key[0])
        if status == "proposed":
            older = (
                conn.execute(
                    select(PROPOSALS).where(
                        PROPOSALS.c.status == "proposed", PROPOSALS.c.id != new_id
                    )
                )
                .mappings()
                .all()
            )
            for r in older:
                _transition(
                    conn,
                    _row(dict(r)),
                    "superseded",
                    actor=actor,
                    at=at,
                    reason=f"superseded by proposal {new_id}",
                )
        row = _get(conn, new_id)
        if activate:
            row = _apply(conn, row, actor=actor, at=at, reason=summary)
        return row


def _apply(
    conn: Connection,
    p: ProposalRow,
    *,
    actor: str | None,
    at: dt.datetime,
    reason: str | None,
) -> ProposalRow:
    if p.status != "proposed" or p.proposed_version_id is None:
        raise ProposalStateError(
            f"proposal {p.id} is {p.status}; only a proposed one can be applied"
        )
    live = _lock_slot(conn, "live")
    if live != p.base_version_id:
        raise ProposalStateError(
            f"proposal {p.id} was made against policy version {p.base_version_id}, "
            f"but version {live} serves now; run a new retune instead"
        )
    _switch(
        conn,
        "live",
        p.proposed_version_id,
        actor=actor,
        reason=f"activate: retune proposal {p.id}" + (f": {reason}" if reason else ""),
        previous=live,
        locked=True,
    )
    return _transition(conn, p, "applied", actor=actor, at=at, reason=reason)


def apply_proposal(
    engine: Engine,
    proposal_id: int,
    *,
    actor: str | None,
    at: dt.datetime,
    reason: str | None = None,
) -> ProposalRow:
    """Serve a proposal: switch the live slot to its version and mark it
    ``applied``, in one transaction (see the module doc).

    Raises
    ------
    ProposalStateError
        Unknown proposal, not ``proposed``, or the live slot moved on.
    """
    with write(engine) as conn:
        return _apply(conn, _get(conn, proposal_id), actor=actor, at=at, reason=reason)


def mark_proposal(
    engine: Engine,
    proposal_id: int,
    status: str,
    *,
    actor: str | None,
    at: dt.datetime,
    reason: str | None = None,
) -> ProposalRow:
    """Move a proposal to ``status`` (see :data:`TRANSITIONS`), recording who,
    when and why in its history.

    Raises
    ------
    ProposalStateError
        Unknown proposal or status, or a transition not allowed.
    """
    with write(engine) as conn:
        return _transition(
            conn, _get(conn, proposal_id), status, actor=actor, at=at, reason=reason
        )


def get_proposal(engine: Engine, proposal_id: int) -> ProposalRow:
    """One proposal.

    Raises
    ------
    ProposalStateError
        No proposal has that id.
    """
    with read(engine) as conn:
        return _get(conn, proposal_id)


def list_proposals(
    engine: Engine, *, status: str | None = None, limit: int = 100
) -> list[ProposalRow]:
    """Proposals, newest first (optionally of one status)."""
    stmt = select(PROPOSALS).order_by(PROPOSALS.c.id.desc()).limit(limit)
    if status is not None:
        if status not in STATUSES:
            raise ProposalStateError(
                f"status: expected one of {', '.join(STATUSES)}, got {status!r}"
            )
        stmt = stmt.where(PROPOSALS.c.status == status)
    with read(engine) as conn:
        return [_row(dict(r)) for r in conn.execute(stmt).mappings().all()]


def proposal_for_version(engine: Engine, version_id: int) -> ProposalRow | None:
    """The proposal that published policy version ``version_id``, or None."""
    with read(engine) as conn:
        r = (
            conn.execute(
                select(PROPOSALS)
                .where(PROPOSALS.c.proposed_version_id == version_id)
                .order_by(PROPOSALS.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if r is None else _row(dict(r))


def last_applied(engine: Engine) -> ProposalRow | None:
    """The most recently applied proposal (status ``applied``), or None."""
    with read(engine) as conn:
        r = (
            conn.execute(
                select(PROPOSALS)
                .where(PROPOSALS.c.status == "applied")
                .order_by(PROPOSALS.c.decided_at.desc(), PROPOSALS.c.id.desc())
                .limit(1)
            )
            .mappings()
            .first()
        )
    return None if r is None else _row(dict(r))


# ------------------------------------------------------------------ evidence reads
def period_decisions(
    engine: Engine, *, since: dt.datetime, until: dt.datetime
) -> pd.DataFrame:
    """Live decisions with ``since <= ts < until`` (naive UTC), oldest first,
    each with its first-ranked offer -- or none: decisions that offered
    nothing (holdouts, blocked requests) are included.

    Columns: ``decision_id, ts, customer_id, channel, policy_version_id,
    bandit_state_id, snapshot_id, experiment, variant, eligible`` (JSON list),
    ``context`` (JSON list), ``offer_id`` (None: no offer), ``propensity``.
    """
    stmt = (
        select(
            DECISIONS.c.decision_id,
            DECISIONS.c.ts,
            DECISIONS.c.customer_id,
            DECISIONS.c.channel,
            DECISIONS.c.policy_version_id,
            DECISIONS.c.bandit_state_id,
            DECISIONS.c.snapshot_id,
            DECISIONS.c.experiment,
            DECISIONS.c.variant,
            DECISIONS.c.eligible,
            DECISIONS.c.context,
            OFFERS.c.offer_id,
            OFFERS.c.propensity,
        )
        .select_from(
            DECISIONS.outerjoin(
                OFFERS,
                and_(
                    OFFERS.c.decision_id == DECISIONS.c.decision_id,
                    OFFERS.c.rank == 1,
                ),
            )
        )
        .where(
            DECISIONS.c.mode == "live",
            DECISIONS.c.ts >= _naive(since),
            DECISIONS.c.ts < _naive(until),
        )
        .order_by(DECISIONS.c.ts, DECISIONS.c.decision_id)
    )
    with read(engine) as conn:
        frame = pd.read_sql(stmt, conn)
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def _batches(ids: Iterable[str]) -> list[list[str]]:
    unique = sorted(set(ids))
    return [unique[i : i + _BATCH] for i in range(0, len(unique), _BATCH)]


def customer_outcomes(
    engine: Engine,
    customer_ids: Iterable[str],
    *,
    since: dt.datetime,
    until: dt.datetime,
) -> pd.DataFrame:
    """Outcomes of ``customer_ids`` between ``since`` and ``until`` from the
    input tables, one row each: ``customer_id, ts, outcome, product``.

    ``product_open`` (an account of ``product`` opened), ``complaint`` (an
    interaction flagged as a complaint) and ``churn`` (the customer's last
    open account closed: every account has a close date and the latest is in
    the period; ``ts`` is that date).
    """
    lo, hi = _naive(since), _naive(until)
    parts: list[pd.DataFrame] = []
    with read(engine) as conn:
        for ids in _batches(customer_ids):
            opened = select(
                ACCOUNTS.c.customer_id,
                ACCOUNTS.c.open_date.label("ts"),
                literal("product_open", String).label("outcome"),
                ACCOUNTS.c.product,
            ).where(
                ACCOUNTS.c.customer_id.in_(ids),
                ACCOUNTS.c.open_date >= lo.date(),
                ACCOUNTS.c.open_date <= hi.date(),
            )
            complaints = select(
                INTERACTIONS.c.customer_id,
                INTERACTIONS.c.timestamp.label("ts"),
                literal("complaint", String).label("outcome"),
                null().label("product"),
            ).where(
                INTERACTIONS.c.customer_id.in_(ids),
                INTERACTIONS.c.complaint.is_(True),
                INTERACTIONS.c.timestamp >= lo,
                INTERACTIONS.c.timestamp < hi,
            )
            last_close = func.max(ACCOUNTS.c.close_date)
            churn = (
                select(
                    ACCOUNTS.c.customer_id,
                    last_close.label("ts"),
                    literal("churn", String).label("outcome"),
                    null().label("product"),
                )
                .where(ACCOUNTS.c.customer_id.in_(ids))
                .group_by(ACCOUNTS.c.customer_id)
                .having(
                    and_(
                        func.count() == func.count(ACCOUNTS.c.close_date),
                        last_close >= lo.date(),
                        last_close <= hi.date(),
                    )
                )
            )
            for stmt in (opened, complaints, churn):
                parts.append(pd.read_sql(stmt, conn))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(
            {
                "customer_id": pd.Series(dtype=object),
                "ts": pd.Series(dtype="datetime64[ns]"),
                "outcome": pd.Series(dtype=object),
                "product": pd.Series(dtype=object),
            }
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["ts"] = pd.to_datetime(frame["ts"])
    return frame


def snapshot_columns(
    engine: Engine,
    snapshot_id: int,
    customer_ids: Iterable[str],
    columns: Sequence[str],
) -> pd.DataFrame:
    """Score ``columns`` of ``customer_ids`` in a snapshot, indexed by
    ``customer_id`` (ids sent in batches of 5,000)."""
    cols = [SCORES.c.customer_id, *(SCORES.c[c] for c in columns)]
    parts = []
    with read(engine) as conn:
        for ids in _batches(customer_ids):
            parts.append(
                pd.read_sql(
                    select(*cols).where(
                        SCORES.c.snapshot_id == snapshot_id,
                        SCORES.c.customer_id.in_(ids),
                    ),
                    conn,
                )
            )
    if not parts:
        return pd.DataFrame(
            columns=list(columns), index=pd.Index([], name="customer_id")
        )
    return pd.concat(parts, ignore_index=True).set_index("customer_id")
