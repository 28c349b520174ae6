"""Sufficient statistics: what SQL (or numpy) aggregates per variant.

Every test in this package needs only these sums, so a warehouse can compute
them with one ``GROUP BY variant`` and never ship unit-level rows::

    SELECT variant, count(*) AS n, sum(y) AS sum, sum(y * y) AS sum_sq,
           sum(x) AS sum_x, sum(x * x) AS sum_xx, sum(x * y) AS sum_xy, ...
    FROM units GROUP BY variant

Fields are float64 arrays with any leading shape (variants, segments, looks,
simulation repetitions...), so one call analyses many comparisons at once.
``CupedStats`` carries ``k`` covariates in a trailing axis.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "CupedStats",
    "RatioStats",
    "SampleStats",
    "cuped_stats",
    "pre_period_covariates",
    "ratio_stats",
    "sample_stats",
]

F64 = NDArray[np.float64]


def _as_f64(name: str, value: ArrayLike) -> F64:
    arr = np.asarray(value, dtype=np.float64)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise DataValidationError(
            f"{name}{list(bad.tolist())}: expected a finite number, got "
            f"{float(arr[tuple(bad)])}"
        )
    return arr


def _names(obj: Any) -> list[str]:
    return [f.name for f in fields(obj)]


class _Stats:
    """Shared behaviour: array conversion, validation, indexing."""

    def __post_init__(self) -> None:
        for name in _names(self):
            value = _as_f64(f"{type(self).__name__}.{name}", getattr(self, name))
            object.__setattr__(self, name, value)
        n = self.n  # type: ignore[attr-defined]
        if (n < 0).any():
            raise DataValidationError(
                f"{type(self).__name__}.n: expected counts >= 0, got {float(n[n < 0][0]):g}"
            )

    def select(self, index: Any) -> Self:
        """The statistics at ``index`` of the leading axes (e.g. one variant)."""
        return type(self)(**{name: getattr(self, name)[index] for name in _names(self)})


@dataclass(frozen=True)
class SampleStats(_Stats):
    """Units ``n``, ``sum`` and ``sum_sq`` of a per-unit outcome ``y``.

    For a 0/1 outcome ``sum_sq == sum``.
    """

    n: F64
    sum: F64
    sum_sq: F64

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.sum_sq < 0).any():
            raise DataValidationError(
                f"SampleStats.sum_sq: expected >= 0, got {float(self.sum_sq[self.sum_sq < 0][0]):g}"
            )

    @property
    def mean(self) -> F64:
        """Mean outcome (0 where ``n == 0``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.n > 0, self.sum / self.n, 0.0)

    @property
    def var(self) -> F64:
        """Sample variance (ddof=1; 0 where ``n < 2``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            v = (self.sum_sq - self.sum * self.sum / self.n) / (self.n - 1)
        return np.where(self.n >= 2, np.maximum(v, 0.0), 0.0)

    def check_proportion(self, name: str) -> None:
        """Raise unless ``0 <= sum <= n`` everywhere (a 0/1 outcome)."""
        bad = (self.sum < 0) | (self.sum > self.n)
        if bad.any():
            i = np.argwhere(bad)[0]
            at = tuple(i.tolist())
            where = f" at index {list(at)}" if at else ""
            raise DataValidationError(
                f"{name}: expected 0 <= successes <= n for a proportion, got "
                f"sum={float(self.sum[at]):g} with n={float(self.n[at]):g}{where}"
            )

    @classmethod
    def from_proportion(cls, n: ArrayLike, successes: ArrayLike) -> SampleStats:
        """Statistics of a 0/1 outcome from counts."""
        s = np.asarray(successes, dtype=np.float64)
        return cls(n=np.asarray(n, dtype=np.float64), sum=s, sum_sq=s)


@dataclass(frozen=True)
class RatioStats(_Stats):
    """Units and sums for a ratio metric ``sum(num) / sum(den)`` (e.g. revenue
    per visit), including the cross-product the delta method needs."""

    n: F64
    sum_num: F64
    sum_num_sq: F64
    sum_den: F64
    sum_den_sq: F64
    sum_num_den: F64


@dataclass(frozen=True)
class CupedStats(_Stats):
    """Outcome sums plus ``k`` pre-period covariates ``x``.

    Shapes: ``n``, ``sum_y``, ``sum_yy``: (...); ``sum_x``, ``sum_xy``: (..., k);
    ``sum_xx``: (..., k, k).
    """

    n: F64
    sum_y: F64
    sum_yy: F64
    sum_x: F64
    sum_xx: F64
    sum_xy: F64

    def __post_init__(self) -> None:
        super().__post_init__()
        k = self.sum_x.shape[-1] if self.sum_x.ndim else 0
        if (
            self.sum_x.ndim == 0
            or self.sum_xy.shape != self.sum_x.shape
            or self.sum_xx.shape != (*self.sum_x.shape, k)
        ):
            raise DataValidationError(
                "CupedStats: expected sum_x and sum_xy of shape (..., k) and sum_xx "
                f"of shape (..., k, k), got {self.sum_x.shape}, {self.sum_xy.shape}, "
                f"{self.sum_xx.shape}"
            )

    @property
    def outcome(self) -> SampleStats:
        """The unadjusted outcome statistics."""
        return SampleStats(self.n, self.sum_y, self.sum_yy)


# ------------------------------------------------------------------ from units


def _groups(
    groups: ArrayLike, n_groups: int, size: int
) -> tuple[NDArray[np.intp], NDArray[np.bool_] | None]:
    g = np.asarray(groups)
    if g.shape != (size,):
        raise DataValidationError(
            f"groups: expected shape ({size},) like the values, got {g.shape}"
        )
    if g.dtype.kind not in "iu":
        raise DataValidationError(
            f"groups: expected integer group ids, got dtype {g.dtype}"
        )
    if size and int(g.max()) >= n_groups:
        raise DataValidationError(
            f"groups: expected ids < n_groups={n_groups}, got {int(g.max())}"
        )
    keep = g >= 0
    if keep.all():
        return g.astype(np.intp, copy=False), None
    return g[keep].astype(np.intp), keep


def _sum(g: NDArray[np.intp], w: F64 | None, n_groups: int) -> F64:
    return np.bincount(g, weights=w, minlength=n_groups).astype(np.float64)


def _values(name: str, v: ArrayLike, keep: NDArray[np.bool_] | None) -> F64:
    arr = _as_f64(name, v)
    return arr if keep is None else arr[keep]


def sample_stats(values: ArrayLike, groups: ArrayLike, n_groups: int) -> SampleStats:
    """Per-group ``n``, ``sum``, ``sum_sq`` of ``values``.

    Parameters
    ----------
    values : array-like, shape (n,)
        Per-unit outcome (0/1 for proportions).
    groups : array-like of int, shape (n,)
        Variant index per unit; negative ids (not enrolled, global holdout) are
        left out.
    n_groups : int

    Returns
    -------
    SampleStats with fields of shape (n_groups,)

    Examples
    --------
    >>> s = sample_stats([1.0, 0.0, 1.0, 1.0, 5.0], [0, 0, 1, 1, -1], 2)
    >>> s.n.tolist(), s.sum.tolist(), s.mean.tolist()
    ([2.0, 2.0], [1.0, 2.0], [0.5, 1.0])
    """
    y = np.asarray(values)
    g, keep = _groups(groups, n_groups, y.shape[0] if y.ndim else -1)
    y = _values("values", y, keep)
    return SampleStats(
        _sum(g, None, n_groups), _sum(g, y, n_groups), _sum(g, y * y, n_groups)
    )


def ratio_stats(
    numerator: ArrayLike, denominator: ArrayLike, groups: ArrayLike, n_groups: int
) -> RatioStats:
    """Per-group sums for a ratio metric; shapes as in :func:`sample_stats`."""
    m = np.asarray(numerator)
    g, keep = _groups(groups, n_groups, m.shape[0] if m.ndim else -1)
    m = _values("numerator", m, keep)
    d = _values("denominator", denominator, keep)
    return RatioStats(
        _sum(g, None, n_groups),
        _sum(g, m, n_groups),
        _sum(g, m * m, n_groups),
        _sum(g, d, n_groups),
        _sum(g, d * d, n_groups),
        _sum(g, m * d, n_groups),
    )


def cuped_stats(
    values: ArrayLike, covariates: ArrayLike, groups: ArrayLike, n_groups: int
) -> CupedStats:
    """Per-group sums of the outcome and of ``k`` covariates.

    Parameters
    ----------
    values : array-like, shape (n,)
    covariates : array-like, shape (n, k)
        Pre-period covariates, e.g. from :func:`pre_period_covariates`.
    groups, n_groups : as in :func:`sample_stats`

    Returns
    -------
    CupedStats with ``n`` of shape (n_groups,) and ``sum_xx`` (n_groups, k, k)
    """
    y = np.asarray(values)
    g, keep = _groups(groups, n_groups, y.shape[0] if y.ndim else -1)
    y = _values("values", y, keep)
    x = _values("covariates", covariates, keep)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise DataValidationError(
            f"covariates: expected shape ({y.shape[0]}, k), got {x.shape}"
        )
    k = x.shape[1]
    cols = np.ascontiguousarray(x.T)  # (k, n): each covariate contiguous
    sum_x = np.stack([_sum(g, cols[j], n_groups) for j in range(k)], axis=-1)
    sum_xy = np.stack([_sum(g, cols[j] * y, n_groups) for j in range(k)], axis=-1)
    sum_xx = np.empty((n_groups, k, k))
    for a in range(k):
        for b in range(a, k):
            s = _sum(g, cols[a] * cols[b], n_groups)
            sum_xx[:, a, b] = s
            sum_xx[:, b, a] = s
    return CupedStats(
        _sum(g, None, n_groups),
        _sum(g, y, n_groups),
        _sum(g, y * y, n_groups),
        sum_x,
        sum_xx,
        sum_xy,
    )


def pre_period_covariates(pre_values: ArrayLike, has_pre: ArrayLike) -> F64:
    """CUPED covariates that keep customers without a pre-period (new to bank).

    Returns the columns ``[pre * has_pre, has_pre]``, shape (n, 2): regression on
    them fits one intercept per stratum (with / without a pre-period) and the
    common slope within the pre-period stratum, the missing-indicator method
    (Groenwold et al. 2012), which is unbiased under randomisation because the
    covariates are measured before treatment (Lin 2013). Missing ``pre`` values
    (NaN) where ``has_pre`` is false are allowed.
    """
    d = np.asarray(has_pre, dtype=bool)
    pre = np.asarray(pre_values, dtype=np.float64)
    if pre.shape != d.shape or pre.ndim != 1:
        raise DataValidationError(
            f"pre_values, has_pre: expected two 1-D arrays of one length, got "
            f"{pre.shape} and {d.shape}"
        )
    out = np.empty((pre.shape[0], 2))
    np.copyto(out[:, 0], np.where(d, pre, 0.0))
    if not np.isfinite(out[:, 0]).all():
        i = int(np.flatnonzero(~np.isfinite(out[:, 0]))[0])
        raise DataValidationError(
            f"pre_values[{i}]: expected a finite number where has_pre is true, got {float(pre[i])}"
        )
    out[:, 1] = d
    return out
