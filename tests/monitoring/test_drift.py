"""PSI and KS: against hand computation and scipy on the same inputs, their
invariances, and synthetic snapshots where the moved columns must be caught
and the others must not."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp

from nbo_engine.monitoring import (
    KSTWO_MAX_N,
    Thresholds,
    drift_table,
    ks_two_sample,
    psi,
    psi_categorical,
    psi_from_counts,
)
from tests.monitoring.conftest import snapshots

EPS = 1e-4


def test_psi_matches_a_hand_computation() -> None:
    ref = np.arange(1.0, 11.0)  # median 5.5: two bins of 5
    cur = np.array([1.0, 2, 3, 6, 7, 8, 9, 10])  # 3 below, 5 above
    expected = (3 / 8 - 0.5) * math.log((3 / 8) / 0.5) + (5 / 8 - 0.5) * math.log(
        (5 / 8) / 0.5
    )  # the missing bin is empty in both: floored to EPS on both sides, adds 0
    assert psi(ref, cur, bins=2, epsilon=EPS)[0] == pytest.approx(expected, abs=1e-15)


def test_an_empty_bin_is_floored_at_epsilon() -> None:
    ref = np.arange(1.0, 11.0)
    cur = np.array([1.0, 2, 3])  # nothing above the median
    expected = (1 - 0.5) * math.log(1 / 0.5) + (EPS - 0.5) * math.log(EPS / 0.5)
    assert psi(ref, cur, bins=2, epsilon=EPS)[0] == pytest.approx(expected, abs=1e-12)


def test_missing_values_are_a_bin_of_their_own() -> None:
    ref = np.arange(1.0, 11.0)
    cur = np.array([1.0, 2, 3, 4, 6, 7, 8, 9, np.nan, np.nan])  # 4 | 4 | 2 missing
    expected = 2 * (0.4 - 0.5) * math.log(0.4 / 0.5) + (0.2 - EPS) * math.log(0.2 / EPS)
    assert psi(ref, cur, bins=2, epsilon=EPS)[0] == pytest.approx(expected, abs=1e-12)


def test_psi_from_counts_and_categorical_match_hand_computation() -> None:
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(1.5)
    assert psi_from_counts([[2, 2]], [[1, 3]])[0] == pytest.approx(expected, abs=1e-15)
    assert psi_categorical(["a", "a", "b", "b"], ["a", "b", "b", "b"]) == (
        pytest.approx(expected, abs=1e-15)
    )
    # A category new in the current snapshot: its reference share is EPS.
    new = psi_categorical(["a", "b"], ["a", "b", "c", None])
    expected_new = 2 * (0.25 - 0.5) * math.log(0.5) + 2 * (0.25 - EPS) * math.log(
        0.25 / EPS
    )
    assert new == pytest.approx(expected_new, abs=1e-12)


def test_a_point_mass_on_a_quantile_keeps_its_own_bin() -> None:
    rng = np.random.default_rng(0)
    ref = np.where(rng.random(5000) < 0.6, 0.0, rng.uniform(1, 2, 5000))
    same = np.where(rng.random(5000) < 0.6, 0.0, rng.uniform(1, 2, 5000))
    moved = np.where(same == 0.0, 0.5, same)  # the zeros become small positives
    assert psi(ref, same)[0] < 0.01
    assert psi(ref, moved)[0] > 1.0


@pytest.mark.parametrize(("n1", "n2"), [(300, 300), (500, 731), (2000, 1500)])
def test_ks_matches_scipy_on_the_same_inputs(
    rng: np.random.Generator, n1: int, n2: int
) -> None:
    # Continuous, heavily tied (rounded) and shifted columns, with missing values.
    ref = np.column_stack(
        [
            rng.normal(size=n1),
            np.round(rng.normal(size=n1), 1),
            rng.poisson(2.0, n1).astype(float),
            rng.normal(size=n1),
        ]
    )
    cur = np.column_stack(
        [
            rng.normal(0.1, 1.0, n2),
            np.round(rng.normal(0.05, 1.0, n2), 1),
            rng.poisson(2.2, n2).astype(float),
            rng.normal(size=n2),
        ]
    )
    ref[rng.random(n1) < 0.1, 3] = np.nan
    cur[rng.random(n2) < 0.2, 3] = np.nan
    ours = ks_two_sample(ref, cur)
    for j in range(ref.shape[1]):
        a, b = ref[:, j], cur[:, j]
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        # The statistic is computed as scipy computes it (integer counts over
        # n): bit for bit against method="asymp"; scipy's exact method (its
        # default below 10,000 rows) re-rounds D to h / lcm(n1, n2), so 1e-12.
        asymp = ks_2samp(a, b, method="asymp")
        assert ours.statistic[j] == asymp.statistic
        assert abs(ours.statistic[j] - ks_2samp(a, b).statistic) < 1e-12
        # Same formula, same library function underneath: 1e-12 is float noise.
        assert abs(ours.pvalue[j] - asymp.pvalue) < 1e-12
        assert (ours.n_reference[j], ours.n_current[j]) == (a.size, b.size)


def test_ks_on_large_samples_uses_the_limiting_law_within_half_a_percent() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=250_000), rng.normal(0.012, 1.0, 250_000)
    assert 250_000 * 250_000 / 500_000 > KSTWO_MAX_N
    ours = ks_two_sample(a, b)
    ref = ks_2samp(a, b, method="asymp")
    assert ours.statistic[0] == ref.statistic
    assert 1e-3 < ref.pvalue < 0.5  # the regime where kstwo is slow
    # kstwobign vs kstwo at n m / (n + m) = 125,000: O(1 / sqrt(n)) apart.
    assert ours.pvalue[0] == pytest.approx(ref.pvalue, rel=5e-3)


def test_ks_of_many_columns_equals_each_column_alone(
    rng: np.random.Generator,
) -> None:
    ref = rng.normal(size=(400, 7))
    cur = rng.normal(0.1, 1.1, size=(350, 7))
    ref[rng.random(400) < 0.2, 2] = np.nan  # a different n in one column
    whole = ks_two_sample(ref, cur)
    for j in range(7):
        alone = ks_two_sample(ref[:, j], cur[:, j])
        assert whole.statistic[j] == alone.statistic[0]
        assert whole.pvalue[j] == alone.pvalue[0]


def test_ks_is_invariant_to_monotone_transforms_and_row_order(
    rng: np.random.Generator,
) -> None:
    ref = rng.normal(size=(800, 3))
    cur = rng.normal(0.2, 1.0, size=(600, 3))
    base = ks_two_sample(ref, cur)
    moved = ks_two_sample(np.exp(ref), np.exp(cur))
    shuffled = ks_two_sample(rng.permutation(ref), rng.permutation(cur))
    np.testing.assert_array_equal(base.statistic, moved.statistic)
    np.testing.assert_array_equal(base.statistic, shuffled.statistic)


def test_psi_is_invariant_to_row_order_and_positive_affine_maps(
    rng: np.random.Generator,
) -> None:
    ref = rng.normal(size=(3000, 3))
    cur = rng.normal(0.3, 1.0, size=(2500, 3))
    base = psi(ref, cur)
    np.testing.assert_array_equal(base, psi(rng.permutation(ref), rng.permutation(cur)))
    # Quantiles commute with x -> 3x + 7; only edge rounding could differ.
    np.testing.assert_allclose(psi(3 * ref + 7, 3 * cur + 7), base, rtol=1e-9)


def test_no_drift_gives_near_zero_psi_and_identical_inputs_exactly_zero(
    rng: np.random.Generator,
) -> None:
    ref = rng.normal(size=(5000, 2))
    assert np.all(psi(ref, ref) == 0.0)
    # Sampling noise alone: E[PSI] ~ (bins - 1)(1/n1 + 1/n2) = 0.0036 here.
    assert np.all(psi(ref, rng.normal(size=(5000, 2))) < 0.03)


def test_shifted_columns_are_caught_and_unshifted_ones_are_not(
    rng: np.random.Generator,
) -> None:
    ref, cur, moved = snapshots(rng)
    numeric = [c for c in ref.columns if ref[c].dtype.kind == "f"]
    categorical = ["value_tier", "life_stage"]
    rows = {
        r.column: r
        for r in drift_table(
            ref, cur, numeric=numeric, categorical=categorical, thresholds=Thresholds()
        )
    }
    assert set(rows) == set(numeric) | set(categorical)
    for column, row in rows.items():
        caught = row.level != "ok" or row.ks_significant
        assert caught == (column in moved), (column, row)
    # The large moves reach the alert level on PSI.
    assert rows["churn_90d"].level == "alert"
    assert rows["bal_deposits"].level == "alert"  # 15% missing now
    assert rows["age"].ks_significant


def test_drift_table_marks_roles_kinds_and_missing_shares() -> None:
    ref = pd.DataFrame({"s": [0.1, 0.2, 0.3, 0.4], "f": [1.0, 2.0, np.nan, 4.0]})
    ref["c"] = ["x", "y", None, "x"]
    rows = drift_table(
        ref, ref, numeric=["s", "f"], categorical=["c"], roles={"s": "score"}
    )
    assert [(r.column, r.kind, r.role) for r in rows] == [
        ("s", "numeric", "score"),
        ("f", "numeric", "feature"),
        ("c", "categorical", "feature"),
    ]
    assert [r.psi for r in rows] == [0.0, 0.0, 0.0]
    assert rows[1].missing_reference == 0.25
    assert rows[2].missing_current == 0.25
    assert rows[0].ks_statistic == 0.0
    assert rows[2].ks_statistic is None


def test_a_column_missing_everywhere_in_one_snapshot_has_no_ks() -> None:
    ref = np.column_stack([np.arange(10.0), np.full(10, np.nan)])
    cur = np.column_stack([np.arange(10.0), np.arange(10.0)])
    ks = ks_two_sample(ref, cur)
    assert ks.statistic[0] == 0.0
    assert np.isnan(ks.statistic[1])
    assert np.isnan(ks.pvalue[1])
    # PSI still sees it: every value was missing, now none is.
    assert psi(ref, cur)[1] > 5
