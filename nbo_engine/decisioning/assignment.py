"""Who decides for a customer: the global holdout, the experiment and variant
they are assigned to today (after the audience check), and so the policy
version that serves them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nbo_engine.decisioning.compiled import CompiledPolicy
from nbo_engine.decisioning.context import SEGMENT_SOURCES, rule_profile
from nbo_engine.decisioning.loading import LoadedExperiments
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout
from nbo_engine.experiments.assignment import assign_one, in_global_holdout_one
from nbo_engine.policy import Rule

__all__ = [
    "Assignment",
    "assign_customer",
    "assign_experiment",
    "in_audience",
    "resolve_treatment",
]


def assign_experiment(
    customer_id: str,
    today: dt.date,
    experiments: Sequence[ExperimentSpec],
    global_holdout: GlobalHoldout | None,
    *,
    eligible: Callable[[ExperimentSpec], bool] | None = None,
) -> tuple[str | None, str | None, str | None]:
    """``(experiment, variant, no_contact_reason)`` of a customer today.

    The global holdout first (no offers at all: ``("global_holdout",
    "holdout", "global_holdout")``); then the first experiment active today
    (``start <= today < end``) that enrols the customer (layer slot, traffic)
    and, when ``eligible`` is given, whose audience admits them
    (``eligible(experiment)``, e.g. :func:`in_audience` on their profile); a
    variant without a treatment is a no-contact holdout
    (``"experiment_holdout"``). Otherwise ``(None, None, None)``: the default
    policy decides. The caller serves a ``policy`` experiment's treatment.
    """
    if global_holdout is not None and in_global_holdout_one(
        global_holdout, customer_id
    ):
        return "global_holdout", "holdout", "global_holdout"
    for exp in experiments:
        if not exp.is_active(today):
            continue
        name = assign_one(exp, customer_id)
        if name is None or (eligible is not None and not eligible(exp)):
            continue
        variant = next(v for v in exp.variants if v.name == name)
        reason = "experiment_holdout" if variant.treatment is None else None
        return exp.name, name, reason
    return None, None, None


def in_audience(
    experiment: ExperimentSpec, profile: Mapping[str, Any], rule: Rule | None = None
) -> bool:
    """Whether a customer's profile is in the experiment's audience.

    ``audience.segments``: one of the profile's segment columns
    (:data:`~nbo_engine.decisioning.context.SEGMENT_SOURCES`: cluster,
    micro-segment, value tier, product affinity, life stage) holds one of them;
    ``audience.rule``: ``rule`` (the compiled ``audience.rule``) holds on the
    profile. Both given: both must hold. No audience: everyone.

    >>> from nbo_engine.experiments import parse_experiment
    >>> exp = parse_experiment({
    ...     "name": "d", "kind": "offer", "start": "2026-01-01",
    ...     "audience": {"segments": ["family"]},
    ...     "variants": [{"name": "c", "weight": 0.5, "control": True},
    ...                  {"name": "t", "weight": 0.5, "treatment": "x"}],
    ...     "metrics": {"primary": "conversion"}})
    >>> in_audience(exp, {"life_stage": "family"}), in_audience(exp, {"life_stage": "student"})
    (True, False)
    """
    segments = experiment.audience.segments
    if segments and not any(profile.get(c) in segments for c in SEGMENT_SOURCES):
        return False
    return rule is None or rule.holds(profile)


@dataclass(frozen=True)
class Assignment:
    """Who decides for a customer: see :meth:`Decider.assign`."""

    experiment: str | None
    variant: str | None
    no_contact: str | None
    policy: CompiledPolicy
    #: The offer or message id the variant of an ``offer`` or ``message``
    #: experiment serves (``None`` otherwise).
    treatment: str | None = None


def assign_customer(
    exps: LoadedExperiments,
    live: CompiledPolicy,
    customer_id: str,
    day: dt.date,
    row: Mapping[str, Any],
) -> Assignment:
    def eligible(exp: ExperimentSpec) -> bool:
        rule = exps.rules.get(exp.name)
        cols = rule.columns if rule is not None else ()
        return in_audience(exp, rule_profile(row, live.spec, cols), rule)

    experiment, variant, no_contact = assign_experiment(
        customer_id, day, exps.specs, exps.holdout, eligible=eligible
    )
    policy = live
    treatment = None
    if experiment is not None and variant is not None:
        policy = exps.treatments.get((experiment, variant), live)
        spec = next((s for s in exps.specs if s.name == experiment), None)
        if spec is not None and spec.kind in ("offer", "message"):
            treatment = next(v.treatment for v in spec.variants if v.name == variant)
    return Assignment(experiment, variant, no_contact, policy, treatment)


def resolve_treatment(
    policy: CompiledPolicy, treatment: str | None, no_contact: str | None
) -> tuple[tuple[int, str | None] | None, str | None]:
    """``(treatment for decide_core, no-contact reason)`` of a variant's
    offer or message id under ``policy``: an id the policy does not define
    (the offer was removed, the experiment names a typo) serves nothing,
    logged as ``treatment_not_in_policy``."""
    if treatment is None or no_contact is not None:
        return None, no_contact
    got = policy.treatments.get(treatment)
    if got is None:
        return None, "treatment_not_in_policy"
    return got, None
