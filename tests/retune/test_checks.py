"""Guardrails: forced bad proposals are refused, each with its reason."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nbo_engine.experiments import GlobalHoldout
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import (
    Change,
    ExperimentEvidence,
    Guardrails,
    Proposal,
    apply_changes,
    check_proposal,
    ope_compare,
    propose,
    retune,
)
from tests.retune.conftest import TODAY, cell, evidence
from tests.retune.factories import experiment_readout, policy_experiment, uniform_log


@pytest.fixture(scope="module")
def greedy_spec(catalog: PolicySpec) -> PolicySpec:
    """The catalogue with an epsilon-greedy bandit (the uniform log's)."""
    data = catalog.model_dump(mode="python")
    data["bandit"] = {"type": "epsilon_greedy", "params": {"epsilon": 0.1}}
    return PolicySpec.model_validate(data)


def _failed(checks: tuple[object, ...]) -> dict[str, str]:
    return {c.name: c.reason for c in checks if not c.passed}  # type: ignore[attr-defined]


def test_a_sound_proposal_passes_every_guardrail(
    greedy_spec: PolicySpec, rng: np.random.Generator
) -> None:
    """Offering cc_cashback is worth the same as anything else in the log, so
    suppressing it where the holdout comparison shows harm costs nothing."""
    log = uniform_log(greedy_spec, rng, good="none")
    result = retune(greedy_spec, evidence([cell()], ope=log), today=TODAY)
    assert result.accepted, result.refusals
    ope = next(c for c in result.checks if c.name == "ope")
    assert ope.evidence["n"] == 4000
    assert (
        abs(ope.evidence["proposed"] - ope.evidence["current"])
        <= ope.evidence["tolerance"]
    )


def test_a_proposal_worse_by_off_policy_evaluation_is_refused(
    greedy_spec: PolicySpec, rng: np.random.Generator
) -> None:
    """The holdout comparison says cc_cashback harms stretched borrowers, but
    the log says it is by far the most valuable offer there: the proposal's
    off-policy value falls well below the current policy's, so it is refused."""
    log = uniform_log(greedy_spec, rng, good="cc_cashback")
    result = retune(greedy_spec, evidence([cell()], ope=log), today=TODAY)
    assert result.refused
    assert not result.accepted
    (why,) = result.refusals
    assert why.startswith("ope: refused: the proposed policy's off-policy value")
    assert "below the current" in why
    assert "(dr, n=4000)" in why
    cur, new = ope_compare(log, result.proposal, Guardrails())
    # suppressing the 100-worth offer for half the customers: the uniform
    # policy loses about (100 - 1) / 2 / 10 / 2 ~ 2.5 per decision
    assert cur.value - new.value == pytest.approx(2.5, abs=0.8)


def test_changing_the_global_holdout_is_refused(catalog: PolicySpec) -> None:
    ev = evidence([cell()])
    p = propose(catalog, ev, today=TODAY)
    bad = dataclasses.replace(
        p, global_holdout=GlobalHoldout(salt="gh-2026", share=0.05)
    )
    failed = _failed(check_proposal(bad, ev, Guardrails(require_ope=False)))
    assert set(failed) == {"holdout"}
    assert failed["holdout"].startswith("refused: the global holdout would change")
    assert failed["holdout"].endswith("a retune never touches a holdout")


def test_a_change_naming_the_global_holdout_is_refused(catalog: PolicySpec) -> None:
    ev = evidence([cell()])
    change = Change(
        "traffic", None, None, 0.02, 0.1, "more holdout", experiment="global_holdout"
    )
    p = Proposal(catalog, catalog, (change,), global_holdout=ev.global_holdout)
    failed = _failed(check_proposal(p, ev))
    assert "change traffic global_holdout names the global holdout" in failed["holdout"]


def test_pausing_a_holdout_arm_is_refused(catalog: PolicySpec) -> None:
    spec = policy_experiment(
        kind="offer",
        variants=[
            {"name": "holdout", "weight": 0.5, "control": True},
            {"name": "offer", "weight": 0.5, "treatment": "cc_cashback"},
        ],
    )
    ev = evidence(experiments=(ExperimentEvidence(spec, experiment_readout(spec)),))
    change = Change(
        "pause_variant",
        None,
        None,
        False,
        True,
        "x",
        experiment=spec.name,
        variant="holdout",
    )
    p = Proposal(catalog, catalog, (change,), global_holdout=ev.global_holdout)
    failed = _failed(check_proposal(p, ev))
    assert "pauses a holdout arm" in failed["holdout"]


def test_too_many_changes_are_refused(catalog: PolicySpec) -> None:
    cells = [cell(), cell("loan_rate_discount", "digital_spenders")]
    ev = evidence(cells)
    p = propose(catalog, ev, today=TODAY)
    assert len(p.changes) == 2
    failed = _failed(
        check_proposal(p, ev, Guardrails(max_changes=1, require_ope=False))
    )
    assert failed == {"max_changes": "refused: 2 changes, expected at most 1 per week"}


def test_an_unrecorded_modification_is_refused(catalog: PolicySpec) -> None:
    ev = evidence([cell()])
    p = propose(catalog, ev, today=TODAY)
    sneaky = apply_changes(
        p.spec,
        [Change("lever", "mortgage_switch", "dormant_light", 1.0, 1.1, "not recorded")],
    )
    failed = _failed(
        check_proposal(
            dataclasses.replace(p, spec=sneaky), ev, Guardrails(require_ope=False)
        )
    )
    assert failed == {
        "consistent": "refused: the proposed policy differs from what its changes "
        "make of the current one (an unrecorded modification)"
    }


def test_an_oversized_lever_step_is_refused(catalog: PolicySpec) -> None:
    ev = evidence([cell("savings_boost", "affluent_savers", 9.0)])
    change = Change("lever", "savings_boost", "affluent_savers", 1.0, 2.0, "double it")
    p = Proposal(
        catalog,
        apply_changes(catalog, [change]),
        (change,),
        global_holdout=ev.global_holdout,
    )
    failed = _failed(check_proposal(p, ev, Guardrails(require_ope=False)))
    assert set(failed) == {"change_size"}
    assert (
        "lever 1.0 -> 2.0, expected a relative change of at most 0.25"
        in failed["change_size"]
    )


def test_a_suppression_without_confident_harm_is_refused(catalog: PolicySpec) -> None:
    """Noise (estimate -1.5 with se 1) is not evidence: refused, with the numbers."""
    ev = evidence([cell(estimate=-1.5)])
    change = Change(
        "suppress", "cc_cashback", "stretched_borrowers", 0.5, 0.0, "forced"
    )
    p = Proposal(
        catalog,
        apply_changes(catalog, [change]),
        (change,),
        global_holdout=ev.global_holdout,
    )
    failed = _failed(check_proposal(p, ev, Guardrails(require_ope=False)))
    assert set(failed) == {"evidence"}
    assert (
        "expected a harmful cell with n_treated >= 200, n_control >= 200"
        in failed["evidence"]
    )
    assert "got unclear (estimate -1.5" in failed["evidence"]


def test_a_suppression_on_a_small_sample_is_refused(catalog: PolicySpec) -> None:
    ev = evidence([cell(n_treated=50)])
    change = Change(
        "suppress", "cc_cashback", "stretched_borrowers", 0.5, 0.0, "forced"
    )
    p = Proposal(
        catalog,
        apply_changes(catalog, [change]),
        (change,),
        global_holdout=ev.global_holdout,
    )
    failed = _failed(check_proposal(p, ev, Guardrails(require_ope=False)))
    assert "got too_small" in failed["evidence"]


def test_without_a_log_the_policy_is_not_changed_unless_allowed(
    catalog: PolicySpec,
) -> None:
    ev = evidence([cell()])
    strict = retune(catalog, ev, today=TODAY)
    assert strict.refusals == (
        "ope: refused: no logged decisions of the current policy to evaluate the "
        "proposal on",
    )
    assert retune(catalog, ev, Guardrails(require_ope=False), today=TODAY).accepted


def test_a_traffic_change_needs_a_shipping_readout(catalog: PolicySpec) -> None:
    spec = policy_experiment()
    flat = experiment_readout(spec, conversions=(500, 505))
    ev = evidence(experiments=(ExperimentEvidence(spec, flat),))
    change = Change(
        "traffic",
        None,
        None,
        0.4,
        0.5,
        "forced",
        experiment=spec.name,
        variant="challenger",
    )
    exps = (spec.model_copy(update={"traffic": 0.5}),)
    p = Proposal(
        catalog, catalog, (change,), experiments=exps, global_holdout=ev.global_holdout
    )
    failed = _failed(check_proposal(p, ev))
    assert failed == {
        "evidence": "refused: traffic challenger-test/challenger: expected a readout "
        "that says ship without a guardrail loss"
    }
