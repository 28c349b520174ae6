"""Fixed-horizon statistics: agreement with statsmodels/scipy to 1e-9, coverage
of relative-lift and ratio intervals, A/A false positive rate, neutral results."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats import proportion as sm_proportion

from nbo_engine.experiments import (
    RatioStats,
    SampleStats,
    mean_effect,
    proportion_effect,
    ratio_effect,
    ratio_stats,
    sample_stats,
)
from nbo_engine.experiments.stats import (
    N_TOO_SMALL,
    OK,
    ZERO_BASELINE,
    ZERO_DENOMINATOR,
    ZERO_VARIANCE,
)

# Same inputs, same formulas: differences are floating-point only.
TOL = 1e-9


@pytest.mark.parametrize(
    ("nc", "xc", "nt", "xt"),
    [
        (10_000, 300, 10_000, 360),
        (5_000, 40, 20_000, 130),
        (800, 500, 1200, 700),
        (50, 3, 60, 9),
    ],
)
@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.01])
def test_proportions_match_statsmodels(
    nc: int, xc: int, nt: int, xt: int, alpha: float
) -> None:
    e = proportion_effect(
        SampleStats.from_proportion(nc, xc), SampleStats.from_proportion(nt, xt), alpha
    )
    ref = sm_proportion.test_proportions_2indep(
        xt, nt, xc, nc, method="wald", compare="diff"
    )
    lo, hi = sm_proportion.confint_proportions_2indep(
        xt, nt, xc, nc, method="wald", compare="diff", alpha=alpha
    )
    assert float(e.estimate) == pytest.approx(xt / nt - xc / nc, abs=TOL)
    assert float(e.p_value) == pytest.approx(ref.pvalue, rel=TOL, abs=1e-15)
    assert float(e.ci_low) == pytest.approx(lo, abs=TOL)
    assert float(e.ci_high) == pytest.approx(hi, abs=TOL)


@pytest.mark.parametrize(("n1", "n2"), [(40, 55), (1000, 1000), (30, 5000)])
def test_welch_matches_scipy(rng: np.random.Generator, n1: int, n2: int) -> None:
    a = rng.gamma(2.0, 30.0, size=n1)  # skewed, unequal variances
    b = rng.gamma(2.5, 40.0, size=n2)
    e = mean_effect(
        sample_stats(a, np.zeros(n1, int), 1).select(0),
        sample_stats(b, np.zeros(n2, int), 1).select(0),
        0.05,
    )
    ref = sps.ttest_ind(b, a, equal_var=False)
    ci = ref.confidence_interval(0.95)
    assert float(e.estimate) == pytest.approx(b.mean() - a.mean(), rel=TOL)
    assert float(e.p_value) == pytest.approx(ref.pvalue, rel=1e-8, abs=1e-15)
    assert float(e.df) == pytest.approx(ref.df, rel=TOL)
    assert float(e.ci_low) == pytest.approx(ci.low, rel=TOL, abs=TOL)
    assert float(e.ci_high) == pytest.approx(ci.high, rel=TOL, abs=TOL)


def test_vectorised_over_variants_and_alpha() -> None:
    c = SampleStats.from_proportion(10_000, 300)
    t = SampleStats.from_proportion([10_000, 10_000, 10_000], [300, 330, 360])
    e = proportion_effect(c, t, alpha=np.array([0.05, 0.05, 0.01]))
    assert e.estimate.shape == (3,)
    single = proportion_effect(c, t.select(2), 0.01)
    assert float(e.ci_low[2]) == float(single.ci_low)


def _draw_means(
    rng: np.random.Generator, reps: int, n: int, mean: float, sd: float
) -> SampleStats:
    """Exact sufficient statistics of normal samples without drawing units:
    mean ~ N(mu, sd^2/n), (n-1) s^2 / sd^2 ~ chi2(n-1), independent."""
    m = rng.normal(mean, sd / np.sqrt(n), reps)
    s2 = sd * sd * rng.chisquare(n - 1, reps) / (n - 1)
    return SampleStats(np.full(reps, n, float), m * n, s2 * (n - 1) + n * m * m)


def test_aa_false_positive_rate(rng: np.random.Generator) -> None:
    # 20,000 A/A tests each: SE of the rate 0.0015, so [0.04, 0.06] is 6 SE wide.
    reps = 20_000
    c = SampleStats.from_proportion(20_000, rng.binomial(20_000, 0.03, reps))
    t = SampleStats.from_proportion(20_000, rng.binomial(20_000, 0.03, reps))
    fpr = (proportion_effect(c, t).p_value < 0.05).mean()
    assert 0.04 <= fpr <= 0.06
    m = (
        mean_effect(
            _draw_means(rng, reps, 200, 10, 3), _draw_means(rng, reps, 300, 10, 5)
        ).p_value
        < 0.05
    ).mean()
    assert 0.04 <= m <= 0.06
    rel = (proportion_effect(c, t, relative=True).p_value < 0.05).mean()
    assert 0.04 <= rel <= 0.06


def test_relative_lift_interval_covers_the_truth(rng: np.random.Generator) -> None:
    # delta method: 95% coverage of the true relative lift (0.2) at n=20k/arm
    reps = 20_000
    c = SampleStats.from_proportion(20_000, rng.binomial(20_000, 0.03, reps))
    t = SampleStats.from_proportion(20_000, rng.binomial(20_000, 0.036, reps))
    e = proportion_effect(c, t, relative=True)
    cover = ((e.ci_low <= 0.2) & (0.2 <= e.ci_high)).mean()
    assert 0.94 <= cover <= 0.96
    m = mean_effect(
        _draw_means(rng, reps, 500, 10, 4),
        _draw_means(rng, reps, 500, 11, 4),
        relative=True,
    )
    cover = ((m.ci_low <= 0.1) & (0.1 <= m.ci_high)).mean()
    assert 0.94 <= cover <= 0.96


def test_ratio_metric_delta_method_covers_the_truth(rng: np.random.Generator) -> None:
    # revenue per visit: visits ~ 1 + Poisson(2), revenue ~ visits * Gamma, correlated.
    reps, n = 2000, 400
    visits = 1 + rng.poisson(2.0, (2, reps, n))
    spend = rng.gamma(2.0, 5.0, (2, reps, n)) * visits
    spend[1] *= 1.1  # true ratios: 10 and 11 per visit

    def stats_of(k: int) -> RatioStats:
        m, d = spend[k], visits[k].astype(float)
        return RatioStats(
            np.full(reps, n, float),
            m.sum(1),
            (m * m).sum(1),
            d.sum(1),
            (d * d).sum(1),
            (m * d).sum(1),
        )

    e = ratio_effect(stats_of(0), stats_of(1))
    cover = ((e.ci_low <= 1.0) & (1.0 <= e.ci_high)).mean()
    # 2,000 runs: SE of coverage 0.005
    assert 0.93 <= cover <= 0.97
    rel = ratio_effect(stats_of(0), stats_of(1), relative=True)
    cover = ((rel.ci_low <= 0.1) & (0.1 <= rel.ci_high)).mean()
    assert 0.93 <= cover <= 0.97


def test_ratio_stats_from_units() -> None:
    num = np.array([1.0, 2.0, 3.0, 4.0, 10.0])
    den = np.array([1.0, 1.0, 2.0, 2.0, 4.0])
    groups = np.array([0, 0, 1, 1, -1])  # the last unit is not enrolled
    s = ratio_stats(num, den, groups, 2)
    assert s.sum_num.tolist() == [3.0, 7.0]
    assert s.sum_num_den.tolist() == [3.0, 14.0]
    assert s.n.tolist() == [2.0, 2.0]


@pytest.mark.parametrize(
    ("control", "treatment", "relative", "reason"),
    [
        (SampleStats(1, 1.0, 1.0), SampleStats(100, 50.0, 50.0), False, N_TOO_SMALL),
        (SampleStats(0, 0.0, 0.0), SampleStats(0, 0.0, 0.0), False, N_TOO_SMALL),
        (SampleStats(100, 0.0, 0.0), SampleStats(100, 0.0, 0.0), False, ZERO_VARIANCE),
        (
            SampleStats(100, 500.0, 2500.0),
            SampleStats(100, 500.0, 2500.0),
            False,
            ZERO_VARIANCE,
        ),
        (SampleStats(100, 0.0, 0.0), SampleStats(100, 5.0, 5.0), True, ZERO_BASELINE),
    ],
)
def test_degenerate_input_is_neutral_with_a_reason(
    control: SampleStats, treatment: SampleStats, relative: bool, reason: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from 0/0 either
        proportion = (control.sum_sq == control.sum) & (
            treatment.sum_sq == treatment.sum
        )
        for fn in (
            (mean_effect, proportion_effect) if proportion.all() else (mean_effect,)
        ):
            e = fn(control, treatment, relative=relative)
            assert int(e.reason) == reason
            s = e.summary()
            assert (s.estimate, s.ci_low, s.ci_high, s.p_value) == (0.0, 0.0, 0.0, 1.0)
            assert np.isfinite([s.estimate, s.se, s.p_value]).all()


def test_one_arm_without_variance_still_compares() -> None:
    # 0 conversions in control, 12 in treatment: a real (if lopsided) comparison
    e = proportion_effect(
        SampleStats.from_proportion(1000, 0), SampleStats.from_proportion(1000, 12)
    )
    assert int(e.reason) == OK
    assert float(e.p_value) < 0.01


def test_ratio_with_zero_denominator_is_neutral() -> None:
    zero = RatioStats(10, 5.0, 5.0, 0.0, 0.0, 0.0)
    fine = RatioStats(10, 5.0, 5.0, 10.0, 12.0, 6.0)
    e = ratio_effect(zero, fine)
    assert int(e.reason) == ZERO_DENOMINATOR
    assert float(e.p_value) == 1.0
