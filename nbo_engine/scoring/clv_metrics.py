"""Holdout accuracy of CLV predictions.

Per customer: MAE of purchases and of revenue, and the aggregate purchases
predicted against actual. Ranking: Spearman correlation of predicted and actual
revenue, the normalized Gini and decile MAPE of Wang, Liu and Miao (2019, "A
Deep Probabilistic Model for Customer Lifetime Value Prediction", the
zero-inflated lognormal paper), and the share of holdout revenue the top
predicted decile captures.

Ties in the prediction (a baseline predicting 0 for many customers) are handled
as a random order would on average: tied customers share their revenue evenly
in the Gini curve and the top-decile share, so a constant prediction scores a
Gini of exactly 0 rather than whatever the input order gives.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

__all__ = [
    "decile_mape",
    "holdout_metrics",
    "normalized_gini",
    "spearman",
    "top_decile_share",
]

FloatArray = NDArray[np.float64]


def _tie_mean_sorted(
    y_true: FloatArray, y_pred: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """``y_true`` ordered by decreasing prediction, each tie group replaced by
    its mean; and the sorted predictions."""
    order = np.argsort(-y_pred, kind="stable")
    p = y_pred[order]
    t = y_true[order]
    new = np.ones(p.size, dtype=bool)
    new[1:] = p[1:] != p[:-1]
    group = np.cumsum(new) - 1
    mean = np.bincount(group, weights=t) / np.bincount(group)
    return mean[group], p


def _raw_gini(y_true: FloatArray, y_pred: FloatArray) -> float:
    t, _ = _tie_mean_sorted(y_true, y_pred)
    total = t.sum()
    cum = np.cumsum(t) / total
    # Twice the area between the gain curve and the diagonal, by the trapezoid
    # rule (Wang et al. sum the curve's points, which adds 1/n: a random order
    # would score 1/n instead of 0).
    n = cum.size
    return float((2.0 * cum.sum() - 1.0) / n - 1.0)


def normalized_gini(y_true: FloatArray, y_pred: FloatArray) -> float:
    """Gini of the gain curve ordered by prediction over that ordered by truth.

    1 is a perfect ranking, 0 a random one. NaN when nobody has revenue.

    Examples
    --------
    >>> import numpy as np
    >>> y = np.array([0.0, 0.0, 5.0, 1.0])
    >>> normalized_gini(y, y), normalized_gini(y, np.zeros(4))
    (1.0, 0.0)
    """
    if y_true.size == 0 or y_true.sum() <= 0:
        return math.nan
    return _raw_gini(y_true, y_pred) / _raw_gini(y_true, y_true)


def decile_mape(y_true: FloatArray, y_pred: FloatArray) -> float:
    """Mean over prediction deciles of ``|mean pred - mean actual| / mean actual``.

    Customers are cut into ten equal-count groups by predicted value (Wang et
    al. 2019, ``decile_stats``); a decile whose actual mean is 0 has no MAPE and
    is left out (NaN if all are).
    """
    if y_true.size < 10:
        return math.nan
    order = np.argsort(-y_pred, kind="stable")
    out = []
    for idx in np.array_split(order, 10):
        actual = float(y_true[idx].mean())
        if actual > 0:
            out.append(abs(float(y_pred[idx].mean()) - actual) / actual)
    return float(np.mean(out)) if out else math.nan


def top_decile_share(y_true: FloatArray, y_pred: FloatArray) -> float:
    """Share of total actual revenue from the top 10% of customers by prediction."""
    total = float(y_true.sum())
    if y_true.size == 0 or total <= 0:
        return math.nan
    k = max(1, math.ceil(0.1 * y_true.size))
    t, _ = _tie_mean_sorted(y_true, y_pred)
    return float(t[:k].sum() / total)


def spearman(a: FloatArray, b: FloatArray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN if either is
    constant."""
    if a.size < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return math.nan
    ra = rankdata(a)
    rb = rankdata(b)
    return float(np.corrcoef(ra, rb)[0, 1])


def holdout_metrics(
    actual_purchases: FloatArray,
    actual_revenue: FloatArray,
    predicted_purchases: FloatArray,
    predicted_revenue: FloatArray,
) -> dict[str, float]:
    """Every holdout metric for one model, keyed by name (see module docs)."""
    return {
        "purchases_mae": float(np.mean(np.abs(predicted_purchases - actual_purchases))),
        "purchases_predicted": float(predicted_purchases.sum()),
        "purchases_actual": float(actual_purchases.sum()),
        "revenue_mae": float(np.mean(np.abs(predicted_revenue - actual_revenue))),
        "revenue_predicted": float(predicted_revenue.sum()),
        "revenue_actual": float(actual_revenue.sum()),
        "spearman": spearman(predicted_revenue, actual_revenue),
        "normalized_gini": normalized_gini(actual_revenue, predicted_revenue),
        "decile_mape": decile_mape(actual_revenue, predicted_revenue),
        "top_decile_revenue_share": top_decile_share(actual_revenue, predicted_revenue),
    }
