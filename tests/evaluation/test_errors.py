"""Error messages name the option or argument, the value and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import nbo_engine.cli.uplift  # noqa: F401  (registers the command)
from nbo_engine.cli._app import app
from nbo_engine.errors import DataValidationError, NotFittedError
from nbo_engine.evaluation import (
    FeatureEncoder,
    HistDRLearner,
    qini_coefficient,
    segment_effects,
    uplift_at_k,
)
from nbo_engine.evaluation.cate import dr_pseudo_outcome
from nbo_engine.evaluation.selection import make_model


@pytest.fixture(scope="module")
def csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    df = pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "arm": np.where(rng.random(n) < 0.5, "A", "B"),
            "three": rng.choice(["a", "b", "c"], n),
            "few": np.r_[np.ones(5, int), np.zeros(n - 5, int)],
            "y": rng.integers(0, 2, n),
            "word": "yes-ish",
        }
    )
    path = tmp_path_factory.mktemp("err") / "t.csv"
    df.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (
            ["--treatment", "nope", "--outcome", "y"],
            r"--treatment: unknown column 'nope'; the table has x, arm",
        ),
        (
            ["--treatment", "arm", "--outcome", "y"],
            r"--treatment: column 'arm' holds the labels 'A' and 'B'; name the treated one with --treated-value",
        ),
        (
            ["--treatment", "arm", "--outcome", "y", "--treated-value", "C"],
            r"--treated-value: got 'C', which column 'arm' never holds",
        ),
        (
            ["--treatment", "three", "--outcome", "y"],
            r"--treatment: column 'three' has 3 distinct values \('a', 'b', 'c'\), expected 0/1 or two labels",
        ),
        (
            ["--treatment", "few", "--outcome", "y"],
            r"--treatment: column 'few' gives 5 treated and 195 control rows, expected at least 20 in each arm",
        ),
        (
            ["--treatment", "arm", "--treated-value", "A", "--outcome", "word"],
            r"--outcome: column 'word' row 0 is 'yes-ish', expected a number",
        ),
        (
            [
                "--treatment",
                "arm",
                "--treated-value",
                "A",
                "--outcome",
                "y",
                "--features",
                "x,zz",
            ],
            r"--features: unknown column\(s\) 'zz'",
        ),
        (
            [
                "--treatment",
                "arm",
                "--treated-value",
                "A",
                "--outcome",
                "y",
                "--test-size",
                "1.5",
            ],
            r"--test-size: got 1.5, expected a share in \(0, 1\)",
        ),
        (
            [
                "--treatment",
                "arm",
                "--treated-value",
                "A",
                "--outcome",
                "y",
                "--models",
                "magic",
            ],
            r"--models: unknown model\(s\) magic",
        ),
    ],
)
def test_cli_errors(csv: Path, extra: list[str], match: str) -> None:
    res = CliRunner().invoke(
        app, ["uplift", "evaluate", "--data", str(csv), *extra, "--json"]
    )
    assert res.exit_code == 2
    text = " ".join(res.stderr.split())
    assert re.search(match, text), text


def test_cli_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "t.xlsx"
    bad.write_text("x")
    res = CliRunner().invoke(
        app,
        [
            "uplift",
            "evaluate",
            "--data",
            str(bad),
            "--treatment",
            "a",
            "--outcome",
            "b",
        ],
    )
    assert res.exit_code == 2
    assert "--data: " in res.stderr
    assert "expected .csv or .parquet" in " ".join(res.stderr.split())
    res = CliRunner().invoke(
        app,
        [
            "uplift",
            "evaluate",
            "--data",
            str(tmp_path / "none.csv"),
            "--treatment",
            "a",
            "--outcome",
            "b",
        ],
    )
    assert res.exit_code == 2
    assert "does not exist" in " ".join(res.stderr.split())


def test_core_errors() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"treatment: row 1 is 2, expected 0 \(control\) or 1 \(treated\)",
    ):
        qini_coefficient([0, 1, 0], [0, 2, 1], [1, 2, 3])
    with pytest.raises(
        DataValidationError, match=r"treatment: all 3 rows are in one arm \(3 treated\)"
    ):
        qini_coefficient([0, 1, 0], [1, 1, 1], [1, 2, 3])
    with pytest.raises(
        DataValidationError, match=r"uplift: row 0 is nan, expected a finite number"
    ):
        qini_coefficient([0, 1], [0, 1], [np.nan, 1])
    with pytest.raises(DataValidationError, match=r"same length, got 2, 2 and 3"):
        qini_coefficient([0, 1], [0, 1], [1, 2, 3])
    with pytest.raises(
        DataValidationError,
        match=r"normalize: got 'max', expected one of perfect, causalml, none",
    ):
        qini_coefficient([0, 1], [0, 1], [1, 2], normalize="max")  # type: ignore[arg-type]
    with pytest.raises(
        DataValidationError, match=r"k: got 1.5, expected a share in \(0, 1\)"
    ):
        uplift_at_k([0, 1], [0, 1], [1, 2], 1.5)
    with pytest.raises(
        DataValidationError,
        match=r"propensity: expected values strictly between 0 and 1",
    ):
        dr_pseudo_outcome([1], [1], [0], [0], 1.0)
    with pytest.raises(
        DataValidationError, match=r"model: got 'magic', expected one of causalml_s"
    ):
        make_model("magic")
    with pytest.raises(NotFittedError, match=r"nbo_hist_dr: predict called before fit"):
        HistDRLearner().predict(np.zeros((2, 2)))
    with pytest.raises(
        DataValidationError,
        match=r"nbo_hist_dr: 3 treated and 3 control rows, expected at least 10 in each arm",
    ):
        HistDRLearner().fit(np.zeros((6, 2)), [1, 1, 1, 0, 0, 0], np.zeros(6))
    with pytest.raises(
        DataValidationError, match=r"X: row 0 column 1 is nan, expected a finite number"
    ):
        HistDRLearner().fit(np.array([[0.0, np.nan]]), [1], [0.0])
    with pytest.raises(
        DataValidationError,
        match=r"causalml_uplift_forest: outcome has values other than 0 and 1",
    ):
        make_model("causalml_uplift_forest").fit(
            np.zeros((40, 1)), np.r_[np.ones(20), np.zeros(20)], np.full(40, 0.5)
        )
    with pytest.raises(DataValidationError, match=r"features: missing column\(s\) b"):
        FeatureEncoder().fit(pd.DataFrame({"a": [1], "b": [2]})).transform(
            pd.DataFrame({"a": [1]})
        )
    with pytest.raises(
        DataValidationError, match=r"groups: expected 2 rows to match y, got 3"
    ):
        segment_effects([0, 1], [0, 1], ["a", "b", "c"])
