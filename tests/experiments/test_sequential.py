"""Always-valid inference: false positive rate under continuous peeking stays
at alpha, while naive peeking at a fixed-horizon test does not."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from nbo_engine.experiments import (
    SampleStats,
    always_valid,
    mean_effect,
    proportion_effect,
)
from nbo_engine.experiments.stats import Effect

REPS = 3000  # SE of a 5% rate: 0.004


def _peeking_proportions(
    rng: np.random.Generator, looks: int, per_look: int, p_c: float, p_t: float
) -> tuple[Effect, np.ndarray]:
    """Cumulative A/B results after each look, shape (REPS, looks)."""
    c = rng.binomial(per_look, p_c, (REPS, looks)).cumsum(1)
    t = rng.binomial(per_look, p_t, (REPS, looks)).cumsum(1)
    n = per_look * np.arange(1, looks + 1) * np.ones((REPS, 1))
    e = proportion_effect(
        SampleStats.from_proportion(n, c), SampleStats.from_proportion(n, t)
    )
    return e, 2 * n


def _peeking_means(
    rng: np.random.Generator,
    looks: int,
    per_look: int,
    mu_c: float,
    mu_t: float,
    sd: float,
) -> tuple[Effect, np.ndarray]:
    def arm(mu: float) -> SampleStats:
        # exact sufficient statistics of each look's batch of normal units
        m = rng.normal(mu, sd / np.sqrt(per_look), (REPS, looks))
        ss = sd * sd * rng.chisquare(per_look - 1, (REPS, looks))
        s, q = (m * per_look).cumsum(1), (ss + per_look * m * m).cumsum(1)
        n = per_look * np.arange(1, looks + 1) * np.ones((REPS, 1))
        return SampleStats(n, s, q)

    c, t = arm(mu_c), arm(mu_t)
    return mean_effect(c, t), c.n + t.n


@pytest.mark.parametrize(("looks", "per_look"), [(20, 1000), (90, 300)])
def test_aa_peeking_proportions(
    rng: np.random.Generator, looks: int, per_look: int
) -> None:
    e, n = _peeking_proportions(rng, looks, per_look, 0.05, 0.05)
    naive = (e.p_value < 0.05).any(axis=1).mean()
    seq = always_valid(e, n, tuning_n=float(n[0, -1]))
    fpr = seq.reject.any(axis=1).mean()
    assert fpr <= 0.05
    # the fixed-horizon test at its own horizon is fine (~0.05) ...
    assert 0.035 <= (e.p_value[:, -1] < 0.05).mean() <= 0.065
    # ... but peeking at it after every look is not (Armitage et al. 1969:
    # ~0.25 for 20 looks, ~0.4 for 90)
    if looks == 20:
        assert 0.20 <= naive <= 0.32
    else:
        assert naive >= 0.30


def test_aa_peeking_means(rng: np.random.Generator) -> None:
    e, n = _peeking_means(rng, 90, 200, 50.0, 50.0, 40.0)
    seq = always_valid(e, n, tuning_n=float(n[0, -1]))
    assert seq.reject.any(axis=1).mean() <= 0.05
    assert (e.p_value < 0.05).any(axis=1).mean() >= 0.30


def test_interval_covers_the_truth_at_every_look(rng: np.random.Generator) -> None:
    e, n = _peeking_proportions(rng, 30, 1000, 0.05, 0.06)
    seq = always_valid(e, n, tuning_n=float(n[0, -1]))
    always = ((seq.ci_low <= 0.01) & (0.01 <= seq.ci_high)).all(axis=1).mean()
    assert always >= 0.95
    # and it does detect the effect: most runs reject by the end
    assert seq.reject.any(axis=1).mean() > 0.8


def test_reject_iff_interval_excludes_zero(rng: np.random.Generator) -> None:
    e, n = _peeking_proportions(rng, 10, 2000, 0.05, 0.055)
    seq = always_valid(e, n, tuning_n=40_000)
    excludes = (seq.ci_low > 0) | (seq.ci_high < 0)
    assert (seq.reject == excludes).all()


@pytest.mark.parametrize(
    ("d", "v", "n", "tuning"),
    [(0.01, 1e-5, 5000, 5000), (0.3, 0.01, 800, 20_000), (-2.0, 0.9, 100, 100)],
)
def test_closed_form_equals_the_mixture_integral(
    d: float, v: float, n: float, tuning: float
) -> None:
    """Lambda = integral of the likelihood ratio N(D; theta, V) / N(D; 0, V) over
    theta ~ N(0, tau^2), computed numerically, against the closed form."""
    rho2 = (-2 * np.log(0.05) + np.log(-2 * np.log(0.05) + 1)) / tuning
    tau2 = rho2 * v * n

    def integrand(theta: float) -> float:
        lr = stats.norm.pdf(d, theta, np.sqrt(v)) / stats.norm.pdf(d, 0, np.sqrt(v))
        return float(lr * stats.norm.pdf(theta, 0, np.sqrt(tau2)))

    sd = np.sqrt(tau2)
    lam, _ = integrate.quad(
        integrand, -40 * sd, 40 * sd, points=[d], limit=400, epsabs=0, epsrel=1e-12
    )
    e = Effect(
        *(np.asarray(x, float) for x in (d, np.sqrt(v), 0.0, 0.0, 0.0, np.inf, 0.05)),
        reason=np.asarray(0, np.int8),
        relative=False,
    )
    seq = always_valid(e, n, tuning_n=tuning)
    assert float(seq.p_value) == pytest.approx(min(1.0, 1 / lam), rel=1e-8)


def test_neutral_input_stays_neutral() -> None:
    e = proportion_effect(
        SampleStats.from_proportion(1, 0), SampleStats.from_proportion(1, 1)
    )
    seq = always_valid(e, 2, tuning_n=1000)
    assert float(seq.p_value) == 1.0
    assert not bool(seq.reject)
    assert seq.summary()["reason"] == "n_too_small"
