"""The example catalogue and the policy models' own checks and queries."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from nbo_engine.ingest.schemas import CONTACT_CHANNELS
from nbo_engine.policy import PolicySpec, load_policy, render_message
from nbo_engine.policy.spec import QuietHours
from nbo_engine.simulate import OFFERS

CATALOG = Path(__file__).resolve().parents[2] / "policies" / "catalog.yaml"


@pytest.fixture(scope="module")
def spec() -> PolicySpec:
    return load_policy(CATALOG)


def test_catalog_matches_the_simulator(spec: PolicySpec) -> None:
    assert len(spec.offers) >= 8
    sim = {o.offer_id: o for o in OFFERS}
    for offer in spec.offers:
        assert offer.id in sim, offer.id
        assert offer.product == sim[offer.id].product
        assert offer.value.cost == sim[offer.id].cost
        if not sim[offer.id].retention:
            assert offer.value.margin == sim[offer.id].margin
    assert spec.channels == CONTACT_CHANNELS
    assert spec.bandit.type == "linucb"


def test_models_are_immutable(spec: PolicySpec) -> None:
    with pytest.raises(ValidationError, match="frozen"):
        spec.name = "other"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        spec.offers[0].lever = 3.0  # type: ignore[misc]


def test_round_trip_through_python(spec: PolicySpec) -> None:
    again = PolicySpec.model_validate(spec.model_dump())
    assert again == spec
    assert again.rule("cc_cashback").text == spec.rule("cc_cashback").text


def _profiles() -> pd.DataFrame:
    n = 4
    return pd.DataFrame(
        {
            "age": [30.0, 17.0, 45.0, None],
            "income_level": [3.0, 1.0, 4.0, 2.0],
            "life_stage": ["family", "student", "established", None],
            "segment": [
                "digital_spenders",
                "dormant_light",
                "stretched_borrowers",
                None,
            ],
            "n_products": [2.0, 1.0, 3.0, 1.0],
            "bureau_credit_score": [720.0, None, 650.0, 800.0],
            "bureau_delinquencies_12m": [0.0, 0.0, 2.0, 0.0],
            "bureau_utilisation": [0.2, 0.1, 0.9, 0.5],
            "churn_score": [0.05, 0.3, 0.1, None],
            "svc_complaints_90": [0.0, 1.0, 0.0, 0.0],
            "svc_days_since_complaint": [np.nan, 12.0, np.nan, np.nan],
            "has_mortgage_enquiry_90": [False, False, True, False],
            **{
                f"held_{p}": [False] * n
                for p in ("credit_card", "savings", "personal_loan", "mortgage")
            },
            "held_investment": [False, False, False, True],
            "held_insurance": [True, False, False, False],
        }
    )


def test_eligibility_matrix(spec: PolicySpec) -> None:
    frame = _profiles()
    elig = spec.eligibility(frame, dt.date(2026, 4, 1))
    assert elig.shape == (4, len(spec.offers))
    col = {o: k for k, o in enumerate(spec.offer_ids)}
    # 17-year-old: no card, but savings from 16
    assert not elig[1, col["cc_cashback"]]
    assert elig[1, col["savings_boost"]]
    # retention offer for the high churn score / recent complaint
    assert elig[1, col["fee_waiver_retention"]]
    assert not elig[0, col["fee_waiver_retention"]]
    # missing age: age rules are unknown, so false
    assert not elig[3, col["savings_boost"]]
    # the mortgage enquiry alone makes customer 2 eligible
    assert elig[2, col["mortgage_switch"]]
    # offers outside their dates are never eligible
    late = spec.eligibility(frame, dt.date(2026, 12, 1))
    assert not late[:, col["loan_rate_discount"]].any()
    assert not spec.eligibility(frame, dt.date(2025, 1, 1)).any()
    # rows agree with the scalar path
    rows = frame.to_dict("records")
    for oid in spec.offer_ids:
        scalar = [spec.rule(oid).holds(r) for r in rows]
        assert scalar == spec.rule(oid).mask(frame).tolist()


def test_levers_and_priorities(spec: PolicySpec) -> None:
    segments = ["stretched_borrowers", "affluent_savers", "unknown"]
    lev = spec.levers(segments)
    col = {o: k for k, o in enumerate(spec.offer_ids)}
    # policy segment lever 0.8 x offer-segment lever 0.5 x offer lever 1.0
    assert lev[0, col["cc_cashback"]] == pytest.approx(0.4)
    assert lev[1, col["premium_upgrade"]] == pytest.approx(1.3)
    assert lev[2, col["mortgage_switch"]] == pytest.approx(1.2)
    p = np.full((3, len(spec.offers)), 0.1)
    prio = spec.priorities(p, segments)
    assert prio[2, col["mortgage_switch"]] == pytest.approx(0.1 * 1500 * 1.2)


def test_quiet_hours_wrap_midnight() -> None:
    q = QuietHours(start=dt.time(21), end=dt.time(8), timezone="Europe/London")
    utc = dt.UTC
    assert q.is_quiet("call_centre", dt.datetime(2026, 1, 5, 22, 0, tzinfo=utc))
    assert q.is_quiet("call_centre", dt.datetime(2026, 1, 5, 7, 59, tzinfo=utc))
    assert not q.is_quiet("call_centre", dt.datetime(2026, 1, 5, 12, 0, tzinfo=utc))
    assert not q.is_quiet("web", dt.datetime(2026, 1, 5, 22, 0, tzinfo=utc))
    # British Summer Time: 20:30 UTC is 21:30 in London
    assert q.is_quiet("call_centre", dt.datetime(2026, 7, 1, 20, 30, tzinfo=utc))


def test_messages_render_in_the_sandbox(spec: PolicySpec) -> None:
    offer = next(o for o in spec.offers if o.id == "mortgage_switch")
    assert render_message(offer.message, {"first_name": "ann", "city": "York"}) == (
        "Homeowners in York: switch and save on your mortgage."
    )
    assert render_message(offer.message, {"first_name": "ann", "city": ""}) == (
        "switch and save on your mortgage."
    )


def test_a_category_bandit_feature_is_one_hot_in_the_context(spec: PolicySpec) -> None:
    from nbo_engine.decisioning.context import ContextSpec
    from nbo_engine.policy.fields import LIFE_STAGES

    data = spec.model_dump(mode="json")
    data["bandit"]["features"] = ["age", "life_stage"]
    cs = ContextSpec.of(PolicySpec.model_validate(data))
    assert cs.names[-len(LIFE_STAGES) - 1 :] == (
        "feature:age",
        *(f"feature:life_stage={s}" for s in LIFE_STAGES),
    )
    x = cs.vector({"age": 40, "life_stage": "family"}, "web")
    tail = x[-len(LIFE_STAGES) :]
    assert tail.tolist() == [float(s == "family") for s in LIFE_STAGES]
    assert x[-len(LIFE_STAGES) - 1] == pytest.approx(0.4)
    # unknown or missing: all zeros, never an error at decision time
    assert not cs.vector({"life_stage": "astronaut"}, "web")[-len(LIFE_STAGES) :].any()
    assert not cs.vector({}, "web")[-len(LIFE_STAGES) :].any()


def test_segment_rules_name_segments_first_match_wins(spec: PolicySpec) -> None:
    base = {"age": 40, "income_level": 1, "bureau_credit_score": 600}
    assert spec.rule_segment(base) == "stretched_borrowers"
    assert (
        spec.rule_segment({**base, "bureau_credit_score": None}) == "digital_spenders"
    )
    assert spec.rule_segment({**base, "income_level": 4}) == "affluent_savers"
    assert spec.rule_segment({"age": 70, "income_level": 2}) == "traditional_branch"
    frame = pd.DataFrame(
        [base, {**base, "income_level": 4}, {"age": 70, "income_level": 2}],
    ).reindex(columns=list(spec.segment_rule_columns))
    assert spec.rule_segments(frame).tolist() == [
        "stretched_borrowers",
        "affluent_savers",
        "traditional_branch",
    ]
