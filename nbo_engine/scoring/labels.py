"""Outcome labels from the accounts table (future data, never features).

A customer is *in the relationship* at the end of a day if at least one account
is open then. **Churn in 90 days**: in the relationship at ``as_of`` and no
longer 90 days later. **Take-up of product p in 90 days**: in the relationship
and not holding p at ``as_of``, and an account of p opened in the 90 days after.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.features.aggregate import Grouped, codes_for
from nbo_engine.ingest.schemas import PRODUCTS

__all__ = ["churn_labels", "open_at", "takeup_labels"]

HORIZON_DAYS = 90


def _end_of(day: pd.Timestamp | str) -> pd.Timestamp:
    return pd.Timestamp(day).normalize() + pd.Timedelta(days=1)


def _open_mask(accounts: pd.DataFrame, at: pd.Timestamp) -> NDArray[np.bool_]:
    end = _end_of(at)
    opened = pd.to_datetime(accounts["open_date"]) < end
    close = pd.to_datetime(accounts["close_date"])
    return (opened & (close.isna() | (close >= end))).to_numpy()


def open_at(
    accounts: pd.DataFrame, index: pd.Index, at: pd.Timestamp | str
) -> NDArray[np.bool_]:
    """Customers in ``index`` with an open account at the end of ``at``, (n,)."""
    g = Grouped(codes_for(index, accounts["customer_id"]), len(index))
    return g.count(_open_mask(accounts, pd.Timestamp(at))) > 0


def churn_labels(
    accounts: pd.DataFrame,
    index: pd.Index,
    as_of: pd.Timestamp | str,
    horizon_days: int = HORIZON_DAYS,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """``(eligible, label)``, each shape (n,): label is 1 for eligible customers
    whose relationship ended within ``horizon_days`` after ``as_of``."""
    start = pd.Timestamp(as_of)
    eligible = open_at(accounts, index, start)
    later = open_at(accounts, index, start + pd.Timedelta(days=horizon_days))
    return eligible, (eligible & ~later).astype(np.float64)


def takeup_labels(
    accounts: pd.DataFrame,
    index: pd.Index,
    as_of: pd.Timestamp | str,
    horizon_days: int = HORIZON_DAYS,
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """``(eligible, label)``, each shape (n, n_products) in ``PRODUCTS`` order."""
    start = pd.Timestamp(as_of)
    n = len(index)
    g = Grouped(codes_for(index, accounts["customer_id"]), n)
    is_open = _open_mask(accounts, start)
    in_rel = g.count(is_open) > 0
    product = accounts["product"].to_numpy(dtype=object)
    opened = pd.to_datetime(accounts["open_date"])
    new = (
        (opened >= _end_of(start))
        & (opened < _end_of(start + pd.Timedelta(days=horizon_days)))
    ).to_numpy()
    eligible = np.zeros((n, len(PRODUCTS)), dtype=bool)
    label = np.zeros((n, len(PRODUCTS)))
    for j, p in enumerate(PRODUCTS):
        holds = g.count(is_open & (product == p)) > 0
        eligible[:, j] = in_rel & ~holds
        label[:, j] = eligible[:, j] & (g.count(new & (product == p)) > 0)
    return eligible, label
