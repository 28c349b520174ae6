"""Logistic bandits with a Laplace posterior (Chapelle & Li 2011).

Each arm has a logistic model of the probability of a binary reward,
``P(r = 1 | x) = sigmoid(x . w_k)``, with a Gaussian posterior
``N(mean_k, precision_k^{-1})`` (prior ``N(0, lambda^{-1} I)``). When a batch
of rewards arrives, each arm's posterior is updated by the Laplace
approximation of Chapelle & Li's Algorithm 3 (with a full precision matrix):
the new mean is the MAP of the batch's log-likelihood plus the current
Gaussian as prior (damped Newton), and the new precision is the Hessian there,

    precision_k <- precision_k + sum_i w_i p_i (1 - p_i) x_i x_i^T.

To choose:

* :class:`LogisticTS` draws each arm's logit ``x . w_k`` from
  ``N(x . mean_k, alpha^2 x^T precision_k^{-1} x)``; the arm with the best
  ``v_k sigmoid(draw)`` wins; propensities as in
  :class:`~nbo_engine.bandit.thompson.LinearTS` (``n_draws`` draws, floor).
* :class:`LogisticUCB` takes the best optimistic value
  ``v_k sigmoid(x . mean_k + alpha sqrt(x^T precision_k^{-1} x))`` (a
  GLM-UCB, Filippi et al. 2010, with the Laplace posterior as its confidence
  set); ties share.

A logistic likelihood has no finite sufficient statistic: the update is a
sequential (assumed-density) filter. The rows of one batch are treated
symmetrically, so their order does not matter; folding a batch in pieces gives
a slightly different posterior (the tests bound the difference).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.bandit.base import BanditPolicy, RngLike
from nbo_engine.bandit.distribution import thompson_distribution, tie_distribution
from nbo_engine.bandit.forgetting import Forgetting
from nbo_engine.bandit.linear import masked
from nbo_engine.bandit.ridge import arm_gaussians, mean_and_width
from nbo_engine.bandit.thompson import DEFAULT_FLOOR, DEFAULT_N_DRAWS, check_thompson
from nbo_engine.bandit.validation import check_contexts, check_positive_int, check_real

__all__ = ["LogisticPolicy", "LogisticTS", "LogisticUCB", "laplace_update"]

_NEWTON_MAX_ITER = 50
_NEWTON_TOL = 1e-10


def _sigmoid(u: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * u))
    return out


def _objective(
    w: NDArray[np.float64],
    mu: NDArray[np.float64],
    P: NDArray[np.float64],
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    wt: NDArray[np.float64],
) -> float:
    eta = X @ w
    dw = w - mu
    return float(0.5 * dw @ P @ dw + wt @ (np.logaddexp(0.0, eta) - y * eta))


def laplace_update(
    mean: NDArray[np.float64],
    precision: NDArray[np.float64],
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """One arm's Gaussian posterior after a batch of binary rewards.

    Minimises ``0.5 (w - mean)^T precision (w - mean) + sum_i weights_i
    [log(1 + exp(x_i . w)) - y_i x_i . w]`` by Newton's method with step
    halving (the objective is strictly convex), and returns the minimiser and
    the Hessian there.

    Parameters
    ----------
    mean : (d,) current posterior mean; precision : (d, d) current precision.
    X : (n, d) contexts; y : (n,) rewards in [0, 1]; weights : (n,) >= 0.

    Returns
    -------
    new_mean : (d,); new_precision : (d, d).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.ones((1000, 1)); y = (np.arange(1000) < 200).astype(float)
    >>> m, P = laplace_update(np.zeros(1), np.eye(1), X, y, np.ones(1000))
    >>> round(float(1 / (1 + np.exp(-m[0]))), 2)  # close to the 20% observed
    0.2
    """
    w = mean.copy()
    obj = _objective(w, mean, precision, X, y, weights)
    for _ in range(_NEWTON_MAX_ITER):
        p = _sigmoid(X @ w)
        g = precision @ (w - mean) + X.T @ (weights * (p - y))
        H = precision + (X * (weights * p * (1.0 - p))[:, None]).T @ X
        step = np.linalg.solve(H, g)
        t = 1.0
        while True:
            cand = w - t * step
            new = _objective(cand, mean, precision, X, y, weights)
            if new <= obj + 1e-12 * abs(obj) or t < 1e-6:
                break
            t *= 0.5
        w, obj = cand, new
        if np.max(np.abs(t * step)) <= _NEWTON_TOL * (1.0 + np.max(np.abs(w))):
            break
    p = _sigmoid(X @ w)
    H = precision + (X * (weights * p * (1.0 - p))[:, None]).T @ X
    return w, 0.5 * (H + H.T)


class LogisticPolicy(BanditPolicy):
    """Base of the logistic policies: per-arm Bayesian logistic regressions.

    For binary rewards (conversions). Learned state: ``mean_`` (n_arms, d),
    ``precision_`` (n_arms, d, d) (prior included), ``count_`` (n_arms,)
    (weighted observations, for reporting).

    Parameters
    ----------
    n_arms, n_features : numbers of arms and of context features (add a
        constant column for the intercept).
    alpha : scale of the posterior standard deviation of the logit (>= 0).
        Default 0.5: Chapelle & Li (2011, section 4) found that shrinking the
        Laplace posterior pays under delayed, batched feedback, and so do our
        benchmarks (``benchmarks/bandit_quality.py``).
    prior_precision : ``lambda`` of the ``N(0, lambda^{-1} I)`` prior (> 0).
    rng, forgetting : see :class:`~nbo_engine.bandit.base.BanditPolicy`;
        forgetting pulls the precision back towards the prior,
        ``P <- lambda I + gamma (P - lambda I)``, keeping the mean.
    """

    reward_range = (0.0, 1.0)
    batch_rows = 1024

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        alpha: float = 0.5,
        *,
        prior_precision: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.alpha = check_real("alpha", alpha, low=0.0)
        self.prior_precision = check_real(
            "prior_precision", prior_precision, low=0.0, low_open=True
        )
        super().__init__(n_arms, n_features, rng=rng, forgetting=forgetting)
        k, d = self.n_arms, self.n_features
        self.mean_ = np.zeros((k, d))
        self.precision_ = np.broadcast_to(
            self.prior_precision * np.eye(d), (k, d, d)
        ).copy()
        self.count_ = np.zeros(k)
        self._refresh()

    def _params(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "prior_precision": self.prior_precision}

    def _array_shapes(self) -> dict[str, tuple[int, ...]]:
        k, d = self.n_arms, self.n_features
        return {"mean": (k, d), "precision": (k, d, d), "count": (k,)}

    def _fold(
        self,
        X: NDArray[np.float64],
        arms: NDArray[np.int64],
        rewards: NDArray[np.float64],
        weights: NDArray[np.float64] | None,
    ) -> None:
        w = np.ones(arms.size) if weights is None else weights
        for k in np.unique(arms):
            sel = arms == k
            self.mean_[k], self.precision_[k] = laplace_update(
                self.mean_[k], self.precision_[k], X[sel], rewards[sel], w[sel]
            )
            self.count_[k] += float(w[sel].sum())

    def _decay(self, factor: float) -> None:
        prior = self.prior_precision * np.eye(self.n_features)
        self.precision_ = prior + factor * (self.precision_ - prior)
        self.count_ *= factor

    def _refresh(self) -> None:
        self._gaussians = arm_gaussians(self.mean_, self.precision_)

    def _logit_mean_sd(
        self, X: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        return mean_and_width(X, self._gaussians)

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Posterior mean probability of a reward, (n, n_arms).

        ``E[sigmoid(u)]`` for ``u ~ N(m, s^2)`` by the probit approximation
        ``sigmoid(m / sqrt(1 + pi s^2 / 8))`` (MacKay 1992).
        """
        Xv = check_contexts(X, self.n_features)
        m, s = self._logit_mean_sd(Xv)
        return _sigmoid(m / np.sqrt(1.0 + np.pi * s * s / 8.0))


class LogisticTS(LogisticPolicy):
    """Thompson sampling on per-arm Bayesian logistic regressions.

    Parameters
    ----------
    n_arms, n_features, alpha, prior_precision, rng, forgetting : see
        :class:`LogisticPolicy`.
    n_draws, propensity_floor : as in :class:`~nbo_engine.bandit.thompson.LinearTS`.

    Examples
    --------
    >>> import numpy as np
    >>> pol = LogisticTS(2, 1, rng=0)
    >>> X = np.ones((400, 1)); arms = np.repeat([0, 1], 200)
    >>> y = np.r_[np.zeros(180), np.ones(20), np.zeros(100), np.ones(100)]
    >>> pol.update(X, arms, y)
    >>> np.round(pol.predict(np.ones((1, 1))), 1)  # observed rates: 10% and 50%
    array([[0.1, 0.5]])
    """

    kind = "LogisticTS"

    def __init__(
        self,
        n_arms: int,
        n_features: int,
        alpha: float = 0.5,
        *,
        n_draws: int = DEFAULT_N_DRAWS,
        propensity_floor: float = DEFAULT_FLOOR,
        prior_precision: float = 1.0,
        rng: RngLike = None,
        forgetting: Forgetting | None = None,
    ) -> None:
        self.n_draws, self.propensity_floor = check_thompson(
            check_positive_int("n_arms", n_arms), n_draws, propensity_floor
        )
        super().__init__(
            n_arms,
            n_features,
            alpha,
            prior_precision=prior_precision,
            rng=rng,
            forgetting=forgetting,
        )

    def _params(self) -> dict[str, Any]:
        return {
            **super()._params(),
            "n_draws": self.n_draws,
            "propensity_floor": self.propensity_floor,
        }

    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        m, sd = self._logit_mean_sd(X)
        sd *= self.alpha
        return thompson_distribution(
            m,
            sd,
            eligible,
            values,
            link="logistic",
            n_draws=self.n_draws,
            floor=self.propensity_floor,
            rng=self._rng,
        )


class LogisticUCB(LogisticPolicy):
    """Optimistic (GLM-UCB) choice on per-arm Bayesian logistic regressions.

    Score ``v_k sigmoid(x . mean_k + alpha sqrt(x^T precision_k^{-1} x))``;
    the best eligible arm is chosen, ties share (propensity ``1 / |ties|``).
    Parameters as in :class:`LogisticPolicy`.

    Examples
    --------
    >>> import numpy as np
    >>> pol = LogisticUCB(2, 1, rng=0)
    >>> X = np.ones((400, 1)); arms = np.repeat([0, 1], 200)
    >>> pol.update(X, arms, np.r_[np.ones(20), np.zeros(280), np.ones(100)])
    >>> pol.select(np.ones(1))
    (1, 1.0)
    """

    kind = "LogisticUCB"

    def scores(
        self,
        X: NDArray[np.float64],
        *,
        values: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Optimistic conversion probabilities (times values), (n, n_arms)."""
        return self._scores(check_contexts(X, self.n_features), values)

    def _scores(
        self, X: NDArray[np.float64], values: NDArray[np.float64] | None
    ) -> NDArray[np.float64]:
        m, sd = self._logit_mean_sd(X)
        if self.alpha:
            m += self.alpha * sd
        out = _sigmoid(m)
        if values is not None:
            out *= values
        return out

    def _distribution(
        self,
        X: NDArray[np.float64],
        eligible: NDArray[np.bool_] | None,
        values: NDArray[np.float64] | None,
    ) -> NDArray[np.float64]:
        return tie_distribution(masked(self._scores(X, values), eligible))
