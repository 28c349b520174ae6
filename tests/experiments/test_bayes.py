"""Beta-binomial view: exact against closed forms and gbstats' quadrature, stable
from tiny to huge samples; normal approximation for means."""

from __future__ import annotations

import numpy as np
import pytest
from gbstats.bayesian.dists import Beta
from scipy import integrate, special
from scipy import stats as sps

from nbo_engine.experiments import (
    SampleStats,
    beta_binomial,
    mean_effect,
    normal_posterior,
)


def _exact_prob_b_beats_a(aa: int, ba: int, ab: int, bb: int) -> float:
    """Closed form for integer posteriors (Miller 2015, "Formulas for Bayesian A/B
    testing"): sum_i B(aA + i, bA + bB) / ((bB + i) B(1 + i, bB) B(aA, bA))."""
    i = np.arange(ab)
    terms = (
        special.betaln(aa + i, ba + bb)
        - np.log(bb + i)
        - special.betaln(1 + i, bb)
        - special.betaln(aa, ba)
    )
    return float(np.exp(terms).sum())


def _loss_choose_b(aa: float, ba: float, ab: float, bb: float) -> float:
    """E[max(pA - pB, 0)] by adaptive quadrature over pB."""
    ma = aa / (aa + ba)

    def f(x: float) -> float:
        tail = ma * (1 - special.betainc(aa + 1, ba, x)) - x * (
            1 - special.betainc(aa, ba, x)
        )
        return float(sps.beta.pdf(x, ab, bb) * tail)

    lo, hi = sps.beta.ppf([1e-14, 1 - 1e-14], ab, bb)
    return float(integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-12, limit=400)[0])


@pytest.mark.parametrize(
    ("nc", "xc", "nt", "xt"),
    [
        (1000, 30, 1000, 40),
        (50, 2, 60, 9),
        (20_000, 600, 20_000, 590),
        (10, 0, 10, 1),
        (300, 150, 200, 90),
    ],
)
def test_against_closed_form_and_gbstats(nc: int, xc: int, nt: int, xt: int) -> None:
    r = beta_binomial(
        SampleStats.from_proportion(nc, xc), SampleStats.from_proportion(nt, xt)
    )
    aa, ba, ab, bb = 1 + xc, 1 + nc - xc, 1 + xt, 1 + nt - xt
    assert float(r.prob_beat_control) == pytest.approx(
        _exact_prob_b_beats_a(aa, ba, ab, bb), abs=1e-10
    )
    loss_b = _loss_choose_b(aa, ba, ab, bb)
    assert float(r.expected_loss) == pytest.approx(loss_b, rel=1e-7, abs=1e-13)
    # gbstats: risk = [E(max) - mean A, E(max) - mean B] = [loss of A, loss of B]
    risk = Beta.risk(aa, ba, ab, bb)
    assert float(r.expected_loss) == pytest.approx(risk[1], rel=1e-6, abs=1e-12)
    assert float(r.expected_loss_control) == pytest.approx(risk[0], rel=1e-6, abs=1e-12)


def test_monte_carlo_agrees_and_huge_samples_are_stable(
    rng: np.random.Generator,
) -> None:
    c, t = (
        SampleStats.from_proportion(5_000_000, 150_000),
        SampleStats.from_proportion(5_000_000, 150_900),
    )
    r = beta_binomial(c, t)
    a = rng.beta(150_001, 4_850_001, 400_000)
    b = rng.beta(150_901, 4_849_101, 400_000)
    assert float(r.prob_beat_control) == pytest.approx((b > a).mean(), abs=0.005)
    assert float(r.expected_loss) == pytest.approx(
        np.maximum(a - b, 0).mean(), rel=0.05, abs=1e-8
    )


def test_lower_is_better_swaps_the_roles() -> None:
    c, t = SampleStats.from_proportion(2000, 100), SampleStats.from_proportion(2000, 80)
    up = beta_binomial(c, t)
    down = beta_binomial(c, t, higher_is_better=False)
    assert float(down.prob_beat_control) == pytest.approx(
        1 - float(up.prob_beat_control)
    )
    assert float(down.expected_loss) == pytest.approx(float(up.expected_loss_control))


def test_vectorised_over_variants() -> None:
    c = SampleStats.from_proportion(1000, 30)
    t = SampleStats.from_proportion([1000, 1000, 0], [30, 45, 0])
    r = beta_binomial(c, t)
    assert r.prob_beat_control.shape == (3,)
    assert float(r.prob_beat_control[0]) == pytest.approx(0.5, abs=1e-9)
    assert np.isfinite(r.expected_loss).all()  # an empty arm: prior only, no NaN


def test_normal_posterior_for_means(rng: np.random.Generator) -> None:
    n = 2000
    a, b = rng.normal(10, 4, n), rng.normal(10.3, 4, n)
    e = mean_effect(
        SampleStats(n, a.sum(), (a * a).sum()), SampleStats(n, b.sum(), (b * b).sum())
    )
    r = normal_posterior(e)
    d = rng.normal(float(e.estimate), float(e.se), 1_000_000)
    assert float(r.prob_beat_control) == pytest.approx((d > 0).mean(), abs=0.002)
    assert float(r.expected_loss) == pytest.approx(
        np.maximum(-d, 0).mean(), rel=0.02, abs=1e-6
    )
    assert float(r.expected_loss_control) == pytest.approx(
        np.maximum(d, 0).mean(), rel=0.02
    )
