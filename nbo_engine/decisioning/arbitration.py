"""Arbitration: acceptance probability, value, priority and the ranked choice.

``priority = P(accept) x margin x offer lever x segment lever x offer-segment
lever`` (the policy's formula, :meth:`nbo_engine.policy.PolicySpec.priorities`;
tested equal). ``P(accept)`` blends the scoring model's propensity for the
offer's product (the prior, worth :data:`PRIOR_WEIGHT` observations) with the
bandit's posterior mean for the offer, by the evidence the bandit holds:

    p = (n_k * clip(bandit_mean_k, 0, 1) + m * prior_k) / (n_k + m)

Offers whose priority is below ``arbitration.min_priority``, or whose value
(margin x levers) is not positive, are dropped. The bandit then chooses among
the rest *value-aware*: it is given ``margin x levers`` as the value of a
conversion, so it maximises value x acceptance (with its own exploration).
Several offers are ranked one at a time: rank ``r`` is drawn from the
bandit's distribution over the offers not chosen at ranks ``1..r-1``, and its
logged propensity is that conditional probability (the slate's probability is
the product over ranks).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit import BanditPolicy
from nbo_engine.bandit.distribution import sample_arm

__all__ = [
    "DEFAULT_PRIOR",
    "PRIOR_WEIGHT",
    "accept_probability",
    "choose_ranked",
    "priority",
]

#: Pseudo-observations the scoring model's propensity is worth.
PRIOR_WEIGHT = 50.0
#: Prior acceptance probability of an offer whose product has no propensity
#: score (e.g. current-account offers).
DEFAULT_PRIOR = 0.02
_MIN_P = 1e-6


def accept_probability(
    prior: NDArray[np.float64],
    bandit_mean: NDArray[np.float64] | None,
    counts: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Blend of the model prior and the bandit's mean, shape (K,), in (0, 1].

    >>> import numpy as np
    >>> accept_probability(np.array([0.1, 0.1]), np.array([0.5, 0.5]),
    ...                    np.array([0.0, 50.0])).tolist()
    [0.1, 0.3]
    """
    p = np.clip(prior, _MIN_P, 1.0)
    if bandit_mean is None or counts is None:
        return p
    n = np.maximum(counts, 0.0)
    mean = np.clip(bandit_mean, 0.0, 1.0)
    return np.clip((n * mean + PRIOR_WEIGHT * p) / (n + PRIOR_WEIGHT), _MIN_P, 1.0)


def priority(
    p_accept: NDArray[np.float64],
    margin: NDArray[np.float64],
    levers: NDArray[np.float64],
) -> NDArray[np.float64]:
    """``P(accept) x margin x levers`` (currency), any broadcastable shapes."""
    return p_accept * margin * levers


def choose_ranked(
    bandit: BanditPolicy,
    x: NDArray[np.float64],
    eligible: NDArray[np.bool_],
    values: NDArray[np.float64],
    n: int,
    rng: np.random.Generator,
) -> tuple[list[int], list[float]]:
    """Draw up to ``n`` distinct arms, rank by rank, with their propensities.

    Parameters
    ----------
    bandit : the policy's bandit (its distribution; it is not updated).
    x : (n_features,) context.
    eligible : (K,) arms that may be chosen.
    values : (K,) value per conversion, > 0 on eligible arms.
    n : number of ranks wanted.
    rng : the decision's generator (also drives Thompson draws through the
        bandit's own generator, which the caller sets).

    Returns
    -------
    arms, propensities : lists of length ``min(n, eligible.sum())``; the
        propensity of rank ``r`` is conditional on ranks ``1..r-1``.
    """
    el = eligible.copy()
    vals = np.where(el & (values > 0), values, 1.0)
    arms: list[int] = []
    props: list[float] = []
    X = x[None, :]
    for _ in range(min(n, int(el.sum()))):
        p = bandit.probabilities(X, el[None, :], values=vals[None, :])[0]
        arm = sample_arm(p, rng)
        arms.append(arm)
        props.append(float(p[arm]))
        el[arm] = False
    return arms, props
