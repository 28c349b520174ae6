"""The closed loop: the real API in process, customers answering by the truth."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from nbo_engine.closed_loop import BankFeed, LoopConfig, run_loop
from nbo_engine.errors import NboError
from nbo_engine.jobs.fold_rewards import fold_rewards
from nbo_engine.simulate import World
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as dstore
from tests.scored_bank import Customers, catalog_with, serving


def test_loop_values_by_the_truth_and_loses_nothing(
    bank_engine: Engine, customers: Customers, decisioning_bank: Path, tmp_path: Path
) -> None:
    world = World.load(decisioning_bank)
    pool = tuple(customers.take(60))
    spec = catalog_with(name="loop_test", plain_offers=True)
    with serving(bank_engine, spec) as version:

        def fold_mine(engine: Engine, now: dt.datetime) -> Sequence[str]:
            done = fold_rewards(
                engine, now=now, window_days=7.0, policy_version_ids=[version]
            )
            return [f"folded {r.rewards}" for r in done if r.new_state_id is not None]

        config = LoopConfig(
            weeks=3,
            requests_per_week=30,
            seed=5,
            customers=pool,
            resend_share=1.0,
            # weeks no other test decides in (the monitor reads Jan-Feb 2026)
            start=dt.date(2026, 10, 5),
        )
        feed = BankFeed(tmp_path)
        result = run_loop(
            bank_engine, world, config, between_weeks=fold_mine, feed=feed
        )

    frame = result.frame()
    assert list(frame["week"]) == [1, 2, 3]
    assert frame["requests"].iloc[0] == 30  # later weeks: fewer if some left
    assert (frame["requests"] <= 30).all()
    assert (frame["policy_version_id"] == version).all()
    # the oracle chooses among the same eligible offers (or nothing): it can
    # never be beaten, and a random eligible choice is never better than it
    assert (frame["value"] <= frame["oracle"] + 1e-6).all()
    assert (frame["random"] <= frame["oracle"] + 1e-6).all()
    assert frame["served"].sum() > 25
    # a fold at the end of weeks 1 and 2 (decisions a week old): new states
    assert frame["changes"].map(len).iloc[1:].gt(0).all()
    assert frame["bandit_state_id"].iloc[2] != frame["bandit_state_id"].iloc[0]

    with read(bank_engine) as conn:
        logged = conn.execute(
            text(
                "SELECT count(*) FROM decisions WHERE policy_version_id = :v "
                "AND mode = 'live'"
            ),
            {"v": version},
        ).scalar_one()
        stored_events = conn.execute(
            text(
                "SELECT count(*) FROM offer_events e JOIN decisions d "
                "ON d.decision_id = e.decision_id WHERE d.policy_version_id = :v"
            ),
            {"v": version},
        ).scalar_one()
        opened = conn.execute(
            text(
                "SELECT count(*) FROM accounts WHERE account_id LIKE 'L%' "
                "AND customer_id IN (SELECT customer_id FROM decisions "
                "WHERE policy_version_id = :v)"
            ),
            {"v": version},
        ).scalar_one()
    assert logged == frame["requests"].sum()  # no lost log row
    # the bank feed loaded each take-up (of an offer, or organic) dated
    # before the last week's end as an account of its product (via ingest)
    assert opened == frame["accounts_opened"].sum()
    assert opened > 0
    # every event stored once, every resent one acknowledged as a duplicate
    assert stored_events == frame["events"].sum()
    assert frame["duplicates"].sum() == frame["events"].sum()  # all resent once
    # no reward counted twice: the newest state's count equals the chosen
    # offers of the decisions before its watermark
    state = dstore.latest_bandit_state(bank_engine, version)
    assert state is not None
    assert state.folded_until is not None
    log = dstore.decision_log(
        bank_engine, policy_version_id=version, until=state.folded_until
    )
    assert state.n_rewards == int((log["rank"] == 1).sum())

    # the value column is the truth: recompute week 1 from the world's model
    # (responses updated holdings after week 1, so week 1 is the clean one)
    fresh = World.load(decisioning_bank)
    d = dstore.decision_log(bank_engine, policy_version_id=version)
    week2 = dt.datetime.combine(
        dt.date.fromisoformat(frame["start"].iloc[1]), dt.time()
    )
    first = d[d["ts"] < week2]
    truth = fresh.probabilities(
        first["customer_id"].to_numpy(str), first["offer_id"].to_numpy(str), 0
    )
    assert result.weeks[0].value == pytest.approx(truth.uplift_value.sum(), rel=1e-9)
    assert all(isinstance(json.loads(e), list) for e in d["eligible"])


def test_loop_refuses_a_world_that_does_not_know_the_offers(
    bank_engine: Engine, customers: Customers, decisioning_bank: Path
) -> None:
    world = World.load(decisioning_bank)
    world.offer_ids = [o for o in world.offer_ids if o != "cc_cashback"]
    world._offer_index = {o: i for i, o in enumerate(world.offer_ids)}
    config = LoopConfig(
        weeks=1, requests_per_week=5, customers=tuple(customers.take(5))
    )
    with pytest.raises(NboError, match=r"offers cc_cashback.*does not know"):
        run_loop(bank_engine, world, config, between_weeks=lambda e, t: [])


def test_loop_config_names_each_bad_field() -> None:
    with pytest.raises(NboError, match=r"weeks: expected >= 1, got 0.*resend_share"):
        LoopConfig(weeks=0, resend_share=2.0)
    with pytest.raises(NboError, match=r"start: expected a Monday, got 2026-01-06"):
        LoopConfig(start=dt.date(2026, 1, 6))


def test_cli_loop_explains_a_folder_without_truth(tmp_path: Path) -> None:
    from nbo_engine.cli import app

    r = CliRunner().invoke(app, ["simulate", "loop", "--bank", str(tmp_path)])
    assert r.exit_code == 2
    assert "no truth/params.json" in r.output
