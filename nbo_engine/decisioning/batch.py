"""Batch decisions for outbound channels (``nbo decide batch``).

An e-mail campaign decides for a whole audience at once, with the same rules
as a channel's single request: the same live (and shadow) policy, experiment
and holdout assignment, eligibility, contact policy, bandit and arbitration
(:func:`~nbo_engine.decisioning.core.decide_core`, the function every decision
runs), and every decision logged with its propensities, so batch decisions
are replayable and evaluable off-policy like any other.

What makes it a batch is the I/O: per chunk of customers, one transaction
reads every profile and every contact history in a statement each, decides,
and inserts every log row in one multi-row insert (a channel's single request
pays a round trip for each). On PostgreSQL the chunk's customers are locked
with advisory transaction locks (in key order, so two batches cannot
deadlock), as a single decision locks its one customer, so contact caps hold
when a batch and the live API decide for the same customer at once; on
SQLite the write transaction (``BEGIN IMMEDIATE``) serialises writers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from nbo_engine.decisioning.compiled import CompiledPolicy
from nbo_engine.decisioning.decide import (
    Decider,
    _check_inputs,
    _history_days,
    _Served,
)
from nbo_engine.errors import DecisionInputError, UnknownCustomerError
from nbo_engine.store import Engine, write
from nbo_engine.store import decisions as store
from nbo_engine.store import scores as score_store

__all__ = ["BATCH_COLUMNS", "BatchResult", "decide_batch"]

#: Columns of :attr:`BatchResult.offers` (one row per offer chosen).
BATCH_COLUMNS = (
    "decision_id",
    "customer_id",
    "channel",
    "rank",
    "offer_id",
    "product",
    "propensity",
    "p_accept",
    "value",
    "priority",
    "message",
    "experiment",
    "variant",
)


@dataclass(frozen=True)
class BatchResult:
    """What a batch decided and logged."""

    offers: pd.DataFrame  # BATCH_COLUMNS
    decisions: int  # live decisions logged (one per customer decided)
    customers_with_offers: int
    blocked: dict[str, int] = field(default_factory=dict)  # reason -> customers
    not_scored: int = 0  # requested customers absent from the snapshot
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.decisions / self.seconds if self.seconds > 0 else 0.0


def decide_batch(
    engine: Engine,
    *,
    channel: str,
    now: dt.datetime,
    n: int = 1,
    customer_ids: Sequence[str] | None = None,
    chunk: int = 2000,
    decider: Decider | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BatchResult:
    """Decide and log up to ``n`` offers for each customer of an audience.

    Parameters
    ----------
    channel : the outbound channel (usually ``email``).
    now : decision time (aware, or naive UTC): the send time.
    n : offers per customer (1 to the policy's ``arbitration.max_offers``).
    customer_ids : the audience; default every customer of the active score
        snapshot. Ids not in the snapshot are counted in ``not_scored``.
    chunk : customers per transaction.
    decider : a loaded decider (default: load the live policy now).
    progress : called with (customers done, total) after each chunk.

    Raises
    ------
    DecisionInputError
        A bad channel, ``n``, ``now`` or ``chunk``.
    NoActivePolicyError
        No policy is live.
    UnknownCustomerError
        There is no active score snapshot.
    """
    t0 = time.perf_counter()
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise DecisionInputError(
            f"chunk: expected an integer >= 1, got {chunk!r}", "chunk", chunk
        )
    d = decider if decider is not None else Decider.load(engine)
    _check_inputs("batch", channel, n, now, d.live.spec.arbitration.max_offers)
    snapshot_id = d.snapshot_id
    if snapshot_id is None:
        raise UnknownCustomerError(
            "there is no active score snapshot (run `nbo score`)", "*"
        )
    if customer_ids is None:
        ids = sorted(
            map(str, score_store.snapshot_scores(engine, snapshot_id, []).index)
        )
    else:
        ids = list(dict.fromkeys(map(str, customer_ids)))
    state, exps = d._loaded, d._exps
    window = _history_days(state, exps)
    fields = d.profile_fields
    parts: list[pd.DataFrame] = []
    blocked: dict[str, int] = {}
    decided = with_offers = 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        with write(engine) as conn:
            store.lock_customers(conn, part)
            profiles = store.read_profiles(conn, snapshot_id, part, now, fields)
            histories = store.read_contact_histories(conn, part, now, window)
            decisions: list[Mapping[str, Any]] = []
            offer_rows: list[Mapping[str, Any]] = []
            chosen: list[dict[str, Any]] = []
            for row in profiles:
                cid = str(row["customer_id"])
                served, rows = d._decide_rows(
                    state,
                    exps,
                    row,
                    histories.get(cid) or store.ContactHistory.empty(),
                    customer_id=cid,
                    channel=channel,
                    n=n,
                    now=now,
                    request={},
                    request_id=None,
                    decision_id=d._new_id(f"{cid}|{channel}|{now.isoformat()}"),
                    shadow_id=(
                        d._new_id(f"{cid}|{channel}|{now.isoformat()}")
                        if state.shadow is not None
                        else None
                    ),
                    t0=None,
                )
                decisions += rows.decisions
                offer_rows += rows.offers
                out = served.outcome
                if out.blocked is not None:
                    blocked[out.blocked] = blocked.get(out.blocked, 0) + 1
                mine = [
                    r
                    for r in rows.offers
                    if r["decision_id"] == rows.decisions[0]["decision_id"]
                ]
                if mine:
                    with_offers += 1
                    chosen += _chosen(mine, served.policy, cid, channel, served)
            store.insert_decisions(conn, store.DecisionRows(decisions, offer_rows))
        decided += len(profiles)
        if chosen:
            parts.append(pd.DataFrame(chosen, columns=list(BATCH_COLUMNS)))
        if progress is not None:
            progress(min(start + chunk, len(ids)), len(ids))
    frame = (
        pd.concat(parts, ignore_index=True)
        if parts
        else pd.DataFrame(columns=list(BATCH_COLUMNS))
    )
    return BatchResult(
        offers=frame,
        decisions=decided,
        customers_with_offers=with_offers,
        blocked=blocked,
        not_scored=len(ids) - decided,
        seconds=time.perf_counter() - t0,
    )


def _chosen(
    rows: list[Mapping[str, Any]],
    policy: CompiledPolicy,
    customer_id: str,
    channel: str,
    served: _Served,
) -> list[dict[str, Any]]:
    products = {o.id: o.product for o in policy.spec.offers}
    return [
        {
            "decision_id": r["decision_id"],
            "customer_id": customer_id,
            "channel": channel,
            "rank": r["rank"],
            "offer_id": r["offer_id"],
            "product": products[r["offer_id"]],
            "propensity": r["propensity"],
            "p_accept": r["p_accept"],
            "value": r["value"],
            "priority": r["priority"],
            "message": r["message"],
            "experiment": served.experiment,
            "variant": served.variant,
        }
        for r in rows
    ]
