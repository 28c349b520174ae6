"""Guardrail checks a proposal must pass before it may serve.

Every check runs and reports (a refused proposal lists every reason):

``holdout``
    The global holdout is exactly as in the evidence, no change names it, and
    no holdout (control or no-treatment) variant of an experiment is paused:
    a proposal that alters any holdout is refused.
``consistent``
    The proposal's spec and experiments are what its changes make of the
    current ones (nothing changed without a recorded change).
``max_changes``
    At most ``max_changes`` changes.
``change_size``
    Each lever, traffic and exploration change within its step and bounds.
``evidence``
    Each change rests on evidence that passes the sample and interval rule:
    a suppression on a cell :func:`~nbo_engine.retune.cells.classify_cells`
    calls harmful, a lever rise on a helpful one, a retirement on an exhausted
    offer, a ramp on a readout that ships the variant without a guardrail
    loss, a pause on ``stop_harm``, an exploration cut on enough rewards.
``ope``
    The off-policy value of the proposed policy (doubly robust by default,
    :func:`~nbo_engine.evaluation.ope.estimate_policy_value`, on the current
    policy's logged decisions with one cross-fitted reward model for both) is
    not below the current policy's by more than the tolerance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from nbo_engine.errors import RetuneError
from nbo_engine.evaluation.ope import (
    Estimate,
    cross_fit_ridge_rewards,
    estimate_policy_value,
)
from nbo_engine.retune.cells import classify_cells
from nbo_engine.retune.changes import (
    Scalar,
    apply_changes,
    apply_experiment_changes,
)
from nbo_engine.retune.evidence import GLOBAL_HOLDOUT_NAME, Evidence, OpeLog
from nbo_engine.retune.guardrails import EXPLORATION_PARAMS, Guardrails
from nbo_engine.retune.propose import Proposal, exhausted

__all__ = ["GuardrailCheck", "check_proposal", "ope_compare"]

_EPS = 1e-9
_POLICY_KINDS = ("suppress", "lever", "retire", "exploration")


@dataclass(frozen=True)
class GuardrailCheck:
    """One guardrail: passed or not, why, and the numbers."""

    name: str
    passed: bool
    reason: str
    evidence: Mapping[str, Scalar] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _holdout(p: Proposal, ev: Evidence) -> GuardrailCheck:
    problems = []
    if p.global_holdout != ev.global_holdout:
        problems.append(
            f"the global holdout would change from {ev.global_holdout!r} to "
            f"{p.global_holdout!r}"
        )
    for c in p.changes:
        if GLOBAL_HOLDOUT_NAME in (c.experiment, c.offer, c.segment):
            problems.append(f"change {c.label} names the global holdout")
    specs = {e.spec.name: e.spec for e in ev.experiments}
    for c in p.changes:
        if c.kind == "pause_variant" and c.experiment in specs:
            v = next(
                (x for x in specs[c.experiment].variants if x.name == c.variant), None
            )
            if v is not None and (v.control or v.treatment is None):
                problems.append(
                    f"change {c.label} pauses a holdout arm (control or no treatment)"
                )
    if problems:
        return GuardrailCheck(
            "holdout",
            False,
            "refused: " + "; ".join(problems) + "; a retune never touches a holdout",
        )
    return GuardrailCheck(
        "holdout", True, "the global holdout and holdout arms are untouched"
    )


def _consistent(p: Proposal, ev: Evidence) -> GuardrailCheck:
    try:
        spec = apply_changes(p.base, p.changes)
        exps = apply_experiment_changes(
            tuple(e.spec for e in ev.experiments), p.changes
        )
    except RetuneError as exc:
        return GuardrailCheck("consistent", False, f"refused: {exc}")
    if spec != p.spec:
        return GuardrailCheck(
            "consistent",
            False,
            "refused: the proposed policy differs from what its changes make of the "
            "current one (an unrecorded modification)",
        )
    if exps != tuple(p.experiments):
        return GuardrailCheck(
            "consistent",
            False,
            "refused: the proposed experiments differ from what its changes make of "
            "the running ones (an unrecorded modification)",
        )
    return GuardrailCheck("consistent", True, "the spec is exactly its changes applied")


def _max_changes(p: Proposal, g: Guardrails) -> GuardrailCheck:
    n = len(p.changes)
    ok = n <= g.max_changes
    why = (
        f"{n} change(s), at most {g.max_changes} allowed per week"
        if ok
        else f"refused: {n} changes, expected at most {g.max_changes} per week"
    )
    return GuardrailCheck("max_changes", ok, why, {"changes": n, "max": g.max_changes})


def _num(v: Scalar) -> float:
    """``v`` as a float; NaN when it is not a number."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return float("nan")
    return float(v)


def _rel(before: Scalar, after: Scalar) -> float | None:
    b, a = _num(before), _num(after)
    if not (np.isfinite(a) and np.isfinite(b) and b > 0):
        return None
    return abs(a / b - 1.0)


def _change_size(p: Proposal, g: Guardrails) -> GuardrailCheck:
    problems = []
    for c in p.changes:
        if c.kind == "lever":
            r = _rel(c.before, c.after)
            if r is None or r > g.max_lever_step + _EPS:
                problems.append(
                    f"{c.label}: lever {c.before} -> {c.after}, expected a relative "
                    f"change of at most {g.max_lever_step:g} from a positive lever "
                    "(use a suppression to switch an offer off)"
                )
            elif _num(c.after) > g.lever_max + _EPS:
                problems.append(
                    f"{c.label}: lever {c.after}, expected at most {g.lever_max:g}"
                )
        elif c.kind == "traffic":
            step = abs(_num(c.after) - _num(c.before))
            if not step <= g.max_traffic_step + _EPS:
                problems.append(
                    f"{c.label}: traffic {c.before} -> {c.after}, expected a step of "
                    f"at most {g.max_traffic_step:g}"
                )
        elif c.kind == "exploration":
            r = _rel(c.before, c.after)
            kind = p.base.bandit.type
            _, floor, ceiling = EXPLORATION_PARAMS.get(kind, ("", 0.0, np.inf))
            if r is None or r > g.max_exploration_step + _EPS:
                problems.append(
                    f"{c.label}: {c.before} -> {c.after}, expected a relative change "
                    f"of at most {g.max_exploration_step:g}"
                )
            elif not floor - _EPS <= _num(c.after) <= ceiling + _EPS:
                problems.append(
                    f"{c.label}: {c.after}, expected within [{floor:g}, {ceiling:g}]"
                )
    if problems:
        return GuardrailCheck("change_size", False, "refused: " + "; ".join(problems))
    return GuardrailCheck(
        "change_size", True, "every change is within its step and bounds"
    )


def _evidence(p: Proposal, ev: Evidence, g: Guardrails) -> GuardrailCheck:
    verdicts = {
        (v.cell.offer, v.cell.segment): v
        for v in classify_cells(ev.cells, g)
        if v.cell.metric == "value"
    }
    usage = {u.offer: u for u in ev.usage}
    exps = {e.spec.name: e for e in ev.experiments}
    problems = []
    for c in p.changes:
        if c.kind in ("suppress", "lever"):
            v = verdicts.get((str(c.offer), str(c.segment)))
            up = c.kind == "lever" and _num(c.after) > _num(c.before)
            need = "helpful" if up else "harmful"
            if v is None:
                problems.append(f"{c.label}: no evidence for this offer and segment")
            elif v.verdict != need:
                cell = v.cell
                problems.append(
                    f"{c.label}: expected a {need} cell with n_treated >= "
                    f"{g.min_treated}, n_control >= {g.min_control} and an adjusted "
                    f"interval clear of 0, got {v.verdict} (estimate "
                    f"{cell.estimate:.4g}, interval {v.ci_low:.4g} to {v.ci_high:.4g}, "
                    f"n={cell.n_treated}/{cell.n_control})"
                )
        elif c.kind == "retire":
            u = usage.get(str(c.offer))
            if u is None or not exhausted(u, g)[0]:
                problems.append(f"{c.label}: the offer is not shown to be exhausted")
        elif c.kind in ("traffic", "pause_variant"):
            e = exps.get(str(c.experiment))
            decision = next(
                (
                    d
                    for d in (e.readout.decisions if e else ())
                    if d.variant == c.variant
                ),
                None,
            )
            if c.kind == "pause_variant":
                ok = decision is not None and decision.decision == "stop_harm"
            else:
                ok = (
                    e is not None
                    and e.readout.decision == "ship"
                    and e.readout.best_variant == c.variant
                    and not any(
                        m.variant == c.variant
                        and m.role == "guardrail"
                        and m.direction == "worse"
                        for m in e.readout.metrics
                    )
                )
            if not ok:
                want = (
                    "stop_harm"
                    if c.kind == "pause_variant"
                    else "ship without a guardrail loss"
                )
                problems.append(f"{c.label}: expected a readout that says {want}")
        elif c.kind == "exploration":
            n = ev.bandit.n_rewards if ev.bandit else 0
            if n < g.exploration_min_rewards:
                problems.append(
                    f"{c.label}: the bandit has {n} rewards, expected at least "
                    f"{g.exploration_min_rewards}"
                )
    if problems:
        return GuardrailCheck("evidence", False, "refused: " + "; ".join(problems))
    return GuardrailCheck(
        "evidence", True, "every change passes the sample and interval rule"
    )


def _suppressed(p: Proposal) -> frozenset[tuple[str, str]]:
    return frozenset(
        (str(c.offer), str(c.segment)) for c in p.changes if c.kind == "suppress"
    )


def ope_compare(log: OpeLog, p: Proposal, g: Guardrails) -> tuple[Estimate, Estimate]:
    """Off-policy values of the current and the proposed policy on ``log``
    (the same cross-fitted reward model for both)."""
    cur = np.asarray(log.target_probs(p.base, frozenset()), dtype=np.float64)
    new = np.asarray(log.target_probs(p.spec, _suppressed(p)), dtype=np.float64)
    for name, t in (("current", cur), ("proposed", new)):
        if t.shape != (log.n, log.n_arms):
            raise RetuneError(
                f"ope: the {name} policy's probabilities have shape {t.shape}, "
                f"expected ({log.n}, {log.n_arms})"
            )
    q = None
    if g.ope_method == "dr":
        q = cross_fit_ridge_rewards(
            log.contexts, log.actions, log.rewards, log.n_arms, ridge=1.0
        )
    args = (log.rewards, log.actions, log.propensities)
    return (
        estimate_policy_value(*args, cur, method=g.ope_method, reward_model=q),
        estimate_policy_value(*args, new, method=g.ope_method, reward_model=q),
    )


def _ope(p: Proposal, ev: Evidence, g: Guardrails) -> GuardrailCheck:
    if not any(c.kind in _POLICY_KINDS for c in p.changes):
        return GuardrailCheck(
            "ope", True, "the policy is unchanged; nothing to evaluate"
        )
    log = ev.ope
    if log is None or log.n < 2:
        ok = not g.require_ope
        why = "no logged decisions of the current policy to evaluate the proposal on"
        return GuardrailCheck("ope", ok, why if ok else f"refused: {why}")
    cur, new = ope_compare(log, p, g)
    tol = max(g.ope_abs_tolerance, g.ope_rel_tolerance * abs(cur.value))
    numbers: dict[str, Scalar] = {
        "method": g.ope_method,
        "current": round(cur.value, 6),
        "current_ci_low": round(cur.ci_low, 6),
        "current_ci_high": round(cur.ci_high, 6),
        "proposed": round(new.value, 6),
        "proposed_ci_low": round(new.ci_low, 6),
        "proposed_ci_high": round(new.ci_high, 6),
        "tolerance": round(tol, 6),
        "n": log.n,
        "effective_sample_size": round(new.effective_sample_size, 2),
    }
    if not np.isfinite(new.value) or new.value < cur.value - tol:
        return GuardrailCheck(
            "ope",
            False,
            f"refused: the proposed policy's off-policy value {new.value:.4g} per "
            f"decision is below the current {cur.value:.4g} by more than the "
            f"tolerance {tol:.4g} ({g.ope_method}, n={log.n})",
            numbers,
        )
    return GuardrailCheck(
        "ope",
        True,
        f"off-policy value {new.value:.4g} vs current {cur.value:.4g} per decision "
        f"(tolerance {tol:.4g})",
        numbers,
    )


def check_proposal(
    proposal: Proposal, evidence: Evidence, guardrails: Guardrails = Guardrails()
) -> tuple[GuardrailCheck, ...]:
    """Run every guardrail on ``proposal`` (see the module doc).

    Returns
    -------
    tuple of GuardrailCheck
        ``holdout, consistent, max_changes, change_size, evidence, ope``; the
        proposal may serve only if every one passed.
    """
    g = guardrails
    return (
        _holdout(proposal, evidence),
        _consistent(proposal, evidence),
        _max_changes(proposal, g),
        _change_size(proposal, g),
        _evidence(proposal, evidence, g),
        _ope(proposal, evidence, g),
    )
