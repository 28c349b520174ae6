"""``nbo uplift evaluate``: the JSON contract and the predictions file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nbo_engine.cli.uplift  # noqa: F401  (registers the command)
from nbo_engine.cli._app import app

FAST = "causalml_s,causalml_t,nbo_hist_dr,econml_linear_dml"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,000 rows: a numeric feature with gaps, a text feature, labelled arms."""
    rng = np.random.default_rng(0)
    n = 2000
    x = rng.normal(size=n)
    t = rng.integers(0, 2, n)
    df = pd.DataFrame(
        {
            "x": x,
            "job": rng.choice(["a", "b", None], n),
            "arm": np.where(t == 1, "offer", "holdout"),
            "noise": rng.normal(size=n),
            "y": (rng.random(n) < 0.1 + 0.3 * t * (x > 0)).astype(int),
        }
    )
    df.loc[::9, "x"] = np.nan
    path = tmp_path_factory.mktemp("cli") / "trial.parquet"
    df.to_parquet(path, index=False)
    return path


def test_json_contract_and_predictions(table: Path, tmp_path: Path) -> None:
    pred = tmp_path / "pred.csv"
    args = ["uplift", "evaluate", "--data", str(table), "--treatment", "arm"]
    args += ["--outcome", "y", "--treated-value", "offer", "--features", "x,job"]
    args += ["--test-size", "0.25", "--seed", "3", "--models", FAST]
    args += ["--predictions-out", str(pred), "--json"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["test_rows"] == 500
    assert doc["features"] == ["x", "job"]
    names = {m["model"] for m in doc["models"]}
    assert names == set(FAST.split(","))
    for m in doc["models"]:
        assert set(m) >= {
            "qini",
            "auuc",
            "uplift_at_10",
            "uplift_at_20",
            "uplift_at_30",
            "fit_seconds",
        }
        # the effect is large (30 points for x > 0): every model finds it
        assert m["qini"] > 0.2
    assert doc["best"] == doc["models"][0]["model"]
    out = pd.read_csv(pred)
    assert list(out.columns[:3]) == ["row", "treatment", "outcome"]
    assert set(out.columns[3:]) == names
    assert len(out) == 500
    src = pd.read_parquet(table)
    rows = out["row"].to_numpy()
    assert (
        out["treatment"].tolist()
        == (src["arm"].iloc[rows] == "offer").astype(int).tolist()
    )
    assert out["outcome"].tolist() == src["y"].iloc[rows].astype(float).tolist()


def test_rich_table(table: Path) -> None:
    args = ["uplift", "evaluate", "--data", str(table), "--treatment", "arm"]
    args += ["--outcome", "y", "--treated-value", "offer", "--models", "causalml_t"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "Qini" in res.stdout
    assert "causalml_t" in res.stdout
