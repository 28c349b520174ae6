"""From evidence to a proposal: which changes, in which order, and why."""

from __future__ import annotations

import datetime as dt

import pytest

from nbo_engine.policy import PolicySpec, parse_policy
from nbo_engine.retune import (
    BanditEvidence,
    Change,
    ExperimentEvidence,
    Guardrails,
    OfferUsage,
    apply_changes,
    propose,
    spec_yaml,
)
from nbo_engine.retune.changes import is_suppressed
from tests.retune.conftest import HOLDOUT, TODAY, cell, evidence
from tests.retune.factories import experiment_readout, policy_experiment


def test_harmful_cell_is_suppressed_by_a_zero_lever_with_its_reason(
    catalog: PolicySpec,
) -> None:
    p = propose(catalog, evidence([cell()]), today=TODAY)
    (c,) = p.changes
    assert (c.kind, c.offer, c.segment, c.before, c.after) == (
        "suppress",
        "cc_cashback",
        "stretched_borrowers",
        0.5,  # the catalogue's own lever for that segment
        0.0,
    )
    assert c.reason.startswith(
        "cc_cashback is confidently harmful in stretched_borrowers"
    )
    assert "so its segment lever is set to 0" in c.reason
    assert c.evidence["n_treated"] == 1000
    assert c.evidence["ci_high"] < 0
    offer = next(o for o in p.spec.offers if o.id == "cc_cashback")
    assert offer.segment_levers["stretched_borrowers"] == 0.0
    # nothing else moved, and the spec is a valid policy that round-trips
    assert p.spec.levers(["stretched_borrowers"])[0, 0] == 0.0
    assert parse_policy(spec_yaml(p.spec)) == p.spec
    assert p.global_holdout == HOLDOUT


def test_an_undeclared_segment_is_excluded_by_an_eligibility_clause(
    catalog: PolicySpec,
) -> None:
    """A customer's fallback cluster is not among the policy's segments, so
    no lever can name it: the rule gains a clause instead."""
    p = propose(catalog, evidence([cell(segment="mainstream")]), today=TODAY)
    (c,) = p.changes
    offer = next(o for o in p.spec.offers if o.id == "cc_cashback")
    assert c.after == "excluded"
    assert offer.eligibility.endswith(
        'and (cluster is null or cluster != "mainstream" or segment in '
        '["digital_spenders", "affluent_savers", "stretched_borrowers", '
        '"traditional_branch", "dormant_light"])'
    )
    assert p.spec.profile_fields["cluster"].type == "string"
    rule = p.spec.rule("cc_cashback")
    base = {
        "age": 30,
        "held_credit_card": False,
        "bureau_credit_score": 700,
        "bureau_delinquencies_12m": 0,
    }
    assert not rule.holds({**base, "cluster": "mainstream", "segment": "mainstream"})
    assert rule.holds({**base, "cluster": "other", "segment": "other"})
    # a mainstream customer whose segment resolved to a declared one keeps it
    assert rule.holds({**base, "cluster": "mainstream", "segment": "affluent_savers"})
    # a missing cluster keeps the customer eligible
    assert rule.holds({**base, "cluster": None, "segment": None})
    assert is_suppressed(p.spec, "cc_cashback", "mainstream")
    # applied again, nothing changes: it is already suppressed
    again = propose(p.spec, evidence([cell(segment="mainstream")]), today=TODAY)
    assert again.empty


def test_without_declared_segments_the_clause_reads_the_segment(
    catalog: PolicySpec,
) -> None:
    data = catalog.model_dump(mode="python")
    data["segments"] = ()
    data["segment_rules"] = {}
    data["arbitration"]["segment_levers"] = {}
    for o in data["offers"]:
        o["segment_levers"] = {}
        o["eligibility"] = (
            o["eligibility"]
            .replace('and segment not in ["stretched_borrowers"]', "")
            .replace('and not in_segment("stretched_borrowers")', "")
        )
    plain = PolicySpec.model_validate(data)
    p = propose(plain, evidence([cell(segment="mainstream")]), today=TODAY)
    rule = next(o for o in p.spec.offers if o.id == "cc_cashback").eligibility
    assert rule.endswith('and (segment is null or segment != "mainstream")')
    assert "cluster" not in p.spec.profile_fields


def test_helpful_cells_raise_declared_levers_within_bounds(catalog: PolicySpec) -> None:
    cells = [
        cell("savings_boost", "affluent_savers", 6.0),
        cell("premium_upgrade", "affluent_savers", 6.0),  # lever 1.3 already
        cell("home_insurance", "mainstream", 6.0),  # undeclared: no lever
    ]
    g = Guardrails(lever_step=0.1, lever_max=1.4)
    p = propose(catalog, evidence(cells), g, today=TODAY)
    got = {(c.offer, c.before, c.after) for c in p.changes}
    assert got == {("savings_boost", 1.0, 1.1), ("premium_upgrade", 1.3, 1.4)}
    assert all(c.kind == "lever" and "helpful" in c.reason for c in p.changes)


def test_changes_over_the_weekly_limit_are_deferred_harm_first(
    catalog: PolicySpec,
) -> None:
    cells = [cell(o.id, "affluent_savers", 6.0) for o in catalog.offers[:4]] + [
        cell("cc_cashback", "stretched_borrowers", -6.0),
        cell("loan_rate_discount", "digital_spenders", -9.0),
    ]
    p = propose(catalog, evidence(cells), Guardrails(max_changes=3), today=TODAY)
    kinds = [c.kind for c in p.changes]
    assert kinds == ["suppress", "suppress", "lever"]
    # the strongest harm first
    assert p.changes[0].offer == "loan_rate_discount"
    assert len(p.deferred) == 3
    assert {c.kind for c in p.deferred} == {"lever"}


def test_an_exhausted_offer_is_retired_today(catalog: PolicySpec) -> None:
    usage = (
        OfferUsage("savings_boost", 0.05, 0.6, 900),  # audience nearly gone
        OfferUsage("home_insurance", 0.5, 0.6, 900),  # fine
        OfferUsage(
            "travel_insurance", 0.5, 0.5, 900, 2000, 100, 3000, 0
        ),  # acceptance collapsed
    )
    p = propose(catalog, evidence(usage=usage), today=TODAY)
    retired = {c.offer: c for c in p.changes if c.kind == "retire"}
    assert set(retired) == {"savings_boost", "travel_insurance"}
    assert retired["travel_insurance"].before == "2026-09-30"
    offer = next(o for o in p.spec.offers if o.id == "savings_boost")
    assert offer.end == TODAY
    assert "eligible in 5.0% of decisions" in retired["savings_boost"].reason


def test_a_winning_challenger_gets_more_traffic(catalog: PolicySpec) -> None:
    spec = policy_experiment()
    r = experiment_readout(spec)
    assert r.decision == "ship"
    ev = evidence(experiments=(ExperimentEvidence(spec, r),))
    p = propose(catalog, ev, today=TODAY)
    (c,) = p.changes
    assert (c.kind, c.experiment, c.variant, c.before, c.after) == (
        "traffic",
        "challenger-test",
        "challenger",
        0.4,
        0.5,
    )
    assert p.experiments[0].traffic == 0.5
    assert p.spec == catalog  # the policy itself is unchanged


def test_a_challenger_that_hurts_a_guardrail_gets_no_traffic_and_a_harmful_one_is_paused(
    catalog: PolicySpec,
) -> None:
    spec = policy_experiment()
    hurt = experiment_readout(spec, conversions=(500, 700), churned=(100, 300))
    p = propose(
        catalog, evidence(experiments=(ExperimentEvidence(spec, hurt),)), today=TODAY
    )
    assert [c.kind for c in p.changes] == ["pause_variant"]
    assert p.experiments[0].variants[1].paused


def test_exploration_is_cut_once_the_bandit_has_learned(catalog: PolicySpec) -> None:
    few = propose(catalog, evidence(bandit=BanditEvidence(100)), today=TODAY)
    assert few.empty
    p = propose(catalog, evidence(bandit=BanditEvidence(20_000)), today=TODAY)
    (c,) = p.changes
    assert (c.kind, c.before, c.after) == ("exploration", 1.0, 0.8)
    assert p.spec.bandit.params.alpha == pytest.approx(0.8)


def test_a_change_rolled_back_lately_is_not_proposed_again(catalog: PolicySpec) -> None:
    ev = evidence(
        [cell()], rolled_back=("suppress cc_cashback in stretched_borrowers",)
    )
    assert propose(catalog, ev, today=TODAY).empty


def test_apply_changes_replays_a_proposal(catalog: PolicySpec) -> None:
    cells = [cell(), cell("savings_boost", "affluent_savers", 6.0)]
    p = propose(catalog, evidence(cells), today=TODAY)
    again = apply_changes(catalog, [Change.from_dict(c.to_dict()) for c in p.changes])
    assert again == p.spec


def test_no_evidence_no_change(catalog: PolicySpec) -> None:
    p = propose(catalog, evidence([cell(estimate=-1.0)]), today=TODAY)
    assert p.empty
    assert p.spec == catalog
    assert p.verdicts[0].verdict == "unclear"


def test_offers_already_over_are_not_retired_again(catalog: PolicySpec) -> None:
    usage = (OfferUsage("loan_rate_discount", 0.0, 0.6, 900),)
    p = propose(catalog, evidence(usage=usage), today=dt.date(2026, 7, 1))
    assert p.empty  # it ended on 2026-06-30
