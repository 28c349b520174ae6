"""What a decision is asked, what it answers, and the rows it logs.

:class:`DecisionRequest` is a channel's request; :class:`DecisionResult`
with its :class:`OfferChoice` per rank the answer; :func:`decision_row` and
:func:`offer_rows` the ``decisions`` and ``decision_offers`` rows of one
(live or shadow) decision. The offers are built once (:func:`choices_of`)
for both the answer and the log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nbo_engine.decisioning.compiled import CompiledPolicy
from nbo_engine.decisioning.core import Outcome

__all__ = [
    "DecisionRequest",
    "DecisionResult",
    "OfferChoice",
    "Served",
    "choices_of",
    "decision_rng",
    "decision_row",
    "offer_rows",
]


@dataclass(frozen=True)
class OfferChoice:
    """One offer served, at its rank (1 = first shown).

    ``propensity`` is the probability the policy chose it at this rank given
    the offers above it; ``p_accept`` the estimated acceptance probability;
    ``value`` margin x levers (currency); ``priority`` p_accept x value.
    """

    offer_id: str
    product: str
    rank: int
    propensity: float
    p_accept: float
    value: float
    priority: float
    message: str


@dataclass(frozen=True)
class DecisionResult:
    """The answer to a channel (shadow decisions are logged, never here)."""

    decision_id: str
    customer_id: str
    channel: str
    policy_version_id: int
    policy_name: str
    experiment: str | None
    variant: str | None
    offers: tuple[OfferChoice, ...]
    shadow_decision_id: str | None
    latency_ms: float
    #: Why no offer was served, when none was (``experiment_holdout``,
    #: ``no_consent``, a contact cap...): never sent to the channel.
    blocked: str | None = None


@dataclass(frozen=True)
class DecisionRequest:
    """One channel request for :meth:`Decider.decide_many`.

    ``received`` is ``time.perf_counter()`` when the request arrived: the
    logged latency is measured from it (default: when ``decide_many``
    starts), so a micro-batcher's queueing time is counted.
    """

    customer_id: str
    channel: str
    n: int = 1
    request_id: str | None = None
    context: Mapping[str, float | str | bool | None] | None = None
    received: float | None = None


@dataclass(frozen=True)
class Served:
    """A live decision before it becomes a :class:`DecisionResult`."""

    outcome: Outcome
    policy: CompiledPolicy
    experiment: str | None
    variant: str | None
    offers: tuple[OfferChoice, ...]


def decision_rng(decision_id: str) -> np.random.Generator:
    """The decision's own generator, seeded from its id (replays draw the
    same numbers)."""
    return np.random.default_rng(int(decision_id, 16))


def choices_of(policy: CompiledPolicy, out: Outcome) -> tuple[OfferChoice, ...]:
    """The offers an outcome chose, by rank."""
    offers = policy.spec.offers
    return tuple(
        OfferChoice(
            offer_id=policy.offer_ids[a],
            product=offers[a].product,
            rank=r + 1,
            propensity=prop,
            p_accept=float(out.p_accept[a]),
            value=float(out.values[a]),
            priority=float(out.priorities[a]),
            message=out.messages[r],
        )
        for r, (a, prop) in enumerate(zip(out.arms, out.propensities, strict=True))
    )


def decision_row(
    decision_id: str,
    policy: CompiledPolicy,
    out: Outcome,
    common: Mapping[str, Any],
    mode: str,
    shadow_of: str | None,
) -> dict[str, Any]:
    """The ``decisions`` row (``common``: request, customer, time...)."""
    return {
        **common,
        "decision_id": decision_id,
        "mode": mode,
        "shadow_of": shadow_of,
        "policy_version_id": policy.version_id,
        "bandit_state_id": policy.bandit_state_id,
        "eligible": json.dumps(list(out.eligible)),
        "context": json.dumps(out.x.tolist()),
    }


def offer_rows(
    decision_id: str, choices: Sequence[OfferChoice]
) -> list[dict[str, Any]]:
    """The ``decision_offers`` rows of a decision's chosen offers."""
    return [
        {
            "decision_id": decision_id,
            "rank": c.rank,
            "offer_id": c.offer_id,
            "propensity": c.propensity,
            "p_accept": c.p_accept,
            "value": c.value,
            "priority": c.priority,
            "message": c.message,
        }
        for c in choices
    ]
