"""Error messages name what was wrong, where, the value received and what was
expected."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nbo_engine.errors import DataValidationError, ExperimentSpecError
from nbo_engine.experiments import (
    CupedStats,
    ExperimentSpec,
    SampleStats,
    always_valid,
    check_layers,
    cuped_stats,
    interval_alpha,
    load_experiment,
    parse_experiment,
    parse_global_holdout,
    pre_period_covariates,
    proportion_effect,
    readout,
    sample_size,
    sample_stats,
    srm_check,
)

from .conftest import experiment

Make = Callable[..., ExperimentSpec]

GOOD = """\
name: card-test
kind: offer
start: 2025-01-01
variants:
  - name: control
    weight: 0.5
    control: true
  - name: cashback
    weight: 0.5
    treatment: cc_cashback
metrics:
  primary: conversion
"""


def _file(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "ab.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "    weight: 0.5\n    treatment",
            "    weight: 1.5\n    treatment",
            r"ab.yaml:9 variants.1.weight: Input should be less than or equal to 1, got 1.5",
        ),
        (
            "kind: offer",
            "kind: banner",
            r"ab.yaml:2 kind: Input should be 'offer', 'message' or 'policy', got 'banner'",
        ),
        (
            "    control: true\n",
            "",
            r"ab.yaml:4 variants: expected exactly one with control: true, got 0",
        ),
        (
            "    weight: 0.5\n    treatment",
            "    weight: 0.6\n    treatment",
            r"ab.yaml:4 variants: weights sum to 1.1, expected at most 1",
        ),
        (
            "  primary: conversion",
            "  primary: revenue",
            r"ab.yaml:12 metrics.primary: unknown standard metric 'revenue'; expected one of "
            r"conversion, value, churn, complaints or a mapping with name and kind, got 'revenue'",
        ),
        (
            "start: 2025-01-01",
            "start: 2025-01-01\nend: 2024-12-01",
            r"ab.yaml:4 end: expected a date after start, got start=2025-01-01, end=2024-12-01",
        ),
        (
            "name: card-test",
            "name: card:test",
            r"ab.yaml:1 name: String should match pattern .*, got 'card:test'",
        ),
        (
            "kind: offer",
            "kind: offer\ncolour: red",
            r"ab.yaml:3 colour: unknown field \(got 'red'\)",
        ),
        ("start: 2025-01-01\n", "", r"ab.yaml start: required field is missing"),
    ],
)
def test_spec_errors_name_file_line_field_and_value(
    tmp_path: Path, old: str, new: str, match: str
) -> None:
    assert old in GOOD
    with pytest.raises(ExperimentSpecError, match=match):
        load_experiment(_file(tmp_path, GOOD.replace(old, new)))


def test_several_problems_are_reported_together(tmp_path: Path) -> None:
    text = GOOD.replace("kind: offer", "kind: banner").replace(
        "weight: 0.5\n    control", "weight: -1\n    control"
    )
    with pytest.raises(ExperimentSpecError) as info:
        load_experiment(_file(tmp_path, text))
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert lines[1].endswith(
        "ab.yaml:6 variants.0.weight: Input should be greater than 0, got -1"
    )


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(
        ExperimentSpecError,
        match=r"ab.yaml: expected a mapping of fields at the top level, got list",
    ):
        load_experiment(_file(tmp_path, "- a\n- b\n"))
    with pytest.raises(ExperimentSpecError, match=r"ab.yaml: not valid YAML"):
        load_experiment(_file(tmp_path, "name: [unclosed\n"))
    with pytest.raises(ExperimentSpecError, match=r"missing.yaml: cannot read"):
        load_experiment(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (
            {"traffic": 0.0001},
            r"traffic: 0.0001 x weight 0.5 of variant 'control' exposes no bucket",
        ),
        (
            {"layer": {"name": "email", "start": 6000, "end": 5000}},
            r"layer.end: expected start < end \(slots of 0..10000\), got start=6000, end=5000",
        ),
        (
            {"kind": "policy"},
            r"variants: a policy experiment serves a policy version in every variant, got no treatment in control",
        ),
        (
            {"metrics": {"primary": {"name": "rpv", "kind": "ratio"}}},
            r"metrics.primary.denominator: a ratio metric needs one, got none",
        ),
        (
            {"metrics": {"primary": "conversion", "guardrails": ["conversion"]}},
            r"metrics: metric names must be unique, got conversion more than once",
        ),
        (
            {
                "variants": [
                    {"name": "a", "weight": 0.5, "control": True},
                    {"name": "a", "weight": 0.5},
                ]
            },
            r"variants: names must be unique, got a more than once",
        ),
        (
            {
                "variants": [
                    {"name": "a", "weight": 0.99999, "control": True},
                    {"name": "b", "weight": 0.00001},
                ]
            },
            r"variants.1.weight: expected at least one bucket \(0.0001\), got 1e-05",
        ),
    ],
)
def test_model_level_errors(overrides: dict[str, Any], match: str) -> None:
    with pytest.raises(ExperimentSpecError, match=match):
        experiment(**overrides)


def test_global_holdout_errors() -> None:
    with pytest.raises(
        ExperimentSpecError,
        match=r"share: Input should be less than or equal to 0.2, got 0.5",
    ):
        parse_global_holdout({"salt": "gh", "share": 0.5})


def test_check_layers_names_both_experiments(make_experiment: Make) -> None:
    a = make_experiment(name="a", salt="same")
    b = make_experiment(name="b", salt="same")
    with pytest.raises(
        ExperimentSpecError,
        match=r"experiments 'a' and 'b' run at the same time with the same salt 'same'",
    ):
        check_layers([a, b])


def test_statistics_errors() -> None:
    with pytest.raises(
        DataValidationError, match=r"SampleStats.n: expected counts >= 0, got -3"
    ):
        SampleStats(-3, 1.0, 1.0)
    with pytest.raises(
        DataValidationError,
        match=r"SampleStats.sum\[1\]: expected a finite number, got nan",
    ):
        SampleStats([1, 2], [1.0, np.nan], [1.0, 1.0])
    with pytest.raises(
        DataValidationError,
        match=r"control: expected 0 <= successes <= n for a proportion, got sum=12 with n=10",
    ):
        proportion_effect(
            SampleStats.from_proportion(10, 12), SampleStats.from_proportion(10, 1)
        )
    with pytest.raises(
        DataValidationError, match=r"alpha: expected levels in \(0, 1\), got 1.5"
    ):
        proportion_effect(
            SampleStats.from_proportion(10, 1), SampleStats.from_proportion(10, 1), 1.5
        )
    with pytest.raises(
        DataValidationError, match=r"groups: expected ids < n_groups=2, got 5"
    ):
        sample_stats(np.ones(3), np.array([0, 1, 5]), 2)
    with pytest.raises(
        DataValidationError,
        match=r"groups: expected shape \(3,\) like the values, got \(2,\)",
    ):
        sample_stats(np.ones(3), np.array([0, 1]), 2)
    with pytest.raises(
        DataValidationError, match=r"covariates: expected shape \(3, k\), got \(3,\)"
    ):
        cuped_stats(np.ones(3), np.ones(3), np.array([0, 1, 1]), 2)
    with pytest.raises(
        DataValidationError, match=r"CupedStats: expected sum_x and sum_xy of shape"
    ):
        CupedStats(1, 1.0, 1.0, [1.0], [1.0], [1.0])
    with pytest.raises(
        DataValidationError,
        match=r"pre_values\[1\]: expected a finite number where has_pre is true, got nan",
    ):
        pre_period_covariates(np.array([1.0, np.nan]), np.array([True, True]))
    e = proportion_effect(
        SampleStats.from_proportion(10, 1), SampleStats.from_proportion(10, 2)
    )
    with pytest.raises(
        DataValidationError, match=r"tuning_n: expected a sample size > 0, got 0"
    ):
        always_valid(e, 20, tuning_n=0)


def test_srm_and_multiple_errors() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"expected the same number of variants, got shapes \(3,\) and \(2,\)",
    ):
        srm_check([1, 2, 3], [0.5, 0.5])
    with pytest.raises(
        DataValidationError,
        match=r"expected_shares: expected shares >= 0 with a positive sum, got \[0.0, 0.0\]",
    ):
        srm_check([1, 2], [0.0, 0.0])
    with pytest.raises(
        DataValidationError,
        match=r"p_values: expected values in \[0, 1\], got \[0.5, 1.2\]",
    ):
        interval_alpha([0.5, 1.2], "bh")
    with pytest.raises(
        DataValidationError,
        match=r"method: expected holm, bh, bonferroni or none, got 'sidak'",
    ):
        interval_alpha([0.5], "sidak")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"baseline": 1.5, "mde": 0.1},
            r"baseline: expected a proportion in \(0, 1\), got 1.5",
        ),
        (
            {"baseline": 0.5, "mde": 1.5},
            r"mde: expected an effect keeping baseline x \(1 \+ mde\) in \(0, 1\) \(it gives 1.25\), got 1.5",
        ),
        (
            {"baseline": 0.5, "mde": 0.0},
            r"mde: expected a non-zero relative effect, got 0.0",
        ),
        (
            {"baseline": 0.5, "mde": 0.1, "power": 1.0},
            r"power: expected a power in \(0, 1\), got 1.0",
        ),
        (
            {"baseline": 0.5, "mde": 0.1, "arms": 1},
            r"arms: expected at least 2 arms \(control \+ treatment\), got 1",
        ),
        (
            {"baseline": 10.0, "mde": 0.1, "metric": "mean"},
            r"sd: a mean metric needs the standard deviation, got none",
        ),
    ],
)
def test_power_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(DataValidationError, match=match):
        sample_size(**kwargs)


def test_readout_data_errors(make_experiment: Make) -> None:
    exp = make_experiment()
    conv = SampleStats.from_proportion([100, 100], [3, 4])
    with pytest.raises(
        DataValidationError,
        match=r"data: missing metric 'churn'; expected conversion, churn",
    ):
        readout(exp, {"conversion": conv})
    with pytest.raises(
        DataValidationError,
        match=r"data: unknown metric\(s\) revenue; expected conversion, churn",
    ):
        readout(exp, {"conversion": conv, "churn": conv, "revenue": conv})
    with pytest.raises(
        DataValidationError,
        match=r"data\['churn'\]: expected statistics for 2 variants \(shape \(2,\)\), got shape \(3,\)",
    ):
        readout(
            exp,
            {
                "conversion": conv,
                "churn": SampleStats.from_proportion([1, 2, 3], [0, 0, 0]),
            },
        )
    ratio = parse_experiment(
        {
            **_base(),
            "metrics": {
                "primary": {"name": "rpv", "kind": "ratio", "denominator": "visits"}
            },
        }
    )
    with pytest.raises(
        DataValidationError,
        match=r"data\['rpv'\]: a ratio metric needs RatioStats, got SampleStats",
    ):
        readout(ratio, {"rpv": conv})


def _base() -> dict[str, Any]:
    return {
        "name": "r",
        "kind": "offer",
        "start": "2025-01-01",
        "variants": [
            {"name": "c", "weight": 0.5, "control": True},
            {"name": "t", "weight": 0.5},
        ],
    }
