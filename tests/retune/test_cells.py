"""Which cells are called harmful or helpful, and how often noise fools it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nbo_engine.experiments import SampleStats, mean_effect
from nbo_engine.retune import CellEffect, Guardrails, classify_cells
from tests.retune.conftest import cell

N_WEEKS = 200
N_CELLS = 60


def _week(
    rng: np.random.Generator, mu: np.ndarray, se: float = 1.0
) -> list[CellEffect]:
    est = rng.normal(mu, se)
    return [
        CellEffect(f"o{i % 10}", f"s{i // 10}", float(e), se, 800, 800)
        for i, e in enumerate(est)
    ]


def test_a_clear_harm_among_noise_is_called_harmful() -> None:
    cells = [cell(f"o{i}", "s", 0.2 * (-1) ** i, 1.0) for i in range(30)]
    cells.append(cell("bad", "s", -6.0, 1.0))
    verdicts = classify_cells(cells)
    called = [v.cell.offer for v in verdicts if v.verdict == "harmful"]
    assert called == ["bad"]
    bad = verdicts[-1]
    # Holm over 31 tested cells: the interval is at the Bonferroni level 0.05/31.
    z = stats.norm.isf(0.05 / 31 / 2)
    assert bad.ci_high == pytest.approx(-6.0 + z, rel=1e-9)
    assert bad.family_size == 31


def test_small_cells_are_not_tested_and_do_not_widen_the_family() -> None:
    cells = [cell(n_treated=50), cell("x", "s", -8.0, 1.0)]
    v = classify_cells(cells, Guardrails(min_treated=100))
    assert [x.verdict for x in v] == ["too_small", "harmful"]
    assert v[1].family_size == 1


def test_zero_standard_error_is_never_acted_on() -> None:
    v = classify_cells([cell(estimate=-5.0, se=0.0)])
    assert v[0].verdict == "too_small"


def test_lower_is_better_metric_flips_the_direction() -> None:
    v = classify_cells([cell(estimate=8.0, higher_is_better=False, metric="churn")])
    assert v[0].verdict == "harmful"


def test_welch_cells_match_scipy() -> None:
    """CellEffect.from_stats uses Welch's test: same p-value as scipy's."""
    rng = np.random.default_rng(5)
    y_c = rng.normal(10.0, 3.0, 300)
    y_t = rng.normal(9.2, 4.0, 250)
    c = SampleStats(n=300, sum=y_c.sum(), sum_sq=(y_c**2).sum())
    t = SampleStats(n=250, sum=y_t.sum(), sum_sq=(y_t**2).sum())
    got = CellEffect.from_stats("o", "s", c, t)
    ref = stats.ttest_ind(y_t, y_c, equal_var=False)
    verdict = classify_cells([got], Guardrails(min_treated=2, min_control=2))[0]
    # one comparison: no adjustment, so the p-value is Welch's exactly
    assert verdict.p_value == pytest.approx(ref.pvalue, rel=1e-8)
    assert got.estimate == pytest.approx(float(mean_effect(c, t).estimate), rel=1e-12)


def test_null_weeks_rarely_suppress_anything(seed: int) -> None:
    """200 weeks of 60 cells with no effect at all: with Holm at alpha 0.05 a
    week calls some cell harmful with probability at most alpha / 2 = 0.025,
    so the count of such weeks is Binomial(200, <= 0.025); we allow its 99.9%
    quantile (12). Helpful cells are never called harmful."""
    rng = np.random.default_rng(1000 + seed)
    false_weeks = 0
    for _ in range(N_WEEKS):
        verdicts = classify_cells(_week(rng, np.zeros(N_CELLS)))
        false_weeks += any(v.verdict == "harmful" for v in verdicts)
    assert false_weeks <= stats.binom.ppf(0.999, N_WEEKS, 0.025)


def test_helpful_offers_are_never_suppressed_on_noise(seed: int) -> None:
    """Cells that truly help (by 0.5 to 3 standard errors) next to null ones
    and a few truly harmful ones: over 200 weeks no helpful cell is ever
    called harmful, and the harmful ones (-6 SE) are found most weeks."""
    rng = np.random.default_rng(2000 + seed)
    mu = np.concatenate([rng.uniform(0.5, 3.0, 40), np.zeros(17), np.full(3, -6.0)])
    helpful_suppressed = 0
    found = 0
    for _ in range(N_WEEKS):
        v = classify_cells(_week(rng, mu))
        harmful = np.array([x.verdict == "harmful" for x in v])
        helpful_suppressed += int(harmful[:40].sum())
        found += int(harmful[-3:].sum())
    assert helpful_suppressed == 0
    # power at -6 SE with a Bonferroni level 0.05/60 (z = 3.34) is ~0.96
    assert found / (3 * N_WEEKS) > 0.9


def test_bh_finds_more_than_holm_when_many_cells_are_harmful() -> None:
    rng = np.random.default_rng(3)
    mu = np.concatenate([np.full(20, -3.5), np.zeros(40)])
    cells = _week(rng, mu)
    holm = sum(v.verdict == "harmful" for v in classify_cells(cells))
    bh = sum(
        v.verdict == "harmful"
        for v in classify_cells(cells, Guardrails(multiple_testing="bh"))
    )
    assert bh >= holm
