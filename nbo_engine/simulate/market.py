"""The external market: weekly policy rate, unemployment and house prices.

Drawn once per simulation (not per chunk) for the history window plus a year of
future weeks, so the closed loop can run past the end of the history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

__all__ = ["Market", "draw_market"]

FUTURE_WEEKS = 78
LEAD_WEEKS = 13  # history before the window, so 13-week changes are defined


@dataclass(frozen=True)
class Market:
    """Weekly series indexed by week number (0 = first week of the window)."""

    week_start: NDArray[np.datetime64]
    policy_rate: NDArray[np.float64]
    unemployment_rate: NDArray[np.float64]
    house_price_index: NDArray[np.float64]
    first_week: int  # week number of element 0 (negative: lead-in weeks)

    def at(self, week: int | NDArray[np.int64], name: str) -> NDArray[np.float64]:
        """Series ``name`` at week number(s) ``week`` (clipped to the range)."""
        series: NDArray[np.float64] = getattr(self, name)
        i = np.clip(np.asarray(week) - self.first_week, 0, series.size - 1)
        return series[i]

    def house_price_change(self, week: int) -> float:
        """Percentage change of the house price index over the last 13 weeks."""
        now = float(self.at(week, "house_price_index"))
        then = float(self.at(week - 13, "house_price_index"))
        return 100.0 * (now / then - 1.0)

    def frame(self, last_week: int | None = None) -> pd.DataFrame:
        """The ``market`` input file (weeks up to ``last_week`` exclusive)."""
        n = self.week_start.size if last_week is None else last_week - self.first_week
        return pd.DataFrame(
            {
                "week_start": pd.to_datetime(self.week_start[:n]).date,
                "policy_rate": np.round(self.policy_rate[:n], 2),
                "unemployment_rate": np.round(self.unemployment_rate[:n], 2),
                "house_price_index": np.round(self.house_price_index[:n], 2),
            }
        )


def draw_market(rng: np.random.Generator, start: np.datetime64, weeks: int) -> Market:
    """Policy rate easing from 5.25% with steps, unemployment drifting up from 4%,
    house prices growing about 3% a year with noise."""
    total = LEAD_WEEKS + weeks + FUTURE_WEEKS
    t = np.arange(total)
    # Policy rate: 25bp cuts at random meetings (every ~6 weeks), floor 1%.
    meetings = (t % 6 == 0) & (rng.random(total) < 0.45)
    cuts = np.cumsum(np.where(meetings, 0.25, 0.0))
    policy = np.maximum(5.25 - cuts, 1.0)
    unemployment = 4.0 + np.cumsum(rng.normal(0.008, 0.03, total))
    unemployment = np.clip(unemployment, 3.0, 9.0)
    growth = rng.normal(0.03 / 52, 0.002, total)
    hpi = 100.0 * np.exp(np.cumsum(growth))
    week_start = (
        start - np.timedelta64(7 * LEAD_WEEKS, "D") + (7 * t).astype("timedelta64[D]")
    )
    return Market(week_start, policy, unemployment, hpi, first_week=-LEAD_WEEKS)
