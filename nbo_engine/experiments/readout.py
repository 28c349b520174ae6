"""The readout of a whole experiment, and the decision it recommends.

Per challenger variant x metric: arm means, absolute and relative effects with
intervals, raw and adjusted p-values (Holm across variants for the primary
metric, Benjamini-Hochberg across variants x secondary metrics, none for
guardrails, which must stay sensitive to harm), the always-valid sequential
interval, and the Bayesian view. Once per experiment: the sample-ratio check
and the decision with its reason.

Decisions (per variant, then overall):

- ``investigate_srm``: the split is not as planned; no result can be trusted.
- ``stop_harm``: the primary metric or a guardrail is significantly worse by the
  always-valid test (valid at any look, whatever ``analysis`` says).
- ``ship``: the primary metric is significantly better after adjustment (the
  always-valid test for ``analysis: sequential``; the fixed-horizon test once
  the planned sample is reached for ``analysis: fixed``), no guardrail is
  harmed, and each guardrail with ``max_harm`` has its interval's harmful bound
  within that tolerance.
- ``stop_no_effect``: the planned sample is reached without the above.
- ``keep_running``: otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.experiments.assignment import planned_split
from nbo_engine.experiments.bayes import beta_binomial, normal_posterior
from nbo_engine.experiments.multiple import Method, adjust, interval_alpha
from nbo_engine.experiments.power import sample_size
from nbo_engine.experiments.sequential import always_valid
from nbo_engine.experiments.spec import ExperimentSpec, Metric
from nbo_engine.experiments.srm import SRM_REASONS, srm_check
from nbo_engine.experiments.stats import (
    Effect,
    EffectSummary,
    cuped_effect,
    mean_effect,
    proportion_effect,
    ratio_effect,
    ratio_means,
)
from nbo_engine.experiments.sufficient import CupedStats, RatioStats, SampleStats

__all__ = [
    "DEFAULT_TUNING_N",
    "Decision",
    "MetricData",
    "MetricReadout",
    "Readout",
    "SequentialSummary",
    "SrmSummary",
    "VariantDecision",
    "readout",
]

MetricData = SampleStats | RatioStats | CupedStats
Decision = Literal[
    "ship", "keep_running", "stop_harm", "stop_no_effect", "investigate_srm"
]
DEFAULT_TUNING_N = 5000
"""Sequential tuning when neither ``planned_sample_size`` nor ``design`` is given
(gbstats' default)."""


@dataclass(frozen=True)
class SequentialSummary:
    """Always-valid interval (absolute difference), p-values at this look, and
    the always-valid interval of the relative lift."""

    ci_low: float
    ci_high: float
    p_value: float
    p_value_adjusted: float
    reject: bool
    relative_ci_low: float
    relative_ci_high: float


@dataclass(frozen=True)
class MetricReadout:
    """One challenger variant x one metric."""

    variant: str
    metric: str
    role: Literal["primary", "secondary", "guardrail"]
    method: str
    n_control: int
    n_variant: int
    mean_control: float
    mean_variant: float
    absolute: EffectSummary
    relative: EffectSummary
    p_value_adjusted: float
    adjustment: Method
    ci_adjusted: tuple[float, float]
    relative_ci_adjusted: tuple[float, float]
    sequential: SequentialSummary
    bayes: dict[str, float]
    variance_reduction: float | None
    significant: bool
    direction: Literal["better", "worse", "flat"]


@dataclass(frozen=True)
class SrmSummary:
    """Sample-ratio check of the units per variant."""

    chi2: float
    df: float
    p_value: float
    mismatch: bool
    observed_share: tuple[float, ...]
    expected_share: tuple[float, ...]
    reason: str


@dataclass(frozen=True)
class VariantDecision:
    """The recommendation for one challenger."""

    variant: str
    decision: Decision
    reason: str


@dataclass(frozen=True)
class Readout:
    """Everything needed to read and act on an experiment."""

    experiment: str
    analysis: str
    alpha: float
    control: str
    variants: tuple[str, ...]
    units: tuple[int, ...]
    planned_sample_size: int | None
    progress: float | None
    tuning_n: float
    srm: SrmSummary
    metrics: tuple[MetricReadout, ...]
    decisions: tuple[VariantDecision, ...]
    decision: Decision
    reason: str
    best_variant: str | None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready dict."""
        return asdict(self)

    def result(self, variant: str, metric: str) -> MetricReadout:
        """The cell for ``variant`` x ``metric``."""
        for r in self.metrics:
            if r.variant == variant and r.metric == metric:
                return r
        raise KeyError(f"no result for variant {variant!r} and metric {metric!r}")


# ------------------------------------------------------------------ estimators


def _estimate(
    metric: Metric,
    control: MetricData,
    treat: MetricData,
    alpha: ArrayLike,
    relative: bool,
) -> tuple[Effect, str]:
    if isinstance(control, CupedStats) and isinstance(treat, CupedStats):
        return cuped_effect(control, treat, alpha, relative=relative), "cuped_z"
    if isinstance(control, RatioStats) and isinstance(treat, RatioStats):
        return ratio_effect(control, treat, alpha, relative=relative), "delta_ratio_z"
    if isinstance(control, SampleStats) and isinstance(treat, SampleStats):
        if metric.kind == "proportion":
            return proportion_effect(control, treat, alpha, relative=relative), "wald_z"
        return mean_effect(control, treat, alpha, relative=relative), "welch_t"
    raise DataValidationError(f"data[{metric.name!r}]: mixed statistics types")


def _means(s: MetricData) -> NDArray[np.float64]:
    if isinstance(s, RatioStats):
        return ratio_means(s)[0]
    if isinstance(s, CupedStats):
        return s.outcome.mean
    return s.mean


def _check_data(
    experiment: ExperimentSpec, data: Mapping[str, MetricData]
) -> dict[str, MetricData]:
    k = len(experiment.variants)
    names = [m.name for m in experiment.metrics.all()]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise DataValidationError(
            f"data: unknown metric(s) {', '.join(unknown)}; expected {', '.join(names)}"
        )
    out = {}
    for m in experiment.metrics.all():
        if m.name not in data:
            raise DataValidationError(
                f"data: missing metric {m.name!r}; expected {', '.join(names)}"
            )
        s = data[m.name]
        want: tuple[type, ...] = (
            (RatioStats,) if m.kind == "ratio" else (SampleStats, CupedStats)
        )
        if not isinstance(s, want):
            raise DataValidationError(
                f"data[{m.name!r}]: a {m.kind} metric needs "
                f"{' or '.join(t.__name__ for t in want)}, got {type(s).__name__}"
            )
        if s.n.shape != (k,):
            raise DataValidationError(
                f"data[{m.name!r}]: expected statistics for {k} variants (shape ({k},)), "
                f"got shape {s.n.shape}"
            )
        out[m.name] = s
    return out


def _tuning_n(experiment: ExperimentSpec) -> float:
    if experiment.planned_sample_size:
        return float(experiment.planned_sample_size)
    d = experiment.design
    if d is not None:
        plan = sample_size(
            d.baseline,
            d.mde,
            metric=d.metric,
            sd=d.sd,
            alpha=d.alpha,
            power=d.power,
            arms=len(experiment.variants),
        )
        return float(plan.n_total)
    return float(DEFAULT_TUNING_N)


# ------------------------------------------------------------------ readout


def readout(
    experiment: ExperimentSpec,
    data: Mapping[str, MetricData],
    *,
    units: ArrayLike | None = None,
    srm_threshold: float = 0.001,
    prior: tuple[float, float] = (1.0, 1.0),
) -> Readout:
    """Analyse an experiment from per-variant sufficient statistics.

    Parameters
    ----------
    experiment : ExperimentSpec
    data : mapping of metric name -> statistics
        One entry per metric of the experiment, each with fields of shape
        (n_variants,) in ``experiment.variants`` order: ``SampleStats`` for
        proportion and mean metrics, ``CupedStats`` to adjust them with
        pre-period covariates, ``RatioStats`` for ratio metrics.
    units : array-like, shape (n_variants,), optional
        Units assigned per variant (for the sample-ratio check); default the
        primary metric's ``n``.
    srm_threshold : float
    prior : (a0, b0)
        Beta prior of the Bayesian view of proportion metrics.

    Returns
    -------
    Readout
    """
    stats = _check_data(experiment, data)
    alpha = experiment.alpha
    c = experiment.control_index
    names = experiment.variant_names
    chal = np.array([i for i in range(len(names)) if i != c], dtype=np.intp)
    n_units = np.asarray(
        stats[experiment.metrics.primary.name].n if units is None else units,
        dtype=np.float64,
    )
    if n_units.shape != (len(names),):
        raise DataValidationError(
            f"units: expected {len(names)} counts, got shape {n_units.shape}"
        )
    split = planned_split(experiment)
    srm = srm_check(n_units, split, srm_threshold)
    tuning_total = _tuning_n(experiment)
    pair_share = (split[c] + split[chal]) / max(split.sum(), 1e-12)
    # planned units of control + this challenger (at least 2 if a variant is paused)
    tuning = np.maximum(tuning_total * pair_share, 2.0)
    planned = experiment.planned_sample_size or (
        int(tuning_total) if experiment.design is not None else None
    )
    progress = float(n_units.sum() / planned) if planned else None
    reached = progress is not None and progress >= 1.0

    cells: list[MetricReadout] = []
    raw: dict[str, Any] = {}
    for m in experiment.metrics.all():
        s = stats[m.name]
        ctrl, trt = s.select(c), s.select(chal)
        ab, method = _estimate(m, ctrl, trt, alpha, relative=False)
        n_pair = ctrl.n + trt.n
        seq = always_valid(ab, n_pair, tuning, alpha)
        raw[m.name] = (ctrl, trt, ab, method, seq, n_pair)

    def family_adjust(
        role: str, method: Method
    ) -> dict[str, dict[str, NDArray[np.float64]]]:
        ms = [
            m
            for m in experiment.metrics.all()
            if experiment.metrics.role(m.name) == role
        ]
        if not ms:
            return {}
        fixed_p = np.stack([raw[m.name][2].p_value for m in ms])
        seq_p = np.stack([raw[m.name][4].p_value for m in ms])
        decide_p = seq_p if experiment.analysis == "sequential" else fixed_p
        level = interval_alpha(decide_p, method, alpha)
        fixed_adj, seq_adj = adjust(fixed_p, method), adjust(seq_p, method)
        return {
            m.name: {"fixed": fixed_adj[i], "seq": seq_adj[i], "level": level[i]}
            for i, m in enumerate(ms)
        }

    adj = {
        **family_adjust("primary", "holm"),
        **family_adjust("secondary", "bh"),
        **family_adjust("guardrail", "none"),
    }
    methods: dict[str, Method] = {
        "primary": "holm",
        "secondary": "bh",
        "guardrail": "none",
    }
    for m in experiment.metrics.all():
        role = experiment.metrics.role(m.name)
        ctrl, trt, ab, method, seq, n_pair = raw[m.name]
        rel, _ = _estimate(m, ctrl, trt, alpha, relative=True)
        seq_rel = always_valid(rel, n_pair, tuning, alpha)
        level = adj[m.name]["level"]
        ab_adj, _ = _estimate(m, ctrl, trt, level, relative=False)
        rel_adj, _ = _estimate(m, ctrl, trt, level, relative=True)
        mc, mt = _means(ctrl), _means(trt)
        if (
            m.kind == "proportion"
            and isinstance(ctrl, SampleStats)
            and isinstance(trt, SampleStats)
        ):
            bayes = beta_binomial(ctrl, trt, prior, higher_is_better=m.higher_is_better)
        else:
            bayes = normal_posterior(
                ab,
                higher_is_better=m.higher_is_better,
                mean_control=mc,
                mean_treatment=mt,
            )
        p_dec = (
            adj[m.name]["seq"]
            if experiment.analysis == "sequential"
            else adj[m.name]["fixed"]
        )
        horizon_ok = (
            experiment.analysis == "sequential" or reached or role == "guardrail"
        )
        for j, v in enumerate(chal):
            sign = 1.0 if m.higher_is_better else -1.0
            est = float(ab.estimate[j]) * sign
            significant = bool(p_dec[j] <= alpha and ab.reason[j] == 0 and horizon_ok)
            direction: Literal["better", "worse", "flat"] = (
                "flat" if not significant else ("better" if est > 0 else "worse")
            )
            cells.append(
                MetricReadout(
                    variant=names[v],
                    metric=m.name,
                    role=role,
                    method=method,
                    n_control=int(ctrl.n),
                    n_variant=int(trt.n[j]),
                    mean_control=float(mc),
                    mean_variant=float(mt[j]),
                    absolute=ab.summary(j),
                    relative=rel.summary(j),
                    p_value_adjusted=float(adj[m.name]["fixed"][j]),
                    adjustment=methods[role],
                    ci_adjusted=(float(ab_adj.ci_low[j]), float(ab_adj.ci_high[j])),
                    relative_ci_adjusted=(
                        float(rel_adj.ci_low[j]),
                        float(rel_adj.ci_high[j]),
                    ),
                    sequential=SequentialSummary(
                        float(seq.ci_low[j]),
                        float(seq.ci_high[j]),
                        float(seq.p_value[j]),
                        float(adj[m.name]["seq"][j]),
                        bool(seq.reject[j]),
                        float(seq_rel.ci_low[j]),
                        float(seq_rel.ci_high[j]),
                    ),
                    bayes=bayes.summary(j),
                    variance_reduction=(
                        float(ab.variance_ratio[j])
                        if ab.variance_ratio is not None
                        else None
                    ),
                    significant=significant,
                    direction=direction,
                )
            )

    decisions = tuple(
        _decide_variant(experiment, names[v], cells, reached) for v in chal
    )
    decision, reason, best = _decide(
        experiment, srm.mismatch, float(srm.p_value), decisions, cells, progress
    )
    return Readout(
        experiment=experiment.name,
        analysis=experiment.analysis,
        alpha=alpha,
        control=names[c],
        variants=names,
        units=tuple(int(x) for x in n_units),
        planned_sample_size=planned,
        progress=progress,
        tuning_n=tuning_total,
        srm=SrmSummary(
            chi2=float(srm.chi2),
            df=float(srm.df),
            p_value=float(srm.p_value),
            mismatch=bool(srm.mismatch),
            observed_share=tuple(float(x) for x in srm.observed_share),
            expected_share=tuple(float(x) for x in srm.expected_share),
            reason=SRM_REASONS[int(srm.reason)],
        ),
        metrics=tuple(cells),
        decisions=decisions,
        decision=decision,
        reason=reason,
        best_variant=best,
    )


def _fmt(r: MetricReadout) -> str:
    lo, hi = r.relative.ci_low, r.relative.ci_high
    return (
        f"{r.metric} {r.relative.estimate:+.2%} (CI {lo:+.2%} to {hi:+.2%}, "
        f"p={r.p_value_adjusted:.3g})"
    )


def _decide_variant(
    experiment: ExperimentSpec, variant: str, cells: list[MetricReadout], reached: bool
) -> VariantDecision:
    mine = [r for r in cells if r.variant == variant]
    primary = next(r for r in mine if r.role == "primary")
    guards = [r for r in mine if r.role == "guardrail"]
    # Harm is judged by the always-valid test: valid at any look.
    harmed = []
    for r in [primary, *guards]:
        metric = next(m for m in experiment.metrics.all() if m.name == r.metric)
        worse = (r.absolute.estimate < 0) == metric.higher_is_better
        p = r.sequential.p_value_adjusted
        if r.absolute.reason == "ok" and p <= experiment.alpha and worse:
            harmed.append(r)
    if harmed:
        return VariantDecision(
            variant,
            "stop_harm",
            "significantly worse: " + "; ".join(_fmt(r) for r in harmed),
        )
    if primary.significant and primary.direction == "better":
        unsure = []
        for r in guards:
            metric = next(m for m in experiment.metrics.all() if m.name == r.metric)
            if metric.max_harm is None:
                continue
            lo, hi = r.sequential.relative_ci_low, r.sequential.relative_ci_high
            bound = -lo if metric.higher_is_better else hi
            if bound > metric.max_harm:
                unsure.append(
                    f"{r.metric} (harm up to {bound:.2%} > {metric.max_harm:.2%})"
                )
        if not unsure:
            return VariantDecision(variant, "ship", "better: " + _fmt(primary))
        if not reached:
            return VariantDecision(
                variant,
                "keep_running",
                f"better on {primary.metric}, but guardrails not yet within tolerance: "
                + ", ".join(unsure),
            )
        return VariantDecision(
            variant,
            "stop_no_effect",
            f"better on {primary.metric} but guardrails not within tolerance at the "
            "planned sample: " + ", ".join(unsure),
        )
    if reached:
        return VariantDecision(
            variant,
            "stop_no_effect",
            "planned sample reached, no significant effect: " + _fmt(primary),
        )
    return VariantDecision(
        variant, "keep_running", "no significant effect yet: " + _fmt(primary)
    )


def _decide(
    experiment: ExperimentSpec,
    mismatch: Any,
    srm_p: float,
    decisions: tuple[VariantDecision, ...],
    cells: list[MetricReadout],
    progress: float | None,
) -> tuple[Decision, str, str | None]:
    if bool(mismatch):
        return (
            "investigate_srm",
            f"sample ratio mismatch (p={srm_p:.2g}): the split differs from the plan; "
            "find the cause before reading any result",
            None,
        )
    ships = [d for d in decisions if d.decision == "ship"]
    if ships:
        primary = experiment.metrics.primary
        sign = 1.0 if primary.higher_is_better else -1.0
        lift = {
            r.variant: sign * r.relative.estimate for r in cells if r.role == "primary"
        }
        best = max(ships, key=lambda d: lift[d.variant])
        return "ship", f"ship {best.variant}: {best.reason}", best.variant
    kinds = {d.decision for d in decisions}
    if kinds == {"stop_harm"}:
        return (
            "stop_harm",
            "; ".join(f"{d.variant}: {d.reason}" for d in decisions),
            None,
        )
    if kinds <= {"stop_harm", "stop_no_effect"}:
        return (
            "stop_no_effect",
            "; ".join(f"{d.variant}: {d.reason}" for d in decisions),
            None,
        )
    done = f" ({progress:.0%} of the planned sample)" if progress is not None else ""
    return (
        "keep_running",
        f"keep running{done}; "
        + "; ".join(f"{d.variant}: {d.reason}" for d in decisions),
        None,
    )
