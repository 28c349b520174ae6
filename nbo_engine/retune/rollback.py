"""Roll back the last change when a guardrail metric got significantly worse.

For each guardrail metric (complaints per customer, churn...), the units seen
after the last applied change are compared with those seen before it by the
experiments package's fixed-horizon tests: Welch's t-test for means
(:func:`~nbo_engine.experiments.mean_effect`), a Wald z-test for proportions
(:func:`~nbo_engine.experiments.proportion_effect`). The p-values are Holm
adjusted across the metrics; a metric is *worse* when its adjusted p-value is
at most ``rollback_alpha``, the change is in the harmful direction, and both
periods have ``min_rollback_sample`` units. Any worse metric rolls the change
back. A raw threshold ("complaints above 2%") would fire on noise in a small
week and miss a real rise in a large one; the test does neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from nbo_engine.experiments import holm, mean_effect, proportion_effect
from nbo_engine.retune.evidence import GuardrailSeries
from nbo_engine.retune.guardrails import Guardrails

__all__ = ["GuardrailTest", "RollbackDecision", "rollback_decision"]


@dataclass(frozen=True)
class GuardrailTest:
    """One guardrail metric, after vs before the change."""

    metric: str
    mean_before: float
    mean_after: float
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    p_adjusted: float
    n_before: int
    n_after: int
    worse: bool
    reason: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class RollbackDecision:
    """Whether to roll the last change back, why, and every metric's test."""

    rollback: bool
    reason: str
    tests: tuple[GuardrailTest, ...]


def rollback_decision(
    series: Sequence[GuardrailSeries], guardrails: Guardrails = Guardrails()
) -> RollbackDecision:
    """Test each guardrail metric after vs before the last change.

    Parameters
    ----------
    series : the metrics, each with before and after sufficient statistics.
    guardrails : ``rollback_alpha`` and ``min_rollback_sample``.

    Returns
    -------
    RollbackDecision

    Examples
    --------
    Complaints per customer rise from 1% to 4% on 2,000 customers each side:

    >>> from nbo_engine.experiments import SampleStats
    >>> before = SampleStats(n=2000, sum=20.0, sum_sq=20.0)
    >>> after = SampleStats(n=2000, sum=80.0, sum_sq=80.0)
    >>> d = rollback_decision([GuardrailSeries("complaints", before, after)])
    >>> d.rollback, d.tests[0].worse
    (True, True)
    """
    g = guardrails
    if not series:
        return RollbackDecision(False, "no guardrail series to test", ())
    effects = []
    for s in series:
        fn = mean_effect if s.kind == "mean" else proportion_effect
        effects.append(fn(s.before, s.after, g.rollback_alpha).summary())
    p_adj = holm(np.array([e.p_value for e in effects]))
    tests = []
    for s, e, pa in zip(series, effects, p_adj, strict=True):
        n_b, n_a = int(np.asarray(s.before.n)), int(np.asarray(s.after.n))
        harmful_side = e.estimate < 0 if s.higher_is_better else e.estimate > 0
        enough = min(n_b, n_a) >= g.min_rollback_sample
        worse = bool(
            e.reason == "ok" and enough and harmful_side and pa <= g.rollback_alpha
        )
        mb, ma = float(np.asarray(s.before.mean)), float(np.asarray(s.after.mean))
        if worse:
            why = (
                f"{s.metric} went from {mb:.4g} to {ma:.4g} per unit after the change "
                f"({e.estimate:+.4g}, interval {e.ci_low:+.4g} to {e.ci_high:+.4g}, "
                f"p_adj={pa:.2g}, n={n_b}/{n_a})"
            )
        elif not enough:
            why = (
                f"{s.metric}: {n_b}/{n_a} units before/after, expected at least "
                f"{g.min_rollback_sample} each to test"
            )
        else:
            why = f"{s.metric}: {mb:.4g} -> {ma:.4g}, not significantly worse (p_adj={pa:.2g})"
        tests.append(
            GuardrailTest(
                metric=s.metric,
                mean_before=mb,
                mean_after=ma,
                estimate=e.estimate,
                ci_low=e.ci_low,
                ci_high=e.ci_high,
                p_value=e.p_value,
                p_adjusted=float(pa),
                n_before=n_b,
                n_after=n_a,
                worse=worse,
                reason=why,
            )
        )
    bad = [t for t in tests if t.worse]
    if bad:
        return RollbackDecision(
            True,
            "guardrail degraded after the last change: "
            + "; ".join(t.reason for t in bad),
            tuple(tests),
        )
    return RollbackDecision(
        False,
        "no guardrail degraded: " + "; ".join(t.reason for t in tests),
        tuple(tests),
    )
