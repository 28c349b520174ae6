"""Value tiers: named slices of customers ranked by a value score (e.g. 12-month
CLV), with configured shares.

Customers are ranked by value, highest first; equal values keep their input
order (a stable sort), so each tier holds exactly its configured share of the
customers (rounded to whole customers), however many ties there are. The value
at each cut is kept as a threshold, so one new customer is tiered by comparing
their value with the thresholds (:meth:`ValueTiers.tier_of`). Missing values
rank last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import ConfigError, DataValidationError

__all__ = ["DEFAULT_TIERS", "TierSpec", "ValueTiers", "value_tiers"]


@dataclass(frozen=True)
class TierSpec:
    """Tier names from the most to the least valuable and their shares (sum 1)."""

    names: tuple[str, ...]
    shares: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.names) != len(self.shares) or len(self.names) < 1:
            raise ConfigError(
                f"TierSpec: {len(self.names)} names and {len(self.shares)} shares; "
                "expected one share per name, at least one tier"
            )
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"TierSpec: names {self.names} repeat a name")
        bad = [s for s in self.shares if not 0.0 < s <= 1.0]
        if bad or abs(sum(self.shares) - 1.0) > 1e-9:
            raise ConfigError(
                f"TierSpec: shares {self.shares} (sum {sum(self.shares):.6g}); "
                "expected shares in (0, 1] that sum to 1"
            )


#: Top 5% / next 15% / middle 40% / bottom 40%.
DEFAULT_TIERS = TierSpec(
    ("platinum", "gold", "silver", "bronze"), (0.05, 0.15, 0.40, 0.40)
)


@dataclass(frozen=True)
class ValueTiers:
    """Tier of each customer and the value thresholds between tiers.

    ``codes`` (n,) index ``spec.names`` (0 = most valuable); ``thresholds``
    (n_tiers - 1,) is the lowest value in each tier but the last.
    """

    spec: TierSpec
    codes: NDArray[np.int64]
    thresholds: NDArray[np.float64]

    @property
    def labels(self) -> NDArray[np.object_]:
        """Tier name per customer, shape (n,)."""
        return np.asarray(self.spec.names, dtype=object)[self.codes]

    def tier_of(self, value: float) -> str:
        """Tier of one value by the thresholds (NaN -> the last tier)."""
        if not np.isfinite(value):
            return self.spec.names[-1]
        return self.spec.names[int((value < self.thresholds).sum())]


def value_tiers(values: ArrayLike, spec: TierSpec = DEFAULT_TIERS) -> ValueTiers:
    """Split customers into value tiers with the configured shares.

    Parameters
    ----------
    values : value score per customer, shape (n,) (currency units); NaN ranks last.
    spec : tier names and shares.

    Returns
    -------
    :class:`ValueTiers`; tier ``i`` holds ``round(cum_share_i * n) -
    round(cum_share_{i-1} * n)`` customers.

    Examples
    --------
    >>> t = value_tiers(np.arange(20.0), TierSpec(("top", "rest"), (0.25, 0.75)))
    >>> t.labels[-5:].tolist(), t.thresholds.tolist(), t.tier_of(14.9)
    (['top', 'top', 'top', 'top', 'top'], [15.0], 'rest')
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise DataValidationError(
            f"value_tiers: values of shape {v.shape}; expected a non-empty 1-D array"
        )
    n = v.size
    key = np.where(np.isnan(v), -np.inf, v)
    order = np.argsort(-key, kind="stable")
    bounds = np.rint(np.cumsum(spec.shares) * n).astype(np.int64)
    bounds[-1] = n
    rank_code = np.searchsorted(bounds, np.arange(n), side="right")
    codes = np.empty(n, dtype=np.int64)
    codes[order] = rank_code
    thresholds = np.array(
        [key[order[b - 1]] if b > 0 else np.inf for b in bounds[:-1]], dtype=np.float64
    )
    return ValueTiers(spec, codes, thresholds)
