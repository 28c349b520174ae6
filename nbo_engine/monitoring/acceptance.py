"""Acceptance rates per offer and channel, with Wilson score intervals.

The store counts (SQL aggregates): per offer and channel, how many times the
offer was shown in live decisions of a window and how many of those were
accepted (an accept or conversion event soon after). This module does the
maths: the rate, its Wilson (1927) interval

    centre = (x + z^2/2) / (n + z^2),
    half   = z / (n + z^2) * sqrt(x (n - x) / n + z^2 / 4),

which stays inside [0, 1] and is honest for rare events, and the same for the
previous window, so a drop can be flagged when the intervals part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError

__all__ = ["ALL_CHANNELS", "AcceptanceRow", "acceptance_table", "wilson_interval"]

F64 = NDArray[np.float64]
#: The ``channel`` of an offer's row summed over its channels.
ALL_CHANNELS = "all"
_COUNT_COLUMNS = ("offer_id", "channel", "shown", "accepted")


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, alpha: float = 0.05
) -> tuple[F64, F64]:
    """Wilson score interval of a proportion, elementwise.

    Parameters
    ----------
    successes, trials : arrays of the same shape, ``0 <= successes <= trials``.
    alpha : ``1 -`` confidence level.

    Returns
    -------
    (low, high) : arrays shaped like the inputs; ``(0, 1)`` where ``trials``
    is 0.

    Examples
    --------
    >>> low, high = wilson_interval([12], [200])
    >>> [round(float(low[0]), 4), round(float(high[0]), 4)]
    [0.0347, 0.1019]
    """
    from scipy.stats import norm

    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if x.shape != n.shape:
        raise DataValidationError(
            f"wilson_interval: successes have shape {x.shape}, trials {n.shape}; "
            "expected the same shape"
        )
    bad = ~(np.isfinite(x) & np.isfinite(n) & (x >= 0) & (x <= n))
    if bad.any():
        i = int(np.flatnonzero(bad.ravel())[0])
        raise DataValidationError(
            f"wilson_interval: element {i} has {float(x.ravel()[i])!r} successes out of "
            f"{float(n.ravel()[i])!r} trials, expected 0 <= successes <= trials"
        )
    if not 0 < alpha < 1:
        raise DataValidationError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    z = float(norm.isf(alpha / 2))
    z2 = z * z
    safe = np.maximum(n, 1.0)
    centre = (x + z2 / 2) / (n + z2)
    half = z / (n + z2) * np.sqrt(x * (n - x) / safe + z2 / 4)
    empty = n == 0
    low = np.where(empty, 0.0, np.clip(centre - half, 0.0, 1.0))
    high = np.where(empty, 1.0, np.clip(centre + half, 0.0, 1.0))
    return low, high


@dataclass(frozen=True)
class AcceptanceRow:
    """An offer on a channel (or ``all`` channels) in the current and the
    previous window."""

    offer_id: str
    channel: str
    shown: int
    accepted: int
    rate: float | None
    ci_low: float
    ci_high: float
    previous_shown: int
    previous_accepted: int
    previous_rate: float | None
    previous_ci_low: float
    previous_ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "offer_id": self.offer_id,
            "channel": self.channel,
            "shown": self.shown,
            "accepted": self.accepted,
            "rate": self.rate,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "previous_shown": self.previous_shown,
            "previous_accepted": self.previous_accepted,
            "previous_rate": self.previous_rate,
            "previous_ci_low": self.previous_ci_low,
            "previous_ci_high": self.previous_ci_high,
        }


def _counts(frame: pd.DataFrame | None, which: str) -> pd.DataFrame:
    if frame is None:
        frame = pd.DataFrame(
            {
                "offer_id": pd.Series([], dtype=object),
                "channel": pd.Series([], dtype=object),
                "shown": pd.Series([], dtype=np.int64),
                "accepted": pd.Series([], dtype=np.int64),
            }
        )
    missing = [c for c in _COUNT_COLUMNS if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{which} acceptance counts: columns {', '.join(map(repr, missing))} are "
            f"missing; expected {', '.join(_COUNT_COLUMNS)}"
        )
    out = frame[list(_COUNT_COLUMNS)].copy()
    out["offer_id"] = out["offer_id"].astype(str)
    out["channel"] = out["channel"].astype(str)
    shown = out["shown"].to_numpy(dtype=np.float64)
    accepted = out["accepted"].to_numpy(dtype=np.float64)
    bad = ~((accepted >= 0) & (accepted <= shown))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = out.iloc[i]
        raise DataValidationError(
            f"{which} acceptance counts row {i} (offer_id={row['offer_id']}, "
            f"channel={row['channel']}): accepted={row['accepted']} of "
            f"shown={row['shown']}, expected 0 <= accepted <= shown"
        )
    return out


def _with_totals(counts: pd.DataFrame) -> pd.DataFrame:
    if counts.empty:
        return counts
    totals = (
        counts.groupby("offer_id", as_index=False)[["shown", "accepted"]]
        .sum()
        .assign(channel=ALL_CHANNELS)
    )
    return pd.concat([counts, totals[list(_COUNT_COLUMNS)]], ignore_index=True)


def acceptance_table(
    current: pd.DataFrame | None,
    previous: pd.DataFrame | None = None,
    *,
    alpha: float = 0.05,
) -> tuple[AcceptanceRow, ...]:
    """Rates and Wilson intervals per offer and channel, both windows.

    Parameters
    ----------
    current, previous : counts with columns ``offer_id, channel, shown,
        accepted`` (one row per offer and channel) of the current window and
        of the window before it.
    alpha : ``1 -`` level of the intervals.

    Returns
    -------
    tuple of AcceptanceRow, sorted by offer and channel; every offer also has
    a row for ``all`` channels.

    Examples
    --------
    >>> now = pd.DataFrame({"offer_id": ["a", "a"], "channel": ["web", "email"],
    ...                     "shown": [100, 50], "accepted": [10, 1]})
    >>> [(r.channel, r.rate) for r in acceptance_table(now)]
    [('all', 0.07333333333333333), ('email', 0.02), ('web', 0.1)]
    """
    cur = _with_totals(_counts(current, "current"))
    prev = _with_totals(_counts(previous, "previous"))
    keys = ["offer_id", "channel"]
    merged = pd.merge(
        cur.groupby(keys, as_index=False)[["shown", "accepted"]].sum(),
        prev.groupby(keys, as_index=False)[["shown", "accepted"]].sum(),
        on=keys,
        how="outer",
        suffixes=("", "_prev"),
    )
    if merged.empty:
        return ()
    counts = ["shown", "accepted", "shown_prev", "accepted_prev"]
    merged[counts] = merged[counts].astype(np.float64).fillna(0.0)
    merged = merged.sort_values(keys, kind="stable", ignore_index=True)
    n = merged["shown"].to_numpy(dtype=np.float64)
    x = merged["accepted"].to_numpy(dtype=np.float64)
    n0 = merged["shown_prev"].to_numpy(dtype=np.float64)
    x0 = merged["accepted_prev"].to_numpy(dtype=np.float64)
    lo, hi = wilson_interval(x, n, alpha)
    lo0, hi0 = wilson_interval(x0, n0, alpha)
    return tuple(
        AcceptanceRow(
            offer_id=str(merged.at[i, "offer_id"]),
            channel=str(merged.at[i, "channel"]),
            shown=int(n[i]),
            accepted=int(x[i]),
            rate=float(x[i] / n[i]) if n[i] > 0 else None,
            ci_low=float(lo[i]),
            ci_high=float(hi[i]),
            previous_shown=int(n0[i]),
            previous_accepted=int(x0[i]),
            previous_rate=float(x0[i] / n0[i]) if n0[i] > 0 else None,
            previous_ci_low=float(lo0[i]),
            previous_ci_high=float(hi0[i]),
        )
        for i in range(len(merged))
    )
