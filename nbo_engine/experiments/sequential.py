"""Always-valid inference: a confidence sequence you may peek at after every unit.

The mixture sequential probability ratio test (mSPRT) with a normal mixture
(Robbins 1970; Johari, Koomen, Pekelis & Walsh 2017/2022, "Always valid
inference"; Howard, Ramdas, McAuliffe & Sekhon 2021; asymptotic form in
Waudby-Smith et al. 2023, arXiv:2103.06476). For an estimate ``D`` of the
difference with variance ``V`` after ``N`` units in the two arms, and the
mixing variance ``tau^2 = rho^2 V N`` (``rho^2`` times the per-unit variance)::

    Lambda = sqrt(V / (V + tau^2)) * exp(tau^2 D^2 / (2 V (V + tau^2)))
    p      = min(1, 1 / Lambda)
    CI     = D +- sqrt(V (V + tau^2) / tau^2 * (2 log(1 / alpha) + log((V + tau^2) / V)))

``Lambda`` is a non-negative martingale under the null, so by Ville's
inequality ``P(sup_N Lambda >= 1 / alpha) <= alpha``: the type I error holds
however often one looks, and the interval covers at every stopping time.
``rho^2 = (-2 log alpha + log(-2 log alpha + 1)) / N*`` makes the interval
tightest at the planned total sample ``N*`` (Howard et al. 2021, eq. 161 in
arXiv v7). GrowthBook's gbstats uses the same boundary with ``N* = 5000``
fixed; we tune it to each experiment's planned sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.experiments.stats import OK, REASONS, Effect

__all__ = ["SequentialEffect", "always_valid", "mixture_rho2"]

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class SequentialEffect:
    """Always-valid interval and p-value at the current look.

    ``reject`` is ``p_value <= alpha`` (equivalently the interval excludes 0).
    The interval is valid at any stopping time; intersecting intervals over
    looks (or taking the running minimum of ``p_value``) is also valid.
    """

    estimate: F64
    ci_low: F64
    ci_high: F64
    p_value: F64
    alpha: F64
    reject: NDArray[np.bool_]
    reason: NDArray[np.int8]

    def summary(self, index: Any = ()) -> dict[str, float | bool | str]:
        """The result at ``index`` as plain values."""
        return {
            "estimate": float(self.estimate[index]),
            "ci_low": float(self.ci_low[index]),
            "ci_high": float(self.ci_high[index]),
            "p_value": float(self.p_value[index]),
            "reject": bool(self.reject[index]),
            "reason": REASONS[int(self.reason[index])],
        }


def mixture_rho2(alpha: ArrayLike, tuning_n: ArrayLike) -> F64:
    """``rho^2`` that minimises the interval width at ``tuning_n`` total units."""
    a = np.asarray(alpha, dtype=np.float64)
    return (-2 * np.log(a) + np.log(-2 * np.log(a) + 1)) / np.asarray(tuning_n, float)


def always_valid(
    effect: Effect,
    n_total: ArrayLike,
    tuning_n: ArrayLike,
    alpha: ArrayLike | None = None,
) -> SequentialEffect:
    """Always-valid interval and p-value for a fixed-horizon :class:`Effect`.

    Parameters
    ----------
    effect : Effect
        Estimate and standard error at the current look (any estimator:
        proportions, means, CUPED, ratio; absolute or relative).
    n_total : array-like
        Units in the two compared arms so far; broadcasts with ``effect``.
    tuning_n : float or array
        Planned total units of the two arms (where the interval is tightest).
    alpha : float or array, optional
        Defaults to ``effect.alpha``.

    Returns
    -------
    SequentialEffect

    Examples
    --------
    >>> from nbo_engine.experiments.stats import proportion_effect
    >>> from nbo_engine.experiments.sufficient import SampleStats
    >>> e = proportion_effect(SampleStats.from_proportion(50_000, 1500),
    ...                       SampleStats.from_proportion(50_000, 1700))
    >>> s = always_valid(e, 100_000, tuning_n=100_000)
    >>> round(float(e.p_value), 4), round(float(s.p_value), 4), bool(s.reject)
    (0.0003, 0.0097, True)
    """
    tune = np.asarray(tuning_n, dtype=np.float64)
    if not (np.isfinite(tune) & (tune > 0)).all():
        raise DataValidationError(
            f"tuning_n: expected a sample size > 0, got {tuning_n!r}"
        )
    a = effect.alpha if alpha is None else np.asarray(alpha, dtype=np.float64)
    if not ((a > 0) & (a < 1)).all():
        raise DataValidationError(f"alpha: expected levels in (0, 1), got {alpha!r}")
    n = np.asarray(n_total, dtype=np.float64)
    shape = np.broadcast_shapes(effect.estimate.shape, n.shape, a.shape, tune.shape)
    good = np.broadcast_to(effect.reason == OK, shape) & (n > 0)
    d = np.broadcast_to(effect.estimate, shape)
    v = np.where(good, np.broadcast_to(effect.se, shape) ** 2, 1.0)
    # Nrho^2 = tau^2 / V: the mixture's weight relative to the data
    k = np.where(good, mixture_rho2(a, tune) * n, 1.0)
    with np.errstate(over="ignore"):
        log_p = 0.5 * np.log1p(k) - k * d * d / (2 * v * (1 + k))
        half = np.sqrt(v * (1 + k) / k * (-2 * np.log(a) + np.log1p(k)))
    p = np.where(good, np.exp(np.minimum(log_p, 0.0)), 1.0)
    est = np.where(good, d, 0.0)
    half = np.where(good, half, 0.0)
    reason = np.where(good, OK, np.broadcast_to(effect.reason, shape)).astype(np.int8)
    return SequentialEffect(
        estimate=est,
        ci_low=est - half,
        ci_high=est + half,
        p_value=p,
        alpha=np.broadcast_to(a, shape).astype(np.float64),
        reject=good & (p <= a),
        reason=reason,
    )
