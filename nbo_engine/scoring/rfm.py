"""From a transaction log to the recency-frequency-monetary summary CLV models fit.

Time is counted in periods (``freq``: ``D`` days, ``W`` Monday-to-Sunday weeks,
the same calendar periods as pandas' ``to_period("W")`` that ``lifetimes``
uses); several purchases in one period count once and their amounts add up.
For each customer with a purchase up to the observation end:

* ``frequency`` (x): periods with a purchase after the first one;
* ``recency`` (t_x): last purchase period minus the first;
* ``T``: observation-end period minus the first purchase period;
* ``monetary_value``: mean amount of the repeat periods (0 when x = 0).

This matches ``lifetimes.utils.summary_data_from_transaction_data`` and
``calibration_and_holdout_data`` so models fitted on either are comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "PERIOD_DAYS",
    "Freq",
    "HoldoutSummary",
    "RFMSummary",
    "as_day",
    "calibration_holdout",
    "normalize_transactions",
    "period_index",
    "summarize",
]

FloatArray = NDArray[np.float64]
Freq = Literal["D", "W"]
PERIOD_DAYS: dict[str, float] = {"D": 1.0, "W": 7.0}
_EPOCH = np.datetime64("1970-01-01", "D")


def as_day(value: object) -> np.datetime64:
    """``value`` (date, string or datetime64) as a numpy day."""
    return np.datetime64(value, "D")  # type: ignore[call-overload,no-any-return]


def period_index(dates: NDArray[np.datetime64], freq: str) -> NDArray[np.int64]:
    """Calendar period number of each date: days since 1970-01-01, or Monday-based
    weeks (1970-01-01 was a Thursday, so ``(days + 3) // 7``)."""
    days = (dates.astype("datetime64[D]") - _EPOCH).astype(np.int64)
    if freq == "D":
        return days
    if freq == "W":
        return (days + 3) // 7
    raise DataValidationError(f"freq: expected 'D' or 'W', got {freq!r}")


def normalize_transactions(
    frame: pd.DataFrame,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str = "amount",
    source: str = "transactions",
) -> pd.DataFrame:
    """Columns ``customer_id`` (str), ``date`` (datetime64), ``amount`` (float).

    Raises
    ------
    DataValidationError
        A column is missing (the message lists the columns present), a date
        or an amount does not parse (the message names the first bad row, 1-based
        data row, and its value), or the log is empty.
    """
    missing = [
        c for c in (customer_col, date_col, amount_col) if c not in frame.columns
    ]
    if missing:
        present = ", ".join(map(str, frame.columns))
        raise DataValidationError(
            f"{source}: missing column(s) {', '.join(repr(m) for m in missing)}; "
            f"columns present: {present} (map names with --customer-col, "
            "--date-col, --amount-col)"
        )
    if len(frame) == 0:
        raise DataValidationError(
            f"{source}: no transactions (expected at least one row)"
        )
    raw_dates = frame[date_col]
    if pd.api.types.is_datetime64_any_dtype(raw_dates):
        dates = pd.to_datetime(raw_dates)
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
    else:
        text = raw_dates.astype("string").str.strip()
        # ISO 8601 is parsed vectorised; only rows it rejects are tried again
        # with per-value format inference.
        dates = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
        retry = dates.isna().to_numpy() & text.notna().to_numpy()
        if retry.any():
            dates = dates.copy()
            dates[retry] = pd.to_datetime(
                text[retry], errors="coerce", format="mixed", dayfirst=True, utc=True
            )
        bad = dates.isna().to_numpy()
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"{source} row {i + 1}: column {date_col!r} is {raw_dates.iloc[i]!r}, "
                "expected a date such as 2025-01-31"
            )
        # Offsets are honoured, then times are expressed as naive UTC.
        dates = dates.dt.tz_convert(None)
    amounts = pd.to_numeric(frame[amount_col], errors="coerce")
    bad_amount = amounts.isna().to_numpy() | ~np.isfinite(amounts.to_numpy(np.float64))
    if bad_amount.any():
        i = int(np.flatnonzero(bad_amount)[0])
        raise DataValidationError(
            f"{source} row {i + 1}: column {amount_col!r} is "
            f"{frame[amount_col].iloc[i]!r}, expected a number"
        )
    ids = frame[customer_col]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataValidationError(
            f"{source} row {i + 1}: column {customer_col!r} is empty, expected a "
            "customer id"
        )
    return pd.DataFrame(
        {
            "customer_id": ids.astype(str).to_numpy(),
            "date": dates.to_numpy(dtype="datetime64[ns]"),
            "amount": amounts.to_numpy(np.float64),
        }
    )


@dataclass(frozen=True)
class RFMSummary:
    """One row per customer with a purchase up to the observation end.

    Times are in periods of ``period_days`` days.
    """

    customer_id: NDArray[np.object_]
    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    monetary_value: FloatArray
    period_days: float

    @property
    def n(self) -> int:
        return int(self.frequency.size)

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "frequency": self.frequency,
                "recency": self.recency,
                "T": self.T,
                "monetary_value": self.monetary_value,
            },
            index=pd.Index(self.customer_id, name="customer_id"),
        )

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, period_days: float = 1.0) -> RFMSummary:
        """From a frame indexed by customer with frequency, recency, T, monetary_value."""
        need = ["frequency", "recency", "T"]
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise DataValidationError(
                f"RFM summary: missing column(s) {', '.join(missing)}; columns "
                f"present: {', '.join(map(str, frame.columns))}"
            )
        f = frame["frequency"].to_numpy(np.float64)
        r = frame["recency"].to_numpy(np.float64)
        t = frame["T"].to_numpy(np.float64)
        m = (
            frame["monetary_value"].to_numpy(np.float64)
            if "monetary_value" in frame.columns
            else np.zeros(f.size)
        )
        bad = (
            ~np.isfinite(f)
            | ~np.isfinite(r)
            | ~np.isfinite(t)
            | (f < 0)
            | (r < 0)
            | (r > t)
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"RFM summary row {i + 1} (customer {frame.index[i]!r}): frequency="
                f"{f[i]}, recency={r[i]}, T={t[i]}; expected frequency >= 0 and "
                "0 <= recency <= T"
            )
        return cls(np.asarray(frame.index, dtype=object), f, r, t, m, period_days)


def _aggregate(
    codes: NDArray[np.int64], period: NDArray[np.int64], amount: FloatArray, n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], FloatArray]:
    """Distinct (customer, period) pairs with their summed amounts, sorted."""
    if codes.size == 0:
        return codes, period, amount
    lo = int(period.min())
    span = int(period.max()) - lo + 1
    key = codes.astype(np.int64) * span + (period - lo)
    uniq, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv.reshape(-1), weights=amount, minlength=uniq.size)
    del n
    return uniq // span, uniq % span + lo, total.astype(np.float64)


def summarize(
    log: pd.DataFrame, observation_end: np.datetime64, freq: str = "D"
) -> RFMSummary:
    """RFM summary of a normalised log (``normalize_transactions``) as of
    ``observation_end`` (inclusive: transactions on that day count).

    Examples
    --------
    >>> import pandas as pd
    >>> log = pd.DataFrame({"customer_id": ["a", "a", "a", "b"],
    ...     "date": pd.to_datetime(["2025-01-01", "2025-01-01", "2025-01-05", "2025-01-03"]),
    ...     "amount": [10.0, 5.0, 20.0, 7.0]})
    >>> s = summarize(log, np.datetime64("2025-01-10"), "D")
    >>> s.frequency.tolist(), s.recency.tolist(), s.T.tolist(), s.monetary_value.tolist()
    ([1.0, 0.0], [4.0, 0.0], [9.0, 7.0], [20.0, 0.0])
    """
    end = as_day(observation_end)
    dates = log["date"].to_numpy(dtype="datetime64[ns]")
    keep = dates.astype("datetime64[D]") <= end
    codes, uniques = pd.factorize(log["customer_id"].to_numpy()[keep], sort=True)
    period = period_index(dates[keep], freq)
    cust, per, total = _aggregate(
        codes.astype(np.int64),
        period,
        log["amount"].to_numpy(np.float64)[keep],
        len(uniques),
    )
    n = len(uniques)
    counts = np.bincount(cust, minlength=n)
    starts = np.cumsum(counts) - counts
    first = per[starts]
    last = per[starts + counts - 1]
    end_period = int(period_index(np.array([end]), freq)[0])
    spend = np.bincount(cust, weights=total, minlength=n)
    x = (counts - 1).astype(np.float64)
    repeat_spend = spend - total[starts]
    monetary = np.where(x > 0, repeat_spend / np.maximum(x, 1.0), 0.0)
    return RFMSummary(
        customer_id=np.asarray(uniques, dtype=object),
        frequency=x,
        recency=(last - first).astype(np.float64),
        T=(end_period - first).astype(np.float64),
        monetary_value=monetary,
        period_days=PERIOD_DAYS[freq],
    )


@dataclass(frozen=True)
class HoldoutSummary:
    """Calibration summary plus what each of its customers did in the holdout.

    ``holdout_purchases`` counts periods with a purchase in the holdout,
    ``holdout_revenue`` sums the amounts, ``duration`` is the holdout length
    in periods (as ``lifetimes``: holdout-end period minus calibration-end
    period).
    """

    calibration: RFMSummary
    holdout_purchases: FloatArray
    holdout_revenue: FloatArray
    calibration_revenue: FloatArray
    duration: float


def calibration_holdout(
    log: pd.DataFrame,
    calibration_end: np.datetime64,
    holdout_end: np.datetime64,
    freq: str = "D",
) -> HoldoutSummary:
    """Split a normalised log at ``calibration_end`` (inclusive) and summarise.

    Customers are those with a purchase on or before ``calibration_end``.

    Raises
    ------
    DataValidationError
        ``holdout_end`` is not after ``calibration_end``, or nobody bought in
        the calibration period.
    """
    cal = as_day(calibration_end)
    hold = as_day(holdout_end)
    if hold <= cal:
        raise DataValidationError(
            f"holdout end {hold} is not after calibration end {cal}; expected "
            "--holdout-end later than --calibration-end"
        )
    summary = summarize(log, cal, freq)
    if summary.n == 0:
        first = log["date"].min()
        raise DataValidationError(
            f"no transactions on or before the calibration end {cal} (the first "
            f"is on {pd.Timestamp(first).date()}); expected a later --calibration-end"
        )
    days = log["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    in_hold = (days > cal) & (days <= hold)
    pos = pd.Index(summary.customer_id).get_indexer(
        pd.Index(log["customer_id"].to_numpy()[in_hold])
    )
    known = pos >= 0
    pos = pos[known].astype(np.int64)
    amount = log["amount"].to_numpy(np.float64)[in_hold][known]
    period = period_index(days[in_hold][known], freq)
    cust, _, _ = _aggregate(pos, period, amount, summary.n)
    purchases = np.bincount(cust, minlength=summary.n).astype(np.float64)
    revenue = np.bincount(pos, weights=amount, minlength=summary.n).astype(np.float64)
    in_cal = days <= cal
    pos_c = pd.Index(summary.customer_id).get_indexer(
        pd.Index(log["customer_id"].to_numpy()[in_cal])
    )
    cal_rev = np.bincount(
        pos_c, weights=log["amount"].to_numpy(np.float64)[in_cal], minlength=summary.n
    ).astype(np.float64)
    p = period_index(np.array([cal, hold]), freq)
    return HoldoutSummary(
        calibration=summary,
        holdout_purchases=purchases,
        holdout_revenue=revenue,
        calibration_revenue=cal_rev,
        duration=float(p[1] - p[0]),
    )
