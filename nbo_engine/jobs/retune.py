"""The weekly retune: gather the evidence, propose, check, publish, apply or roll back.

``run_retune(engine, week_start=..., mode=...)``:

1. **Rollback first.** If the last applied proposal still serves, compare the
   guardrail metrics (complaints per customer, churn) of the customers offered
   something in the week before its activation and in the week after
   (:func:`nbo_engine.retune.rollback_decision`); if one got significantly
   worse, roll the live slot back (``rollback_slot``) with the reason, mark the
   proposal ``rolled_back`` and stop for this week.
2. **Evidence** (:func:`gather_evidence`) over the look-back weeks up to the
   end of the retune week, from the decision log, the offer events and the
   input tables (or an ``outcomes`` frame given by the caller).
3. **Retune** (:func:`nbo_engine.retune.retune`, pure).
4. **Store.** A refused proposal is saved ``refused`` with its reasons
   (nothing published). An accepted one is published as a new immutable
   policy version (not serving) and saved ``proposed``; in ``auto`` mode the
   live slot is switched to it in the same transaction that marks it
   ``applied``. A campaign manager applies a ``proposed`` one with
   :func:`approve` (``nbo policy approve VERSION``).

The new version starts from the current version's newest bandit state when
the context layout and offers are the same (exploration setting updated), so a
retune does not throw away what the bandit learned.

How the evidence is gathered: :mod:`nbo_engine.jobs.evidence`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.context import ContextSpec
from nbo_engine.errors import NboError, ProposalStateError, RetuneError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout, Readout
from nbo_engine.jobs.evidence import (
    gather_evidence,
    guardrail_series,
    midnight,
    spec_of,
)
from nbo_engine.jobs.experiments import experiment_results
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import (
    Change,
    Evidence,
    Guardrails,
    GuardrailSeries,
    RetuneResult,
    RollbackDecision,
    retune,
    rollback_decision,
    spec_yaml,
)
from nbo_engine.retune.logged import with_exploration
from nbo_engine.store import Engine
from nbo_engine.store import decisions as dstore
from nbo_engine.store import experiments as xstore
from nbo_engine.store import proposals as pstore
from nbo_engine.store.policies import (
    publish_policy,
    read_slot,
    rollback_slot,
)
from nbo_engine.timeutil import naive_utc as _naive

__all__ = [
    "RetuneOutcome",
    "approve",
    "gather_evidence",
    "guardrail_series",
    "run_retune",
]

Mode = Literal["propose", "auto"]


@dataclass(frozen=True)
class RetuneOutcome:
    """What one retune run did.

    ``status``: ``applied``, ``proposed``, ``refused``, ``no_change``,
    ``rolled_back`` (the previous change was rolled back; nothing proposed)
    or ``no_policy``. ``experiments`` are the experiment specs with any traffic
    change applied: the caller (weekly job, closed loop) serves them from now
    on; the global holdout is never changed.
    """

    week_start: dt.date
    mode: str
    status: str
    base_version_id: int | None = None
    proposal_id: int | None = None
    proposed_version_id: int | None = None
    changes: tuple[Change, ...] = ()
    refusals: tuple[str, ...] = ()
    rollback: RollbackDecision | None = None
    rolled_back_proposal_id: int | None = None
    result: RetuneResult | None = None
    evidence: Evidence | None = None
    experiments: tuple[ExperimentSpec, ...] = ()
    n_decisions: int = 0
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """Counts for the job runner's ``job_runs.counts``."""
        verdicts = self.result.proposal.verdicts if self.result else ()
        return {
            "decisions": self.n_decisions,
            "cells": len(verdicts),
            "tested": sum(v.verdict != "too_small" for v in verdicts),
            "harmful": sum(v.verdict == "harmful" for v in verdicts),
            "changes": len(self.changes),
            "deferred": len(self.result.proposal.deferred) if self.result else 0,
            "applied": int(self.status == "applied"),
            "proposed": int(self.status == "proposed"),
            "refused": int(self.status == "refused"),
            "rolled_back": int(self.status == "rolled_back"),
        }


# ------------------------------------------------------------------ helpers
def _carry_bandit(engine: Engine, base_id: int, new_id: int, new: PolicySpec) -> bool:
    """Start ``new_id`` from ``base_id``'s newest bandit state when the
    context layout and offers match (exploration updated). Returns whether
    it did."""
    base = spec_of(engine, base_id)
    if (
        ContextSpec.of(base).names != ContextSpec.of(new).names
        or base.offer_ids != new.offer_ids
        or base.bandit.type != new.bandit.type
    ):
        return False
    # the newest learning of the base's line (after a rollback the base is
    # not its line's head; the head has the same layout by construction)
    head = dstore.lineage_heads(engine).get(base_id, base_id)
    row = dstore.latest_bandit_state(engine, head)
    if row is None:
        return False
    bandit = with_exploration(BanditPolicy.from_bytes(row.state), new)
    dstore.save_bandit_state(
        engine,
        new_id,
        bandit.kind,
        bandit.to_bytes(),
        source="warm_start",
        n_rewards=row.n_rewards,
        folded_until=row.folded_until,
        note=(
            f"carried over from policy version {row.policy_version_id} "
            f"(state {row.id}) by a retune of version {base_id}"
        ),
        carried_from_state_id=row.id,
    )
    return True


def _summary(changes: Sequence[Change]) -> str:
    return "; ".join(c.label for c in changes) or "no change"


def _recently_rolled_back(
    engine: Engine, at: dt.datetime, weeks: int
) -> tuple[str, ...]:
    """Labels of the changes of proposals rolled back in the last ``weeks``."""
    since = at - dt.timedelta(days=7 * weeks)
    return tuple(
        sorted(
            {
                Change.from_dict(c).label
                for p in pstore.list_proposals(engine, status="rolled_back")
                if p.decided_at is not None and since <= _naive(p.decided_at) <= at
                for c in p.changes
            }
        )
    )


def _readouts(
    engine: Engine, experiments: Sequence[ExperimentSpec], at: dt.datetime
) -> tuple[tuple[ExperimentSpec, Readout], ...]:
    """The readout of each running ``policy`` experiment (champion/challenger);
    one that cannot be read yet (no units) is left out."""
    out = []
    for spec in experiments:
        if spec.kind != "policy":
            continue
        try:
            out.append((spec, experiment_results(engine, spec.name, as_of=at)))
        except NboError:
            continue
    return tuple(out)


def _apply_experiment_changes(
    engine: Engine, changes: Sequence[Change], actor: str, at: dt.datetime
) -> tuple[str, ...]:
    """Ramp experiments (``traffic``) and stop those whose every challenger is
    paused (``pause_variant``) in the experiments store, after the policy
    switch; what could not be applied is reported, not raised."""
    notes = []
    paused: dict[str, set[str]] = {}
    for c in changes:
        name = str(c.experiment)
        try:
            if c.kind == "traffic" and isinstance(c.after, int | float):
                xstore.ramp_experiment(
                    engine, name, float(c.after), actor=actor, now=at
                )
                notes.append(f"experiment {name}: traffic {c.before} -> {c.after}")
            elif c.kind == "pause_variant":
                paused.setdefault(name, set()).add(str(c.variant))
        except NboError as exc:
            notes.append(f"experiment {name}: {c.kind} not applied ({exc})")
    for name, variants in paused.items():
        try:
            spec = xstore.get_experiment(engine, name).spec
            live = {
                v.name
                for v in getattr(spec, "variants", ())
                if not v.control and not v.paused
            }
            if live <= variants:
                xstore.stop_experiment(
                    engine,
                    name,
                    reason=f"retune: challenger(s) {', '.join(sorted(variants))} "
                    "significantly worse",
                    actor=actor,
                    now=at,
                )
                notes.append(f"experiment {name}: stopped (every challenger harmful)")
            else:
                notes.append(
                    f"experiment {name}: pause {', '.join(sorted(variants))} by "
                    "editing the experiment (the store cannot pause one variant)"
                )
        except NboError as exc:
            notes.append(f"experiment {name}: pause not applied ({exc})")
    return tuple(notes)


def approve(
    engine: Engine, version_id: int, actor: str, *, now: dt.datetime | None = None
) -> pstore.ProposalRow:
    """Apply the ``proposed`` retune proposal that published ``version_id``:
    its bandit starts from the current one's, and the live slot switches to it
    in the transaction that marks it ``applied`` by ``actor``.

    Raises
    ------
    ProposalStateError
        No proposal published that version, it is not awaiting approval, or
        the live policy changed since it was made.
    """
    p = pstore.proposal_for_version(engine, version_id)
    if p is None:
        raise ProposalStateError(
            f"policy version {version_id} was not published by a retune proposal; "
            "see `nbo policy proposals`"
        )
    if p.status != "proposed":
        raise ProposalStateError(
            f"proposal {p.id} (policy version {version_id}) is {p.status}; only a "
            "proposed one can be approved"
        )
    new = spec_of(engine, version_id)
    if read_slot(engine, "live") == p.base_version_id:
        _carry_bandit(engine, p.base_version_id, version_id, new)
    at = now or dt.datetime.now(dt.UTC)
    row = pstore.apply_proposal(
        engine, p.id, actor=actor, at=at, reason=f"approved by {actor}: {p.summary}"
    )
    _apply_experiment_changes(
        engine, [Change.from_dict(c) for c in row.changes], actor, _naive(at)
    )
    return row


def run_retune(
    engine: Engine,
    *,
    week_start: dt.date,
    mode: Mode = "propose",
    run_id: int | None = None,
    guardrails: Guardrails = Guardrails(),
    now: dt.datetime | None = None,
    lookback_weeks: int = 4,
    window_days: float = 30.0,
    churn_days: float = 91.0,
    experiments: Sequence[ExperimentSpec] | None = None,
    global_holdout: GlobalHoldout | Literal["store"] | None = "store",
    readouts: Sequence[tuple[ExperimentSpec, Readout]] | None = None,
    outcomes: pd.DataFrame | None = None,
    actor: str = "retune",
) -> RetuneOutcome:
    """Retune the live policy for the week starting ``week_start`` (see the
    module doc).

    Parameters
    ----------
    week_start : the Monday (or any day) the retune week starts; decisions of
        the ``lookback_weeks`` weeks ending ``week_start + 7`` are the evidence.
    mode : ``propose`` (a campaign manager approves) or ``auto`` (applied at
        once when every guardrail passes).
    run_id : the ``job_runs`` row of this run, kept with the proposal.
    guardrails : limits and evidence rules.
    now : the retune time (default: the end of the week, midnight UTC; the
        closed loop passes its simulated clock).
    experiments : running experiment specs; default (None) the store's
        running experiments.
    global_holdout : the global holdout; default (``"store"``) the store's
        running one (None: there is none).
    readouts : ``(spec, readout)`` per experiment; default (None) the readout
        of each running ``policy`` experiment
        (:func:`nbo_engine.jobs.experiments.experiment_results`).
    outcomes : see :func:`gather_evidence`.
    actor : recorded as the author of proposals, activations and rollbacks.

    Returns
    -------
    RetuneOutcome
    """
    if mode not in ("propose", "auto"):
        raise RetuneError(f"mode: expected propose or auto, got {mode!r}")
    if (
        isinstance(lookback_weeks, bool)
        or not isinstance(lookback_weeks, int)
        or lookback_weeks < 1
    ):
        raise RetuneError(
            f"lookback_weeks: expected an integer >= 1, got {lookback_weeks!r}"
        )
    week_end = week_start + dt.timedelta(days=7)
    at = _naive(now) if now is not None else midnight(week_end)
    running = (
        xstore.running_experiments(engine, at.date())
        if experiments is None or global_holdout == "store"
        else None
    )
    exps = tuple(
        running.experiments if experiments is None and running else experiments or ()
    )
    holdout: GlobalHoldout | None = None
    if isinstance(global_holdout, GlobalHoldout):
        holdout = global_holdout
    elif global_holdout == "store" and running is not None:
        holdout = running.global_holdout
    if readouts is None:
        readouts = _readouts(engine, exps, at)
    live = read_slot(engine, "live")
    if live is None:
        return RetuneOutcome(
            week_start, mode, "no_policy", notes=("no policy version is live",)
        )

    # 1. a guardrail that degraded after the last applied change rolls it back
    series: tuple[GuardrailSeries, ...] = ()
    prev = pstore.last_applied(engine)
    rollback: RollbackDecision | None = None
    if (
        prev is not None
        and prev.proposed_version_id == live
        and prev.decided_at is not None
    ):
        series = guardrail_series(
            engine, change_at=prev.decided_at, as_of=at, outcomes=outcomes
        )
        rollback = rollback_decision(series, guardrails)
        if rollback.rollback:
            rollback_slot(engine, "live", actor=actor, reason=rollback.reason)
            pstore.mark_proposal(
                engine,
                prev.id,
                "rolled_back",
                actor=actor,
                at=at,
                reason=rollback.reason,
            )
            return RetuneOutcome(
                week_start,
                mode,
                "rolled_back",
                base_version_id=live,
                rollback=rollback,
                rolled_back_proposal_id=prev.id,
                experiments=exps,
                notes=(rollback.reason,),
            )

    # 2. evidence and 3. the pure retune
    evidence = gather_evidence(
        engine,
        week_start=week_end - dt.timedelta(days=7 * lookback_weeks),
        week_end=week_end,
        as_of=at,
        window_days=window_days,
        churn_days=churn_days,
        experiments=exps,
        global_holdout=holdout,
        readouts=readouts,
        outcomes=outcomes,
        guardrail_series=series,
        rolled_back=_recently_rolled_back(engine, at, lookback_weeks),
    )
    base = spec_of(engine, live)
    result = retune(base, evidence, guardrails, today=at.date())
    proposal = result.proposal
    common: dict[str, Any] = {
        "base_version_id": live,
        "rollback": rollback,
        "result": result,
        "evidence": evidence,
        "n_decisions": evidence.n_decisions,
    }
    if proposal.empty:
        return RetuneOutcome(week_start, mode, "no_change", experiments=exps, **common)

    # 4. store: refused (nothing published), proposed, or applied
    changes = [c.to_dict() for c in proposal.changes]
    checks = [c.to_dict() for c in result.checks]
    deferred = [c.to_dict() for c in proposal.deferred]
    if result.refused:
        row = pstore.insert_proposal(
            engine,
            base_version_id=live,
            proposed_version_id=None,
            mode=mode,
            status="refused",
            changes=changes,
            guardrails=checks,
            summary="refused: " + " | ".join(result.refusals),
            deferred=deferred,
            actor=actor,
            at=at,
            job_run_id=run_id,
        )
        return RetuneOutcome(
            week_start,
            mode,
            "refused",
            proposal_id=row.id,
            changes=proposal.changes,
            refusals=result.refusals,
            experiments=exps,
            **common,
        )
    summary = _summary(proposal.changes)
    version = publish_policy(
        engine,
        spec_yaml(proposal.spec),
        proposal.spec.name,
        created_by=actor,
        note=f"retune of version {live} for the week of {week_start}: {summary}",
    )
    if mode == "auto":
        _carry_bandit(engine, live, version, proposal.spec)
    row = pstore.insert_proposal(
        engine,
        base_version_id=live,
        proposed_version_id=version,
        mode=mode,
        status="proposed",
        changes=changes,
        guardrails=checks,
        summary=summary,
        deferred=deferred,
        actor=actor,
        at=at,
        job_run_id=run_id,
        activate=mode == "auto",
    )
    notes: tuple[str, ...] = ()
    if row.status == "applied":
        notes = _apply_experiment_changes(engine, proposal.changes, actor, at)
    return RetuneOutcome(
        week_start,
        mode,
        row.status,
        proposal_id=row.id,
        proposed_version_id=version,
        changes=proposal.changes,
        experiments=proposal.experiments if row.status == "applied" else exps,
        notes=notes,
        **common,
    )
