"""Retune: from a week's evidence to a new policy version, with guardrails.

Pure: frozen evidence dataclasses and a policy spec in, a proposal (the new
spec and every change with its reason and evidence), the guardrail checks and
a rollback decision out. The store work (publishing the version, activating
it, rolling back, the audit trail) is :mod:`nbo_engine.jobs.retune`'s.
See ``docs/retune.md``.
"""

from nbo_engine.retune.attribution import (
    OUTCOMES,
    check_outcomes,
    control_mask,
    count_within,
    first_per_customer,
    offer_usage,
    resolve_segments,
    stats_by,
    unit_stats,
)
from nbo_engine.retune.cells import CellVerdict, classify_cells
from nbo_engine.retune.changes import (
    CHANGE_KINDS,
    Change,
    apply_changes,
    apply_experiment_changes,
    spec_yaml,
    suppression_clause,
)
from nbo_engine.retune.checks import GuardrailCheck, check_proposal, ope_compare
from nbo_engine.retune.evidence import (
    GLOBAL_HOLDOUT_NAME,
    BanditEvidence,
    CellEffect,
    Evidence,
    ExperimentEvidence,
    GuardrailSeries,
    OfferUsage,
    OpeLog,
    TargetPolicy,
)
from nbo_engine.retune.guardrails import EXPLORATION_PARAMS, LIMITS, Guardrails
from nbo_engine.retune.logged import LoggedPolicy, with_exploration
from nbo_engine.retune.pipeline import RetuneResult, retune
from nbo_engine.retune.propose import Proposal, exhausted, propose, wilson_upper
from nbo_engine.retune.rollback import (
    GuardrailTest,
    RollbackDecision,
    rollback_decision,
)

__all__ = [
    "CHANGE_KINDS",
    "EXPLORATION_PARAMS",
    "GLOBAL_HOLDOUT_NAME",
    "LIMITS",
    "OUTCOMES",
    "BanditEvidence",
    "CellEffect",
    "CellVerdict",
    "Change",
    "Evidence",
    "ExperimentEvidence",
    "GuardrailCheck",
    "GuardrailSeries",
    "GuardrailTest",
    "Guardrails",
    "LoggedPolicy",
    "OfferUsage",
    "OpeLog",
    "Proposal",
    "RetuneResult",
    "RollbackDecision",
    "TargetPolicy",
    "apply_changes",
    "apply_experiment_changes",
    "check_outcomes",
    "check_proposal",
    "classify_cells",
    "control_mask",
    "count_within",
    "exhausted",
    "first_per_customer",
    "offer_usage",
    "ope_compare",
    "propose",
    "resolve_segments",
    "retune",
    "rollback_decision",
    "spec_yaml",
    "stats_by",
    "suppression_clause",
    "unit_stats",
    "wilson_upper",
    "with_exploration",
]
