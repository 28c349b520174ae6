"""Contact caps hold when two processes decide for the same customers at once.

A policy allowing one web contact a day; two processes, released together by
one start signal, each ask once for every customer of the same list in the
same order, so their requests for a customer arrive within a millisecond or
so of each other. Without the per-customer lock taken before the contact
history is read, both would read "no contact today" and both serve (this
test fails that way when the lock is removed).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
from typing import Any

from sqlalchemy import func, select

from nbo_engine.decisioning import Decider
from nbo_engine.store import Engine, make_engine, read
from nbo_engine.store.tables import metadata
from tests.scored_bank import NOW_ISO, Customers, catalog_with, serving

DECISIONS = metadata.tables["decisions"]
OFFERS = metadata.tables["decision_offers"]
ONE_A_DAY = {
    "per_channel": {"web": {"per_day": 1, "per_week": 1, "per_month": 1}},
    "all_channels": {},
}


def _worker(url: str, customer_ids: list[str], start: Any, out: Any) -> None:
    from nbo_engine.store.engine import dispose_all

    dispose_all()
    try:
        decider = Decider.load(make_engine(url))
        now = dt.datetime.fromisoformat(NOW_ISO)
        start.wait(timeout=60)  # both loaded: go together
        served = 0
        for cid in customer_ids:
            served += bool(decider.decide(cid, "web", 1, now=now).offers)
        out.put(served)
    except Exception as exc:  # report to the parent instead of hanging it
        out.put(f"{type(exc).__name__}: {exc}")


def test_caps_hold_across_two_processes(
    bank_engine: Engine, bank_url: str, customers: Customers
) -> None:
    ids = customers.take(60)
    with serving(bank_engine, catalog_with(name="one_a_day", contact=ONE_A_DAY)):
        ctx = mp.get_context("spawn")
        start, out = ctx.Barrier(2), ctx.Queue()
        procs = [
            ctx.Process(target=_worker, args=(bank_url, ids, start, out))
            for _ in range(2)
        ]
        for p in procs:
            p.start()
        served = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
    assert all(isinstance(s, int) for s in served), served
    with read(bank_engine) as conn:
        per_customer = dict(
            conn.execute(
                select(
                    DECISIONS.c.customer_id,
                    func.count(func.distinct(DECISIONS.c.decision_id)),
                )
                .join(OFFERS, OFFERS.c.decision_id == DECISIONS.c.decision_id)
                .where(DECISIONS.c.customer_id.in_(ids), DECISIONS.c.mode == "live")
                .group_by(DECISIONS.c.customer_id)
            ).all()
        )
        logged = conn.execute(
            select(func.count()).where(DECISIONS.c.customer_id.in_(ids))
        ).scalar_one()
    assert logged == 2 * len(ids)  # every request logged
    assert per_customer, "nobody was eligible: the test proves nothing"
    assert max(per_customer.values()) == 1, per_customer  # the cap held for each
    assert sum(served) == len(per_customer)
