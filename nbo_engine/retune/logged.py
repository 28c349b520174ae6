"""What a policy spec would have done on logged decisions: the OPE target.

:class:`LoggedPolicy` is a :data:`~nbo_engine.retune.evidence.TargetPolicy`:
given a spec (the current one or a proposal) it returns, for every logged
decision, the probability of each offer at the first rank and of "no offer"
(last column). It replays the decision's arbitration on what was logged: the
logged eligible set (after eligibility rules and contact rules), minus offers
the spec does not run that day, offers whose value (margin x levers for the
decision's segment) is 0 and the (offer, segment) pairs suppressed by an
eligibility clause; then the decision's own bandit state
(``bandit.probabilities`` with the spec's exploration setting and the
value-aware weights of :func:`nbo_engine.decisioning.arbitration.choose_ranked`).
A decision with nothing left offers nothing (probability 1 on the last
column). For the current spec this reproduces the logged first-rank
propensities.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit import BanditPolicy
from nbo_engine.errors import RetuneError
from nbo_engine.policy import PolicySpec
from nbo_engine.retune.guardrails import EXPLORATION_PARAMS

__all__ = ["LoggedPolicy", "with_exploration"]

F64 = NDArray[np.float64]


def with_exploration(bandit: BanditPolicy, spec: PolicySpec) -> BanditPolicy:
    """``bandit``, or a copy carrying ``spec``'s exploration parameter
    (``alpha`` of LinUCB, ``v`` of linear TS as its ``alpha``, ``epsilon``)
    when it differs."""
    kind = spec.bandit.type
    if kind not in EXPLORATION_PARAMS:
        return bandit
    value = float(getattr(spec.bandit.params, EXPLORATION_PARAMS[kind][0]))
    attr = "epsilon" if kind == "epsilon_greedy" else "alpha"
    if not hasattr(bandit, attr) or getattr(bandit, attr) == value:
        return bandit
    out = bandit.copy()
    setattr(out, attr, value)
    return out


@dataclass
class LoggedPolicy:
    """The target policy of a spec on logged decisions (see the module doc).

    Attributes
    ----------
    base : the spec that logged the decisions (offer order of the arms).
    contexts : (n, n_features) logged context vectors.
    eligible : (n, n_offers) logged eligible sets.
    segments : (n,) each decision's segment ("" when unknown).
    day : (n,) date ordinal of each decision.
    states : (n,) bandit state id of each decision.
    load_bandit : state id -> the bandit of that state (cached here).
    """

    base: PolicySpec
    contexts: F64
    eligible: NDArray[np.bool_]
    segments: NDArray[np.str_]
    day: NDArray[np.int64]
    states: NDArray[np.int64]
    load_bandit: Callable[[int], BanditPolicy]
    _cache: dict[int, BanditPolicy] = field(default_factory=dict, repr=False)

    def _bandit(self, state_id: int) -> BanditPolicy:
        if state_id not in self._cache:
            self._cache[state_id] = self.load_bandit(state_id)
        return self._cache[state_id]

    def __call__(self, spec: PolicySpec, suppressed: frozenset[tuple[str, str]]) -> F64:
        """Action probabilities of ``spec``, shape (n, n_offers + 1)."""
        if spec.offer_ids != self.base.offer_ids:
            raise RetuneError(
                "ope: the policy's offers differ from the logging policy's "
                f"({', '.join(spec.offer_ids)} vs {', '.join(self.base.offer_ids)})"
            )
        n, k = self.eligible.shape
        far = dt.date.max.toordinal()
        start = np.array([o.start.toordinal() for o in spec.offers])
        end = np.array([o.end.toordinal() if o.end else far for o in spec.offers])
        margin = np.array([o.value.margin for o in spec.offers])
        levers = spec.levers(self.segments)
        values = margin * levers
        day = self.day[:, None]
        mask = self.eligible & (start <= day) & (day <= end) & (values > 0)
        index = {o: j for j, o in enumerate(spec.offer_ids)}
        for offer, segment in suppressed:
            if offer in index:
                mask[:, index[offer]] &= self.segments != segment
        # With value rewards the bandit already learns value: levers only.
        weights = values if spec.bandit.reward == "conversion" else levers
        out = np.zeros((n, k + 1))
        some = mask.any(axis=1)
        for sid in np.unique(self.states[some]):  # a few states per week
            rows = some & (self.states == sid)
            bandit = with_exploration(self._bandit(int(sid)), spec)
            out[rows, :k] = bandit.probabilities(
                self.contexts[rows],
                mask[rows],
                values=np.where(mask[rows], weights[rows], 1.0),
            )
        out[~some, k] = 1.0
        return out
