"""Multiple comparisons across metrics, variants and segments.

P-values (any shape; the family is every element):

- Holm (1979) step-down, family-wise error rate:
  ``p_adj(i) = max_{j <= i} min(1, (m - j + 1) p(j))`` over sorted p-values;
- Benjamini & Hochberg (1995) step-up, false discovery rate:
  ``p_adj(i) = min_{j >= i} min(1, m p(j) / j)``.

Intervals, as interval levels to pass back to the estimators as ``alpha``:

- ``holm`` / ``bonferroni``: every interval at ``1 - alpha / m``. These are
  simultaneous intervals (FWER coverage). Holm's step-down has no informative
  compatible intervals beyond these (Strassburger & Bretz 2008), so an interval
  may touch zero for a hypothesis Holm rejects; the adjusted p-value decides.
- ``bh``: the false coverage-statement rate intervals of Benjamini & Yekutieli
  (2005): with ``R`` hypotheses selected by BH at level ``q``, intervals at
  ``1 - R q / m`` (``R = 0``: ``1 - q / m``), which keep the expected share of
  non-covering intervals among the selected ones at most ``q``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "Method",
    "adjust",
    "benjamini_hochberg",
    "bonferroni",
    "holm",
    "interval_alpha",
]

F64 = NDArray[np.float64]
Method = Literal["holm", "bh", "bonferroni", "none"]


def _p(p_values: ArrayLike) -> F64:
    p = np.asarray(p_values, dtype=np.float64)
    if not (np.isfinite(p) & (p >= 0) & (p <= 1)).all():
        raise DataValidationError(
            f"p_values: expected values in [0, 1], got {p.tolist()!r}"
        )
    return p


def bonferroni(p_values: ArrayLike) -> F64:
    """Bonferroni-adjusted p-values, ``min(1, m p)``."""
    p = _p(p_values)
    return np.minimum(1.0, p * max(p.size, 1))


def holm(p_values: ArrayLike) -> F64:
    """Holm step-down adjusted p-values (same shape as the input).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.06, 0.06]
    """
    p = _p(p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * flat[order])
    adj = np.empty(m)
    adj[order] = np.maximum.accumulate(stepped)
    return adj.reshape(p.shape)


def benjamini_hochberg(p_values: ArrayLike) -> F64:
    """Benjamini-Hochberg adjusted p-values (same shape as the input).

    Examples
    --------
    >>> benjamini_hochberg([0.01, 0.04, 0.03]).round(4).tolist()
    [0.03, 0.04, 0.04]
    """
    p = _p(p_values)
    flat = p.ravel()
    m = flat.size
    order = np.argsort(flat, kind="stable")
    scaled = np.minimum(1.0, flat[order] * m / np.arange(1, m + 1))
    adj = np.empty(m)
    adj[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return adj.reshape(p.shape)


def adjust(p_values: ArrayLike, method: Method) -> F64:
    """Adjusted p-values by ``method`` (``none`` returns them unchanged)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    if method == "bonferroni":
        return bonferroni(p_values)
    if method == "none":
        return _p(p_values)
    raise DataValidationError(
        f"method: expected holm, bh, bonferroni or none, got {method!r}"
    )


def interval_alpha(p_values: ArrayLike, method: Method, alpha: float = 0.05) -> F64:
    """Per-comparison ``alpha`` for adjusted intervals (see module docstring).

    Returns an array shaped like ``p_values``: pass it as ``alpha`` to the
    estimators (they broadcast) to get the adjusted intervals.

    Examples
    --------
    >>> interval_alpha([0.001, 0.2, 0.03, 0.6], "bh", alpha=0.1).tolist()
    [0.05, 0.05, 0.05, 0.05]
    """
    if not 0 < alpha < 1:
        raise DataValidationError(f"alpha: expected a level in (0, 1), got {alpha!r}")
    p = _p(p_values)
    m = max(p.size, 1)
    if method in ("holm", "bonferroni"):
        level = alpha / m
    elif method == "bh":
        selected = int((benjamini_hochberg(p) <= alpha).sum())
        level = max(selected, 1) * alpha / m
    elif method == "none":
        level = alpha
    else:
        raise DataValidationError(
            f"method: expected holm, bh, bonferroni or none, got {method!r}"
        )
    return np.full(p.shape, level)
