"""Builders of experiment readouts and logged decisions for retune tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from nbo_engine.bandit import EpsilonGreedy
from nbo_engine.experiments import (
    ExperimentSpec,
    Readout,
    SampleStats,
    parse_experiment,
    readout,
)
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import OpeLog
from nbo_engine.retune.logged import LoggedPolicy


def policy_experiment(**overrides: Any) -> ExperimentSpec:
    """Champion/challenger at 40% traffic."""
    data: dict[str, Any] = {
        "name": "challenger-test",
        "kind": "policy",
        "start": "2026-03-01",
        "traffic": 0.4,
        "variants": [
            {"name": "champion", "weight": 0.5, "control": True, "treatment": "p@1"},
            {"name": "challenger", "weight": 0.5, "treatment": "p@2"},
        ],
        "metrics": {"primary": "conversion", "guardrails": ["churn"]},
    }
    data.update(overrides)
    return parse_experiment(data)


def experiment_readout(
    spec: ExperimentSpec,
    conversions: tuple[int, int] = (500, 700),
    churned: tuple[int, int] = (100, 100),
    n: int = 5000,
) -> Readout:
    """The readout of ``spec`` from counts per variant (champion, challenger)."""
    units = np.array([n, n], dtype=np.float64)
    return readout(
        spec,
        {
            "conversion": SampleStats.from_proportion(units, np.array(conversions)),
            "churn": SampleStats.from_proportion(units, np.array(churned)),
        },
    )


def uniform_log(
    spec: PolicySpec,
    rng: np.random.Generator,
    *,
    n: int = 4000,
    segments: tuple[str, ...] = ("stretched_borrowers", "affluent_savers"),
    good: str = "cc_cashback",
) -> OpeLog:
    """Decisions logged by a uniformly random policy over all offers (an
    epsilon-greedy bandit with epsilon 1) for customers of ``segments``;
    offering ``good`` is worth 100 half the time, anything else 1 half the
    time (currency)."""
    k = len(spec.offers)
    x = np.column_stack([np.ones(n), rng.random((n, 3))])
    bandit = EpsilonGreedy(k, x.shape[1], epsilon=1.0, rng=0)
    eligible = np.ones((n, k), dtype=bool)
    seg = rng.choice(np.asarray(segments), n)
    target = LoggedPolicy(
        base=spec,
        contexts=x,
        eligible=eligible,
        segments=seg,
        day=np.full(n, dt.date(2026, 4, 8).toordinal(), dtype=np.int64),
        states=np.zeros(n, dtype=np.int64),
        load_bandit=lambda _sid: bandit,
    )
    probs = target(spec, frozenset())
    actions = (rng.random(n)[:, None] > probs.cumsum(axis=1)).sum(axis=1)
    actions = np.minimum(actions, k)
    hit = rng.random(n) < 0.5
    offered = np.asarray(spec.offer_ids)[np.minimum(actions, k - 1)]
    value = np.where(offered == good, 100.0, 1.0)
    rewards = np.where(hit & (actions < k), value, 0.0)
    return OpeLog(
        rewards=rewards,
        actions=actions,
        propensities=probs[np.arange(n), actions],
        contexts=x,
        target_probs=target,
        n_arms=k + 1,
    )
