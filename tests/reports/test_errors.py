"""Error messages of the report's inputs: what, where, received, expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbo_engine.errors import DataValidationError
from nbo_engine.reports import (
    Missing,
    check_forecasts,
    playbook,
    unit_outcomes,
    units_from_decisions,
)


def test_forecast_columns() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"^forecasts: missing column\(s\) mean; expected series, week, model, "
        r"mean, lo80, hi80, lo95, hi95 \(intervals optional\), got series, week, model$",
    ):
        check_forecasts(
            pd.DataFrame({"series": ["a"], "week": ["2026-06-01"], "model": ["m"]})
        )


def test_forecast_week_and_mean() -> None:
    f = pd.DataFrame(
        {
            "series": ["a", "a"],
            "week": ["2026-06-01", "soon"],
            "model": "m",
            "mean": [1.0, 2.0],
        }
    )
    with pytest.raises(
        DataValidationError,
        match=r"^forecasts row 1: column 'week' is 'soon', expected a date$",
    ):
        check_forecasts(f)
    f = f.assign(week="2026-06-01", mean=[np.nan, 1.0])
    with pytest.raises(
        DataValidationError,
        match=r"^forecasts row 0 \(series='a'\): column 'mean' is nan, expected a finite number$",
    ):
        check_forecasts(f)


def test_frames_name_their_missing_columns() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"^decisions: missing column\(s\) experiment, segment; got customer_id, ts$",
    ):
        units_from_decisions(
            pd.DataFrame({"customer_id": ["a"], "ts": [pd.Timestamp(0)]})
        )
    units = pd.DataFrame({"customer_id": ["a"], "first_ts": [pd.Timestamp(0)]})
    with pytest.raises(
        DataValidationError,
        match=r"^outcomes: missing column\(s\) outcome; got customer_id, ts, product$",
    ):
        unit_outcomes(
            units,
            pd.DataFrame(columns=["customer_id", "ts", "product"]),
            until=pd.Timestamp(1),
            attribution_days=30,
            product_value={},
        )


def test_playbook_quantile() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"^clv_quantile: expected a quantile in \(0, 1\), got 1\.5$",
    ):
        playbook(
            pd.DataFrame(),
            pd.DataFrame(),
            Missing("x"),
            pd.DataFrame(),
            clv_quantile=1.5,
        )
