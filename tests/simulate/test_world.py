"""The closed-loop world: true probabilities, draws, harmful offers, the oracle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nbo_engine.simulate import World


@pytest.fixture(scope="module")
def world(small_bank: Path) -> World:
    return World.load(small_bank)


def test_probabilities_are_probabilities(world: World) -> None:
    ids = world.customer_ids[:500]
    for what in ("convert", "churn", "value"):
        assert np.isfinite(world.uplift_matrix(ids, what=what)).all()
    k = len(world.offer_ids)
    p = world.probabilities(np.repeat(ids, k), np.tile(world.offer_ids, ids.size))
    for arr in (
        p.p_convert_treated,
        p.p_convert_control,
        p.p_churn_treated,
        p.p_churn_control,
    ):
        assert ((arr >= 0) & (arr <= 1)).all()


def test_some_offers_harm_some_segments_and_help_others(
    world: World, small_bank: Path
) -> None:
    truth = pd.read_parquet(small_bank / "truth" / "customers.parquet")
    ids = truth["customer_id"].to_numpy()
    u = pd.DataFrame(world.uplift_matrix(ids), columns=world.offer_ids)
    u["segment"] = truth["segment"].to_numpy()
    by_seg = u.groupby("segment").mean()
    mixed = [o for o in world.offer_ids if by_seg[o].max() > 0 > by_seg[o].min()]
    assert len(mixed) >= 3, by_seg.T
    churn = pd.DataFrame(
        world.uplift_matrix(ids, what="churn"), columns=world.offer_ids
    )
    assert (churn.to_numpy() > 0.001).any()
    assert (churn.to_numpy() < -0.001).any()


def test_draws_follow_the_probabilities(world: World) -> None:
    ids = np.repeat(world.customer_ids[:400], 50)
    offers = np.full(ids.size, "savings_boost")
    out = world.respond(ids, offers, 0, np.random.default_rng(1), update=False)
    expected = out["p_convert_treated"].sum()
    sd = np.sqrt((out["p_convert_treated"] * (1 - out["p_convert_treated"])).sum())
    assert abs(out["converted"].sum() - expected) < 4 * sd


def test_oracle_picks_the_best_offer(world: World) -> None:
    ids = world.customer_ids[:200]
    choice, value = world.oracle(ids)
    u = world.uplift_matrix(ids)
    best = u.max(axis=1)
    assert np.allclose(value, np.maximum(best, 0))
    assert ((choice == "") == (best <= 0)).all()


def test_unknown_ids_are_named(world: World) -> None:
    with pytest.raises(KeyError, match="unknown customer id"):
        world.probabilities(["nobody"], ["savings_boost"])
    with pytest.raises(KeyError, match="unknown offer id 'free_money'"):
        world.probabilities([world.customer_ids[0]], ["free_money"])
