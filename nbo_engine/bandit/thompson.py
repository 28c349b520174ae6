"""Linear Thompson sampling (Agrawal & Goyal 2013) with exact logged propensities.

For a context ``x`` each arm's expected reward is drawn from its posterior,
``x . theta_k ~ N(x . theta_mean_k, (alpha s_k)^2 x^T A_k^{-1} x)`` (``s_k`` the
arm's noise sd), multiplied by the value per conversion, and the best arm is
taken. Because the draw for one context is univariate per arm, no
``d``-dimensional sampling is needed.

Propensities: the probability that an arm wins has no closed form, so the
policy estimates it from ``n_draws`` posterior draws per row (default 64, in
antithetic pairs), puts a floor under every eligible arm (default 0.001) and
*draws the arm from that distribution*
(:func:`~nbo_engine.bandit.distribution.thompson_distribution`). The logged
propensity is the exact probability of the choice given the draws, and a
Monte Carlo estimate (standard error <= 0.5 / sqrt(n_draws)) of the
Thompson-sampling probability.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.base import RngLike
from nbo_engine.bandit.distribution import thompson_distribution
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.linear import LinearPolicy
from nbo_engine.bandit.validation import check_positive_int, check_real
from nbo_engine.errors import ConfigError

__all__ = ["DEFAULT_FLOOR", "DEFAULT_N_DRAWS", "LinearTS", "check_thompson"]

#: Posterior draws per decision used to estimate the choice probabilities.
DEFAULT_N_DRAWS = 64
#: Smallest probability of any eligible arm (keeps IPS weights <= 1000).
DEFAULT_FLOOR = 1e-3


def check_thompson(n_arms: int, n_draws: object, floor: object) -> tuple[int, float]:
    """Validate ``n_draws`` (>= 1) and ``propensity_floor`` (0 < floor, floor
    x n_arms <= 0.5, so at least half the probability follows the posterior)."""
    nd = check_positive_int("n_draws", n_draws)
    fl = check_real("propensity_floor", floor, low=0.0, low_open=True)
    if fl * n_arms > 0.5:
        raise ConfigError(
            f"propensity_floor: expected at most 0.5 / n_arms = {0.5 / n_arms:g} "
            f"for {n_arms} arms, got {fl:g}"
        )
    return nd, fl


class LinearTS(LinearPolicy):
    """Thompson sampling on per-arm Bayesian ridge regressions.

    Parameters
    ----------
    n_arms, n_features : numbers of arms and of context features.
    alpha : scale of the posterior standard deviation (>= 0; 0 is greedy
        with random tie-breaking through the floor). Default 0.5: with the
        noise estimated from the data, full posterior draws over-explore
        under batched, delayed feedback (Chapelle & Li 2011 shrink the
        posterior likewise); ``benchmarks/bandit_quality.py`` measures it.
    n_draws : posterior draws per decision for the propensities.
    propensity_floor : minimum probability of each eligible arm.
    prior_precision, noise, noise_prior_var, noise_prior_df, rng, forgetting :
        see :class:`~nbo_engine.bandit.linear.LinearPolicy`.

    Examples
    --------
    >>> import numpy as np
    >>> pol = LinearTS(2, 1, rng=0)
    >>> pol.update(np.ones((200, 1)), np.repeat([0, 1], 100),
    ...            np.repeat([0.0, 1.0], 100))
    >>> arm, p = pol.select(np.ones(1))
    >>> arm, round(p, 3)  # arm 0 keeps only the floor
    (1, 0.999)
    """

    kind = "LinearTS"

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        alpha: float = 0.5,
        *,
        n_draws: int = DEFAULT_N_DRAWS,
        propensity_floor: float = DEFAULT_FLOOR,
        prior_precision: float = 1.0,
        noise: float | str = "pooled",
        noise_prior_var: float = 0.25,
        noise_prior_df: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.alpha = check_real("alpha", alpha, low=0.0)
        self.n_draws, self.propensity_floor = check_thompson(
            check_positive_int("n_arms", n_arms), n_draws, propensity_floor
        )
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
        return {
            "alpha": self.alpha,
            "n_draws": self.n_draws,
            "propensity_floor": self.propensity_floor,
            **self._linear_params(),
        }

    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        m, sd = self._mean_sd(X)
        sd *= self.alpha
        return thompson_distribution(
            m,
            sd,
            eligible,
            values,
            link="identity",
            n_draws=self.n_draws,
            floor=self.propensity_floor,
            rng=self._rng,
        )
