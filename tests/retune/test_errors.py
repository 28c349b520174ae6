"""Error messages say what was wrong, where, what was received and expected."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from nbo_engine.errors import RetuneError
from nbo_engine.experiments import SampleStats
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import (
    LIMITS,
    Change,
    Evidence,
    Guardrails,
    GuardrailSeries,
    OfferUsage,
    OpeLog,
    apply_changes,
    apply_experiment_changes,
)
from nbo_engine.retune.attribution import check_outcomes
from tests.retune.conftest import WEEK, cell
from tests.retune.factories import policy_experiment


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"alpha": 0.7},
            r"^Guardrails\.alpha: expected a number in \(0, 0\.5\), got 0\.7$",
        ),
        (
            {"alpha": True},
            r"^Guardrails\.alpha: expected a number in \(0, 0\.5\), got True$",
        ),
        (
            {"min_treated": 1},
            r"^Guardrails\.min_treated: expected an integer in \[2, 1,000,000,000\], got 1$",
        ),
        (
            {"max_changes": 2.5},
            r"^Guardrails\.max_changes: expected an integer in \[0, 1,000\], got 2\.5$",
        ),
        (
            {"ope_abs_tolerance": math.nan},
            r"^Guardrails\.ope_abs_tolerance: expected a number in \[0, inf\), got nan$",
        ),
        (
            {"lever_step": 0.5},
            r"^Guardrails\.lever_step: expected at most max_lever_step \(0\.25\), got 0\.5$",
        ),
        (
            {"multiple_testing": "bonferroni"},
            r"^Guardrails\.multiple_testing: expected holm or bh, got 'bonferroni'$",
        ),
        (
            {"ope_method": "magic"},
            r"^Guardrails\.ope_method: expected dr, snips or ips",
        ),
    ],
)
def test_guardrail_settings(kw: dict[str, object], message: str) -> None:
    with pytest.raises(RetuneError, match=message):
        Guardrails(**kw)  # type: ignore[arg-type]


def test_every_limit_is_a_field() -> None:
    fields = set(Guardrails.__dataclass_fields__)
    assert set(LIMITS) <= fields


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"estimate": math.nan},
            r"^cell \('cc_cashback', 'stretched_borrowers'\) estimate: expected a finite number, got nan$",
        ),
        ({"estimate": "big"}, r"estimate: expected a number, got 'big'$"),
        ({"se": -1.0}, r"se: expected a number >= 0, got -1\.0$"),
        ({"n_treated": -3}, r"n_treated: expected an integer count >= 0, got -3$"),
        ({"n_control": 2.5}, r"n_control: expected an integer count >= 0, got 2\.5$"),
        ({"df": 0}, r"df: expected a number > 0, got 0$"),
        ({"offer": ""}, r"offer: expected non-empty text, got ''$"),
    ],
)
def test_cell(kw: dict[str, object], message: str) -> None:
    with pytest.raises(RetuneError, match=message):
        cell(**kw)  # type: ignore[arg-type]


def test_usage() -> None:
    with pytest.raises(
        RetuneError,
        match=r"^usage of 'x' eligible_share_now: expected a share in \[0, 1\], got 1\.5$",
    ):
        OfferUsage("x", 1.5, 0.5, 10)
    with pytest.raises(
        RetuneError,
        match=r"^usage of 'x' accepted_now: expected at most shown_now \(3\), got 4$",
    ):
        OfferUsage("x", 0.5, 0.5, 10, shown_now=3, accepted_now=4)


def test_evidence() -> None:
    with pytest.raises(
        RetuneError,
        match=r"^evidence week: expected week_end after week_start, got 2026-04-13 \.\. 2026-04-06$",
    ):
        Evidence(WEEK[1], WEEK[0])
    with pytest.raises(
        RetuneError,
        match=r"^evidence cells \(offer, segment, metric\): expected each once, got \('cc_cashback', 'stretched_borrowers', 'value'\) more than once$",
    ):
        Evidence(*WEEK, cells=(cell(), cell()))


def test_guardrail_series() -> None:
    s = SampleStats(n=10.0, sum=1.0, sum_sq=1.0)
    with pytest.raises(
        RetuneError,
        match=r"^guardrail 'c' kind: expected mean or proportion, got 'ratio'$",
    ):
        GuardrailSeries("c", s, s, "ratio")  # type: ignore[arg-type]
    many = SampleStats(n=np.array([10.0, 10.0]), sum=np.ones(2), sum_sq=np.ones(2))
    with pytest.raises(
        RetuneError, match=r"^guardrail 'c' after: expected scalar SampleStats"
    ):
        GuardrailSeries("c", s, many)


def _target(spec: PolicySpec, suppressed: frozenset[tuple[str, str]]) -> np.ndarray:
    return np.ones((3, 2)) / 2


def test_ope_log() -> None:
    with pytest.raises(
        RetuneError,
        match=r"^ope log: expected rewards, actions and propensities of one shape \(n,\), got \(3,\), \(2,\) and \(3,\)$",
    ):
        OpeLog(np.zeros(3), np.zeros(2, int), np.ones(3), np.zeros((3, 1)), _target, 2)
    with pytest.raises(
        RetuneError,
        match=r"^ope log contexts: expected shape \(3, n_features\), got \(2, 1\)$",
    ):
        OpeLog(np.zeros(3), np.zeros(3, int), np.ones(3), np.zeros((2, 1)), _target, 2)
    with pytest.raises(
        RetuneError,
        match=r"^ope log actions: expected arms in \[0, 1\], got values from 0 to 5$",
    ):
        OpeLog(
            np.zeros(3), np.array([0, 1, 5]), np.ones(3), np.zeros((3, 1)), _target, 2
        )


def test_changes(catalog: PolicySpec) -> None:
    with pytest.raises(
        RetuneError,
        match=r"^change kind: expected one of suppress, pause_variant, retire, traffic, lever, exploration, got 'delete'$",
    ):
        Change("delete", "x", None, None, None, "r")  # type: ignore[arg-type]
    with pytest.raises(
        RetuneError,
        match=r"^change: unknown offer 'nope'; expected one of cc_cashback, cc_premium_travel",
    ):
        apply_changes(
            catalog, [Change("lever", "nope", "affluent_savers", 1.0, 1.1, "r")]
        )
    with pytest.raises(
        RetuneError, match=r"^change lever cc_cashback: expected a segment, got None$"
    ):
        apply_changes(catalog, [Change("lever", "cc_cashback", None, 1.0, 1.1, "r")])
    with pytest.raises(
        RetuneError,
        match=r"^change retire cc_cashback: expected an ISO date, got 'soon'$",
    ):
        apply_changes(
            catalog, [Change("retire", "cc_cashback", None, None, "soon", "r")]
        )
    with pytest.raises(
        RetuneError,
        match=r"^change lever cc_cashback in affluent_savers: expected a number after, got 'x'$",
    ):
        apply_changes(
            catalog, [Change("lever", "cc_cashback", "affluent_savers", 1.0, "x", "r")]
        )
    with pytest.raises(
        RetuneError,
        match=r"^changes make the policy invalid: offers\.0\.segment_levers\.affluent_savers: Input should be less than or equal to 100",
    ):
        apply_changes(
            catalog,
            [Change("lever", "cc_cashback", "affluent_savers", 1.0, 500.0, "r")],
        )
    with pytest.raises(
        RetuneError, match=r"^changes make the policy invalid: offers\.0\.end: "
    ):
        apply_changes(
            catalog, [Change("retire", "cc_cashback", None, None, "2025-01-01", "r")]
        )


def test_exploration_of_a_bandit_without_one(catalog: PolicySpec) -> None:
    data = catalog.model_dump(mode="python")
    data["bandit"] = {"type": "logistic_ts"}
    spec = PolicySpec.model_validate(data)
    with pytest.raises(
        RetuneError,
        match=r"^change exploration: a logistic_ts bandit has no exploration parameter a retune may tune; expected one of linucb, lints, epsilon_greedy$",
    ):
        apply_changes(spec, [Change("exploration", None, None, 1.0, 0.8, "r")])


def test_experiment_changes() -> None:
    spec = policy_experiment()
    with pytest.raises(
        RetuneError,
        match=r"^change traffic: unknown experiment 'other'; expected one of challenger-test$",
    ):
        apply_experiment_changes(
            [spec], [Change("traffic", None, None, 0.4, 0.5, "r", experiment="other")]
        )
    with pytest.raises(
        RetuneError,
        match=r"^change pause_variant challenger-test: unknown variant 'x'; expected one of champion, challenger$",
    ):
        apply_experiment_changes(
            [spec],
            [
                Change(
                    "pause_variant",
                    None,
                    None,
                    False,
                    True,
                    "r",
                    experiment="challenger-test",
                    variant="x",
                )
            ],
        )
    with pytest.raises(
        RetuneError,
        match=r"^change traffic challenger-test/challenger: the experiment becomes invalid: ",
    ):
        apply_experiment_changes(
            [spec],
            [
                Change(
                    "traffic",
                    None,
                    None,
                    0.4,
                    1.5,
                    "r",
                    experiment="challenger-test",
                    variant="challenger",
                )
            ],
        )


def test_outcomes_frame() -> None:
    with pytest.raises(
        RetuneError,
        match=r"^outcomes: missing column\(s\) outcome, product; expected customer_id, ts, outcome, product$",
    ):
        check_outcomes(pd.DataFrame({"customer_id": ["a"], "ts": ["2026-01-01"]}))
    with pytest.raises(
        RetuneError,
        match=r"^outcomes\.outcome: unknown value\(s\) 'purchase'; expected one of product_open, complaint, churn$",
    ):
        check_outcomes(
            pd.DataFrame(
                {
                    "customer_id": ["a"],
                    "ts": ["2026-01-01"],
                    "outcome": ["purchase"],
                    "product": [None],
                }
            )
        )


def test_target_policy_of_other_offers(catalog: PolicySpec) -> None:
    from nbo_engine.bandit import LinUCB
    from nbo_engine.retune.logged import LoggedPolicy

    target = LoggedPolicy(
        catalog,
        np.ones((2, 1)),
        np.ones((2, len(catalog.offers)), dtype=bool),
        np.array(["", ""]),
        np.zeros(2, dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        lambda _sid: LinUCB(len(catalog.offers), 1),
    )
    data = catalog.model_dump(mode="python")
    data["offers"] = data["offers"][:2]
    data["arbitration"]["segment_levers"] = {}
    fewer = PolicySpec.model_validate(data)
    with pytest.raises(
        RetuneError,
        match=r"^ope: the policy's offers differ from the logging policy's \(cc_cashback, cc_premium_travel vs cc_cashback, ",
    ):
        target(fewer, frozenset())


def test_ope_probabilities_of_the_wrong_shape(catalog: PolicySpec) -> None:
    from nbo_engine.retune import Proposal, ope_compare

    log = OpeLog(
        np.zeros(3), np.zeros(3, int), np.ones(3), np.zeros((3, 1)), _target, 11
    )
    with pytest.raises(
        RetuneError,
        match=r"^ope: the current policy's probabilities have shape \(3, 2\), expected \(3, 11\)$",
    ):
        ope_compare(log, Proposal(catalog, catalog, ()), Guardrails())
