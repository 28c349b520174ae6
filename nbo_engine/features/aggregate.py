"""Grouped aggregations over event tables, vectorised with numpy.

Events are mapped once to integer customer codes (positions in the customer
index); counts, sums, means, standard deviations, extremes and linear trends
per customer are then ``np.bincount`` / ``np.maximum.at`` calls, with no Python
loop over customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Grouped", "codes_for"]


def codes_for(customer_index: pd.Index, ids: pd.Series) -> NDArray[np.int64]:
    """Position of each id in ``customer_index`` (-1 when absent), shape (n,)."""
    return customer_index.get_indexer(pd.Index(ids.astype(str)))


class Grouped:
    """Per-customer statistics of values attached to customer codes.

    ``codes`` (n_events,) are positions in [0, n_customers) or -1 (ignored).
    """

    def __init__(self, codes: NDArray[np.int64], n_customers: int) -> None:
        keep = codes >= 0
        self.keep = keep
        self.codes = codes[keep]
        self.n = n_customers

    def _v(self, values: NDArray[np.floating] | None) -> NDArray[np.float64] | None:
        return None if values is None else np.asarray(values, np.float64)[self.keep]

    def count(self, mask: NDArray[np.bool_] | None = None) -> NDArray[np.float64]:
        """Number of events per customer (optionally only where ``mask``)."""
        w = None if mask is None else mask[self.keep].astype(np.float64)
        counts = np.bincount(self.codes, weights=w, minlength=self.n)
        return counts.astype(np.float64)

    def sum(
        self, values: NDArray[np.floating], mask: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        v = self._v(values)
        assert v is not None
        if mask is not None:
            v = np.where(mask[self.keep], v, 0.0)
        sums = np.bincount(self.codes, weights=v, minlength=self.n)
        return sums.astype(np.float64)

    def mean(
        self, values: NDArray[np.floating], mask: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """Mean per customer; NaN where there are no events."""
        c = self.count(mask)
        s = self.sum(values, mask)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, s / np.maximum(c, 1), np.nan)

    def std(
        self, values: NDArray[np.floating], mask: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """Sample standard deviation per customer; NaN with fewer than 2 events."""
        v = self._v(values)
        assert v is not None
        c = self.count(mask)
        m = self.mean(values, mask)
        dev = v - np.nan_to_num(m)[self.codes]
        if mask is not None:
            dev = np.where(mask[self.keep], dev, 0.0)
        ss = np.bincount(self.codes, weights=dev * dev, minlength=self.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 1, np.sqrt(ss / np.maximum(c - 1, 1)), np.nan)

    def max(
        self, values: NDArray[np.floating], mask: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """Maximum per customer; NaN where there are no events."""
        v = self._v(values)
        assert v is not None
        out = np.full(self.n, -np.inf)
        codes = self.codes if mask is None else self.codes[mask[self.keep]]
        vals = v if mask is None else v[mask[self.keep]]
        np.maximum.at(out, codes, vals)
        return np.where(np.isneginf(out), np.nan, out)

    def min(
        self, values: NDArray[np.floating], mask: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float64]:
        """Minimum per customer; NaN where there are no events."""
        return -self.max(-np.asarray(values, np.float64), mask)

    def slope(
        self,
        x: NDArray[np.floating],
        y: NDArray[np.floating],
        mask: NDArray[np.bool_] | None = None,
    ) -> NDArray[np.float64]:
        """Least-squares slope of ``y`` on ``x`` per customer (NaN with < 2
        points or no spread in ``x``)."""
        c = self.count(mask)
        mx = self.mean(x, mask)
        my = self.mean(y, mask)
        xv = self._v(x)
        yv = self._v(y)
        assert xv is not None
        assert yv is not None
        dx = xv - np.nan_to_num(mx)[self.codes]
        dy = yv - np.nan_to_num(my)[self.codes]
        if mask is not None:
            keep = mask[self.keep]
            dx = np.where(keep, dx, 0.0)
            dy = np.where(keep, dy, 0.0)
        sxy = np.bincount(self.codes, weights=dx * dy, minlength=self.n)
        sxx = np.bincount(self.codes, weights=dx * dx, minlength=self.n)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                (c > 1) & (sxx > 1e-12), sxy / np.maximum(sxx, 1e-12), np.nan
            )
