"""CLV errors say what was wrong, where, what was received and expected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nbo_engine.cli.clv  # noqa: F401  (registers `nbo clv`)
from nbo_engine.cli._app import app
from nbo_engine.errors import ConfigError, DataValidationError
from nbo_engine.scoring import (
    RFMSummary,
    calibration_holdout,
    evaluate_clv,
    fit_clv,
    normalize_transactions,
)

runner = CliRunner()
LOG = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c", "c"],
        "date": ["2025-01-02", "2025-02-03", "2025-01-20", "2025-03-01", "2025-05-01"],
        "amount": [10.0, 12.5, 3.0, 8.0, 9.0],
    }
)
FRAME = pd.DataFrame(
    {
        "frequency": [0, 2, 5],
        "recency": [0, 30, 35],
        "T": [40, 40, 38],
        "monetary_value": [0, 20, 25],
    },
    index=pd.Index(["a", "b", "c"], name="customer_id"),
)


def test_missing_column_names_it_and_lists_those_present() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"tx.csv: missing column\(s\) 'customer_id'; columns present: cust, date, amount",
    ):
        normalize_transactions(
            LOG.rename(columns={"customer_id": "cust"}), source="tx.csv"
        )


def test_unparseable_date_names_the_row_and_value() -> None:
    bad = LOG.copy()
    bad.loc[3, "date"] = "31/31/2025"
    with pytest.raises(
        DataValidationError,
        match=r"tx.csv row 4: column 'date' is '31/31/2025', expected a date such as 2025-01-31",
    ):
        normalize_transactions(bad, source="tx.csv")


def test_bad_amount_names_the_row() -> None:
    bad = LOG.copy()
    bad["amount"] = bad["amount"].astype(object)
    bad.loc[1, "amount"] = "ten"
    with pytest.raises(
        DataValidationError, match=r"row 2: column 'amount' is 'ten', expected a number"
    ):
        normalize_transactions(bad)


def test_holdout_end_before_calibration_end() -> None:
    log = normalize_transactions(LOG)
    with pytest.raises(
        DataValidationError,
        match=r"holdout end 2025-01-01 is not after calibration end 2025-03-01",
    ):
        calibration_holdout(
            log, np.datetime64("2025-03-01"), np.datetime64("2025-01-01")
        )


def test_no_customer_in_the_calibration_period() -> None:
    log = normalize_transactions(LOG)
    with pytest.raises(
        DataValidationError,
        match=r"no transactions on or before the calibration end 2024-12-01",
    ):
        calibration_holdout(
            log, np.datetime64("2024-12-01"), np.datetime64("2025-06-01")
        )


def test_empty_log() -> None:
    with pytest.raises(DataValidationError, match=r"transactions: no transactions"):
        normalize_transactions(LOG.iloc[:0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"model": "gamma"},
            r"model: expected one of bgnbd, mbgnbd, pareto_nbd, got 'gamma'",
        ),
        ({"penalty": -1.0}, r"penalty: expected a finite number >= 0, got -1.0"),
        ({"n_boot": 5}, r"n_boot > 0 needs rng"),
        (
            {"linked": ["s"]},
            r"linked: unknown parameter\(s\) s; expected some of r, alpha, a, b",
        ),
    ],
)
def test_fit_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fit_clv(FRAME, **kwargs)  # type: ignore[arg-type]


def test_summary_with_impossible_recency() -> None:
    bad = FRAME.copy()
    bad.loc["b", "recency"] = 50
    with pytest.raises(
        DataValidationError,
        match=r"RFM summary row 2 \(customer 'b'\): frequency=2.0, recency=50.0, T=40.0",
    ):
        fit_clv(bad)


def test_covariates_must_cover_every_customer() -> None:
    cov = pd.DataFrame({"segment": ["x", "y"]}, index=["a", "b"])
    with pytest.raises(
        DataValidationError,
        match=r"covariates: no row for customer 'c' \(1 customers missing\)",
    ):
        fit_clv(FRAME, covariates=cov)


def test_model_with_covariates_needs_them_to_predict() -> None:
    cov = pd.DataFrame({"segment": ["x", "y", "x"]}, index=["a", "b", "c"])
    m = fit_clv(FRAME, covariates=cov, spend=False)
    with pytest.raises(
        DataValidationError, match=r"this model has covariates \(segment\)"
    ):
        m.predict(RFMSummary.from_frame(FRAME))
    with pytest.raises(ConfigError, match=r"horizon_days: expected > 0, got 0"):
        m.predict(RFMSummary.from_frame(FRAME), horizon_days=0, covariates=cov)


def test_unknown_model_in_evaluation() -> None:
    with pytest.raises(
        ConfigError, match=r"models: unknown xgb; expected some of bgnbd"
    ):
        evaluate_clv(
            normalize_transactions(LOG),
            np.datetime64("2025-02-01"),
            np.datetime64("2025-06-01"),
            models=["xgb"],
        )


def _cli(tmp_path: Path, *extra: str, frame: pd.DataFrame = LOG) -> tuple[int, str]:
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    args = ["clv", "evaluate", "--transactions", str(path), *extra]
    result = runner.invoke(app, args, env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_cli_missing_column(tmp_path: Path) -> None:
    code, out = _cli(
        tmp_path,
        "--calibration-end",
        "2025-02-01",
        "--holdout-end",
        "2025-06-01",
        "--amount-col",
        "value",
    )
    assert code == 2
    assert (
        "tx.csv: missing column(s) 'value'; columns present: customer_id, date, amount"
        in out
    )


def test_cli_holdout_before_calibration(tmp_path: Path) -> None:
    code, out = _cli(
        tmp_path, "--calibration-end", "2025-03-01", "--holdout-end", "2025-02-01"
    )
    assert code == 2
    assert "--holdout-end 2025-02-01 is not after --calibration-end 2025-03-01" in out


def test_cli_bad_date_argument_and_freq(tmp_path: Path) -> None:
    code, out = _cli(
        tmp_path, "--calibration-end", "March", "--holdout-end", "2025-06-01"
    )
    assert code == 2
    assert "--calibration-end: expected a date YYYY-MM-DD, got 'March'" in out
    code, out = _cli(
        tmp_path,
        "--calibration-end",
        "2025-02-01",
        "--holdout-end",
        "2025-06-01",
        "--freq",
        "M",
    )
    assert code == 2
    assert "--freq: expected D or W, got 'M'" in out


def test_cli_unparseable_date_in_file(tmp_path: Path) -> None:
    bad = LOG.copy()
    bad.loc[2, "date"] = "yesterday"
    code, out = _cli(
        tmp_path,
        "--calibration-end",
        "2025-02-01",
        "--holdout-end",
        "2025-06-01",
        frame=bad,
    )
    assert code == 2
    assert "tx.csv row 3: column 'date' is 'yesterday'" in out


def test_cli_missing_file_and_suffix(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "clv",
            "evaluate",
            "--transactions",
            str(tmp_path / "none.csv"),
            "--calibration-end",
            "2025-02-01",
            "--holdout-end",
            "2025-06-01",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    assert "none.csv: no such file" in result.output
    (tmp_path / "tx.xlsx").write_bytes(b"PK")
    result = runner.invoke(
        app,
        [
            "clv",
            "evaluate",
            "--transactions",
            str(tmp_path / "tx.xlsx"),
            "--calibration-end",
            "2025-02-01",
            "--holdout-end",
            "2025-06-01",
        ],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 2
    assert "unsupported file type '.xlsx'" in result.output
