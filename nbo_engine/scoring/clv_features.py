"""RFM-style features of each customer's transactions as of a cutoff, and labels.

Features use only transactions on or before the cutoff day; labels only those
after it, so a model trained on (features at c, label over (c, c + H]) never
sees the future of its own rows. All per-customer aggregates are bincounts over
sorted customer codes: no loop over customers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.scoring.rfm import as_day, period_index

__all__ = ["FEATURE_WINDOWS_DAYS", "future_value", "rfm_features"]

FloatArray = NDArray[np.float64]
#: Look-back windows of the count and spend features (days).
FEATURE_WINDOWS_DAYS: tuple[int, ...] = (30, 91, 182, 365)
_EPOCH = np.datetime64("1970-01-01", "D")


def _days(log: pd.DataFrame) -> NDArray[np.int64]:
    d = log["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    return (d - _EPOCH).astype(np.int64)


def rfm_features(
    log: pd.DataFrame, cutoff: np.datetime64, freq: str = "D"
) -> pd.DataFrame:
    """One row per customer with a transaction on or before ``cutoff``.

    Parameters
    ----------
    log : DataFrame
        ``customer_id``, ``date``, ``amount`` (``rfm.normalize_transactions``).
    cutoff : numpy.datetime64
        Last day whose transactions count.
    freq : {"D", "W"}
        Period of the ``periods`` feature (distinct purchase periods).

    Returns
    -------
    DataFrame indexed by customer_id
        ``recency_days``, ``tenure_days``, ``transactions``, ``active_days``,
        ``periods``, ``spend``, ``spend_mean``, ``spend_max``, ``spend_std``,
        ``tx_<w>d`` and ``spend_<w>d`` for each window, ``gap_mean``,
        ``gap_std``, ``gap_last`` (days between distinct purchase days; NaN with
        one day), ``overdue`` (recency over mean gap), ``rate_per_day`` and
        ``trend_91d`` (log ratio of the last 91 days' spend to the 91 before).

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> log = pd.DataFrame({"customer_id": ["a", "a", "b"],
    ...     "date": pd.to_datetime(["2025-01-01", "2025-01-11", "2025-01-05"]),
    ...     "amount": [10.0, 30.0, 5.0]})
    >>> f = rfm_features(log, np.datetime64("2025-01-31"))
    >>> f.loc["a", ["recency_days", "tenure_days", "spend", "gap_mean"]].tolist()
    [20.0, 30.0, 40.0, 10.0]
    """
    c = int((as_day(cutoff) - _EPOCH).astype(np.int64))
    day = _days(log)
    keep = day <= c
    day = day[keep]
    amount = log["amount"].to_numpy(np.float64)[keep]
    codes, ids = pd.factorize(log["customer_id"].to_numpy()[keep], sort=True)
    n = len(ids)
    order = np.lexsort((day, codes))
    code, day, amount = codes[order], day[order], amount[order]
    cnt = np.bincount(code, minlength=n).astype(np.float64)
    start = (np.cumsum(cnt) - cnt).astype(np.int64)
    first = day[start].astype(np.float64)
    last = day[start + cnt.astype(np.int64) - 1].astype(np.float64)
    spend = np.bincount(code, weights=amount, minlength=n).astype(np.float64)
    sq = np.bincount(code, weights=amount * amount, minlength=n).astype(np.float64)
    mean = spend / cnt
    spend_max = np.full(n, -np.inf)
    np.maximum.at(spend_max, code, amount)
    out: dict[str, FloatArray] = {
        "recency_days": c - last,
        "tenure_days": c - first,
        "transactions": cnt,
        "spend": spend,
        "spend_mean": mean,
        "spend_max": spend_max,
        "spend_std": np.sqrt(np.maximum(sq / cnt - mean * mean, 0.0)),
    }
    # distinct purchase days and the gaps between them
    new_day = np.ones(day.size, dtype=bool)
    new_day[1:] = (code[1:] != code[:-1]) | (day[1:] != day[:-1])
    dcode, dday = code[new_day], day[new_day].astype(np.float64)
    active = np.bincount(dcode, minlength=n).astype(np.float64)
    out["active_days"] = active
    per = period_index(_EPOCH + day.astype("timedelta64[D]"), freq)
    new_per = np.ones(day.size, dtype=bool)
    new_per[1:] = (code[1:] != code[:-1]) | (per[1:] != per[:-1])
    out["periods"] = np.bincount(code[new_per], minlength=n).astype(np.float64)
    same = dcode[1:] == dcode[:-1]
    gap = np.diff(dday)[same]
    gcode = dcode[1:][same]
    n_gap = np.bincount(gcode, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_mean = np.bincount(gcode, weights=gap, minlength=n) / n_gap
        g_sq = np.bincount(gcode, weights=gap * gap, minlength=n) / n_gap
        out["gap_mean"] = g_mean
        out["gap_std"] = np.sqrt(np.maximum(g_sq - g_mean * g_mean, 0.0))
        g_last = np.full(n, np.nan)
        g_last[gcode] = gap  # sorted by day: the last write is the latest gap
        out["gap_last"] = g_last
        out["overdue"] = out["recency_days"] / g_mean
    out["rate_per_day"] = active / (out["tenure_days"] + 1.0)
    for w in FEATURE_WINDOWS_DAYS:
        inw = day > c - w
        out[f"tx_{w}d"] = np.bincount(code[inw], minlength=n).astype(np.float64)
        out[f"spend_{w}d"] = np.bincount(
            code[inw], weights=amount[inw], minlength=n
        ).astype(np.float64)
    prev = (day > c - 182) & (day <= c - 91)
    s_prev = np.bincount(code[prev], weights=amount[prev], minlength=n)
    out["trend_91d"] = np.log1p(np.maximum(out["spend_91d"], 0.0)) - np.log1p(
        np.maximum(s_prev, 0.0)
    )
    return pd.DataFrame(
        out, index=pd.Index(np.asarray(ids, dtype=object), name="customer_id")
    )


def future_value(
    log: pd.DataFrame,
    cutoff: np.datetime64,
    horizon_days: float,
    customers: NDArray[np.object_],
    freq: str = "D",
) -> tuple[FloatArray, FloatArray]:
    """Purchase periods and revenue of ``customers`` in ``(cutoff, cutoff + h]``.

    Returns
    -------
    purchases, revenue : ndarray (n_customers,)
    """
    c = int((as_day(cutoff) - _EPOCH).astype(np.int64))
    day = _days(log)
    inw = (day > c) & (day <= c + horizon_days)
    pos = pd.Index(customers).get_indexer(pd.Index(log["customer_id"].to_numpy()[inw]))
    ok = pos >= 0
    pos = pos[ok].astype(np.int64)
    amount = log["amount"].to_numpy(np.float64)[inw][ok]
    per = period_index(_EPOCH + day[inw][ok].astype("timedelta64[D]"), freq)
    revenue = np.bincount(pos, weights=amount, minlength=customers.size)
    purchases = np.zeros(customers.size)
    if pos.size:
        lo = int(per.min())
        span = int(per.max()) - lo + 1
        key = np.unique(pos * span + (per - lo))
        purchases = np.bincount(key // span, minlength=customers.size).astype(
            np.float64
        )
    return purchases, revenue.astype(np.float64)
