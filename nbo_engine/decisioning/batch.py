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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from nbo_engine.decisioning.decide import (
    Decider,
    DecisionRequest,
    DecisionResult,
    _check_inputs,
)
from nbo_engine.errors import DecisionInputError, UnknownCustomerError
from nbo_engine.store import Engine
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
    parts: list[pd.DataFrame] = []
    blocked: dict[str, int] = {}
    decided = with_offers = not_scored = 0
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        answers = d.decide_many(
            [DecisionRequest(cid, channel, n) for cid in part], now=now
        )
        chosen: list[dict[str, Any]] = []
        for answer in answers:
            if isinstance(answer, UnknownCustomerError):
                not_scored += 1
                continue
            if isinstance(answer, Exception):
                raise answer
            decided += 1
            if answer.blocked is not None:
                blocked[answer.blocked] = blocked.get(answer.blocked, 0) + 1
            if answer.offers:
                with_offers += 1
                chosen += _chosen(answer)
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
        not_scored=not_scored,
        seconds=time.perf_counter() - t0,
    )


def _chosen(answer: DecisionResult) -> list[dict[str, Any]]:
    return [
        {
            "decision_id": answer.decision_id,
            "customer_id": answer.customer_id,
            "channel": answer.channel,
            "rank": o.rank,
            "offer_id": o.offer_id,
            "product": o.product,
            "propensity": o.propensity,
            "p_accept": o.p_accept,
            "value": o.value,
            "priority": o.priority,
            "message": o.message,
            "experiment": answer.experiment,
            "variant": answer.variant,
        }
        for o in answer.offers
    ]
