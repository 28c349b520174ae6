"""Reward fold-in: closed attribution windows go into the bandit exactly once."""

from __future__ import annotations

import datetime as dt

import numpy as np
from sqlalchemy import func, select

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning import Decider
from nbo_engine.jobs.fold_rewards import fold_rewards
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as store
from nbo_engine.store.events import EventIn, record_events
from nbo_engine.store.tables import metadata
from tests.scored_bank import NOW_ISO, Customers, catalog_with, serving

NOW = dt.datetime.fromisoformat(NOW_ISO)
NAIVE = NOW.replace(tzinfo=None)
EVENTS = metadata.tables["offer_events"]


def test_fold_counts_each_decision_once_and_equals_a_direct_update(
    bank_engine: Engine, customers: Customers
) -> None:
    with serving(bank_engine, catalog_with(name="fold_probe")) as version:
        decider = Decider.load(bank_engine)
        results = [decider.decide(c, "web", 1, now=NOW) for c in customers.take(12)]
        served = [r for r in results if r.offers]
        assert len(served) >= 6
        init = store.latest_bandit_state(bank_engine, version)
        assert init is not None
        assert init.source == "init"
        accepted = served[:2]
        late = served[2]
        events = [
            EventIn(f"fold-{r.decision_id}", r.decision_id, r.offers[0].offer_id,
                    "accept", NAIVE + dt.timedelta(days=1))
            for r in accepted
        ] + [
            EventIn(f"fold-late-{late.decision_id}", late.decision_id,
                    late.offers[0].offer_id, "conversion",
                    NAIVE + dt.timedelta(days=45))
        ]  # fmt: skip
        record_events(bank_engine, events, received_at=dt.datetime.now(dt.UTC))

        # Windows still open: nothing is folded.
        early = fold_rewards(
            bank_engine, now=NOW + dt.timedelta(days=10), policy_version_ids=[version]
        )
        assert [r.new_state_id for r in early] == [None]

        done = fold_rewards(
            bank_engine, now=NOW + dt.timedelta(days=31), policy_version_ids=[version]
        )
        (r,) = done
        assert r.new_state_id is not None
        assert r.rewards == len(served)
        assert r.positive == 2  # the conversion after 45 days is outside the window
        new = store.latest_bandit_state(bank_engine, version)
        assert new is not None
        assert new.id == r.new_state_id
        assert new.n_rewards == len(served)
        assert new.folded_until == NAIVE + dt.timedelta(days=1)

        # The same update done by hand from the initial state gives the same bytes.
        by_hand = BanditPolicy.from_bytes(init.state)
        logged = [store.decision_record(bank_engine, x.decision_id) for x in served]
        index = {str(o["id"]): i for i, o in enumerate(_catalog_offers())}
        X = np.asarray([rec["context"] for rec in logged if rec is not None])
        arms = np.asarray([index[x.offers[0].offer_id] for x in served], np.int64)
        rewards = np.asarray(
            [1.0 if x in accepted else 0.0 for x in served], np.float64
        )
        by_hand.update(X, arms, rewards)
        folded = BanditPolicy.from_bytes(new.state)
        names = list(by_hand._array_shapes())
        assert names
        for name in names:  # same statistics (row order may differ: float sums)
            np.testing.assert_allclose(
                getattr(folded, f"{name}_"), getattr(by_hand, f"{name}_"), rtol=1e-9
            )
        unchanged = BanditPolicy.from_bytes(init.state)
        assert any(
            not np.allclose(getattr(folded, f"{n}_"), getattr(unchanged, f"{n}_"))
            for n in names
        )

        # Every event of the folded decisions is marked with the new state.
        with read(bank_engine) as conn:
            marked = conn.execute(
                select(func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.folded_state_id == new.id)
            ).scalar_one()
        assert marked == len(events)

        # Running again, now or later, counts nothing twice.
        again = fold_rewards(
            bank_engine, now=NOW + dt.timedelta(days=31), policy_version_ids=[version]
        )
        later = fold_rewards(
            bank_engine, now=NOW + dt.timedelta(days=90), policy_version_ids=[version]
        )
        assert [x.new_state_id for x in again + later] == [None, None]
        assert store.latest_bandit_state(bank_engine, version).id == new.id  # type: ignore[union-attr]

        # The decider serves from the new state.
        assert decider.refresh()
        follow = decider.decide(customers.take(1)[0], "web", 1, now=NOW)
        record = store.decision_record(bank_engine, follow.decision_id)
        assert record is not None
        assert record["bandit_state_id"] == new.id


def _catalog_offers() -> list[dict[str, object]]:
    import yaml

    return list(yaml.safe_load(catalog_with(name="fold_probe"))["offers"])


def test_a_carried_bandit_goes_on_learning_from_the_versions_before_it(
    bank_engine: Engine, customers: Customers
) -> None:
    from nbo_engine.jobs.retune import _carry_bandit
    from nbo_engine.policy import parse_policy

    text = catalog_with(name="lineage_probe")
    with serving(bank_engine, text) as old:
        decider = Decider.load(bank_engine)
        first = [decider.decide(c, "web", 1, now=NOW) for c in customers.take(10)]
        n_old = sum(1 for r in first if r.offers)
        assert n_old >= 4
        # a retune carries the old version's bandit over to a new version
        with serving(bank_engine, text) as new:
            assert _carry_bandit(bank_engine, old, new, parse_policy(text))
            carried = store.latest_bandit_state(bank_engine, new)
            assert carried is not None
            old_state = store.latest_bandit_state(bank_engine, old)
            assert old_state is not None
            assert carried.carried_from_state_id == old_state.id
            assert store.lineage_heads(bank_engine).get(old) == new
            decider.refresh()
            later = [
                decider.decide(c, "web", 1, now=NOW + dt.timedelta(days=2))
                for c in customers.take(10)
            ]
            n_new = sum(1 for r in later if r.offers)
            assert n_new >= 4
            # the old version's decisions (windows now closed) and the new
            # one's fold into the new version's state; the old one's stays
            (r,) = fold_rewards(
                bank_engine,
                now=NOW + dt.timedelta(days=40),
                policy_version_ids=[old, new],
            )
            assert r.policy_version_id == new
            assert r.rewards == n_old + n_new
            head = store.latest_bandit_state(bank_engine, new)
            assert head is not None
            assert head.n_rewards == n_old + n_new
            assert store.latest_bandit_state(bank_engine, old).id == old_state.id  # type: ignore[union-attr]
            # nothing twice: folding again, or the old version alone, adds nothing
            again = fold_rewards(
                bank_engine,
                now=NOW + dt.timedelta(days=60),
                policy_version_ids=[old, new],
            )
            assert [x.new_state_id for x in again] == [None]
            alone = fold_rewards(
                bank_engine, now=NOW + dt.timedelta(days=60), policy_version_ids=[old]
            )
            assert [x.policy_version_id for x in alone] == [new]
            assert [x.new_state_id for x in alone] == [None]
