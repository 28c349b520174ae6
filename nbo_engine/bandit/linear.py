"""Shared base of the linear policies: one Bayesian ridge model per arm.

Learned state (float64 arrays; see :mod:`nbo_engine.bandit.ridge`):

* ``gram_`` (n_arms, d, d), ``xy_`` (n_arms, d), ``yy_`` (n_arms,),
  ``count_`` (n_arms,): additive sufficient statistics, the only thing
  written to the bytes; everything else is recomputed from them.
* ``posterior_``: means ``theta`` (n_arms, d), Cholesky inverses, noise scale.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.base import BanditPolicy, RngLike
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.ridge import (
    LinearPosterior,
    fold_linear,
    linear_posterior,
    mean_and_width,
)
from nbo_engine.bandit.validation import check_contexts, check_real
from nbo_engine.errors import ConfigError

__all__ = ["LinearPolicy"]


class LinearPolicy(BanditPolicy):
    """Base of LinUCB, linear Thompson sampling and epsilon-greedy.

    Parameters
    ----------
    prior_precision : ridge penalty ``lambda`` (> 0); the prior is
        ``theta_k ~ N(0, noise^2 / lambda I)``.
    noise : reward noise standard deviation. ``"pooled"`` (default)
        estimates one sd for all arms from their residuals
        (normal-inverse-gamma plug-in), so the exploration width adapts to the
        scale of the rewards; ``"per_arm"`` estimates one per arm (noisier:
        arms with little data get erratic widths); a number fixes it (``1.0``
        gives the classic LinUCB / LinTS width).
    noise_prior_var, noise_prior_df : prior guess of the noise variance and
        its weight in pseudo-observations (x2); default 0.25 (the largest
        variance of a 0/1 reward) worth 2 observations.
    """

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        *,
        prior_precision: float = 1.0,
        noise: float | str = "pooled",
        noise_prior_var: float = 0.25,
        noise_prior_df: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        super().__init__(n_arms, n_features, rng=rng, forgetting=forgetting)
        self.prior_precision = check_real(
            "prior_precision", prior_precision, low=0.0, low_open=True
        )
        self.noise = check_noise(noise)
        self.noise_prior_var = check_real(
            "noise_prior_var", noise_prior_var, low=0.0, low_open=True
        )
        self.noise_prior_df = check_real(
            "noise_prior_df", noise_prior_df, low=0.0, low_open=True
        )
        k, d = self.n_arms, self.n_features
        self.gram_ = np.zeros((k, d, d))
        self.xy_ = np.zeros((k, d))
        self.yy_ = np.zeros(k)
        self.count_ = np.zeros(k)
        self.posterior_: LinearPosterior
        self._refresh()

    # ------------------------------------------------------------------ hooks
    def _linear_params(self) -> dict[str, Any]:
        return {
            "prior_precision": self.prior_precision,
            "noise": self.noise,
            "noise_prior_var": self.noise_prior_var,
            "noise_prior_df": self.noise_prior_df,
        }

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        k, d = self.n_arms, self.n_features
        return {"gram": (k, d, d), "xy": (k, d), "yy": (k,), "count": (k,)}

    def _fold(
        self,
        X: NDArray[np.float64],
        arms: NDArray[np.int64],
        rewards: NDArray[np.float64],
        weights: NDArray[np.float64] | None,
    ) -> None:
        fold_linear(
            self.gram_, self.xy_, self.yy_, self.count_, X, arms, rewards, weights
        )

    def _decay(self, factor: float) -> None:
        for a in (self.gram_, self.xy_, self.yy_, self.count_):
            a *= factor

    def _refresh(self) -> None:
        self.posterior_ = linear_posterior(
            self.gram_,
            self.xy_,
            self.yy_,
            self.count_,
            prior_precision=self.prior_precision,
            noise=self.noise,
            noise_prior_var=self.noise_prior_var,
            noise_prior_df=self.noise_prior_df,
        )

    # ------------------------------------------------------------------ model
    @property
    def theta_(self) -> NDArray[np.float64]:
        """Posterior mean coefficients, (n_arms, n_features)."""
        return self.posterior_.theta

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Posterior mean reward ``x . theta_k``, shape (n, n_arms)."""
        Xv = check_contexts(X, self.n_features)
        return Xv @ self.posterior_.theta.T

    def _mean_sd(
        self, X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Mean and posterior sd of each arm's expected reward, (n, K) each."""
        return mean_and_width(X, self.posterior_.gaussians)


def masked(
    scores: NDArray[np.float64], eligible: NDArray[np.bool_] | None
) -> NDArray[np.float64]:
    """Scores with ``-inf`` on ineligible arms (in place when possible)."""
    if eligible is None:
        return scores
    return np.where(eligible, scores, -np.inf)


def check_noise(noise: object) -> float | str:
    """``"pooled"``, ``"per_arm"`` or a finite sd > 0."""
    if isinstance(noise, str):
        if noise not in ("pooled", "per_arm"):
            raise ConfigError(
                f"noise: expected 'pooled', 'per_arm' or a number > 0, got {noise!r}"
            )
        return noise
    return check_real("noise", noise, low=0.0, low_open=True)
