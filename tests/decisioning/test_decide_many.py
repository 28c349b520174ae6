"""Batched decisions (``Decider.decide_many``, the API's micro-batches) on a
scored simulated bank, on SQLite and PostgreSQL: each request decided as if
alone, caps counting earlier requests of the same batch, one bad request
failing alone, a failed commit logging nothing, the API's batcher grouping
requests that arrive together, and the event batcher answering each request
as if its events were stored alone."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import yaml
from sqlalchemy import func, select

from nbo_engine.api.batching import DecisionBatcher, EventBatcher
from nbo_engine.api.deciding import DeciderHolder
from nbo_engine.api.metrics import DECISION_BATCH
from nbo_engine.decisioning import Decider, replay_decision
from nbo_engine.decisioning.decide import DecisionRequest, DecisionResult
from nbo_engine.errors import (
    DecisionInputError,
    UnknownCustomerError,
    UnknownDecisionError,
)
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as store
from nbo_engine.store.events import (
    EventBatchResult,
    EventIn,
    count_events,
    record_events,
)
from nbo_engine.store.tables import metadata
from tests.scored_bank import NOW_ISO, Customers, catalog_with, serving

NOW = dt.datetime.fromisoformat(NOW_ISO)
DECISIONS = metadata.tables["decisions"]


def _logged(engine: Engine, customer_ids: list[str]) -> int:
    with read(engine) as conn:
        return int(
            conn.execute(
                select(func.count()).where(DECISIONS.c.customer_id.in_(customer_ids))
            ).scalar_one()
        )


def test_each_request_of_a_batch_replays_from_the_log(
    bank_engine: Engine, customers: Customers
) -> None:
    decider = Decider.load(bank_engine, seed=11)
    ids = customers.take(10)
    answers = decider.decide_many([DecisionRequest(c, "web", 2) for c in ids], now=NOW)
    assert all(isinstance(a, DecisionResult) for a in answers)
    results = [a for a in answers if isinstance(a, DecisionResult)]
    assert [r.customer_id for r in results] == ids  # request order
    assert sum(bool(r.offers) for r in results) >= 5
    for r in results:
        replay = replay_decision(bank_engine, r.decision_id)
        assert replay.matches, (r.decision_id, replay)
        assert r.latency_ms >= 0


def test_a_customer_twice_in_a_batch_counts_the_first_contact(
    bank_engine: Engine, customers: Customers
) -> None:
    """The catalogue allows 3 web contacts a day: of six requests for one
    customer in one batch, exactly three are served, and all six logged."""
    decider = Decider.load(bank_engine, seed=12)
    (cid,) = customers.take()
    (other,) = customers.take()
    requests = [DecisionRequest(cid, "web", 1) for _ in range(6)]
    requests.insert(2, DecisionRequest(other, "web", 1))
    answers = decider.decide_many(requests, now=NOW)
    mine = [a for a, r in zip(answers, requests, strict=True) if r.customer_id == cid]
    assert all(isinstance(a, DecisionResult) for a in mine)
    served = sum(bool(a.offers) for a in mine if isinstance(a, DecisionResult))
    if served == 0:
        pytest.skip("this customer is eligible for nothing on the web")
    assert served == 3
    blocked = {
        a.blocked for a in mine if isinstance(a, DecisionResult) and not a.offers
    }
    assert blocked == {"contact_cap"}
    assert _logged(bank_engine, [cid]) == 6
    for a in answers:
        assert isinstance(a, DecisionResult)
        assert replay_decision(bank_engine, a.decision_id).matches


def test_a_bad_request_fails_alone(bank_engine: Engine, customers: Customers) -> None:
    decider = Decider.load(bank_engine, seed=13)
    good = customers.take(2)
    answers = decider.decide_many(
        [
            DecisionRequest(good[0], "web", 1),
            DecisionRequest("NO-SUCH-CUSTOMER", "web", 1),
            DecisionRequest(good[1], "carrier_pigeon", 1),
            DecisionRequest(good[1], "mobile", 1),
        ],
        now=NOW,
    )
    assert isinstance(answers[0], DecisionResult)
    assert isinstance(answers[1], UnknownCustomerError)
    assert isinstance(answers[2], DecisionInputError)
    assert "channel" in str(answers[2])
    assert isinstance(answers[3], DecisionResult)
    assert _logged(bank_engine, ["NO-SUCH-CUSTOMER"]) == 0
    assert _logged(bank_engine, good) == 2


def test_a_failed_commit_logs_nothing_of_the_batch(
    bank_engine: Engine, customers: Customers
) -> None:
    """Two deciders with one seed give the same decision ids to the same
    requests: the second batch breaks the log's primary key, so each of its
    requests gets the database's error and none of its rows is written."""
    ids = customers.take(3)
    first = Decider.load(bank_engine, seed=14)
    second = Decider.load(bank_engine, seed=14)
    fresh = customers.take(1)
    done = first.decide_many([DecisionRequest(c, "web", 1) for c in ids], now=NOW)
    assert all(isinstance(a, DecisionResult) for a in done)
    before = _logged(bank_engine, ids + fresh)
    again = second.decide_many(
        [DecisionRequest(c, "web", 1) for c in ids + fresh], now=NOW
    )
    assert all(isinstance(a, Exception) for a in again)
    assert not any(isinstance(a, DecisionResult) for a in again)
    assert _logged(bank_engine, ids + fresh) == before


def test_the_api_batcher_decides_requests_that_arrive_together_in_one_batch(
    bank_engine: Engine, customers: Customers
) -> None:
    ids = customers.take(12)
    holder = DeciderHolder(bank_engine)
    batcher = DecisionBatcher(holder, lambda: NOW, max_batch=8)
    before = next(iter(DECISION_BATCH.collect())).samples

    def count_of(samples: list) -> float:  # type: ignore[type-arg]
        return next(s.value for s in samples if s.name.endswith("_count"))

    async def run() -> list[DecisionResult | BaseException]:
        try:
            return await asyncio.gather(
                *(batcher.decide(DecisionRequest(c, "web", 1)) for c in ids),
                batcher.decide(DecisionRequest("NO-SUCH-CUSTOMER", "web", 1)),
                return_exceptions=True,
            )
        finally:
            await batcher.close()

    answers = asyncio.run(run())
    assert [a.customer_id for a in answers[:12]] == ids  # type: ignore[union-attr]
    assert isinstance(answers[12], UnknownCustomerError)
    # 13 requests queued before the first batch started: batches of 8 and 5
    after = next(iter(DECISION_BATCH.collect())).samples
    assert count_of(after) - count_of(before) == 2
    assert _logged(bank_engine, ids) == 12


def test_the_event_batcher_answers_each_request_as_if_stored_alone(
    bank_engine: Engine, customers: Customers
) -> None:
    """Four requests waiting together: the second resends an event of the
    first (its duplicate, stored once), the third names an unknown decision
    (refused alone), the fourth repeats an id within itself."""
    decider = Decider.load(bank_engine, seed=15)
    served: list[DecisionResult] = []
    for _ in range(12):  # one customer at a time: the pool is shared
        r = decider.decide(customers.take()[0], "web", 1, now=NOW)
        if r.offers:
            served.append(r)
        if len(served) == 2:
            break
    assert len(served) == 2
    (a, b) = served

    def ev(event_id: str, r: DecisionResult, kind: str = "impression") -> EventIn:
        return EventIn(
            f"{r.decision_id}-{event_id}",
            r.decision_id,
            r.offers[0].offer_id,
            kind,
            NOW.replace(tzinfo=None) + dt.timedelta(minutes=1),
        )

    batcher = EventBatcher(bank_engine, lambda: NOW, max_batch=8)
    bad = EventIn("x-1", "NO-SUCH-DECISION", "cc_cashback", "click", NOW)
    requests = [
        [ev("imp", a), ev("acc", a, "accept")],
        [ev("imp", a), ev("imp", b)],
        [bad],
        [ev("clk", b, "click"), ev("clk", b, "click")],
    ]

    async def run() -> list[EventBatchResult | BaseException]:
        try:
            return await asyncio.gather(
                *(batcher.record(r) for r in requests), return_exceptions=True
            )
        finally:
            await batcher.close()

    first, second, third, fourth = asyncio.run(run())
    assert isinstance(first, EventBatchResult)
    assert first.inserted == 2
    assert isinstance(second, EventBatchResult)
    assert (second.inserted, second.duplicate_event_ids) == (
        1,
        (f"{a.decision_id}-imp",),
    )
    assert isinstance(third, UnknownDecisionError)
    assert isinstance(fourth, EventBatchResult)
    assert (fourth.inserted, fourth.duplicates) == (1, 1)
    assert count_events(bank_engine, decision_id=a.decision_id) == 2
    assert count_events(bank_engine, decision_id=b.decision_id) == 2
    assert count_events(bank_engine, decision_id="NO-SUCH-DECISION") == 0


def test_events_update_the_profile_the_next_decision_reads(
    bank_engine: Engine, customers: Customers
) -> None:
    """An accept makes the product held at once (no second savings offer
    before the next ingest), and a click moves the customer into a segment
    whose rule reads the real-time fields (dynamic reassignment)."""
    data = yaml.safe_load(catalog_with(name="realtime_test", plain_offers=True))
    data["contact"] = {"per_channel": {}, "all_channels": {}}
    data["segment_rules"] = {
        "dormant_light": "rt_clicks_7 >= 1",  # first: the first rule that holds wins
        **data["segment_rules"],
    }
    savings = next(o for o in data["offers"] if o["id"] == "savings_boost")
    data["offers"].append(
        {
            **savings,
            "id": "engaged_only",
            "product": "insurance",
            "messages": {},
            "eligibility": 'in_segment("dormant_light")',
        }
    )
    with serving(bank_engine, yaml.safe_dump(data, sort_keys=False)):
        decider = Decider.load(bank_engine, seed=16)
        for _ in range(40):  # one customer at a time: the pool is shared
            (cid,) = customers.take()
            first = decider.decide(cid, "web", 3, now=NOW)
            if "savings_boost" in [o.offer_id for o in first.offers]:
                break
        else:
            pytest.skip("savings_boost served to none of 40 customers")
        before = store.decision_record(bank_engine, first.decision_id)
        assert before is not None
        assert "engaged_only" not in before["eligible"]
        t = NOW.replace(tzinfo=None)
        record_events(
            bank_engine,
            [
                EventIn(
                    f"{first.decision_id}-{kind}",
                    first.decision_id,
                    "savings_boost",
                    kind,
                    t + dt.timedelta(minutes=m),
                )
                for kind, m in (("click", 1), ("accept", 2))
            ],
            received_at=NOW,
        )
        later = decider.decide(cid, "web", 3, now=NOW + dt.timedelta(minutes=5))
        after = store.decision_record(bank_engine, later.decision_id)
        assert after is not None
        assert "savings_boost" not in after["eligible"]  # holds savings now
        assert "engaged_only" in after["eligible"]  # segment dormant_light now
        assert replay_decision(bank_engine, later.decision_id).matches
