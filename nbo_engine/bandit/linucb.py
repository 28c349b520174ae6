"""LinUCB with disjoint per-arm ridge models (Li, Chu, Langford & Schapire 2010).

Score of arm ``k`` for context ``x`` with value per conversion ``v_k``:

    v_k * (x . theta_k + alpha * s_k * sqrt(x^T A_k^{-1} x))

where ``s_k`` is the arm's noise sd (estimated by default, see
:class:`~nbo_engine.bandit.linear.LinearPolicy`), so ``alpha`` counts posterior
standard deviations. The best eligible arm is chosen; tied arms share the
probability, so the propensity is ``1 / |ties|`` (usually 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.base import RngLike
from nbo_engine.bandit.distribution import tie_distribution
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.linear import LinearPolicy, masked
from nbo_engine.bandit.validation import check_contexts, check_real

__all__ = ["LinUCB"]


class LinUCB(LinearPolicy):
    """Upper-confidence-bound policy on per-arm ridge regressions.

    Parameters
    ----------
    n_arms, n_features : numbers of arms and of context features.
    alpha : width of the confidence bound in posterior standard deviations
        (>= 0; 0 is greedy).
    prior_precision, noise, noise_prior_var, noise_prior_df, rng, forgetting :
        see :class:`~nbo_engine.bandit.linear.LinearPolicy`.

    Examples
    --------
    >>> import numpy as np
    >>> pol = LinUCB(3, 2, alpha=1.0, rng=0)
    >>> X = np.array([[1.0, 0.0], [1.0, 1.0]] * 50)
    >>> pol.update(X, np.repeat([0, 1], 50), np.repeat([0.1, 0.9], 50))
    >>> pol.select(np.array([1.0, 0.5]), eligible=np.array([True, True, False]))
    (1, 1.0)
    """

    kind = "LinUCB"

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        alpha: float = 1.0,
        *,
        prior_precision: float = 1.0,
        noise: float | str = "pooled",
        noise_prior_var: float = 0.25,
        noise_prior_df: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.alpha = check_real("alpha", alpha, low=0.0)
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
        return {"alpha": self.alpha, **self._linear_params()}

    def scores(
        self,
        X: NDArray[np.float64],
        *,
        values: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Upper confidence bounds (times values), shape (n, n_arms)."""
        Xv = check_contexts(X, self.n_features)
        return self._scores(Xv, values)

    def _scores(
        self, X: NDArray[np.float64], values: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        m, sd = self._mean_sd(X)
        if self.alpha:
            m += self.alpha * sd
        if values is not None:
            m *= values
        return m

    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        return tie_distribution(masked(self._scores(X, values), eligible))
