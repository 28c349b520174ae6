"""Rollback: a post-change complaint spike rolls back; noise never does."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nbo_engine.experiments import SampleStats
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import Guardrails, GuardrailSeries, retune, rollback_decision
from tests.retune.conftest import TODAY, evidence


def _complaints(rng: np.random.Generator, n: int, rate: float) -> SampleStats:
    """Complaints per customer in a week: Poisson counts."""
    y = rng.poisson(rate, n).astype(float)
    return SampleStats(n=float(n), sum=y.sum(), sum_sq=(y * y).sum())


def _churn(rng: np.random.Generator, n: int, p: float) -> SampleStats:
    return SampleStats.from_proportion(float(n), float(rng.binomial(n, p)))


def _series(
    rng: np.random.Generator, complaints_after: float, churn_after: float = 0.02
) -> list[GuardrailSeries]:
    return [
        GuardrailSeries(
            "complaints",
            _complaints(rng, 3000, 0.02),
            _complaints(rng, 3000, complaints_after),
        ),
        GuardrailSeries(
            "churn",
            _churn(rng, 3000, 0.02),
            _churn(rng, 3000, churn_after),
            "proportion",
        ),
    ]


def test_an_injected_complaint_spike_rolls_back(rng: np.random.Generator) -> None:
    d = rollback_decision(_series(rng, complaints_after=0.05))
    assert d.rollback
    assert d.reason.startswith(
        "guardrail degraded after the last change: complaints went from"
    )
    worse = {t.metric: t.worse for t in d.tests}
    assert worse == {"complaints": True, "churn": False}


def test_a_churn_spike_rolls_back_too(rng: np.random.Generator) -> None:
    d = rollback_decision(_series(rng, complaints_after=0.02, churn_after=0.06))
    assert d.rollback
    assert [t.metric for t in d.tests if t.worse] == ["churn"]


def test_no_spike_no_rollback_over_many_weeks(seed: int) -> None:
    """200 weeks without any change in the guardrails: with Holm at 0.01 a
    false rollback has probability <= 0.005 (one-sided) per week; allow the
    99.9% quantile of Binomial(200, 0.005) (4)."""
    rng = np.random.default_rng(500 + seed)
    false = sum(rollback_decision(_series(rng, 0.02)).rollback for _ in range(200))
    assert false <= stats.binom.ppf(0.999, 200, 0.005)


def test_fewer_complaints_never_roll_back(rng: np.random.Generator) -> None:
    assert not rollback_decision(_series(rng, complaints_after=0.0)).rollback


def test_a_spike_on_too_few_customers_is_not_acted_on() -> None:
    before = SampleStats(n=50.0, sum=1.0, sum_sq=1.0)
    after = SampleStats(n=50.0, sum=20.0, sum_sq=40.0)
    d = rollback_decision([GuardrailSeries("complaints", before, after)])
    assert not d.rollback
    assert "50/50 units before/after, expected at least 200 each" in d.tests[0].reason


def test_the_test_is_welchs(rng: np.random.Generator) -> None:
    """The p-value is Welch's t-test on the per-customer counts (scipy)."""
    y_b = rng.poisson(0.02, 3000).astype(float)
    y_a = rng.poisson(0.04, 3000).astype(float)
    s = GuardrailSeries(
        "complaints",
        SampleStats(n=3000.0, sum=y_b.sum(), sum_sq=(y_b**2).sum()),
        SampleStats(n=3000.0, sum=y_a.sum(), sum_sq=(y_a**2).sum()),
    )
    t = rollback_decision([s]).tests[0]
    assert t.p_value == pytest.approx(
        stats.ttest_ind(y_a, y_b, equal_var=False).pvalue, rel=1e-8
    )


def test_retune_reports_the_rollback_decision(
    catalog: PolicySpec, rng: np.random.Generator
) -> None:
    result = retune(catalog, evidence(guardrail_series=_series(rng, 0.06)), today=TODAY)
    assert result.rollback.rollback
    assert result.proposal.empty
    assert not retune(catalog, evidence(), Guardrails(), today=TODAY).rollback.rollback
