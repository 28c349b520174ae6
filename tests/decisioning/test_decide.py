"""Decisions end to end on a scored simulated bank, on SQLite and PostgreSQL:
the log, propensities, contact policy, consent, shadow mode, replay, refresh."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import numpy as np
import pytest
from sqlalchemy import insert, select, update

from nbo_engine.decisioning import Decider, replay_decision
from nbo_engine.errors import NoActivePolicyError
from nbo_engine.policy import parse_policy, render_message
from nbo_engine.store import Engine, read, write
from nbo_engine.store import decisions as store
from nbo_engine.store.tables import metadata
from tests.scored_bank import NOW_ISO, Customers, catalog_with, serving

NOW = dt.datetime.fromisoformat(NOW_ISO)
DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
EVENTS = metadata.tables["offer_events"]
CUSTOMERS = metadata.tables["customers"]
NO_CAPS = {"per_channel": {}, "all_channels": {}, "cooldown_after_decline_days": 30}


def _offers_for(engine: Engine, decision_id: str) -> list[dict[str, object]]:
    with read(engine) as conn:
        rows = conn.execute(
            select(OFFERS)
            .where(OFFERS.c.decision_id == decision_id)
            .order_by(OFFERS.c.rank)
        ).mappings()
        return [dict(r) for r in rows]


def _first_served(
    decider: Decider, customers: Customers, channel: str = "web", n: int = 3
) -> tuple[str, object]:
    """A fresh customer who gets at least one offer on ``channel``."""
    for _ in range(40):
        (cid,) = customers.take()
        r = decider.decide(cid, channel, n, now=NOW)
        if r.offers:
            return cid, r
    raise AssertionError("no customer of 40 got an offer")


def test_decision_is_logged_whole(bank_engine: Engine, customers: Customers) -> None:
    decider = Decider.load(bank_engine, seed=1)
    cid, r = _first_served(decider, customers)
    assert r.customer_id == cid
    assert r.channel == "web"
    assert r.policy_name == "retail_default"  # type: ignore[attr-defined]
    assert r.shadow_decision_id is None  # type: ignore[attr-defined]
    rec = store.decision_record(bank_engine, r.decision_id)  # type: ignore[attr-defined]
    assert rec is not None
    assert rec["mode"] == "live"
    assert rec["policy_version_id"] == r.policy_version_id
    assert rec["bandit_state_id"] == decider.live.bandit_state_id
    assert rec["snapshot_id"] == decider.snapshot_id
    assert len(rec["context"]) == decider.live.context.n_features
    served = [o.offer_id for o in r.offers]  # type: ignore[attr-defined]
    assert set(served) <= set(rec["eligible"])
    assert [o["offer_id"] for o in rec["offers"]] == served
    assert [o["rank"] for o in rec["offers"]] == list(range(1, len(served) + 1))
    for o, logged in zip(r.offers, rec["offers"], strict=True):  # type: ignore[attr-defined]
        assert 0 < o.propensity <= 1
        assert logged["propensity"] == o.propensity
        assert o.priority == pytest.approx(o.p_accept * o.value)
        assert o.priority >= decider.live.spec.arbitration.min_priority
        assert logged["message"] == o.message
        # the message is the policy's template with whitelisted fields only
        with read(bank_engine) as conn:
            person = conn.execute(
                select(CUSTOMERS.c.first_name, CUSTOMERS.c.city).where(
                    CUSTOMERS.c.customer_id == cid
                )
            ).one()
        template = decider.live.spec.offers[
            decider.live.offer_ids.index(o.offer_id)
        ].message
        assert o.message == render_message(
            template, {"first_name": person[0] or "", "city": person[1] or ""}
        )


def test_priority_is_the_policy_formula(bank_engine: Engine) -> None:
    decider = Decider.load(bank_engine)
    pol = decider.live
    p = np.linspace(0.01, 0.5, pol.n_offers)
    for seg in (None, "stretched_borrowers", "affluent_savers"):
        want = pol.spec.priorities(p[None, :], [seg or "none"])[0]
        got = p * pol.margin * pol.levers(seg)
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_propensities_match_choice_frequencies(
    bank_engine: Engine, customers: Customers
) -> None:
    """Epsilon-greedy without caps: each offer's logged propensity is the
    probability it is chosen, so over N decisions its count is Binomial(N, p);
    4.5 sd bounds keep the false-alarm rate below 1e-4 over all offers."""
    text = catalog_with(
        name="eps_test",
        contact=NO_CAPS,
        bandit={
            "type": "epsilon_greedy",
            "params": {"epsilon": 0.6},
            "features": ["age"],
        },
    )
    with serving(bank_engine, text):
        decider = Decider.load(bank_engine, seed=7)
        cid, _first = _first_served(decider, customers, n=1)
        n = 300
        chosen: Counter[str] = Counter()
        props: dict[str, set[float]] = {}
        for _ in range(n):
            r = decider.decide(cid, "web", 1, now=NOW)
            (o,) = r.offers
            chosen[o.offer_id] += 1
            props.setdefault(o.offer_id, set()).add(round(o.propensity, 12))
        eligible = store.decision_record(bank_engine, r.decision_id)["eligible"]  # type: ignore[index]
        assert len(eligible) >= 2
        total = 0.0
        for offer, ps in props.items():
            assert len(ps) == 1  # same state, same context: same propensity
            p = next(iter(ps))
            assert 0 < p <= 1
            total += p
            sd = np.sqrt(n * p * (1 - p))
            assert abs(chosen[offer] - n * p) <= 4.5 * sd + 1, (offer, chosen[offer], p)
        # offers never chosen must have small probability: the seen ones sum to ~1
        assert total == pytest.approx(1.0, abs=0.6 / len(eligible) * 2 + 1e-9)


def test_second_rank_propensity_is_conditional(
    bank_engine: Engine, customers: Customers
) -> None:
    text = catalog_with(
        name="eps_rank",
        contact=NO_CAPS,
        bandit={"type": "epsilon_greedy", "params": {"epsilon": 0.5}, "features": []},
    )
    with serving(bank_engine, text):
        decider = Decider.load(bank_engine, seed=3)
        _cid, r = _first_served(decider, customers, n=2)
        rec = store.decision_record(bank_engine, r.decision_id)  # type: ignore[attr-defined]
        k = len(rec["eligible"])  # type: ignore[index]
        if k >= 3:
            second = r.offers[1].propensity  # type: ignore[attr-defined]
            # epsilon-greedy over the k-1 offers left: eps/(k-1) or more
            assert second >= 0.5 / (k - 1) - 1e-12


def test_contact_caps_hold(bank_engine: Engine, customers: Customers) -> None:
    """Catalogue caps: web 3 a day; all channels 3 a day."""
    decider = Decider.load(bank_engine, seed=2)
    cid, _ = _first_served(decider, customers)
    served = 1
    for minute in range(1, 6):
        r = decider.decide(cid, "web", 3, now=NOW + dt.timedelta(minutes=minute))
        served += bool(r.offers)
    assert served == 3
    # the next day, room again
    r = decider.decide(cid, "web", 1, now=NOW + dt.timedelta(days=1, minutes=1))
    assert r.offers
    with read(bank_engine) as conn:
        logged = conn.execute(
            select(DECISIONS.c.decision_id).where(DECISIONS.c.customer_id == cid)
        ).all()
    assert len(logged) == 7  # every request is logged, served or not


def test_cool_down_after_decline_and_suppression(
    bank_engine: Engine, customers: Customers
) -> None:
    text = catalog_with(
        plain_offers=True,
        name="cooldown_test",
        contact={
            "per_channel": {},
            "all_channels": {},
            "cooldown_after_decline_days": 30,
            "suppression": {"after_impressions": 2, "window_days": 30},
        },
    )
    with serving(bank_engine, text):
        decider = Decider.load(bank_engine, seed=4)
        cid, r = _first_served(decider, customers)
        rec = store.decision_record(bank_engine, r.decision_id)  # type: ignore[attr-defined]
        declined = r.offers[0].offer_id  # type: ignore[attr-defined]
        assert declined in rec["eligible"]  # type: ignore[index]
        with write(bank_engine) as conn:
            conn.execute(
                insert(EVENTS),
                [
                    {
                        "event_id": f"ev-{cid}-1",
                        "decision_id": r.decision_id,  # type: ignore[attr-defined]
                        "customer_id": cid,
                        "offer_id": declined,
                        "type": "decline",
                        "ts": NOW.replace(tzinfo=None) + dt.timedelta(minutes=1),
                        "received_at": NOW,
                    }
                ],
            )
        later = NOW + dt.timedelta(days=5)
        r2 = decider.decide(cid, "web", 3, now=later)
        rec2 = store.decision_record(bank_engine, r2.decision_id)
        assert declined not in rec2["eligible"]  # type: ignore[index]
        # cool-down over after 30 days
        r3 = decider.decide(cid, "web", 3, now=NOW + dt.timedelta(days=31))
        assert (
            declined in store.decision_record(bank_engine, r3.decision_id)["eligible"]
        )  # type: ignore[index]

        # suppression: two impressions of another offer without a response
        other = next(o for o in rec2["eligible"] if o != declined)  # type: ignore[index]
        base = NOW.replace(tzinfo=None) + dt.timedelta(days=40)
        with write(bank_engine) as conn:
            conn.execute(
                insert(EVENTS),
                [
                    {
                        "event_id": f"ev-{cid}-imp{i}",
                        "decision_id": r2.decision_id,
                        "customer_id": cid,
                        "offer_id": other,
                        "type": "impression",
                        "ts": base + dt.timedelta(hours=i),
                        "received_at": NOW,
                    }
                    for i in range(2)
                ],
            )
        at = NOW + dt.timedelta(days=41)
        r4 = decider.decide(cid, "web", 3, now=at)
        assert (
            other not in store.decision_record(bank_engine, r4.decision_id)["eligible"]
        )  # type: ignore[index]
        with write(bank_engine) as conn:
            conn.execute(
                insert(EVENTS).values(
                    event_id=f"ev-{cid}-click",
                    decision_id=r2.decision_id,
                    customer_id=cid,
                    offer_id=other,
                    type="click",
                    ts=base + dt.timedelta(hours=5),
                    received_at=NOW,
                )
            )
        r5 = decider.decide(cid, "web", 3, now=at + dt.timedelta(minutes=1))
        assert other in store.decision_record(bank_engine, r5.decision_id)["eligible"]  # type: ignore[index]


def test_do_not_contact_consent_and_quiet_hours(
    bank_engine: Engine, customers: Customers
) -> None:
    decider = Decider.load(bank_engine, seed=5)
    # A customer served by email (consent given) and on mobile by day; the
    # contact caps (3 a day across channels, 2 on mobile) leave room for a
    # third, night-time mobile request, so only quiet hours can refuse it.
    for _ in range(40):
        (cid,) = customers.take()
        if decider.decide(cid, "email", 1, now=NOW).offers and (
            decider.decide(cid, "mobile", 1, now=NOW + dt.timedelta(hours=1)).offers
        ):
            break
    else:
        raise AssertionError("no customer of 40 was served by email and mobile")
    # quiet hours 21:00-08:00 London on call_centre and mobile
    night = dt.datetime(2026, 4, 15, 22, 30, tzinfo=dt.UTC)  # 23:30 in London
    assert not decider.decide(cid, "mobile", 1, now=night).offers
    # withdrawn consent: nothing by email, still on web (a service page)
    with write(bank_engine) as conn:
        conn.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.customer_id == cid)
            .values(marketing_consent=False)
        )
    assert not decider.decide(cid, "email", 1, now=NOW + dt.timedelta(days=2)).offers
    assert decider.decide(cid, "web", 1, now=NOW + dt.timedelta(days=2)).offers
    with write(bank_engine) as conn:
        conn.execute(
            update(CUSTOMERS)
            .where(CUSTOMERS.c.customer_id == cid)
            .values(do_not_contact=True)
        )
    r = decider.decide(cid, "web", 3, now=NOW + dt.timedelta(days=3))
    assert not r.offers
    rec = store.decision_record(bank_engine, r.decision_id)
    assert rec is not None
    assert rec["eligible"] == []
    assert rec["offers"] == []


@pytest.mark.parametrize("bandit", ["linucb", "lints"])
def test_decisions_replay_from_the_log(
    bank_engine: Engine, customers: Customers, bandit: str
) -> None:
    spec = {"type": bandit, "features": ["age", "income_level", "marketing_consent"]}
    with serving(bank_engine, catalog_with(name=f"replay_{bandit}", bandit=spec)):
        decider = Decider.load(bank_engine)
        ids = []
        for cid in customers.take(6):
            for step in range(3):  # history builds up between decisions
                r = decider.decide(cid, "web", 2, now=NOW + dt.timedelta(hours=step))
                ids.append(r.decision_id)
        replays = [replay_decision(bank_engine, d) for d in ids]
    assert any(r.logged["offers"] for r in replays)
    for rp in replays:
        assert rp.eligible == tuple(rp.logged["eligible"]), rp.decision_id
        assert rp.offers == tuple(o["offer_id"] for o in rp.logged["offers"])
        logged = [o["propensity"] for o in rp.logged["offers"]]
        np.testing.assert_allclose(rp.propensities, logged, rtol=0, atol=1e-12)
        np.testing.assert_allclose(rp.propensities_from_log, logged, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(rp.context, rp.logged["context"])
        assert rp.matches
        assert all(0 < p <= 1 for p in logged)


def test_shadow_is_logged_and_never_served(
    bank_engine: Engine, customers: Customers
) -> None:
    shadow_text = catalog_with(
        name="shadow_candidate",
        bandit={"type": "epsilon_greedy", "params": {"epsilon": 1.0}, "features": []},
        arbitration={"max_offers": 3, "min_priority": 0.0},
    )
    with serving(bank_engine, shadow_text, slot="shadow") as shadow_version:
        decider = Decider.load(bank_engine, seed=11)
        assert decider.shadow is not None
        results = [decider.decide(c, "web", 2, now=NOW) for c in customers.take(8)]
        live_ids = {r.decision_id for r in results}
        for r in results:
            assert r.shadow_decision_id is not None
            assert r.shadow_decision_id not in live_ids
            sh = store.decision_record(bank_engine, r.shadow_decision_id)
            assert sh is not None
            assert sh["mode"] == "shadow"
            assert sh["shadow_of"] == r.decision_id
            assert sh["policy_version_id"] == shadow_version
            assert sh["customer_id"] == r.customer_id
            assert sh["ts"] == store.decision_record(bank_engine, r.decision_id)["ts"]
            assert all(0 < o["propensity"] <= 1 for o in sh["offers"])
            served = [o.offer_id for o in r.offers]
            live = store.decision_record(bank_engine, r.decision_id)
            assert served == [o["offer_id"] for o in live["offers"]]  # type: ignore[index]
            assert r.policy_version_id != shadow_version
        # the uniform shadow chose differently from the live policy somewhere
        assert any(
            [
                o["offer_id"]
                for o in store.decision_record(bank_engine, r.shadow_decision_id)[
                    "offers"
                ]
            ]  # type: ignore[arg-type,index]
            != [o.offer_id for o in r.offers]
            for r in results
        )
        assert replay_decision(bank_engine, results[0].shadow_decision_id).matches  # type: ignore[arg-type]
    # shadow contacts do not count toward caps: web 3/day still available
    decider = Decider.load(bank_engine)
    assert decider.shadow is None


def test_refresh_picks_up_a_new_live_version(bank_engine: Engine) -> None:
    decider = Decider.load(bank_engine)
    assert decider.refresh() is False
    before = decider.live.version_id
    with serving(bank_engine, catalog_with(name="refresh_test")) as version:
        assert decider.refresh() is True
        assert decider.live.version_id == version
        assert decider.refresh() is False
        store.save_bandit_state(
            bank_engine,
            version,
            decider.live.bandit.kind,
            decider.live.bandit.to_bytes(),
            source="fold",
        )
        assert decider.refresh() is True
        assert (
            decider.live.bandit_state_id
            == store.latest_bandit_state(bank_engine, version).id
        )  # type: ignore[union-attr]
    assert decider.refresh() is True
    assert decider.live.version_id == before


def test_no_live_policy(engine: Engine) -> None:
    with pytest.raises(NoActivePolicyError, match="no policy version is live"):
        Decider.load(engine)


def test_context_vector_layout(bank_engine: Engine, customers: Customers) -> None:
    decider = Decider.load(bank_engine)
    (cid,) = customers.take()
    r = decider.decide(cid, "mobile", 1, now=NOW)
    rec = store.decision_record(bank_engine, r.decision_id)
    assert rec is not None
    names = decider.live.context.names
    x = dict(zip(names, rec["context"], strict=True))
    assert x["intercept"] == 1.0
    assert x["channel=mobile"] == 1.0
    assert x["channel=web"] == 0.0
    row = json.loads(json.dumps(rec["context"]))
    assert all(np.isfinite(row))
    parse_policy(
        __import__("pathlib").Path("policies/catalog.yaml").read_text()
    )  # the catalogue stays valid
