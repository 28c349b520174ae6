"""``nbo experiment plan``: numbers agree with statsmodels, JSON is parseable,
bad options name the option, the value and what was expected."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.power import NormalIndPower
from typer.testing import CliRunner

import nbo_engine.cli.experiment  # noqa: F401  (registers the command)
from nbo_engine.cli import app

runner = CliRunner()


def test_plan_json_matches_statsmodels() -> None:
    res = runner.invoke(
        app,
        [
            "experiment",
            "plan",
            "--baseline",
            "0.03",
            "--mde",
            "0.1",
            "--power",
            "0.8",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    v1, v2 = 0.03 * 0.97, 0.033 * 0.967
    d = 0.003 * math.sqrt(2) / math.sqrt(v1 + v2)
    ref = NormalIndPower().solve_power(effect_size=d, alpha=0.05, power=0.8, ratio=1.0)
    assert out["n_control"] == out["n_treatment"] == math.ceil(ref)
    assert out["n_total"] == 2 * math.ceil(ref)


def test_plan_table() -> None:
    res = runner.invoke(
        app, ["experiment", "plan", "--baseline", "0.03", "--mde", "0.1"]
    )
    assert res.exit_code == 0, res.output
    assert "53,208" in res.output
    assert "106,416" in res.output


def test_plan_mean_metric_with_ratio_and_arms() -> None:
    args = [
        "experiment",
        "plan",
        "--baseline",
        "100",
        "--mde",
        "0.05",
        "--metric",
        "mean",
        "--sd",
        "80",
        "--ratio",
        "2",
        "--arms",
        "3",
        "--alpha",
        "0.1",
        "--json",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    ref = NormalIndPower().solve_power(
        effect_size=5 / 80, alpha=0.05, power=0.8, ratio=2.0
    )
    assert out["n_control_exact"] == pytest.approx(ref, rel=1e-6)
    assert out["n_total"] == out["n_control"] + 2 * out["n_treatment"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--baseline", "1.5", "--mde", "0.1"],
            "--baseline: expected a proportion in (0, 1), got 1.5",
        ),
        (
            ["--baseline", "0.03", "--mde", "0.1", "--power", "1.2"],
            "--power: expected a power in (0, 1), got 1.2",
        ),
        (
            ["--baseline", "10", "--mde", "0.1", "--metric", "mean"],
            "--sd: a mean metric needs the standard deviation, got none",
        ),
        (
            ["--baseline", "0.1", "--mde", "0.1", "--metric", "median"],
            "--metric: expected proportion or mean, got 'median'",
        ),
        (
            ["--baseline", "0.1", "--mde", "0.1", "--cuped-rho", "1"],
            "--cuped-rho: expected a correlation in [0, 1), got 1.0",
        ),
    ],
)
def test_plan_errors(args: list[str], message: str) -> None:
    res = runner.invoke(app, ["experiment", "plan", *args])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())


def test_help() -> None:
    res = runner.invoke(app, ["experiment", "plan", "--help"])
    assert res.exit_code == 0
    assert "--baseline" in res.output
