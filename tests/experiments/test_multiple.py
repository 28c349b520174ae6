"""Holm and Benjamini-Hochberg: p-values equal statsmodels'; adjusted intervals
keep family-wise coverage (Bonferroni level) and the false coverage rate (BY 2005)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.multitest import multipletests

from nbo_engine.experiments import (
    SampleStats,
    adjust,
    benjamini_hochberg,
    holm,
    interval_alpha,
    mean_effect,
)

p_lists = st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=1, max_size=40)


@given(p_lists)
@settings(max_examples=6, deadline=None)  # statsmodels runs gc.collect() per call
def test_holm_matches_statsmodels(p: list[float]) -> None:
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-12)


@pytest.mark.parametrize(
    "p",
    [
        [0.01, 0.04, 0.03],
        [0.0, 1.0, 0.5, 0.5],
        [0.001] * 5,
        [0.2, 0.01, 0.011, 0.9, 0.04],
    ],
)
def test_holm_fixed_cases(p: list[float]) -> None:
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-12)


@given(p_lists)
@settings(max_examples=200, deadline=None)
def test_bh_matches_statsmodels(p: list[float]) -> None:
    assert benjamini_hochberg(p) == pytest.approx(
        multipletests(p, method="fdr_bh")[1], abs=1e-12
    )


def test_shapes_are_kept_across_variants_and_segments() -> None:
    p = np.array([[0.01, 0.2], [0.03, 0.04], [0.5, 0.001]])  # variants x segments
    flat = multipletests(p.ravel(), method="holm")[1].reshape(p.shape)
    assert holm(p) == pytest.approx(flat)
    assert adjust(p, "none").tolist() == p.tolist()


def _family(rng: np.random.Generator, reps: int, effects: np.ndarray) -> tuple:
    """Many families of m comparisons (normal means, n = 400 per arm)."""
    n, m = 400, effects.size

    def arm(mu: np.ndarray) -> SampleStats:
        mean = rng.normal(mu, 1 / np.sqrt(n), (reps, m))
        ss = rng.chisquare(n - 1, (reps, m))
        return SampleStats(np.full((reps, m), n, float), mean * n, ss + n * mean * mean)

    c, t = arm(np.zeros(m)), arm(effects)
    return c, t


def test_bonferroni_level_intervals_cover_simultaneously(
    rng: np.random.Generator,
) -> None:
    effects = np.array([0.0] * 6 + [0.2] * 4)
    c, t = _family(rng, 6000, effects)
    raw = mean_effect(c, t)
    level = interval_alpha(raw.p_value[0], "holm", 0.05)[0]
    e = mean_effect(c, t, alpha=level)
    cover_all = ((e.ci_low <= effects) & (effects <= e.ci_high)).all(axis=1).mean()
    # Bonferroni over 10 independent intervals: 1 - (1 - 0.005)^10 = 0.951; with
    # 6,000 families (SE 0.0028) a coverage below 0.94 is a real failure.
    assert cover_all >= 0.94
    plain = ((raw.ci_low <= effects) & (effects <= raw.ci_high)).all(axis=1).mean()
    assert plain < 0.75  # unadjusted intervals miss somewhere in ~40% of families


def test_bh_intervals_keep_false_coverage_rate(rng: np.random.Generator) -> None:
    effects = np.array([0.0] * 15 + [0.25] * 5)
    c, t = _family(rng, 2000, effects)
    raw = mean_effect(c, t)
    q = 0.1
    selected = np.stack([benjamini_hochberg(p) <= q for p in raw.p_value])
    level = np.stack([interval_alpha(p, "bh", q) for p in raw.p_value])
    e = mean_effect(c, t, alpha=level)  # each family at its own level
    miss = ~((e.ci_low <= effects) & (effects <= e.ci_high))
    r = selected.sum(axis=1)
    fcr = np.where(r > 0, (miss & selected).sum(axis=1) / np.maximum(r, 1), 0.0)
    # BY 2005: E[share of non-covering intervals among the selected] <= q
    assert float(fcr.mean()) <= q
    # while unadjusted 90% intervals of the selected miss more often than q
    raw90 = mean_effect(c, t, alpha=q)
    miss90 = ~((raw90.ci_low <= effects) & (effects <= raw90.ci_high))
    fcr90 = np.where(r > 0, (miss90 & selected).sum(axis=1) / np.maximum(r, 1), 0.0)
    assert float(fcr90.mean()) > float(fcr.mean())
