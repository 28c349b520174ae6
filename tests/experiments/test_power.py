"""Sample size: agrees with statsmodels' NormalIndPower, and the planned sample
really has the planned power (simulation)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower, zt_ind_solve_power

from nbo_engine.experiments import SampleStats, power_of, proportion_effect, sample_size


def _effect_size(v1: float, v2: float, delta: float, ratio: float) -> float:
    """statsmodels' standardised effect for unequal arm variances."""
    return abs(delta) * math.sqrt(1 + 1 / ratio) / math.sqrt(v1 + v2 / ratio)


@pytest.mark.parametrize("baseline", [0.01, 0.03, 0.2, 0.6])
@pytest.mark.parametrize("mde", [0.05, 0.1, -0.2])
@pytest.mark.parametrize("ratio", [1.0, 0.25, 3.0])
@pytest.mark.parametrize("power", [0.8, 0.9])
def test_proportions_match_statsmodels(
    baseline: float, mde: float, ratio: float, power: float
) -> None:
    plan = sample_size(baseline, mde, power=power, ratio=ratio)
    p2 = baseline * (1 + mde)
    d = _effect_size(baseline * (1 - baseline), p2 * (1 - p2), baseline * mde, ratio)
    ref = NormalIndPower().solve_power(
        effect_size=d, alpha=0.05, power=power, ratio=ratio
    )
    # both solve the same equation; statsmodels' root finder stops at ~1e-8 relative
    assert plan.n_control_exact == pytest.approx(ref, rel=1e-6)
    assert plan.n_control == math.ceil(ref - 1e-6)
    assert plan.n_treatment == math.ceil(ratio * ref - 1e-6)
    assert plan.n_total == plan.n_control + plan.n_treatment


@pytest.mark.parametrize(
    ("baseline", "sd", "mde"), [(100.0, 80.0, 0.05), (12.0, 30.0, -0.1)]
)
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_means_match_zt_ind_solve_power(
    baseline: float, sd: float, mde: float, alpha: float
) -> None:
    plan = sample_size(baseline, mde, metric="mean", sd=sd, alpha=alpha)
    ref = zt_ind_solve_power(
        effect_size=abs(baseline * mde) / sd, alpha=alpha, power=0.8
    )
    assert plan.n_control_exact == pytest.approx(ref, rel=1e-6)


def test_more_arms_use_bonferroni_alpha() -> None:
    plan = sample_size(0.05, 0.1, arms=4)
    ref = sample_size(0.05, 0.1, alpha=0.05 / 3)
    assert plan.n_control == ref.n_control
    assert plan.n_total == ref.n_control + 3 * ref.n_treatment


def test_cuped_variance_reduction_scales_the_sample() -> None:
    full = sample_size(100.0, 0.05, metric="mean", sd=80.0)
    cuped = sample_size(100.0, 0.05, metric="mean", sd=80.0, variance_reduction=0.5)
    assert cuped.n_control_exact == pytest.approx(full.n_control_exact * 0.5, rel=1e-9)


def test_power_at_the_plan_is_the_target() -> None:
    plan = sample_size(0.03, 0.1, power=0.8)
    v1, v2 = 0.03 * 0.97, 0.033 * 0.967
    assert power_of(plan.n_control_exact, plan.effect, v1, v2) == pytest.approx(
        0.8, abs=1e-9
    )


def test_planned_sample_has_the_planned_power(rng: np.random.Generator) -> None:
    # 20,000 simulated experiments at the planned sample: SE of the power 0.003.
    plan = sample_size(0.03, 0.1, power=0.8)
    reps = 20_000
    c = SampleStats.from_proportion(
        plan.n_control, rng.binomial(plan.n_control, 0.03, reps)
    )
    t = SampleStats.from_proportion(
        plan.n_treatment, rng.binomial(plan.n_treatment, 0.033, reps)
    )
    power = (proportion_effect(c, t).p_value < 0.05).mean()
    assert power == pytest.approx(0.8, abs=0.015)
