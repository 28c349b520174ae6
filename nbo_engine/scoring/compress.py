"""Compress customers to unique rows with weights.

Fader and Hardie fit their models on the distinct ``(x, t_x, T)`` patterns, each
weighted by how many customers share it: the log-likelihood and its gradient are
weighted sums over patterns, and predictions are computed once per pattern and
broadcast back. At a daily or weekly grain a million customers collapse to a few
tens of thousands of patterns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Compressed", "PurchaseRows", "compress_rows", "unique_index"]


@dataclass(frozen=True)
class Compressed:
    """Distinct rows of a set of equal-length columns.

    Attributes
    ----------
    columns : tuple of ndarray, each (n_unique,)
        The distinct rows, column by column, in order of first appearance.
    weight : ndarray (n_unique,)
        Sum of the input weights of the rows that share each distinct row.
    inverse : ndarray of int64 (n_rows,)
        ``columns[k][inverse]`` reproduces input column ``k``.
    """

    columns: tuple[NDArray[np.float64], ...]
    weight: NDArray[np.float64]
    inverse: NDArray[np.int64]

    @property
    def n(self) -> int:
        return int(self.weight.size)


def compress_rows(
    *columns: NDArray[np.float64], weight: NDArray[np.float64] | None = None
) -> Compressed:
    """Distinct rows of ``columns`` with summed weights.

    Parameters
    ----------
    *columns : ndarray (n_rows,)
        Numeric columns of equal length (compared exactly).
    weight : ndarray (n_rows,), optional
        Row weights (default 1 each).

    Returns
    -------
    Compressed

    Examples
    --------
    >>> import numpy as np
    >>> c = compress_rows(np.array([1.0, 0, 1]), np.array([2.0, 3, 2]))
    >>> c.columns[0].tolist(), c.columns[1].tolist(), c.weight.tolist()
    ([1.0, 0.0], [2.0, 3.0], [2.0, 1.0])
    >>> c.inverse.tolist()
    [0, 1, 0]
    """
    cols = [np.asarray(c, dtype=np.float64) for c in columns]
    n = cols[0].size
    w = np.ones(n) if weight is None else np.asarray(weight, dtype=np.float64)
    if n == 0:
        return Compressed(tuple(cols), w, np.zeros(0, dtype=np.int64))
    # Hash-based factorisation, column by column (O(n), no sort): the codes of
    # the columns seen so far are combined into one integer key.
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for c in cols:
        code, uniq = pd.factorize(c, use_na_sentinel=False)
        if size * len(uniq) >= 2**62:
            key, seen = pd.factorize(key)
            size = len(seen)
        key = key * len(uniq) + code
        size *= len(uniq)
    group, groups = pd.factorize(key)
    group = group.astype(np.int64)
    first = np.empty(len(groups), dtype=np.int64)
    first[group[::-1]] = np.arange(n - 1, -1, -1)  # last write wins: first row
    weights = np.bincount(group, weights=w, minlength=first.size).astype(np.float64)
    return Compressed(tuple(c[first] for c in cols), weights, group)


def unique_index(
    values: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distinct values and the index that maps them back (``u[i] == values``).

    Special functions of ``parameter + value`` are then evaluated once per
    distinct value rather than once per row. Same output as ``np.unique(...,
    return_inverse=True)``, by a hash table rather than a sort (4-9 ms rather
    than 25-55 ms on the 522k-962k values of a 1M-customer fit).
    """
    codes, u = pd.factorize(
        np.asarray(values).reshape(-1), sort=True, use_na_sentinel=False
    )
    return np.asarray(u, dtype=np.float64), np.asarray(codes, dtype=np.int64)


@dataclass(frozen=True)
class PurchaseRows:
    """Distinct purchase patterns ``(x, t_x, T)`` and the customers behind each.

    Attributes
    ----------
    x : ndarray (n,)
        Repeat purchases (periods with a purchase after the first).
    t_x : ndarray (n,)
        Recency: time of the last purchase since the first, in time units.
    T : ndarray (n,)
        Age: time from the first purchase to the end of the period.
    weight : ndarray (n,)
        Customers with this pattern.
    x_u, T_u, tx_u : ndarray
        Distinct values of ``x``, ``T`` and ``t_x``; ``*_i`` index them back.
    """

    x: NDArray[np.float64]
    t_x: NDArray[np.float64]
    T: NDArray[np.float64]
    weight: NDArray[np.float64]
    x_u: NDArray[np.float64]
    x_i: NDArray[np.int64]
    T_u: NDArray[np.float64]
    T_i: NDArray[np.int64]
    tx_u: NDArray[np.float64]
    tx_i: NDArray[np.int64]

    @classmethod
    def build(
        cls,
        x: NDArray[np.float64],
        t_x: NDArray[np.float64],
        T: NDArray[np.float64],
        weight: NDArray[np.float64] | None = None,
    ) -> PurchaseRows:
        """Rows as given (already compressed or not), with the value tables."""
        x = np.asarray(x, dtype=np.float64)
        t_x = np.asarray(t_x, dtype=np.float64)
        T = np.asarray(T, dtype=np.float64)
        w = np.ones(x.size) if weight is None else np.asarray(weight, np.float64)
        x_u, x_i = unique_index(x)
        T_u, T_i = unique_index(T)
        tx_u, tx_i = unique_index(t_x)
        return cls(x, t_x, T, w, x_u, x_i, T_u, T_i, tx_u, tx_i)

    @property
    def n(self) -> int:
        return int(self.x.size)

    def subset(self, keep: NDArray[np.bool_]) -> PurchaseRows:
        """The rows where ``keep``."""
        return PurchaseRows.build(
            self.x[keep], self.t_x[keep], self.T[keep], self.weight[keep]
        )

    def scaled(self, factor: float) -> PurchaseRows:
        """Times multiplied by ``factor`` (a change of time unit)."""
        return PurchaseRows(
            self.x,
            self.t_x * factor,
            self.T * factor,
            self.weight,
            self.x_u,
            self.x_i,
            self.T_u * factor,
            self.T_i,
            self.tx_u * factor,
            self.tx_i,
        )
