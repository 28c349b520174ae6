"""From a week's evidence to a proposal: the candidate changes, strongest first.

Candidates, in the order they are taken (:data:`~nbo_engine.retune.changes.CHANGE_KINDS`):

1. ``suppress`` every cell :func:`~nbo_engine.retune.cells.classify_cells`
   calls harmful (smallest adjusted p-value first) where the offer still runs;
2. ``pause_variant`` a challenger whose experiment readout says ``stop_harm``
   for it;
3. ``retire`` an exhausted offer (end date = the retune day);
4. ``traffic``: ramp a policy experiment whose readout ships a challenger that
   loses no guardrail, by ``traffic_step``;
5. ``lever``: raise the offer-segment lever of a confidently helpful cell in a
   declared segment by ``lever_step`` (up to ``lever_max``);
6. ``exploration``: once the bandit has ``exploration_min_rewards`` rewards,
   cut its exploration parameter by ``exploration_step`` towards its floor.

At most ``max_changes`` are kept; the rest are returned as ``deferred``. The
proposal's spec is ``apply_changes(current, changes)``; the global holdout is
carried over untouched.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy import stats

from nbo_engine.experiments import ExperimentSpec, GlobalHoldout, proportion_effect
from nbo_engine.experiments.sufficient import SampleStats
from nbo_engine.policy import PolicySpec
from nbo_engine.retune.cells import CellVerdict, classify_cells
from nbo_engine.retune.changes import (
    CHANGE_KINDS,
    Change,
    apply_changes,
    apply_experiment_changes,
    is_suppressed,
)
from nbo_engine.retune.evidence import Evidence, ExperimentEvidence, OfferUsage
from nbo_engine.retune.guardrails import EXPLORATION_PARAMS, Guardrails

__all__ = ["Proposal", "exhausted", "propose", "wilson_upper"]


@dataclass(frozen=True)
class Proposal:
    """A new policy spec and the changes that made it.

    Attributes
    ----------
    base : the current spec.
    spec : ``apply_changes(base, changes)``.
    changes : the changes, at most ``max_changes``.
    experiments : the experiment specs with traffic changes applied (the same
        order as the evidence).
    global_holdout : the holdout, as in the evidence (never changed).
    deferred : candidates over the weekly limit, for next week.
    verdicts : every cell's test, for the report.
    """

    base: PolicySpec
    spec: PolicySpec
    changes: tuple[Change, ...]
    experiments: tuple[ExperimentSpec, ...] = ()
    global_holdout: GlobalHoldout | None = None
    deferred: tuple[Change, ...] = ()
    verdicts: tuple[CellVerdict, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.changes


def _fmt(x: float) -> str:
    return f"{x:,.2f}"


def _suppressions(spec: PolicySpec, verdicts: tuple[CellVerdict, ...]) -> list[Change]:
    out = []
    live = set(spec.offer_ids)
    harmful = sorted(
        (v for v in verdicts if v.verdict == "harmful"), key=lambda v: v.p_adjusted
    )
    for v in harmful:
        c = v.cell
        if c.offer not in live or is_suppressed(spec, c.offer, c.segment):
            continue
        offer = next(o for o in spec.offers if o.id == c.offer)
        declared = c.segment in spec.segments
        before: float | str = (
            offer.segment_levers.get(c.segment, 1.0)
            if declared
            else offer.eligibility.strip()
        )
        how = (
            "its segment lever is set to 0"
            if declared
            else "its eligibility excludes the segment"
        )
        out.append(
            Change(
                kind="suppress",
                offer=c.offer,
                segment=c.segment,
                before=before,
                after=0.0 if declared else "excluded",
                reason=(
                    f"{c.offer} is confidently harmful in {c.segment}: {c.metric} "
                    f"{_fmt(c.estimate)} per customer vs the holdout (adjusted "
                    f"interval {_fmt(v.ci_low)} to {_fmt(v.ci_high)}, "
                    f"p_adj={v.p_adjusted:.2g}, n={c.n_treated}/{c.n_control}), so "
                    f"{how}."
                ),
                evidence=v.evidence(),
            )
        )
    return out


def _levers(
    spec: PolicySpec, verdicts: tuple[CellVerdict, ...], g: Guardrails
) -> list[Change]:
    out = []
    helpful = sorted(
        (v for v in verdicts if v.verdict == "helpful"), key=lambda v: v.p_adjusted
    )
    offers = {o.id: o for o in spec.offers}
    for v in helpful:
        c = v.cell
        if c.offer not in offers or c.segment not in spec.segments:
            continue
        old = offers[c.offer].segment_levers.get(c.segment, 1.0)
        if old <= 0.0 or old >= g.lever_max:
            continue
        new = round(min(g.lever_max, old * (1.0 + g.lever_step)), 6)
        out.append(
            Change(
                kind="lever",
                offer=c.offer,
                segment=c.segment,
                before=old,
                after=new,
                reason=(
                    f"{c.offer} is confidently helpful in {c.segment}: {c.metric} "
                    f"+{_fmt(c.estimate)} per customer vs the holdout (adjusted "
                    f"interval {_fmt(v.ci_low)} to {_fmt(v.ci_high)}), so its lever "
                    f"rises from {old:g} to {new:g}."
                ),
                evidence=v.evidence(),
            )
        )
    return out


def wilson_upper(successes: int, n: int, alpha: float) -> float:
    """Upper bound of the two-sided ``1 - alpha`` Wilson score interval of a
    proportion (Wilson 1927); sensible at 0 successes, unlike Wald's.

    >>> round(wilson_upper(0, 1000, 0.05), 5)
    0.00383
    """
    z = float(stats.norm.isf(alpha / 2.0))
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float((centre + half) / (1 + z * z / n))


def exhausted(u: OfferUsage, g: Guardrails) -> tuple[bool, str]:
    """Whether an offer is exhausted, and why (see :class:`Guardrails`).

    Audience: eligible in at most ``exhaustion_share`` of its peak share of
    decisions, with ``min_treated`` decisions this week. Acceptance: a Wald
    test (:func:`~nbo_engine.experiments.proportion_effect`) finds this week's
    acceptance significantly below the weeks before at ``alpha``, and this
    week's acceptance interval lies below ``min_accept_rate``.
    """
    if (
        u.decisions_now >= g.min_treated
        and u.eligible_share_peak > 0
        and u.eligible_share_now <= g.exhaustion_share * u.eligible_share_peak
    ):
        return True, (
            f"eligible in {u.eligible_share_now:.1%} of decisions this week against "
            f"{u.eligible_share_peak:.1%} at its peak"
        )
    if u.shown_now >= g.min_treated and u.shown_before >= g.min_treated:
        eff = proportion_effect(
            SampleStats.from_proportion(u.shown_before, u.accepted_before),
            SampleStats.from_proportion(u.shown_now, u.accepted_now),
            g.alpha,
        ).summary()
        rate = u.accepted_now / u.shown_now
        if (
            eff.reason == "ok"
            and eff.estimate < 0
            and eff.p_value <= g.alpha
            and wilson_upper(u.accepted_now, u.shown_now, g.alpha) < g.min_accept_rate
        ):
            return True, (
                f"acceptance fell from {u.accepted_before / u.shown_before:.2%} to "
                f"{rate:.2%} (p={eff.p_value:.2g}), below {g.min_accept_rate:.2%}"
            )
    return False, ""


def _retirements(
    spec: PolicySpec, usage: tuple[OfferUsage, ...], g: Guardrails, today: dt.date
) -> list[Change]:
    out = []
    offers = {o.id: o for o in spec.offers}
    for u in usage:
        o = offers.get(u.offer)
        if o is None or (o.end is not None and o.end <= today) or o.start > today:
            continue
        done, why = exhausted(u, g)
        if done:
            out.append(
                Change(
                    kind="retire",
                    offer=u.offer,
                    segment=None,
                    before=None if o.end is None else o.end.isoformat(),
                    after=today.isoformat(),
                    reason=f"{u.offer} is exhausted ({why}), so it ends on {today}.",
                    evidence={
                        "eligible_share_now": round(u.eligible_share_now, 6),
                        "eligible_share_peak": round(u.eligible_share_peak, 6),
                        "decisions_now": u.decisions_now,
                        "shown_before": u.shown_before,
                        "accepted_before": u.accepted_before,
                        "shown_now": u.shown_now,
                        "accepted_now": u.accepted_now,
                    },
                )
            )
    return out


def _experiment_changes(
    experiments: tuple[ExperimentEvidence, ...], g: Guardrails
) -> tuple[list[Change], list[Change]]:
    pauses, ramps = [], []
    for ev in experiments:
        spec, r = ev.spec, ev.readout
        if r.srm.mismatch:
            continue
        for d in r.decisions:
            variant = next(v for v in spec.variants if v.name == d.variant)
            if d.decision == "stop_harm" and not variant.paused:
                pauses.append(
                    Change(
                        kind="pause_variant",
                        offer=None,
                        segment=None,
                        before=False,
                        after=True,
                        reason=(
                            f"challenger {d.variant} of {spec.name} is significantly "
                            f"worse ({d.reason}), so it is paused."
                        ),
                        evidence={"decision": d.decision, "srm_p": r.srm.p_value},
                        experiment=spec.name,
                        variant=d.variant,
                    )
                )
        best = r.best_variant
        if r.decision != "ship" or best is None or spec.kind != "policy":
            continue
        harmed = [
            m.metric
            for m in r.metrics
            if m.variant == best and m.role == "guardrail" and m.direction == "worse"
        ]
        if harmed or spec.traffic >= 1.0:
            continue
        new = round(min(1.0, spec.traffic + g.traffic_step), 6)
        primary = r.result(best, spec.metrics.primary.name)
        ramps.append(
            Change(
                kind="traffic",
                offer=None,
                segment=None,
                before=spec.traffic,
                after=new,
                reason=(
                    f"challenger {best} of {spec.name} wins on "
                    f"{primary.metric} ({primary.relative.estimate:+.2%}) without "
                    f"losing a guardrail, so the experiment ramps from "
                    f"{spec.traffic:.0%} to {new:.0%} of traffic."
                ),
                evidence={
                    "relative_lift": round(primary.relative.estimate, 6),
                    "p_adjusted": float(f"{primary.p_value_adjusted:.6g}"),
                    "n_control": primary.n_control,
                    "n_variant": primary.n_variant,
                },
                experiment=spec.name,
                variant=best,
            )
        )
    return pauses, ramps


def _exploration(spec: PolicySpec, evidence: Evidence, g: Guardrails) -> list[Change]:
    b = evidence.bandit
    kind = spec.bandit.type
    if b is None or kind not in EXPLORATION_PARAMS:
        return []
    name, floor, _ceiling = EXPLORATION_PARAMS[kind]
    old = float(getattr(spec.bandit.params, name))
    if b.n_rewards < g.exploration_min_rewards or old <= floor:
        return []
    new = round(max(floor, old * (1.0 - g.exploration_step)), 6)
    return [
        Change(
            kind="exploration",
            offer=None,
            segment=None,
            before=old,
            after=new,
            reason=(
                f"the {kind} bandit has learned from {b.n_rewards:,} rewards, so its "
                f"exploration {name} falls from {old:g} to {new:g}."
            ),
            evidence={"n_rewards": b.n_rewards, "floor": floor},
        )
    ]


def propose(
    spec: PolicySpec,
    evidence: Evidence,
    guardrails: Guardrails = Guardrails(),
    *,
    today: dt.date,
) -> Proposal:
    """The changes the evidence supports, within the weekly limit.

    Parameters
    ----------
    spec : the policy serving now.
    evidence : the week's evidence.
    guardrails : limits and evidence rules.
    today : the retune day (end date of retired offers).

    Returns
    -------
    Proposal
        Possibly without changes. Not yet checked: see
        :func:`nbo_engine.retune.retune`.
    """
    g = guardrails
    verdicts = classify_cells(evidence.cells, g)
    pauses, ramps = _experiment_changes(evidence.experiments, g)
    by_kind = {
        "suppress": _suppressions(spec, verdicts),
        "pause_variant": pauses,
        "retire": _retirements(spec, evidence.usage, g, today),
        "traffic": ramps,
        "lever": _levers(spec, verdicts, g),
        "exploration": _exploration(spec, evidence, g),
    }
    # A change rolled back lately is not proposed again on the same evidence.
    candidates = [
        c
        for kind in CHANGE_KINDS
        for c in by_kind[kind]
        if c.label not in evidence.rolled_back
    ]
    # Never two changes to the same (offer, segment): the first (safest) wins.
    seen: set[tuple[str | None, str | None, str | None]] = set()
    unique = []
    for c in candidates:
        key = (c.offer, c.segment, c.experiment)
        if c.kind in ("exploration",) or key not in seen:
            unique.append(c)
            seen.add(key)
    kept = tuple(unique[: g.max_changes])
    deferred = tuple(unique[g.max_changes :])
    experiments = tuple(e.spec for e in evidence.experiments)
    return Proposal(
        base=spec,
        spec=apply_changes(spec, kept),
        changes=kept,
        experiments=apply_experiment_changes(experiments, kept),
        global_holdout=evidence.global_holdout,
        deferred=deferred,
        verdicts=verdicts,
    )
