"""Warm start: fold logged history into a policy before it makes decisions.

Logged data are tuples ``(context, arm, reward, propensity)``: what was
offered to whom, what happened, and with what probability the logging policy
made that offer. Each arm's model is fitted on the customers who received that
arm; when the logging policy targeted offers, those customers are not
representative of everyone the policy will see, and weighting each row by
``1 / propensity`` (normalised to mean 1 within each arm, so the posterior
keeps the honest number of observations, and capped at ``max_weight``) makes
the weighted sample of an arm resemble the whole population.

The ``campaign_history`` input file maps onto this as follows (see
:func:`logged_from_campaign_history`):

================================  =============================================
campaign_history column           logged data
================================  =============================================
``offer_id``                      arm index (position in the policy's offer list)
``treated`` = true                row kept, played arm = the offer
``treated`` = false (control)     dropped, or arm ``control_arm`` if the policy
                                  has a "no offer" arm
``converted``                     reward (0/1)
``treatment_probability``         propensity of the offer (``1 - p`` for a
                                  control row kept as ``control_arm``)
``customer_id``, ``contact_date``  the caller builds the context row of that
                                  customer as of that date (features package)
================================  =============================================
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.bandit.base import BanditPolicy
from nbo_engine.bandit.validation import (
    check_arms,
    check_contexts,
    check_real,
    check_rewards,
)
from nbo_engine.errors import DataValidationError

__all__ = [
    "LoggedData",
    "importance_weights",
    "logged_from_campaign_history",
    "warm_start",
]

P = TypeVar("P", bound=BanditPolicy)

CAMPAIGN_COLUMNS = ("offer_id", "treated", "converted", "treatment_probability")


@dataclass(frozen=True)
class LoggedData:
    """Logged decisions: contexts (n, d), arms (n,), rewards (n,) and the
    logging propensities (n,) or ``None`` (unknown: no weighting)."""

    contexts: NDArray[np.float64]
    arms: NDArray[np.int64]
    rewards: NDArray[np.float64]
    propensities: NDArray[np.float64] | None


def _check_propensities(p: object, n: int) -> NDArray[np.float64]:
    arr = np.asarray(p, dtype=np.float64)
    if arr.shape != (n,):
        raise DataValidationError(
            f"propensities: expected shape ({n},) to match the contexts, got shape "
            f"{arr.shape}"
        )
    bad = ~((arr > 0) & (arr <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataValidationError(
            f"propensities: row {i} is {float(arr[i])!r}; a logged propensity must be in "
            "(0, 1] (the probability with which the logged arm was chosen)"
        )
    return arr


def importance_weights(
    propensities: NDArray[np.float64],
    arms: NDArray[np.int64],
    n_arms: int,
    *,
    max_weight: float = 10.0,
) -> NDArray[np.float64]:
    """Per-row weights ``1 / p``, normalised to mean 1 within each arm, capped.

    Parameters
    ----------
    propensities : (n,) in (0, 1]; arms : (n,) arm indices.
    max_weight : cap on a normalised weight (bounds the variance one unlikely
        row can add).

    Returns
    -------
    (n,) weights, mean about 1 within each arm.

    Examples
    --------
    >>> import numpy as np
    >>> importance_weights(np.array([0.5, 0.25, 1.0]), np.array([0, 0, 1]), 2)
    array([0.66666667, 1.33333333, 1.        ])
    """
    raw = 1.0 / propensities
    sums = np.bincount(arms, weights=raw, minlength=n_arms)
    counts = np.bincount(arms, minlength=n_arms)
    mean = sums[arms] / counts[arms]
    return np.minimum(raw / mean, max_weight)


def warm_start(
    policy: P,
    contexts: NDArray[np.float64],
    arms: NDArray[np.int64],
    rewards: NDArray[np.float64],
    propensities: NDArray[np.float64] | None = None,
    *,
    max_weight: float = 10.0,
) -> P:
    """Update ``policy`` with logged data (importance-weighted if propensities).

    Parameters
    ----------
    policy : any bandit policy; updated in place and returned.
    contexts : (n, n_features); arms : (n,); rewards : (n,).
    propensities : (n,) logging probabilities of the logged arms in (0, 1],
        or ``None`` to weight every row 1.
    max_weight : cap on a normalised importance weight (> 0).

    Examples
    --------
    >>> import numpy as np
    >>> from nbo_engine.bandit import LinUCB
    >>> X = np.ones((4, 1)); arms = np.array([0, 0, 1, 1])
    >>> pol = warm_start(LinUCB(2, 1), X, arms, np.array([1.0, 1.0, 0.0, 0.0]),
    ...                  np.array([0.5, 0.5, 0.5, 0.5]))
    >>> pol.count_.tolist()
    [2.0, 2.0]
    """
    X = check_contexts(contexts, policy.n_features, name="contexts")
    n = X.shape[0]
    a = check_arms(arms, n, policy.n_arms)
    r = check_rewards(rewards, n)
    cap = check_real("max_weight", max_weight, low=0.0, low_open=True)
    w = None
    if propensities is not None:
        w = importance_weights(
            _check_propensities(propensities, n), a, policy.n_arms, max_weight=cap
        )
    policy.update(X, a, r, weights=w)
    return policy


def logged_from_campaign_history(
    history: pd.DataFrame,
    contexts: NDArray[np.float64],
    offer_ids: Sequence[str],
    *,
    control_arm: int | None = None,
) -> LoggedData:
    """Logged data from a ``campaign_history`` frame and aligned contexts.

    Parameters
    ----------
    history : frame with at least ``offer_id``, ``treated``, ``converted``,
        ``treatment_probability`` (one row per contact).
    contexts : (len(history), d) context of each row's customer as of its
        contact date, in the same row order.
    offer_ids : the policy's arms, in order: arm ``k`` is ``offer_ids[k]``.
    control_arm : arm index of "no offer" for the control rows, or ``None``
        to drop control rows.

    Returns
    -------
    LoggedData with ``propensities`` = ``treatment_probability`` (treated) or
    ``1 - treatment_probability`` (control kept as ``control_arm``).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> h = pd.DataFrame({"offer_id": ["a", "b", "a"],
    ...                   "treated": [True, True, False],
    ...                   "converted": [True, False, False],
    ...                   "treatment_probability": [0.8, 0.9, 0.8]})
    >>> d = logged_from_campaign_history(h, np.eye(3), ["a", "b"])
    >>> d.arms.tolist(), d.rewards.tolist(), d.propensities.tolist()
    ([0, 1], [1.0, 0.0], [0.8, 0.9])
    """
    missing = [c for c in CAMPAIGN_COLUMNS if c not in history.columns]
    if missing:
        raise DataValidationError(
            f"campaign_history: missing column(s) {missing}; expected at least "
            f"{list(CAMPAIGN_COLUMNS)}, got {list(history.columns)}"
        )
    n = len(history)
    X = np.asarray(contexts, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] != n:
        raise DataValidationError(
            f"contexts: expected one row per campaign_history row, shape ({n}, d), "
            f"got shape {X.shape}"
        )
    treated = history["treated"].to_numpy(dtype=bool)
    tp = history["treatment_probability"].to_numpy(dtype=np.float64)
    index = {o: i for i, o in enumerate(offer_ids)}
    offers = history["offer_id"].astype(str).to_numpy()
    arm = np.array([index.get(o, -1) for o in offers], dtype=np.int64)
    unknown = treated & (arm < 0)
    if unknown.any():
        bad = sorted(set(offers[unknown]))[:5]
        raise DataValidationError(
            f"campaign_history: offer_id {bad} not among the policy's offers "
            f"{list(offer_ids)}; filter those rows or add the offers"
        )
    if control_arm is None:
        keep = treated
        prop = tp
    else:
        if not 0 <= control_arm < len(offer_ids):
            raise DataValidationError(
                f"control_arm: expected an arm index in [0, {len(offer_ids)}), got "
                f"{control_arm}"
            )
        keep = np.ones(n, dtype=bool)
        arm = np.where(treated, arm, control_arm)
        prop = np.where(treated, tp, 1.0 - tp)
    rows = np.flatnonzero(keep)
    return LoggedData(
        contexts=X[rows],
        arms=arm[rows],
        rewards=history["converted"].to_numpy(dtype=np.float64)[rows],
        propensities=_check_propensities(prop[rows], rows.size),
    )
