"""Model health on outcomes that have arrived: ranking, calibration, accuracy.

For a binary score ``p`` (churn in 90 days, take-up of a product) and the
outcome ``y`` that followed:

- **AUC**: the Mann-Whitney form, ``(R_1 - n_1 (n_1 + 1) / 2) / (n_1 n_0)``
  with ``R_1`` the sum of the positives' mid-ranks (ties count one half), the
  same number as ``sklearn.metrics.roc_auc_score``. Its standard error is
  Hanley & McNeil's (1982):
  ``SE^2 = (A(1-A) + (n_1-1)(Q_1-A^2) + (n_0-1)(Q_2-A^2)) / (n_1 n_0)``,
  ``Q_1 = A/(2-A)``, ``Q_2 = 2A^2/(1+A)``.
- **Reliability bins** exactly as ``sklearn.calibration.calibration_curve``
  (quantile or uniform edges, a value on an edge goes to the lower bin, empty
  bins dropped), and the **expected calibration error**
  ``ECE = sum_b (n_b / n) |mean(p)_b - mean(y)_b|``.
- **Hosmer-Lemeshow** on the same bins, for external validation (the model
  was fitted on other data, so ``dof`` = number of bins used):
  ``H = sum_b (O_b - E_b)^2 / (E_b (1 - E_b / n_b))``.
- **Brier score** ``mean((p - y)^2)``.

A model is judged only with at least ``min_outcomes`` positive and negative
outcomes; otherwise the result is neutral with status
``insufficient_outcomes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.monitoring.thresholds import Strategy, Thresholds

__all__ = [
    "ModelHealth",
    "ReliabilityBin",
    "auc_score",
    "auc_standard_error",
    "brier_score",
    "expected_calibration_error",
    "hosmer_lemeshow",
    "model_health",
    "reliability_bins",
]

F64 = NDArray[np.float64]
Status = Literal["ok", "insufficient_outcomes"]


def _check(y: ArrayLike, p: ArrayLike, subject: str = "scores") -> tuple[F64, F64]:
    yy = np.asarray(y, dtype=np.float64).ravel()
    pp = np.asarray(p, dtype=np.float64).ravel()
    if yy.size != pp.size:
        raise DataValidationError(
            f"{subject}: got {yy.size} outcomes and {pp.size} predictions, "
            "expected one prediction per outcome"
        )
    bad_y = ~np.isin(yy, (0.0, 1.0))
    if bad_y.any():
        i = int(np.flatnonzero(bad_y)[0])
        raise DataValidationError(
            f"{subject}: outcome at row {i} is {float(yy[i])!r}, expected 0 or 1"
        )
    bad_p = ~(np.isfinite(pp) & (pp >= 0.0) & (pp <= 1.0))
    if bad_p.any():
        i = int(np.flatnonzero(bad_p)[0])
        raise DataValidationError(
            f"{subject}: prediction at row {i} is {float(pp[i])!r}, expected a "
            "probability in [0, 1]"
        )
    return yy, pp


def auc_score(y: ArrayLike, p: ArrayLike) -> float:
    """Area under the ROC curve (NaN unless both outcomes occur).

    Examples
    --------
    >>> auc_score([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    from scipy.stats import rankdata

    yy, pp = _check(y, p)
    n1 = float(yy.sum())
    n0 = float(yy.size - n1)
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(pp)  # mid-ranks for ties
    return float((ranks[yy == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def auc_standard_error(auc: float, positives: int, negatives: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC estimate.

    Examples
    --------
    >>> round(auc_standard_error(0.8, 50, 500), 4)
    0.0384
    """
    if positives < 1 or negatives < 1 or not np.isfinite(auc):
        return float("nan")
    a = auc
    q1 = a / (2 - a)
    q2 = 2 * a * a / (1 + a)
    var = (
        a * (1 - a) + (positives - 1) * (q1 - a * a) + (negatives - 1) * (q2 - a * a)
    ) / (positives * negatives)
    return float(np.sqrt(max(var, 0.0)))


def brier_score(y: ArrayLike, p: ArrayLike) -> float:
    """Mean squared difference between prediction and outcome.

    Examples
    --------
    >>> round(brier_score([0, 1], [0.2, 0.6]), 12)
    0.1
    """
    yy, pp = _check(y, p)
    return float(np.mean((pp - yy) ** 2))


@dataclass(frozen=True)
class ReliabilityBin:
    """One reliability bin: predictions in ``(lower, upper]`` (the first bin
    also holds ``lower``)."""

    lower: float
    upper: float
    n: int
    mean_predicted: float
    observed_rate: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "lower": self.lower,
            "upper": self.upper,
            "n": self.n,
            "mean_predicted": self.mean_predicted,
            "observed_rate": self.observed_rate,
        }


def _bins(pp: F64, n_bins: int, strategy: Strategy) -> tuple[F64, NDArray[np.intp]]:
    if n_bins < 2:
        raise DataValidationError(f"n_bins: expected an integer >= 2, got {n_bins!r}")
    if strategy == "quantile":
        edges = np.percentile(pp, np.linspace(0, 1, n_bins + 1) * 100)
    elif strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    else:
        raise DataValidationError(
            f"strategy: expected 'quantile' or 'uniform', got {strategy!r}"
        )
    return edges, np.searchsorted(edges[1:-1], pp)


def _sums(
    yy: F64, pp: F64, n_bins: int, strategy: Strategy
) -> tuple[F64, F64, F64, F64]:
    """Edges (n_bins + 1,), and per bin: count, sum of p, sum of y."""
    edges, ids = _bins(pp, n_bins, strategy)
    total = np.bincount(ids, minlength=n_bins).astype(np.float64)
    sum_p = np.bincount(ids, weights=pp, minlength=n_bins).astype(np.float64)
    sum_y = np.bincount(ids, weights=yy, minlength=n_bins).astype(np.float64)
    return edges, total, sum_p, sum_y


def reliability_bins(
    y: ArrayLike, p: ArrayLike, n_bins: int = 10, strategy: Strategy = "quantile"
) -> tuple[ReliabilityBin, ...]:
    """The non-empty reliability bins (as ``calibration_curve`` forms them).

    Examples
    --------
    >>> [(b.n, b.observed_rate) for b in reliability_bins([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9], 2)]
    [(2, 0.0), (2, 1.0)]
    """
    yy, pp = _check(y, p)
    if yy.size == 0:
        return ()
    edges, total, sum_p, sum_y = _sums(yy, pp, n_bins, strategy)
    return tuple(
        ReliabilityBin(
            lower=float(edges[b]),
            upper=float(edges[b + 1]),
            n=int(total[b]),
            mean_predicted=float(sum_p[b] / total[b]),
            observed_rate=float(sum_y[b] / total[b]),
        )
        for b in np.flatnonzero(total > 0)
    )


def expected_calibration_error(
    y: ArrayLike, p: ArrayLike, n_bins: int = 10, strategy: Strategy = "quantile"
) -> float:
    """``sum_b (n_b / n) |mean(p)_b - mean(y)_b|`` over the reliability bins.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8], 2), 3)
    0.25
    """
    yy, pp = _check(y, p)
    if yy.size == 0:
        return float("nan")
    _, _, sum_p, sum_y = _sums(yy, pp, n_bins, strategy)
    return float(np.abs(sum_p - sum_y).sum() / yy.size)


def hosmer_lemeshow(
    y: ArrayLike, p: ArrayLike, n_bins: int = 10, strategy: Strategy = "quantile"
) -> tuple[float, int, float]:
    """``(statistic, dof, p-value)`` of the Hosmer-Lemeshow test.

    Bins whose expected count has no variance (every prediction 0 or 1) are
    left out; ``dof`` is the number of bins used (external validation).

    Examples
    --------
    >>> h, dof, pv = hosmer_lemeshow([0, 1] * 50, [0.5] * 100, 2)
    >>> (round(h, 6), dof, round(pv, 6))
    (0.0, 1, 1.0)
    """
    from scipy.stats import chi2

    yy, pp = _check(y, p)
    if yy.size == 0:
        return float("nan"), 0, float("nan")
    _, total, sum_p, sum_y = _sums(yy, pp, n_bins, strategy)
    var = np.zeros_like(sum_p)
    used = total > 0
    var[used] = sum_p[used] * (1.0 - sum_p[used] / total[used])
    used &= var > 1e-12
    dof = int(used.sum())
    if dof == 0:
        return float("nan"), 0, float("nan")
    stat = float(np.sum((sum_y[used] - sum_p[used]) ** 2 / var[used]))
    return stat, dof, float(chi2.sf(stat, dof))


@dataclass(frozen=True)
class ModelHealth:
    """How one score did against the outcomes that followed it."""

    subject: str  # the score column, e.g. churn_90d, propensity_savings
    model: str  # the model that produced it, e.g. churn_90d, propensity
    status: Status
    reason: str
    n: int
    positives: int
    base_rate: float
    mean_predicted: float
    auc: float | None = None
    auc_baseline: float | None = None
    auc_se: float | None = None
    auc_drop_pvalue: float | None = None
    brier: float | None = None
    ece: float | None = None
    hl_statistic: float | None = None
    hl_dof: int | None = None
    hl_pvalue: float | None = None
    bins: tuple[ReliabilityBin, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "model": self.model,
            "status": self.status,
            "reason": self.reason,
            "n": self.n,
            "positives": self.positives,
            "base_rate": self.base_rate,
            "mean_predicted": self.mean_predicted,
            "auc": self.auc,
            "auc_baseline": self.auc_baseline,
            "auc_se": self.auc_se,
            "auc_drop_pvalue": self.auc_drop_pvalue,
            "brier": self.brier,
            "ece": self.ece,
            "hl_statistic": self.hl_statistic,
            "hl_dof": self.hl_dof,
            "hl_pvalue": self.hl_pvalue,
            "bins": [b.to_dict() for b in self.bins],
        }


def model_health(
    subject: str,
    y: ArrayLike,
    p: ArrayLike,
    *,
    model: str | None = None,
    auc_baseline: float | None = None,
    thresholds: Thresholds | None = None,
) -> ModelHealth:
    """Health of one score on arrived outcomes.

    Parameters
    ----------
    subject : the score's name (a ``customer_scores`` column).
    y : array (n,), the outcome (0/1) of each customer scored.
    p : array (n,), the predicted probability.
    model : the model task (default ``subject``).
    auc_baseline : the model's holdout AUC when it was trained, if known; the
        AUC drop is tested one-sided against it.
    thresholds : calibration bins and the minimum outcomes.

    Returns
    -------
    ModelHealth
        Neutral (status ``insufficient_outcomes``) when fewer than
        ``min_outcomes`` positives or negatives arrived.

    Raises
    ------
    DataValidationError
        Outcomes not 0/1, predictions outside [0, 1], or lengths that differ.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(0, 0.4, 4000)
    >>> h = model_health("churn_90d", rng.random(4000) < p, p)
    >>> h.status, round(h.auc, 2), h.ece < 0.02
    ('ok', 0.7, True)
    """
    from scipy.stats import norm

    th = thresholds or Thresholds()
    yy, pp = _check(y, p, subject)
    n = int(yy.size)
    positives = int(yy.sum())
    negatives = n - positives
    base = float(yy.mean()) if n else float("nan")
    mean_p = float(pp.mean()) if n else float("nan")
    neutral = ModelHealth(
        subject=subject,
        model=model or subject,
        status="insufficient_outcomes",
        reason=(
            f"{positives} positive and {negatives} negative outcomes have "
            f"arrived; at least {th.min_outcomes} of each are needed"
        ),
        n=n,
        positives=positives,
        base_rate=base,
        mean_predicted=mean_p,
        auc_baseline=auc_baseline,
    )
    if min(positives, negatives) < th.min_outcomes:
        return neutral
    auc = auc_score(yy, pp)
    se = auc_standard_error(auc, positives, negatives)
    drop_p = None
    if auc_baseline is not None and np.isfinite(auc_baseline) and se > 0:
        drop_p = float(norm.sf((auc_baseline - auc) / se))
    hl, dof, hl_p = hosmer_lemeshow(
        yy, pp, th.calibration_bins, th.calibration_strategy
    )
    return replace(
        neutral,
        status="ok",
        reason="",
        auc=auc,
        auc_se=se,
        auc_drop_pvalue=drop_p,
        brier=brier_score(yy, pp),
        ece=expected_calibration_error(
            yy, pp, th.calibration_bins, th.calibration_strategy
        ),
        hl_statistic=hl,
        hl_dof=dof,
        hl_pvalue=hl_p,
        bins=reliability_bins(yy, pp, th.calibration_bins, th.calibration_strategy),
    )
