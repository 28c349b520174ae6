"""Epsilon-greedy on per-arm ridge estimates.

With probability ``1 - epsilon`` the arm with the best estimated value
``v_k * x . theta_k`` (ties share), otherwise an eligible arm uniformly at
random. The propensity is exact:

    P(k) = (1 - epsilon) * 1{k in ties} / |ties| + epsilon / |eligible|
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.base import RngLike
from nbo_engine.bandit.distribution import epsilon_distribution
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.linear import LinearPolicy, masked
from nbo_engine.bandit.validation import check_real

__all__ = ["EpsilonGreedy"]


class EpsilonGreedy(LinearPolicy):
    """Greedy on ridge estimates, exploring uniformly with probability epsilon.

    Parameters
    ----------
    n_arms, n_features : numbers of arms and of context features.
    epsilon : exploration probability in [0, 1].
    prior_precision, noise, noise_prior_var, noise_prior_df, rng, forgetting :
        see :class:`~nbo_engine.bandit.linear.LinearPolicy` (``noise`` plays no
        part in the choice).

    Examples
    --------
    >>> import numpy as np
    >>> pol = EpsilonGreedy(4, 1, epsilon=0.2, rng=0)
    >>> pol.update(np.ones((2, 1)), np.array([2, 3]), np.array([1.0, 0.0]))
    >>> np.round(pol.probabilities(np.ones((1, 1))), 3)
    array([[0.05, 0.05, 0.85, 0.05]])
    """

    kind = "EpsilonGreedy"

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        epsilon: float = 0.1,
        *,
        prior_precision: float = 1.0,
        noise: float | str = "pooled",
        noise_prior_var: float = 0.25,
        noise_prior_df: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.epsilon = check_real("epsilon", epsilon, low=0.0, high=1.0)
        super().__init__(
            n_arms,
            n_features,
            prior_precision=prior_precision,
            noise=noise,
            noise_prior_var=noise_prior_var,
            noise_prior_df=noise_prior_df,
            rng=rng,
            forgetting=forgetting,
        )

    def _params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, **self._linear_params()}

    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        est = X @ self.posterior_.theta.T
        if values is not None:
            est *= values
        return epsilon_distribution(masked(est, eligible), eligible, self.epsilon)
