"""Deterministic assignment: same unit, same variant; ramps and new variants move
nobody; layers are exclusive within and independent across; global holdout first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from scipy import stats

from nbo_engine.experiments import (
    GLOBAL_HOLDOUT,
    NOT_ENROLLED,
    ExperimentSpec,
    GlobalHoldout,
    assign,
    assign_names,
    assign_one,
    exposed_buckets,
    in_global_holdout,
    in_global_holdout_one,
    planned_split,
    srm_check,
)

from .conftest import experiment, string_ids

Make = Callable[..., ExperimentSpec]
IDS = string_ids(200_000)

# Golden assignments of the docs' example (docs/experiments.md).
GOLDEN_EXPERIMENT: dict[str, Any] = {
    "name": "demo",
    "kind": "offer",
    "start": "2025-01-01",
    "traffic": 0.5,
    "layer": {"name": "outbound-email", "start": 0, "end": 5000},
    "variants": [
        {"name": "control", "weight": 0.2, "control": True},
        {"name": "cashback", "weight": 0.4, "treatment": "cc_cashback"},
        {"name": "travel", "weight": 0.4, "treatment": "cc_premium_travel"},
    ],
    "metrics": {"primary": "conversion"},
}
GOLDEN_HOLDOUT = GlobalHoldout(salt="gh-2025", share=0.02)


def test_golden_assignments() -> None:
    exp = experiment(**GOLDEN_EXPERIMENT)
    ids = [f"C{i:08d}" for i in range(1, 15)]
    got = assign_names(exp, ids, GOLDEN_HOLDOUT).tolist()
    assert got == GOLDEN_ASSIGNMENTS


GOLDEN_ASSIGNMENTS = [
    "global_holdout",  # C00000001: holdout bucket 146 < 200
    "control",  # C00000002: layer slot 1969 in [0, 5000), exp bucket 794 in [0, 1000)
    "not_enrolled",  # C00000003: layer slot 8522 outside [0, 5000)
    "cashback",  # C00000004: slot 3710, bucket 2597 in [2000, 4000)
    "not_enrolled",  # C00000005: slot 5427
    "not_enrolled",  # C00000006: slot 9330
    "not_enrolled",  # C00000007: slot 9750
    "not_enrolled",  # C00000008: slot 1694, bucket 1262 in control's unexposed half
    "not_enrolled",  # C00000009: slot 4360, bucket 9956 in travel's unexposed half
    "travel",  # C00000010: slot 3949, bucket 6090 in [6000, 8000)
    "not_enrolled",
    "not_enrolled",
    "not_enrolled",
    "travel",
]


def test_same_answer_one_by_one_and_in_batch(make_experiment: Make) -> None:
    exp = make_experiment(**GOLDEN_EXPERIMENT)
    ids = IDS[:5000]
    batch = assign_names(exp, ids, GOLDEN_HOLDOUT)
    one = [assign_one(exp, u, GOLDEN_HOLDOUT) for u in ids.tolist()]
    assert [x or "" for x in one] == [
        "" if b in ("not_enrolled", "global_holdout") else b for b in batch.tolist()
    ]
    # and across "servers": a fresh spec from the same YAML gives the same answer
    again = make_experiment(**GOLDEN_EXPERIMENT)
    assert (assign(again, ids) == assign(exp, ids)).all()


def test_split_follows_the_weights(make_experiment: Make) -> None:
    exp = make_experiment(
        variants=[
            {"name": "control", "weight": 0.2, "control": True},
            {"name": "a", "weight": 0.3},
            {"name": "b", "weight": 0.5},
        ]
    )
    idx = assign(exp, IDS)
    counts = np.bincount(idx, minlength=3)
    assert counts.sum() == IDS.size
    assert srm_check(counts, [0.2, 0.3, 0.5]).p_value > 1e-4


@pytest.mark.parametrize("ramp", [(0.05, 0.1, 0.25, 0.5, 1.0), (0.01, 0.33, 0.77, 1.0)])
def test_ramping_traffic_never_moves_a_unit(
    make_experiment: Make, ramp: tuple[float, ...]
) -> None:
    variants = [
        {"name": "control", "weight": 1 / 3, "control": True},
        {"name": "a", "weight": 1 / 3},
        {"name": "b", "weight": 1 / 3},
    ]
    before = assign(make_experiment(variants=variants, traffic=ramp[0]), IDS)
    for traffic in ramp[1:]:
        after = assign(make_experiment(variants=variants, traffic=traffic), IDS)
        was_in = before >= 0
        assert (after[was_in] == before[was_in]).all(), "a unit changed variant on ramp"
        assert (after >= 0).sum() > was_in.sum()
        before = after
    assert (before >= 0).mean() == pytest.approx(1.0, abs=1e-3)  # 3333 x 3 buckets


def test_adding_a_variant_never_moves_a_unit(make_experiment: Make) -> None:
    two = [
        {"name": "control", "weight": 0.4, "control": True},
        {"name": "a", "weight": 0.4},
    ]
    three = [*two, {"name": "b", "weight": 0.2}]
    before = assign(make_experiment(variants=two), IDS)
    after = assign(make_experiment(variants=three), IDS)
    was_in = before >= 0
    assert (after[was_in] == before[was_in]).all()
    assert ((after == 2) & ~was_in).sum() == (after == 2).sum() > 0
    # and with a ramp at the same time
    after_ramp = assign(make_experiment(variants=three, traffic=0.3), IDS)
    before_ramp = assign(make_experiment(variants=two, traffic=0.3), IDS)
    ok = before_ramp >= 0
    assert (after_ramp[ok] == before_ramp[ok]).all()


def test_pausing_a_variant_moves_nobody_to_another(make_experiment: Make) -> None:
    live = [
        {"name": "control", "weight": 0.5, "control": True},
        {"name": "a", "weight": 0.25},
        {"name": "b", "weight": 0.25},
    ]
    paused = [live[0], live[1], {**live[2], "paused": True}]
    before = assign(make_experiment(variants=live), IDS)
    after = assign(make_experiment(variants=paused), IDS)
    assert (after[before == 2] == NOT_ENROLLED).all()
    assert (after[before != 2] == before[before != 2]).all()


def test_layer_makes_experiments_mutually_exclusive(make_experiment: Make) -> None:
    a = make_experiment(name="a", layer={"name": "email", "start": 0, "end": 3000})
    b = make_experiment(name="b", layer={"name": "email", "start": 3000, "end": 10_000})
    in_a, in_b = assign(a, IDS) >= 0, assign(b, IDS) >= 0
    assert not (in_a & in_b).any()
    assert (in_a | in_b).all()  # together they cover the layer
    assert in_a.mean() == pytest.approx(0.3, abs=0.005)


def test_layers_are_independent(make_experiment: Make) -> None:
    a = make_experiment(name="a", layer={"name": "email", "start": 0, "end": 5000})
    b = make_experiment(name="b", layer={"name": "app", "start": 0, "end": 5000})
    ia, ib = assign(a, IDS), assign(b, IDS)
    # 3x3 table of (not enrolled, control, cashback) in both: independent
    table = np.zeros((3, 3))
    np.add.at(table, (ia + 1, ib + 1), 1)
    assert stats.chi2_contingency(table).pvalue > 1e-4
    # and, within a layer slot, the variant split is still as planned
    enrolled = ia >= 0
    assert srm_check(np.bincount(ia[enrolled]), [0.5, 0.5]).p_value > 1e-4


def test_global_holdout_is_first_and_shared(make_experiment: Make) -> None:
    holdout = GlobalHoldout(salt="gh-2025", share=0.02)
    held = in_global_holdout(holdout, IDS)
    assert held.mean() == pytest.approx(0.02, abs=0.0015)
    for name in ("x", "y"):
        got = assign(make_experiment(name=name), IDS, holdout)
        assert (got[held] == GLOBAL_HOLDOUT).all()
        assert (got[~held] >= 0).all()
    # the holdout does not depend on the experiment, and single == batch
    assert [in_global_holdout_one(holdout, u) for u in IDS[:2000].tolist()] == held[
        :2000
    ].tolist()
    # experiments see the rest in the planned split: no hole in any variant
    got = assign(make_experiment(), IDS, holdout)
    assert srm_check(np.bincount(got[got >= 0]), [0.5, 0.5]).p_value > 1e-4


def test_integer_and_text_ids_are_the_same_units(make_experiment: Make) -> None:
    exp = make_experiment()
    ints = np.arange(1000, 3000)
    assert (assign(exp, ints) == assign(exp, ints.astype(str))).all()


def test_exposed_buckets_and_planned_split(make_experiment: Make) -> None:
    exp = make_experiment(
        traffic=0.07,
        variants=[
            {"name": "control", "weight": 1 / 3, "control": True},
            {"name": "a", "weight": 1 / 3},
            {"name": "b", "weight": 1 / 3},
        ],
    )
    assert exposed_buckets(exp) == [(0, 233), (3333, 3566), (6666, 6899)]
    assert planned_split(exp).tolist() == pytest.approx([1 / 3] * 3)
