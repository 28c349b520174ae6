"""``nbo clv evaluate``: the contract used by outside evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import nbo_engine.cli.clv  # noqa: F401  (registers `nbo clv`)
from nbo_engine.cli._app import app
from tests.scoring.conftest import SimulatedBank

runner = CliRunner()
METRICS = {
    "purchases_mae",
    "purchases_predicted",
    "purchases_actual",
    "revenue_mae",
    "spearman",
    "normalized_gini",
    "decile_mape",
    "top_decile_revenue_share",
}


@pytest.fixture(scope="module")
def csv_log(small_sim: SimulatedBank, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 1,500 simulated customers with the bank's own column names."""
    log = small_sim.log()
    keep = log["customer_id"].isin(pd.unique(log["customer_id"])[:1500])
    out = tmp_path_factory.mktemp("clv") / "transactions.csv"
    log[keep].rename(
        columns={"customer_id": "cust", "date": "timestamp", "amount": "value"}
    ).to_csv(out, index=False)
    return out


def test_json_reports_every_model_next_to_both_baselines(csv_log: Path) -> None:
    args = [
        "clv",
        "evaluate",
        "--transactions",
        str(csv_log),
        "--calibration-end",
        "2025-06-30",
        "--holdout-end",
        "2025-12-29",
        "--customer-col",
        "cust",
        "--date-col",
        "timestamp",
        "--amount-col",
        "value",
        "--freq",
        "W",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    models = doc["models"]
    assert list(models) == [
        "predict_zero",
        "historical_average",
        "bgnbd",
        "mbgnbd",
        "pareto_nbd",
        "ml",
    ]
    for name, m in models.items():
        assert METRICS <= set(m), name
        assert m["kind"] == (
            "baseline" if name in ("predict_zero", "historical_average") else m["kind"]
        )
    assert models["predict_zero"]["purchases_predicted"] == 0
    assert doc["customers"] > 1000
    assert doc["freq"] == "W"
    assert doc["holdout_periods"] == 26
    actual = {m["purchases_actual"] for m in models.values()}
    assert len(actual) == 1  # one holdout for everybody
    # every fitted model adds to the historical average on this simulated bank
    hist = models["historical_average"]["revenue_mae"]
    for name in ("bgnbd", "mbgnbd", "pareto_nbd", "ml"):
        assert models[name]["revenue_mae"] < hist, name


def test_table_output_and_parquet_input(
    csv_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The console is made at import; a wide one keeps table cells on one line.
    from nbo_engine.cli._app import console

    monkeypatch.setattr(console, "width", 200)
    pq = tmp_path / "tx.parquet"
    frame = pd.read_csv(csv_log, dtype={"cust": str})
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    frame.rename(
        columns={"cust": "customer_id", "timestamp": "date", "value": "amount"}
    ).to_parquet(pq)
    result = runner.invoke(
        app,
        [
            "clv",
            "evaluate",
            "--transactions",
            str(pq),
            "--calibration-end",
            "2025-06-30",
            "--holdout-end",
            "2025-12-29",
            "--models",
            "bgnbd",
        ],
    )
    assert result.exit_code == 0, result.output
    for text in (
        "predict_zero (baseline)",
        "historical_average (baseline)",
        "bgnbd",
        "norm. Gini",
    ):
        assert text in result.output
