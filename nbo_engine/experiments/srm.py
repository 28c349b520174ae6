"""Sample-ratio mismatch: are the units split as planned?

Pearson's chi-square goodness-of-fit of the observed units per variant against
the planned shares, ``k - 1`` degrees of freedom (Fabijan et al. 2019,
"Diagnosing sample ratio mismatch in online controlled experiments"). The
planned shares come from the exposed buckets (``assignment.planned_split``), so
a deliberate 95/5 split is expected as 95/5 and raises no alarm. The default
threshold ``p < 0.001`` is the usual one: the check runs on every look, and a
false alarm stops a good experiment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from nbo_engine.errors import DataValidationError

__all__ = ["SRM_REASONS", "SrmResult", "srm_check"]

F64 = NDArray[np.float64]

SRM_REASONS = ("ok", "no_units", "units_in_unplanned_variant")


@dataclass(frozen=True)
class SrmResult:
    """Chi-square statistic, degrees of freedom and p-value over the last axis.

    ``mismatch`` is ``p_value < threshold``; ``reason`` indexes ``SRM_REASONS``
    (``no_units``: nothing to test, p = 1; ``units_in_unplanned_variant``: units
    in a variant planned to get none, p = 0).
    """

    chi2: F64
    df: F64
    p_value: F64
    threshold: float
    mismatch: NDArray[np.bool_]
    observed_share: F64
    expected_share: F64
    reason: NDArray[np.int8]


def srm_check(
    counts: ArrayLike, expected_shares: ArrayLike, threshold: float = 0.001
) -> SrmResult:
    """Chi-square test of ``counts`` against ``expected_shares``.

    Parameters
    ----------
    counts : array-like, shape (..., k)
        Units per variant.
    expected_shares : array-like, shape (k,) or (..., k)
        Planned shares (normalised here).
    threshold : float

    Returns
    -------
    SrmResult

    Examples
    --------
    >>> r = srm_check([9_480, 520], [0.95, 0.05])
    >>> round(float(r.p_value), 3), bool(r.mismatch)
    (0.359, False)
    >>> bool(srm_check([5_200, 4_800], [0.5, 0.5]).mismatch)
    True
    """
    obs = np.asarray(counts, dtype=np.float64)
    w = np.asarray(expected_shares, dtype=np.float64)
    if obs.ndim == 0 or obs.shape[-1] != w.shape[-1]:
        raise DataValidationError(
            f"counts, expected_shares: expected the same number of variants, got "
            f"shapes {obs.shape} and {w.shape}"
        )
    if (obs < 0).any() or not np.isfinite(obs).all():
        raise DataValidationError(
            f"counts: expected finite counts >= 0, got {obs.tolist()!r}"
        )
    if (w < 0).any() or not (w.sum(axis=-1) > 0).all():
        raise DataValidationError(
            f"expected_shares: expected shares >= 0 with a positive sum, got {w.tolist()!r}"
        )
    share = w / w.sum(axis=-1, keepdims=True)
    total = obs.sum(axis=-1, keepdims=True)
    expected = share * total
    planned = share > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(
            planned, (obs - expected) ** 2 / np.where(planned, expected, 1.0), 0.0
        )
        observed_share = np.where(total > 0, obs / total, 0.0)
    chi2 = terms.sum(axis=-1)
    df = np.broadcast_to(planned.sum(axis=-1) - 1.0, chi2.shape).astype(np.float64)
    p = special.chdtrc(np.maximum(df, 1.0), chi2)
    unplanned = ((obs > 0) & ~planned).any(axis=-1)
    empty = total[..., 0] == 0
    p = np.where(unplanned, 0.0, np.where(empty | (df < 1), 1.0, p))
    reason = np.where(empty, 1, np.where(unplanned, 2, 0)).astype(np.int8)
    return SrmResult(
        chi2=chi2,
        df=df,
        p_value=p,
        threshold=threshold,
        mismatch=p < threshold,
        observed_share=observed_share,
        expected_share=np.broadcast_to(share, obs.shape).astype(np.float64),
        reason=reason,
    )
