"""Experiment definitions: the shipped examples load; shorthands expand; layer
and salt conflicts between experiments are found."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from nbo_engine.errors import ExperimentSpecError
from nbo_engine.experiments import (
    ExperimentSpec,
    check_layers,
    exposed_buckets,
    load_experiment,
    load_global_holdout,
)
from nbo_engine.experiments.spec import STANDARD_METRICS

EXAMPLES = Path(__file__).parents[2] / "policies" / "experiments"
Make = Callable[..., ExperimentSpec]


@pytest.mark.parametrize(
    "name", ["savings_message_ab.yaml", "policy_champion_challenger.yaml"]
)
def test_examples_load(name: str) -> None:
    exp = load_experiment(EXAMPLES / name)
    assert exp.variants[exp.control_index].control
    assert sum(v.weight for v in exp.variants) <= 1


def test_example_details() -> None:
    exp = load_experiment(EXAMPLES / "savings_message_ab.yaml")
    assert exp.kind == "message"
    assert exp.variants[0].treatment is None  # campaign holdout: no contact
    assert exp.audience.rule == (
        "age >= 21 and not holds('savings') and marketing_consent"
    )
    assert exp.metrics.primary == STANDARD_METRICS["conversion"]
    assert exp.metrics.role("click-through") == "secondary"
    assert exp.metrics.guardrails[1].max_harm == 0.05
    assert exposed_buckets(exp) == [(0, 1000), (2000, 3750), (5500, 7250)]
    assert exp.is_active(dt.date(2025, 8, 1))
    assert not exp.is_active(dt.date(2025, 9, 30))
    holdout = load_global_holdout(EXAMPLES / "global_holdout.yaml")
    assert holdout.buckets == 200


def test_salt_defaults_to_the_name(make_experiment: Make) -> None:
    assert make_experiment().hash_salt == "card-test"
    assert make_experiment(salt="v2").hash_salt == "v2"


def test_check_layers_accepts_disjoint_slots_and_dates(make_experiment: Make) -> None:
    end = "2025-12-31"
    a = make_experiment(
        name="a", end=end, layer={"name": "email", "start": 0, "end": 5000}
    )
    b = make_experiment(
        name="b", end=end, layer={"name": "email", "start": 5000, "end": 10_000}
    )
    later = make_experiment(
        name="c", start="2026-01-01", layer={"name": "email", "start": 0, "end": 10_000}
    )
    a_ends = make_experiment(
        name="d", end="2025-06-01", layer={"name": "app", "start": 0, "end": 10_000}
    )
    check_layers([a, b, later, a_ends])


def test_check_layers_finds_overlaps(make_experiment: Make) -> None:
    a = make_experiment(name="a", layer={"name": "email", "start": 0, "end": 5000})
    b = make_experiment(name="b", layer={"name": "email", "start": 4000, "end": 6000})
    with pytest.raises(ExperimentSpecError, match=r"overlap on slots 4000-5000"):
        check_layers([a, b])
