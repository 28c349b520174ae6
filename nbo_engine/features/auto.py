"""Automated aggregate features over event tables, and selection by importance.

Like deep feature synthesis on one level: every (slice x window x statistic)
combination of an event table becomes a column, e.g. ``tx_cat_travel_sum_90``
(spend on travel in the last 90 days) or ``dig_type_login_count_30``. Slices are
the values of the table's categorical columns; windows are 30, 90 and 365 days;
statistics are count, sum, mean and standard deviation of the amount, plus a
trend (count in the last 90 days against the 90 before, in [-1, 1]). Columns
that are constant are dropped later by :func:`select_features`, which keeps the
columns a gradient-boosting model finds useful for a target.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError

__all__ = ["SLICES", "aggregate_events", "select_features"]

WINDOWS = (30, 90, 365)
#: For each event table: its categorical slice columns and its amount column.
SLICES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "transactions": (("category", "channel"), "amount"),
    "digital_events": (("event_type", "channel"), None),
}
_PREFIX = {"transactions": "tx", "digital_events": "dig"}


def aggregate_events(
    events: pd.DataFrame,
    codes: NDArray[np.int64],
    age: NDArray[np.float64],
    n_customers: int,
    kind: str,
) -> dict[str, NDArray[np.float64]]:
    """Aggregates of an event table per customer.

    Parameters
    ----------
    events : the table's rows already cut at the profile date, shape (m, ...).
    codes : each row's customer position in [0, n_customers) or -1, (m,).
    age : each row's age in days at the profile date, (m,).
    kind : ``transactions`` or ``digital_events`` (see :data:`SLICES`).

    Every slice level is counted in one ``np.bincount`` over
    ``code * n_levels + level`` per window, so the cost does not grow with the
    number of levels. Returns name -> (n_customers,) arrays.
    """
    if kind not in SLICES:
        raise DataValidationError(
            f"aggregate_events: kind {kind!r}; expected one of {', '.join(SLICES)}"
        )
    slices, amount_col = SLICES[kind]
    prefix = _PREFIX[kind]
    n = n_customers
    ok = codes >= 0
    amount = events[amount_col].to_numpy(np.float64) if amount_col else None
    out: dict[str, NDArray[np.float64]] = {}
    for col in slices:
        level_idx, levels = pd.factorize(events[col], sort=True)
        L = len(levels)
        if L == 0:
            continue
        valid = ok & (level_idx >= 0)
        key = codes[valid] * L + level_idx[valid]
        a = age[valid]

        def per_level(
            weights: NDArray[np.float64] | None,
            mask: NDArray[np.bool_],
            _key: NDArray[np.int64] = key,
            _L: int = L,
        ) -> NDArray[np.float64]:
            w = None if weights is None else weights[mask]
            counts = np.bincount(_key[mask], weights=w, minlength=n * _L)
            return counts.astype(np.float64).reshape(n, _L)

        counts = {w: per_level(None, a <= w) for w in WINDOWS}
        before = per_level(None, (a > 90) & (a <= 180))
        sums: dict[int, NDArray[np.float64]] = {}
        if amount is not None:
            v = amount[valid]
            for w in WINDOWS:
                sums[w] = per_level(v, a <= w)
            year = a <= 365
            sq = per_level(v * v, year)
            c365 = counts[365]
            with np.errstate(invalid="ignore", divide="ignore"):
                mean365 = np.where(c365 > 0, sums[365] / np.maximum(c365, 1), np.nan)
                var = (sq - c365 * np.nan_to_num(mean365) ** 2) / np.maximum(
                    c365 - 1, 1
                )
                std365 = np.where(c365 > 1, np.sqrt(np.maximum(var, 0.0)), np.nan)
        for li, level in enumerate(levels):
            name = f"{prefix}_{col[:4]}_{level}"
            for w in WINDOWS:
                out[f"{name}_count_{w}"] = counts[w][:, li]
                if amount is not None:
                    out[f"{name}_sum_{w}"] = sums[w][:, li]
            if amount is not None:
                out[f"{name}_mean_365"] = mean365[:, li]
                out[f"{name}_std_365"] = std365[:, li]
            recent = counts[90][:, li]
            out[f"{name}_trend"] = (recent - before[:, li]) / np.maximum(
                recent + before[:, li], 1.0
            )
    return out


def select_features(
    X: pd.DataFrame,
    y: NDArray[np.float64] | pd.Series,
    *,
    k: int = 40,
    task: str = "binary",
    seed: int = 0,
    always: Sequence[str] = (),
) -> list[str]:
    """The ``k`` columns of ``X`` with the highest LightGBM gain importance.

    Parameters
    ----------
    X : numeric features (NaN allowed), shape (n, p).
    y : target, shape (n,): 0/1 for ``task="binary"``, non-negative values for
        ``"tweedie"``, any real for ``"regression"``.
    always : columns kept whatever their importance (e.g. business rules use them).
    """
    if len(X) != len(y):
        raise DataValidationError(
            f"select_features: X has {len(X)} rows, y has {len(y)}"
        )
    import lightgbm as lgb

    from nbo_engine.threads import lgb_threads

    numeric = X.select_dtypes("number")
    varying = numeric.columns[numeric.nunique(dropna=True) > 1]
    model: Any = lgb.LGBMRegressor if task != "binary" else lgb.LGBMClassifier
    params = {
        "objective": task,
        "n_estimators": 80,
        "learning_rate": 0.15,
        "num_leaves": 31,
        "min_child_samples": 50,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "random_state": seed,
        "verbose": -1,
        "importance_type": "gain",
        "n_jobs": lgb_threads(len(X)),
        "max_bin": 63,
    }
    m = model(**params)
    m.fit(numeric[varying].to_numpy(np.float64), np.asarray(y, np.float64))
    order = np.argsort(-m.feature_importances_, kind="stable")
    chosen = [str(varying[i]) for i in order[:k] if m.feature_importances_[i] > 0]
    return list(dict.fromkeys([*always, *chosen]))
