"""Error messages of the monitoring package: what, where, received, expected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbo_engine.errors import ConfigError, DataValidationError
from nbo_engine.monitoring import (
    LIMITS,
    Thresholds,
    acceptance_table,
    drift_table,
    ks_two_sample,
    model_health,
    psi,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ks_alpha", 1.5, r"thresholds\.ks_alpha: expected a number in \(0, 1\), got 1\.5"),
        ("psi_bins", 2.5, r"thresholds\.psi_bins: expected an integer in \[2, 1000\], got 2\.5"),
        ("psi_warn", float("nan"), r"thresholds\.psi_warn: expected a number in \(0, inf\), got nan"),
        ("min_outcomes", 0, r"thresholds\.min_outcomes: expected an integer in \[1, 1e\+12\], got 0"),
        ("ece_alert", "0.1", r"thresholds\.ece_alert: expected a number in \(0, 1\), got '0\.1'"),
    ],
)  # fmt: skip
def test_threshold_limits_name_field_range_and_value(
    field: str, value: object, message: str
) -> None:
    assert field in LIMITS
    with pytest.raises(ConfigError, match=message):
        Thresholds(**{field: value})  # type: ignore[arg-type]


def test_alert_below_warn_and_unknown_strategy_are_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"thresholds\.psi_alert: expected a number >= psi_warn \(0\.2\), got 0\.15",
    ):
        Thresholds(psi_warn=0.2, psi_alert=0.15)
    with pytest.raises(
        ConfigError,
        match=r"calibration_strategy: expected 'quantile' or 'uniform', got 'kmeans'",
    ):
        Thresholds(calibration_strategy="kmeans")  # type: ignore[arg-type]


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError, match=r"ks_alpha: .*; thresholds\.min_shown: "):
        Thresholds(ks_alpha=0.0, min_shown=-1)


def test_drift_inputs() -> None:
    ok = np.zeros((5, 2))
    bad = ok.copy()
    bad[[1, 3], 1] = np.inf
    with pytest.raises(
        DataValidationError,
        match=r"reference: column 1 has 2 infinite values, expected finite numbers "
        r"\(NaN for missing\)",
    ):
        psi(bad, ok)
    with pytest.raises(
        DataValidationError,
        match=r"current: expected 2 columns like the reference, got 3",
    ):
        ks_two_sample(ok, np.zeros((5, 3)))
    with pytest.raises(
        DataValidationError, match=r"current: expected at least one row, got none"
    ):
        psi(ok, np.zeros((0, 2)))
    with pytest.raises(DataValidationError, match=r"got 3 dimensions"):
        psi(np.zeros((2, 2, 2)), ok)
    with pytest.raises(
        DataValidationError, match=r"bins: expected an integer >= 2, got 1"
    ):
        psi(ok, ok, bins=1)


def test_drift_table_names_missing_columns() -> None:
    ref = pd.DataFrame({"age": [30.0, 40.0]})
    with pytest.raises(
        DataValidationError,
        match=r"current snapshot: columns 'churn_90d' are missing; got columns age",
    ):
        drift_table(ref.assign(churn_90d=0.1), ref, numeric=["age", "churn_90d"])
    with pytest.raises(
        DataValidationError, match=r"reference snapshot: expected customers, got none"
    ):
        drift_table(ref.iloc[:0], ref, numeric=["age"])


def test_health_inputs_name_the_score_row_and_value() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"churn_90d: outcome at row 2 is 2\.0, expected 0 or 1",
    ):
        model_health("churn_90d", [0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(
        DataValidationError,
        match=r"propensity_isa: prediction at row 1 is 1\.5, expected a probability in \[0, 1\]",
    ):
        model_health("propensity_isa", [0, 1], [0.1, 1.5])
    with pytest.raises(
        DataValidationError,
        match=r"churn_90d: got 2 outcomes and 3 predictions, expected one prediction per outcome",
    ):
        model_health("churn_90d", [0, 1], [0.1, 0.2, 0.3])


def test_acceptance_inputs() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"wilson_interval: element 1 has 5\.0 successes out of 4\.0 trials, "
        r"expected 0 <= successes <= trials",
    ):
        wilson_interval([1, 5], [4, 4])
    with pytest.raises(
        DataValidationError, match=r"alpha: expected a number in \(0, 1\), got 0"
    ):
        wilson_interval([1], [4], alpha=0)
    counts = pd.DataFrame(
        {"offer_id": ["cc"], "channel": ["web"], "shown": [10], "accepted": [12]}
    )
    with pytest.raises(
        DataValidationError,
        match=r"current acceptance counts row 0 \(offer_id=cc, channel=web\): "
        r"accepted=12 of shown=10, expected 0 <= accepted <= shown",
    ):
        acceptance_table(counts)
    with pytest.raises(
        DataValidationError,
        match=r"previous acceptance counts: columns 'accepted' are missing; expected "
        r"offer_id, channel, shown, accepted",
    ):
        acceptance_table(None, counts.drop(columns="accepted"))
