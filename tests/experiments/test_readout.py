"""The readout on the simulated bank: estimates cover the true effects, a harmful
offer is stopped, a good one shipped; adjustments, SRM and the fixed horizon."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nbo_engine.experiments import (
    ExperimentSpec,
    RatioStats,
    SampleStats,
    assign,
    benjamini_hochberg,
    cuped_stats,
    holm,
    load_experiment,
    parse_experiment,
    planned_split,
    readout,
    sample_stats,
)
from nbo_engine.simulate import SimConfig, World, simulate_bank


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """20,000 customers (14 weeks of history is enough: only the truth is used)."""
    out = tmp_path_factory.mktemp("exp_bank")
    simulate_bank(SimConfig(customers=20_000, weeks=14, seed=3, dirt=0.0), out)
    return World.load(out)


def _offer_test(offer: str, **overrides: Any) -> ExperimentSpec:
    spec: dict[str, Any] = {
        "name": f"t-{offer}",
        "kind": "offer",
        "start": "2025-01-01",
        "variants": [
            {"name": "holdout", "weight": 0.5, "control": True},
            {"name": "offer", "weight": 0.5, "treatment": offer},
        ],
        "metrics": {"primary": "conversion", "guardrails": ["churn"]},
        "planned_sample_size": 20_000,
    }
    spec.update(overrides)
    return parse_experiment(spec)


def _run(
    world: World, exp: ExperimentSpec, offer: str, seed: int
) -> tuple[Any, Any, np.ndarray]:
    """Assign every customer, draw outcomes from the true probabilities."""
    ids = world.customer_ids
    g = assign(exp, ids)
    p = world.probabilities(ids, np.repeat(offer, ids.size))
    rng = np.random.default_rng(seed)
    treated = g >= 1
    conv = rng.random(ids.size) < np.where(
        treated, p.p_convert_treated, p.p_convert_control
    )
    churn = rng.random(ids.size) < np.where(
        treated, p.p_churn_treated, p.p_churn_control
    )
    data = {
        "conversion": sample_stats(conv.astype(float), g, len(exp.variants)),
        "churn": sample_stats(churn.astype(float), g, len(exp.variants)),
    }
    return readout(exp, data), p, g


def test_harmful_offer_is_stopped(world: World, seed: int) -> None:
    # The cashback card converts (+3 pts) but raises 13-week churn (+1.6 pts).
    r, truth, _ = _run(world, _offer_test("cc_cashback"), "cc_cashback", seed)
    conv, churn = r.result("offer", "conversion"), r.result("offer", "churn")
    # estimates agree with the simulator's true average effects (4 SE)
    assert (
        abs(conv.absolute.estimate - truth.uplift_convert.mean()) < 4 * conv.absolute.se
    )
    assert (
        abs(churn.absolute.estimate - truth.uplift_churn.mean()) < 4 * churn.absolute.se
    )
    assert conv.significant
    assert conv.direction == "better"
    assert r.decision == "stop_harm"
    assert "churn" in r.reason


def test_good_offer_is_shipped(world: World, seed: int) -> None:
    # The savings boost converts (+6 pts) and does not touch churn.
    r, truth, _ = _run(world, _offer_test("savings_boost"), "savings_boost", seed)
    conv = r.result("offer", "conversion")
    assert (
        abs(conv.absolute.estimate - truth.uplift_convert.mean()) < 4 * conv.absolute.se
    )
    lo, hi = conv.sequential.ci_low, conv.sequential.ci_high
    assert lo <= truth.uplift_convert.mean() <= hi  # always-valid interval
    assert r.decision == "ship"
    assert r.best_variant == "offer"
    assert not r.srm.mismatch
    assert r.progress == pytest.approx(1.0)
    assert conv.bayes["prob_beat_control"] > 0.999


def test_aa_never_ships(world: World, seed: int) -> None:
    # Both arms get no offer: control probabilities everywhere.
    exp = _offer_test(
        "savings_boost",
        variants=[
            {"name": "holdout", "weight": 0.5, "control": True},
            {"name": "offer", "weight": 0.5},
        ],
        planned_sample_size=40_000,
    )
    ids = world.customer_ids
    g = assign(exp, ids)
    p = world.probabilities(ids, np.repeat("savings_boost", ids.size))
    rng = np.random.default_rng(seed)
    data = {
        m: sample_stats((rng.random(ids.size) < q).astype(float), g, 2)
        for m, q in (("conversion", p.p_convert_control), ("churn", p.p_churn_control))
    }
    r = readout(exp, data)
    assert r.decision == "keep_running"
    assert r.progress == pytest.approx(0.5)
    assert "50% of the planned sample" in r.reason


def test_sample_ratio_mismatch_overrides_everything(world: World) -> None:
    exp = _offer_test("savings_boost")
    r, _, g = _run(world, exp, "savings_boost", 0)
    units = np.bincount(g, minlength=2).astype(float)
    units[1] *= 0.95  # 5% of the treated lost on the way to the warehouse
    r = readout(
        exp,
        {
            "conversion": SampleStats(
                units, np.array([300.0, 900.0]), np.array([300.0, 900.0])
            ),
            "churn": SampleStats(
                units, np.array([500.0, 500.0]), np.array([500.0, 500.0])
            ),
        },
    )
    assert r.srm.mismatch
    assert r.decision == "investigate_srm"
    assert r.best_variant is None


def _three_arm(**overrides: Any) -> ExperimentSpec:
    spec: dict[str, Any] = {
        "name": "three",
        "kind": "message",
        "start": "2025-01-01",
        "variants": [
            {"name": "control", "weight": 0.4, "control": True},
            {"name": "a", "weight": 0.3, "treatment": "m1"},
            {"name": "b", "weight": 0.3, "treatment": "m2"},
        ],
        "metrics": {
            "primary": "conversion",
            "secondary": ["value", {"name": "logins", "kind": "mean"}],
            "guardrails": [
                {
                    "name": "complaints",
                    "kind": "mean",
                    "higher_is_better": False,
                    "max_harm": 0.5,
                }
            ],
        },
        "planned_sample_size": 100_000,
    }
    spec.update(overrides)
    return parse_experiment(spec)


def _three_arm_data(rng: np.random.Generator, n: int, lift: float) -> dict[str, Any]:
    g = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])
    conv = (rng.random(n) < np.array([0.05, 0.05 * (1 + lift), 0.05])[g]).astype(float)
    pre = rng.gamma(2.0, 50.0, n)
    has = rng.random(n) < 0.8
    value = np.where(has, 0.7 * pre, 60.0) + rng.normal(0, 40, n)
    x = np.column_stack([np.where(has, pre, 0.0), has.astype(float)])
    return {
        "conversion": sample_stats(conv, g, 3),
        "value": cuped_stats(value, x, g, 3),
        "logins": sample_stats(rng.poisson(3.0, n).astype(float), g, 3),
        "complaints": sample_stats(rng.poisson(0.02, n).astype(float), g, 3),
    }


def test_adjustments_by_role(rng: np.random.Generator) -> None:
    r = readout(_three_arm(), _three_arm_data(rng, 60_000, 0.0))
    prim = [r.result(v, "conversion") for v in ("a", "b")]
    raw = np.array([c.absolute.p_value for c in prim])
    assert [c.p_value_adjusted for c in prim] == pytest.approx(holm(raw).tolist())
    sec = [r.result(v, m) for m in ("value", "logins") for v in ("a", "b")]
    raw = np.array([c.absolute.p_value for c in sec])
    assert [c.p_value_adjusted for c in sec] == pytest.approx(
        benjamini_hochberg(raw).tolist()
    )
    guard = r.result("a", "complaints")
    assert guard.adjustment == "none"
    assert guard.p_value_adjusted == guard.absolute.p_value
    # Bonferroni-level interval for the primary is wider than the raw one
    width = prim[0].ci_adjusted[1] - prim[0].ci_adjusted[0]
    assert width > prim[0].absolute.ci_high - prim[0].absolute.ci_low
    value = r.result("a", "value")
    assert value.method == "cuped_z"
    assert value.variance_reduction is not None
    assert value.variance_reduction < 0.8
    # JSON-ready, with no NaN anywhere
    json.dumps(r.to_dict(), allow_nan=False)


def test_fixed_horizon_waits_for_the_planned_sample(rng: np.random.Generator) -> None:
    exp = _three_arm(analysis="fixed", planned_sample_size=200_000)
    data = _three_arm_data(rng, 100_000, 0.5)
    early = readout(exp, data)
    assert early.result("a", "conversion").absolute.p_value < 1e-6
    assert early.decision == "keep_running"
    done = readout(_three_arm(analysis="fixed", planned_sample_size=100_000), data)
    assert done.decision == "ship"
    assert done.best_variant == "a"
    assert {d.variant: d.decision for d in done.decisions}["b"] == "stop_no_effect"


def test_guardrail_tolerance_holds_back_a_ship(rng: np.random.Generator) -> None:
    # complaints are rare: at 20k units the interval cannot exclude +1% harm
    exp = _three_arm(
        metrics={
            "primary": "conversion",
            "guardrails": [
                {
                    "name": "complaints",
                    "kind": "mean",
                    "higher_is_better": False,
                    "max_harm": 0.01,
                }
            ],
        }
    )
    data = _three_arm_data(rng, 20_000, 1.0)
    r = readout(exp, {k: data[k] for k in ("conversion", "complaints")})
    a = {d.variant: d for d in r.decisions}["a"]
    assert a.decision == "keep_running"
    assert "complaints" in a.reason
    assert "not yet within tolerance" in a.reason


EXAMPLES = sorted(
    p
    for p in (Path(__file__).parents[2] / "policies" / "experiments").glob("*.yaml")
    if not p.name.endswith("global_holdout.yaml")  # holdouts have no readout
)


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_examples_have_a_readout(path: Path, rng: np.random.Generator) -> None:
    exp = load_experiment(path)
    n = np.round(planned_split(exp) * 20_000)
    data: dict[str, Any] = {}
    for m in exp.metrics.all():
        if m.kind == "ratio":
            data[m.name] = RatioStats(n, n * 2, n * 5, n * 4, n * 17, n * 9)
        else:
            s = rng.binomial(n.astype(int), 0.05).astype(float)
            data[m.name] = SampleStats(n, s, s)
    r = readout(exp, data)
    assert r.decision in ("keep_running", "stop_no_effect", "ship", "stop_harm")
