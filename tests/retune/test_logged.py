"""The OPE target policy replays arbitration on what was logged."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from nbo_engine.bandit import LinUCB
from nbo_engine.policy import PolicySpec
from nbo_engine.retune import Change, apply_changes
from nbo_engine.retune.logged import LoggedPolicy, with_exploration


@pytest.fixture
def logged(
    catalog: PolicySpec, rng: np.random.Generator
) -> tuple[LoggedPolicy, LinUCB]:
    n, k = 500, len(catalog.offers)
    x = np.column_stack([np.ones(n), rng.random((n, 4))])
    bandit = LinUCB(k, x.shape[1], alpha=1.0, rng=0)
    bandit.update(x, rng.integers(0, k, n), rng.random(n))
    seg = rng.choice(np.array(["stretched_borrowers", "affluent_savers", ""]), n)
    eligible = rng.random((n, k)) < 0.6
    eligible[:10] = False  # blocked requests
    return (
        LoggedPolicy(
            base=catalog,
            contexts=x,
            eligible=eligible,
            segments=seg,
            day=np.full(n, dt.date(2026, 4, 8).toordinal(), dtype=np.int64),
            states=np.zeros(n, dtype=np.int64),
            load_bandit=lambda _sid: bandit,
        ),
        bandit,
    )


def test_the_current_spec_reproduces_the_bandits_distribution(
    logged: tuple[LoggedPolicy, LinUCB], catalog: PolicySpec
) -> None:
    target, bandit = logged
    probs = target(catalog, frozenset())
    assert probs.shape == (500, len(catalog.offers) + 1)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert (probs[:10, -1] == 1.0).all()  # nothing eligible: no offer
    # what choose_ranked draws the first rank from (travel insurance starts in
    # March, every offer runs on the day; levers from the segment)
    values = np.array([o.value.margin for o in catalog.offers]) * catalog.levers(
        target.segments
    )
    mask = target.eligible & (values > 0)
    some = mask.any(axis=1)
    want = bandit.probabilities(
        target.contexts[some],
        mask[some],
        values=np.where(mask[some], values[some], 1.0),
    )
    np.testing.assert_allclose(probs[some, :-1], want)


def test_a_suppression_takes_the_offer_out_of_that_segment_only(
    logged: tuple[LoggedPolicy, LinUCB], catalog: PolicySpec
) -> None:
    target, _ = logged
    before = target(catalog, frozenset())
    k = int(np.argmax(before[:, :-1].sum(axis=0)))  # the offer chosen most
    offer = catalog.offer_ids[k]
    change = Change("suppress", offer, "affluent_savers", 1.0, 0.0, "x")
    spec = apply_changes(catalog, [change])
    probs = target(spec, frozenset({(offer, "affluent_savers")}))
    seg = target.segments
    assert before[seg == "affluent_savers", k].sum() > 0
    assert (probs[seg == "affluent_savers", k] == 0).all()
    np.testing.assert_allclose(
        probs[seg != "affluent_savers"], before[seg != "affluent_savers"]
    )
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_a_retired_offer_is_not_offered_after_its_end(
    logged: tuple[LoggedPolicy, LinUCB], catalog: PolicySpec
) -> None:
    target, _ = logged
    change = Change("retire", "home_insurance", None, None, "2026-04-01", "x")
    probs = target(apply_changes(catalog, [change]), frozenset())
    assert (probs[:, catalog.offer_ids.index("home_insurance")] == 0).all()


def test_the_exploration_setting_is_applied_to_a_copy(catalog: PolicySpec) -> None:
    bandit = LinUCB(3, 2, alpha=1.0, rng=0)
    change = Change("exploration", None, None, 1.0, 0.8, "x")
    tuned = with_exploration(bandit, apply_changes(catalog, [change]))
    assert tuned.alpha == 0.8
    assert bandit.alpha == 1.0
    assert with_exploration(bandit, catalog) is bandit
