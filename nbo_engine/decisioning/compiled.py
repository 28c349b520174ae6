"""A policy version ready to decide: spec, rules, arrays over offers, bandit.

Built once per policy version and bandit state (when the decider loads or
refreshes) so that a decision only gathers one profile and indexes arrays.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit import (
    BanditPolicy,
    EpsilonGreedy,
    LinearTS,
    LinUCB,
    LogisticTS,
)
from nbo_engine.decisioning.arbitration import DEFAULT_PRIOR
from nbo_engine.decisioning.contact import ContactTables
from nbo_engine.decisioning.context import PROPENSITY_PRODUCTS, ContextSpec
from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.policy import PolicySpec, Rule
from nbo_engine.store.decisions import DERIVED_FIELDS

__all__ = ["CompiledPolicy", "make_bandit"]

_FAR = dt.date.max.toordinal()


def make_bandit(spec: PolicySpec, n_features: int, seed: int = 0) -> BanditPolicy:
    """A fresh bandit of the policy's type and settings, one arm per offer.

    ``lints``' ``v`` is :class:`LinearTS`'s ``alpha``; ``logistic_ts``'
    ``prior_variance`` is the inverse of :class:`LogisticTS`'s
    ``prior_precision``.
    """
    b = spec.bandit
    k = len(spec.offers)
    if b.type == "linucb":
        return LinUCB(k, n_features, alpha=b.params.alpha, rng=seed)
    if b.type == "lints":
        return LinearTS(k, n_features, alpha=b.params.v, rng=seed)
    if b.type == "epsilon_greedy":
        return EpsilonGreedy(k, n_features, epsilon=b.params.epsilon, rng=seed)
    return LogisticTS(
        k, n_features, prior_precision=1.0 / b.params.prior_variance, rng=seed
    )


@dataclass(frozen=True)
class CompiledPolicy:
    """A policy version with everything a decision needs precomputed.

    Arrays over offers have shape (K,) in the spec's offer order.
    """

    version_id: int
    name: str
    spec: PolicySpec
    bandit: BanditPolicy
    bandit_state_id: int | None
    context: ContextSpec
    contact: ContactTables
    rules: tuple[Rule, ...]
    #: Fields the rules read (absent ones are missing values).
    rule_columns: tuple[str, ...]
    #: Fields to read from the input tables (:data:`DERIVED_FIELDS`).
    derived_fields: frozenset[str]
    offer_ids: tuple[str, ...]
    margin: NDArray[np.float64]
    start: NDArray[np.int64]  # date ordinals
    end: NDArray[np.int64]
    channel_ok: dict[str, NDArray[np.bool_]]
    #: Index of each offer's product in PROPENSITY_PRODUCTS (-1: no score).
    prior_index: NDArray[np.int64]
    lever_table: dict[str | None, NDArray[np.float64]]
    messages: tuple[str, ...]
    #: What an offer or message experiment's treatment serves: offer id ->
    #: (arm, None: its message); message id -> (arm, that message's template).
    treatments: dict[str, tuple[int, str | None]]
    #: Offer id -> product (real-time ``held_<product>`` after an accept).
    products: dict[str, str]

    @classmethod
    def build(
        cls,
        version_id: int,
        spec: PolicySpec,
        bandit: BanditPolicy,
        bandit_state_id: int | None,
    ) -> CompiledPolicy:
        ctx = ContextSpec.of(spec)
        if bandit.n_arms != len(spec.offers) or bandit.n_features != ctx.n_features:
            raise ValueError(
                f"policy version {version_id}: bandit state has {bandit.n_arms} arms "
                f"and {bandit.n_features} features, expected {len(spec.offers)} "
                f"offers and {ctx.n_features} context features"
            )
        rules = tuple(spec.rule(o.id) for o in spec.offers)
        columns = tuple(
            sorted(
                {c for r in rules for c in r.columns} | set(spec.segment_rule_columns)
            )
        )
        wanted = set(columns) | set(spec.template_fields) | set(spec.bandit.features)
        segments: list[str | None] = [*spec.segments, None]
        levers = spec.levers(np.array([s or "" for s in segments], dtype=str))
        return cls(
            version_id=version_id,
            name=spec.name,
            spec=spec,
            bandit=bandit,
            bandit_state_id=bandit_state_id,
            context=ctx,
            contact=ContactTables.of(spec),
            rules=rules,
            rule_columns=columns,
            derived_fields=frozenset(wanted & set(DERIVED_FIELDS)),
            offer_ids=spec.offer_ids,
            margin=np.array([o.value.margin for o in spec.offers], dtype=np.float64),
            start=np.array([o.start.toordinal() for o in spec.offers], dtype=np.int64),
            end=np.array(
                [o.end.toordinal() if o.end else _FAR for o in spec.offers],
                dtype=np.int64,
            ),
            channel_ok={
                ch: np.array([ch in o.channels for o in spec.offers])
                for ch in CONTACT_CHANNELS
            },
            prior_index=np.array(
                [
                    PROPENSITY_PRODUCTS.index(o.product)
                    if o.product in PROPENSITY_PRODUCTS
                    else -1
                    for o in spec.offers
                ],
                dtype=np.int64,
            ),
            lever_table=dict(zip(segments, levers, strict=True)),
            messages=tuple(o.message for o in spec.offers),
            products={o.id: o.product for o in spec.offers},
            treatments={
                **{
                    mid: (k, text)
                    for k, o in enumerate(spec.offers)
                    for mid, text in o.messages.items()
                },
                **{o.id: (k, None) for k, o in enumerate(spec.offers)},
            },
        )

    @property
    def n_offers(self) -> int:
        return len(self.offer_ids)

    def levers(self, segment: str | None) -> NDArray[np.float64]:
        """Offer x segment levers for a customer's segment, shape (K,)."""
        got = self.lever_table.get(segment)
        return got if got is not None else self.lever_table[None]

    def prior(self, profile: Mapping[str, Any]) -> NDArray[np.float64]:
        """The scoring model's acceptance propensity per offer, shape (K,);
        :data:`DEFAULT_PRIOR` where the product has no score or it is missing."""
        scores = np.array(
            [_num_or(profile.get(f"propensity_{p}")) for p in PROPENSITY_PRODUCTS]
            + [DEFAULT_PRIOR]
        )
        return scores[self.prior_index]


def _num_or(v: Any, default: float = DEFAULT_PRIOR) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return default
    f = float(v)
    return f if np.isfinite(f) else default
