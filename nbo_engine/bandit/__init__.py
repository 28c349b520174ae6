"""Contextual bandits for next-best-offer (pure numpy).

Policies: :class:`LinUCB`, :class:`LinearTS`, :class:`EpsilonGreedy` (per-arm
Bayesian ridge models) and :class:`LogisticTS`, :class:`LogisticUCB` (per-arm
Laplace-approximated logistic models, for binary rewards). Every policy chooses with
``select(x, eligible=None, *, values=None) -> (arm, propensity)`` or
``select_batch(X, eligible=None, *, values=None) -> (arms, propensities)``,
learns with ``update(X, arms, rewards)`` whenever rewards arrive, and
round-trips through ``to_bytes()`` / ``from_bytes(b)``. See ``docs/bandits.md``.
"""

from nbo_engine.bandit.base import BanditPolicy
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.greedy import EpsilonGreedy
from nbo_engine.bandit.linear import LinearPolicy
from nbo_engine.bandit.linucb import LinUCB
from nbo_engine.bandit.logistic import LogisticPolicy, LogisticTS, LogisticUCB
from nbo_engine.bandit.thompson import LinearTS
from nbo_engine.bandit.warm_start import (
    LoggedData,
    importance_weights,
    logged_from_campaign_history,
    warm_start,
)

__all__ = [
    "BanditPolicy",
    "EpsilonGreedy",
    "Forgetting",
    "LinUCB",
    "LinearPolicy",
    "LinearTS",
    "LoggedData",
    "LogisticPolicy",
    "LogisticTS",
    "LogisticUCB",
    "importance_weights",
    "logged_from_campaign_history",
    "warm_start",
]
