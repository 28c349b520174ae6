"""Turn a simulated chunk into the input files (Arrow tables) and its truth.

Columns follow the data contract in ``nbo_engine/ingest/schemas.py``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from nbo_engine.ingest.schemas import (
    DIGITAL_CHANNELS,
    INCOME_BANDS,
    MARITAL,
    OCCUPATIONS,
    PRODUCTS,
    SERVICE_CHANNELS,
    SERVICE_REASONS,
    TXN_CATEGORIES,
    TXN_CHANNELS,
)
from nbo_engine.simulate.effects import (
    churn_log_hazard,
    churn_probability,
    take_up_log_hazard,
)
from nbo_engine.simulate.history import P_INDEX, Campaign, History
from nbo_engine.simulate.market import Market
from nbo_engine.simulate.notes import write_notes
from nbo_engine.simulate.params import LIFE_STAGES, WorldParams
from nbo_engine.simulate.population import Population

__all__ = ["ChunkFrames", "build_frames", "id_strings"]

WEEK_S = 7 * 86400


def id_strings(prefix: str, *parts: tuple[NDArray[np.int64], int]) -> pa.Array:
    """Ids like ``T0000001200003`` built in Arrow: prefix + zero-padded parts."""
    pieces = [
        pc.utf8_lpad(
            pc.cast(pa.array(v, pa.int64()), pa.string()), width=w, padding="0"
        )
        for v, w in parts
    ]
    out = pieces[0]
    for p in pieces[1:]:
        out = pc.binary_join_element_wise(out, p, "")
    return pc.binary_join_element_wise(pa.scalar(prefix), out, "")


def _ts(start: np.datetime64, weeks: NDArray[np.float64]) -> pa.Array:
    secs = np.round(weeks * WEEK_S).astype(np.int64)
    return pa.array(start.astype("datetime64[s]") + secs.astype("timedelta64[s]"))


def _date(start: np.datetime64, weeks: NDArray[np.float64]) -> pa.Array:
    days = np.floor(weeks * 7).astype(np.int64)
    return pa.array(start.astype("datetime64[D]") + days.astype("timedelta64[D]"))


class ChunkFrames:
    """The input tables of one chunk plus the truth tables."""

    def __init__(self) -> None:
        self.tables: dict[str, pa.Table] = {}
        self.truth: dict[str, pa.Table] = {}


def build_frames(
    rng: np.random.Generator,
    params: WorldParams,
    pop: Population,
    hist: History,
    market: Market,
    campaigns: tuple[Campaign, ...],
    start: np.datetime64,
    weeks: int,
) -> ChunkFrames:
    """Build every input table for the chunk, and the truth tables."""
    out = ChunkFrames()
    n = pop.n
    cid = id_strings("C", (pop.index, 8))
    end = start + np.timedelta64(7 * weeks, "D")

    # ---------------------------------------------------------------- customers
    out.tables["customers"] = pa.table(
        {
            "customer_id": cid,
            "first_name": pa.array(pop.first_name),
            "last_name": pa.array(pop.last_name),
            "birth_date": pa.array(pop.birth_date.astype("datetime64[D]")),
            "address": pa.array(pop.address),
            "city": pa.array(pop.city),
            "postcode": pa.array(pop.postcode),
            "email": pa.array(pop.email, pa.string()),
            "phone": pa.array(pop.phone, pa.string()),
            "income_band": pa.array(np.asarray(INCOME_BANDS)[pop.income_level]),
            "occupation": pa.array(np.asarray(OCCUPATIONS)[pop.occupation]),
            "marital_status": pa.array(np.asarray(MARITAL)[pop.marital]),
            "dependants": pa.array(pop.dependants.astype(np.int64)),
            "join_date": pa.array(pop.join_date.astype("datetime64[D]")),
            "marketing_consent": pa.array(pop.consent),
            "do_not_contact": pa.array(pop.do_not_contact),
        }
    )

    # ---------------------------------------------------------------- accounts
    held = np.isfinite(hist.open_time)
    a_cust, a_prod = np.nonzero(held)
    a_open = hist.open_time[a_cust, a_prod]
    a_close = hist.close_time[a_cust, a_prod]
    join_week = (pop.join_date[a_cust] - start).astype(np.float64) / 7.0
    # Products held before the window were opened between joining and its start.
    a_open_date = np.maximum(a_open, join_week)
    closed = a_close <= weeks
    bal_path, months = _balance_paths(
        rng, pop, hist, market, a_cust, a_prod, a_open_date, a_close, start, weeks
    )
    last_balance = np.where(closed, 0.0, bal_path[:, -1])
    limit = np.full(a_cust.size, np.nan)
    cc = a_prod == P_INDEX["credit_card"]
    limit[cc] = _card_limit(pop, a_cust[cc])
    cur = a_prod == P_INDEX["current"]
    od = cur & (pop.segment[a_cust] == 2)
    limit[od] = 500.0
    rate = _interest_rate(rng, pop, market, a_cust, a_prod, weeks)
    currency = rng.choice(["GBP", "EUR", "USD"], size=a_cust.size, p=[0.97, 0.02, 0.01])
    currency[a_prod != P_INDEX["current"]] = "GBP"
    joint = np.full(a_cust.size, None, dtype=object)
    jc = cur & hist.joint_current[a_cust]
    joint[jc] = cid.to_numpy(zero_copy_only=False)[a_cust[jc] + 1]
    account_id = id_strings("A", (pop.index[a_cust], 8), (a_prod.astype(np.int64), 1))
    out.tables["accounts"] = pa.table(
        {
            "account_id": account_id,
            "customer_id": cid.take(pa.array(a_cust)),
            "joint_customer_id": pa.array(joint, pa.string()),
            "product": pa.array(np.asarray(PRODUCTS)[a_prod]),
            "open_date": _date(start, a_open_date),
            "close_date": pa.array(
                np.where(
                    closed,
                    start
                    + np.floor(np.where(closed, a_close, 0) * 7).astype(
                        "timedelta64[D]"
                    ),
                    np.datetime64("NaT"),
                ),
                pa.date32(),
            ),
            "balance": pa.array(np.round(last_balance, 2)),
            "credit_limit": pa.array(limit, pa.float64(), mask=np.isnan(limit)),
            "interest_rate": pa.array(rate, pa.float64(), mask=np.isnan(rate)),
            "currency": pa.array(currency),
        }
    )
    acc_lookup = np.full((n, len(PRODUCTS)), -1, dtype=np.int64)
    acc_lookup[a_cust, a_prod] = np.arange(a_cust.size)

    # ---------------------------------------------------------------- balances
    month_week = (months - start).astype(np.float64) / 7.0
    live = (month_week[None, :] >= a_open_date[:, None]) & (
        month_week[None, :] < np.minimum(a_close, weeks + 1)[:, None]
    )
    bi, bm = np.nonzero(live)
    out.tables["balances"] = pa.table(
        {
            "account_id": account_id.take(pa.array(bi)),
            "month_end": pa.array(months[bm]),
            "balance": pa.array(np.round(bal_path[bi, bm], 2)),
        }
    )

    # ---------------------------------------------------------------- transactions
    pc_ = hist.purchase_customer
    pt = hist.purchase_time
    seg_w = np.array([s.category_weights for s in params.segments])
    seg_w = np.cumsum(seg_w / seg_w.sum(axis=1, keepdims=True), axis=1)
    u = rng.random(pc_.size)
    cat = (u[:, None] > seg_w[pop.segment[pc_]]).sum(axis=1)
    cat = np.minimum(cat, len(TXN_CATEGORIES) - 1)
    cash = cat == TXN_CATEGORIES.index("cash")
    utilities = cat == TXN_CATEGORIES.index("utilities")
    online = rng.random(pc_.size) < 0.25 + 0.4 * pop.mobile_share[pc_]
    chan = np.where(
        online, TXN_CHANNELS.index("online"), TXN_CHANNELS.index("card_present")
    )
    chan[cash] = TXN_CHANNELS.index("atm")
    chan[utilities] = TXN_CHANNELS.index("transfer")
    cc_open = hist.open_time[pc_, P_INDEX["credit_card"]]
    cc_close = hist.close_time[pc_, P_INDEX["credit_card"]]
    on_card = (
        (cc_open <= pt)
        & (pt < cc_close)
        & ~cash
        & ~utilities
        & (rng.random(pc_.size) < 0.5)
    )
    acct = np.where(
        on_card,
        acc_lookup[pc_, P_INDEX["credit_card"]],
        acc_lookup[pc_, P_INDEX["current"]],
    )
    rank = np.arange(pc_.size) - np.repeat(
        np.cumsum(np.bincount(pc_, minlength=n)) - np.bincount(pc_, minlength=n),
        np.bincount(pc_, minlength=n),
    )
    out.tables["transactions"] = pa.table(
        {
            "transaction_id": id_strings("T", (pop.index[pc_], 8), (rank, 5)),
            "account_id": account_id.take(pa.array(acct)),
            "customer_id": cid.take(pa.array(pc_)),
            "timestamp": _ts(start, pt),
            "amount": pa.array(np.round(np.maximum(hist.purchase_amount, 0.01), 2)),
            "currency": pa.array(
                np.where(
                    (cat == TXN_CATEGORIES.index("travel"))
                    & (rng.random(pc_.size) < 0.3),
                    "EUR",
                    "GBP",
                )
            ),
            "category": pa.array(np.asarray(TXN_CATEGORIES)[cat]),
            "channel": pa.array(np.asarray(TXN_CHANNELS)[chan]),
        }
    )

    # ---------------------------------------------------------------- digital events
    out.tables["digital_events"] = _digital_events(
        rng, pop, hist, campaigns, params, start, weeks, cid
    )

    # ---------------------------------------------------------------- interactions
    ic = hist.int_customer
    level = np.digitize(hist.int_sentiment, [-0.6, -0.2, 0.2, 0.6]) - 2  # -2..2
    channel = np.where(
        rng.random(ic.size) < pop.branch_share[ic],
        SERVICE_CHANNELS.index("branch"),
        rng.choice([1, 2, 3], size=ic.size, p=[0.6, 0.25, 0.15]),
    )
    irank = np.arange(ic.size) - np.repeat(
        np.cumsum(np.bincount(ic, minlength=n)) - np.bincount(ic, minlength=n),
        np.bincount(ic, minlength=n),
    )
    iid = id_strings("I", (pop.index[ic], 8), (irank, 4))
    out.tables["interactions"] = pa.table(
        {
            "interaction_id": iid,
            "customer_id": cid.take(pa.array(ic)),
            "timestamp": _ts(start, hist.int_time),
            "channel": pa.array(np.asarray(SERVICE_CHANNELS)[channel]),
            "reason": pa.array(np.asarray(SERVICE_REASONS)[hist.int_reason]),
            "note": pa.array(write_notes(rng, hist.int_reason, level)),
            "complaint": pa.array(hist.int_complaint),
        }
    )
    out.truth["interactions"] = pa.table(
        {
            "interaction_id": iid,
            "sentiment": pa.array(hist.int_sentiment),
            "sentiment_level": pa.array(level.astype(np.int8)),
        }
    )

    # ---------------------------------------------------------------- bureau
    out.tables["bureau"] = _bureau(
        rng, pop, hist, bal_path, months, a_cust, a_prod, start, weeks, cid
    )

    # ---------------------------------------------------------------- campaigns
    cc_i = hist.cmp_index
    cmp_week = (
        np.array([c.week for c in campaigns], dtype=np.float64)[cc_i]
        if cc_i.size
        else np.zeros(0)
    )
    offer_ids = np.asarray([o.offer_id for o in params.offers])
    responded = hist.cmp_treated & (hist.cmp_converted | (rng.random(cc_i.size) < 0.06))
    conv_date = np.where(
        hist.cmp_converted & (hist.cmp_convert_time <= weeks),
        hist.cmp_convert_time,
        np.nan,
    )
    out.tables["campaign_history"] = pa.table(
        {
            "contact_id": id_strings(
                "K", (cc_i.astype(np.int64), 3), (pop.index[hist.cmp_customer], 8)
            ),
            "campaign_id": pa.array(
                [campaigns[i].campaign_id for i in cc_i], pa.string()
            ),
            "customer_id": cid.take(pa.array(hist.cmp_customer, pa.int64())),
            "offer_id": pa.array(
                offer_ids[np.array([campaigns[i].offer for i in cc_i], dtype=np.int64)]
                if cc_i.size
                else np.zeros(0, dtype=str),
                pa.string(),
            ),
            "channel": pa.array([campaigns[i].channel for i in cc_i], pa.string()),
            "contact_date": _date(start, cmp_week),
            "treated": pa.array(hist.cmp_treated),
            "treatment_probability": pa.array(np.round(hist.cmp_prob, 4)),
            "responded": pa.array(responded),
            "converted": pa.array(
                hist.cmp_converted & (hist.cmp_convert_time <= weeks)
            ),
            "conversion_date": pa.array(
                np.where(
                    np.isnan(conv_date),
                    np.datetime64("NaT"),
                    start
                    + np.floor(np.nan_to_num(conv_date) * 7).astype("timedelta64[D]"),
                ),
                pa.date32(),
            ),
        }
    )

    out.truth["customers"] = _truth_customers(
        params, pop, hist, market, start, weeks, cid
    )
    if hist.snapshots:
        out.truth["snapshots"] = _truth_snapshots(hist, start, cid)
    del end
    return out


def _card_limit(pop: Population, idx: NDArray[np.int64]) -> NDArray[np.float64]:
    base = np.array([1000.0, 2500.0, 5000.0, 8000.0, 12000.0])[pop.income_level[idx]]
    return np.round(base * np.exp(0.3 * np.clip(pop.credit_quality[idx], -2, 2)), -2)


def _interest_rate(
    rng: np.random.Generator,
    pop: Population,
    market: Market,
    a_cust: NDArray[np.int64],
    a_prod: NDArray[np.int64],
    weeks: int,
) -> NDArray[np.float64]:
    policy = float(market.at(weeks - 1, "policy_rate"))
    rate = np.full(a_cust.size, np.nan)
    cq = pop.credit_quality[a_cust]
    for name, value in (
        ("savings", policy - 0.8 + rng.normal(0, 0.3, a_cust.size)),
        ("credit_card", 24.0 - 2.5 * cq + rng.normal(0, 1.0, a_cust.size)),
        ("personal_loan", 9.0 - 2.0 * cq + rng.normal(0, 0.8, a_cust.size)),
        ("mortgage", policy + 1.2 + rng.normal(0, 0.3, a_cust.size)),
    ):
        m = a_prod == P_INDEX[name]
        rate[m] = value[m]
    return np.round(np.clip(rate, 0.05, 39.9), 2)


def _balance_paths(
    rng: np.random.Generator,
    pop: Population,
    hist: History,
    market: Market,
    a_cust: NDArray[np.int64],
    a_prod: NDArray[np.int64],
    a_open: NDArray[np.float64],
    a_close: NDArray[np.float64],
    start: np.datetime64,
    weeks: int,
) -> tuple[NDArray[np.float64], NDArray[np.datetime64]]:
    """Month-end balances, shape (n_accounts, n_months), and the month ends."""
    first = start.astype("datetime64[M]")
    last = (start + np.timedelta64(7 * weeks, "D")).astype("datetime64[M]")
    months = (np.arange(first, last + 1) + 1).astype("datetime64[D]") - 1
    months = months[
        (months >= start) & (months < start + np.timedelta64(7 * weeks, "D"))
    ]
    m = months.size
    k = a_cust.size
    inc = pop.income_level[a_cust].astype(np.float64)
    cq = pop.credit_quality[a_cust]
    month_week = (months - start).astype(np.float64) / 7.0
    dormant = month_week[None, :] > hist.death_time[a_cust][:, None]
    policy = market.at(month_week.astype(np.int64), "policy_rate")
    out = np.zeros((k, m))

    def sel(name: str) -> NDArray[np.bool_]:
        return a_prod == P_INDEX[name]

    c = sel("current")
    level = np.array([600.0, 1400.0, 2600.0, 4500.0, 8000.0])[
        pop.income_level[a_cust[c]]
    ]
    noise = np.exp(rng.normal(0, 0.35, (c.sum(), m)))
    out[c] = level[:, None] * noise - np.where(pop.segment[a_cust[c]] == 2, 700.0, 0.0)[
        :, None
    ] * rng.random((c.sum(), m))
    out[c] *= np.where(dormant[c], 0.3, 1.0)

    s = sel("savings")
    s0 = np.exp(
        rng.normal(7.2 + 0.55 * inc[s] + 0.8 * (pop.segment[a_cust[s]] == 1), 0.8)
    )
    dep = np.exp(rng.normal(4.5 + 0.35 * inc[s], 0.5))[:, None] * (~dormant[s])
    growth = (1 + policy / 1200.0)[None, :]
    path = np.empty((s.sum(), m))
    cur = s0.copy()
    for j in range(m):
        cur = cur * growth[0, j] + dep[:, j] * rng.random(s.sum())
        path[:, j] = cur
    out[s] = path

    cc = sel("credit_card")
    lim = _card_limit(pop, a_cust[cc])
    util = 1 / (1 + np.exp(cq[cc] + 0.8 + rng.normal(0, 0.6, cc.sum())))
    out[cc] = lim[:, None] * np.clip(
        util[:, None] + rng.normal(0, 0.08, (cc.sum(), m)), 0, 1.1
    )

    lo = sel("personal_loan")
    principal = rng.uniform(3000, 25000, lo.sum())
    term_m = rng.choice([36, 48, 60], size=lo.sum())
    age_m = np.maximum((month_week[None, :] - a_open[lo][:, None]) / 4.345, 0)
    out[lo] = principal[:, None] * np.clip(1 - age_m / term_m[:, None], 0, 1)

    mo = sel("mortgage")
    p_m = np.exp(rng.normal(11.6 + 0.25 * inc[mo], 0.4))
    age_m = np.maximum((month_week[None, :] - a_open[mo][:, None]) / 4.345, 0)
    out[mo] = p_m[:, None] * np.clip(1 - age_m / 300.0, 0, 1)

    iv = sel("investment")
    v0 = np.exp(rng.normal(8.5 + 0.45 * inc[iv], 0.9))
    walk = np.exp(np.cumsum(rng.normal(0.004, 0.035, (iv.sum(), m)), axis=1))
    out[iv] = v0[:, None] * walk
    # insurance: zero balance
    del a_close
    return out, months


def _digital_events(
    rng: np.random.Generator,
    pop: Population,
    hist: History,
    campaigns: tuple[Campaign, ...],
    params: WorldParams,
    start: np.datetime64,
    weeks: int,
    cid: pa.Array,
) -> pa.Table:
    n = pop.n
    stop = np.minimum(hist.closure_time, weeks)
    active_end = np.clip(np.minimum(hist.death_time, stop), hist.t0, None)
    act = np.maximum(active_end - hist.t0, 0)
    dorm = np.maximum(stop - active_end, 0)
    n_log = rng.poisson(pop.logins_per_week * act) + rng.poisson(
        0.15 * pop.logins_per_week * dorm
    )
    lc = np.repeat(np.arange(n), n_log)
    lt = hist.t0[lc] + rng.random(lc.size) * (stop - hist.t0)[lc]
    types = np.zeros(lc.size, dtype=np.int64)
    prods = np.full(lc.size, -1, dtype=np.int64)

    # Product views in the two weeks before an opening inside the window.
    oc, op = np.nonzero(np.isfinite(hist.open_time) & (hist.open_time > 0))
    ot = hist.open_time[oc, op]
    viewed = (
        rng.random(oc.size) < 0.6 * np.clip(pop.logins_per_week[oc], 0.2, 1.5) / 1.5
    )
    k = np.where(viewed, 1 + rng.poisson(1.0, oc.size), 0)
    vc = np.repeat(oc, k)
    vp = np.repeat(op, k)
    vt = np.maximum(np.repeat(ot, k) - rng.random(vc.size) * 2.0, hist.t0[vc])
    # Background browsing.
    n_bg = rng.poisson(0.03 * (act + dorm))
    bc = np.repeat(np.arange(n), n_bg)
    bt = hist.t0[bc] + rng.random(bc.size) * (stop - hist.t0)[bc]
    bp = rng.integers(1, len(PRODUCTS), bc.size)

    # Offer views and clicks for digital campaign contacts.
    if hist.cmp_customer.size:
        ch = np.array([campaigns[i].channel for i in hist.cmp_index])
        dig = hist.cmp_treated & np.isin(ch, ["web", "mobile", "email"])
        ocu = hist.cmp_customer[dig]
        ow = np.array(
            [campaigns[i].week for i in hist.cmp_index[dig]], dtype=np.float64
        )
        seen = rng.random(ocu.size) < 0.5
        ocu, ow = ocu[seen], ow[seen] + rng.random(seen.sum()) * 0.5
        clicked = hist.cmp_converted[dig][seen] | (rng.random(ocu.size) < 0.08)
        ccu, cw = ocu[clicked], ow[clicked] + 0.01
    else:
        ocu = ccu = np.zeros(0, dtype=np.int64)
        ow = cw = np.zeros(0)

    cust = np.concatenate([lc, vc, bc, ocu, ccu])
    time = np.concatenate([lt, vt, bt, ow, cw])
    etype = np.concatenate(
        [
            types,
            np.full(vc.size, 1),
            np.full(bc.size, 1),
            np.full(ocu.size, 2),
            np.full(ccu.size, 3),
        ]
    )
    prod = np.concatenate([prods, vp, bp, np.full(ocu.size + ccu.size, -1)])
    keep = time < np.minimum(hist.closure_time, weeks)[cust]
    cust, time, etype, prod = cust[keep], time[keep], etype[keep], prod[keep]
    o = np.lexsort((time, cust))
    cust, time, etype, prod = cust[o], time[o], etype[o], prod[o]
    chan = np.where(rng.random(cust.size) < pop.mobile_share[cust], 1, 0)
    counts = np.bincount(cust, minlength=n)
    rank = np.arange(cust.size) - np.repeat(np.cumsum(counts) - counts, counts)
    product = np.asarray(PRODUCTS, dtype=object)[np.maximum(prod, 0)]
    product[prod < 0] = None
    from nbo_engine.ingest.schemas import DIGITAL_EVENTS

    return pa.table(
        {
            "event_id": id_strings("E", (pop.index[cust], 8), (rank, 5)),
            "customer_id": cid.take(pa.array(cust)),
            "timestamp": _ts(start, time),
            "channel": pa.array(np.asarray(DIGITAL_CHANNELS)[chan]),
            "event_type": pa.array(np.asarray(DIGITAL_EVENTS)[etype]),
            "product": pa.array(product, pa.string()),
        }
    )


def _bureau(
    rng: np.random.Generator,
    pop: Population,
    hist: History,
    bal_path: NDArray[np.float64],
    months: NDArray[np.datetime64],
    a_cust: NDArray[np.int64],
    a_prod: NDArray[np.int64],
    start: np.datetime64,
    weeks: int,
    cid: pa.Array,
) -> pa.Table:
    n = pop.n
    quarter_ends = months[(months.astype("datetime64[M]").astype(int) % 3) == 2]
    qw = (quarter_ends - start).astype(np.float64) / 7.0
    credit = np.isin(
        a_prod, [P_INDEX["credit_card"], P_INDEX["personal_loan"], P_INDEX["mortgage"]]
    )
    month_idx = np.searchsorted(months, quarter_ends)
    debt = np.zeros((n, quarter_ends.size))
    for q, mi in enumerate(month_idx):
        np.add.at(debt[:, q], a_cust[credit], np.maximum(bal_path[credit, mi], 0))
    external = np.exp(rng.normal(7.0 - 0.5 * pop.credit_quality, 1.0))
    live = (qw[None, :] >= hist.t0[:, None]) & (
        qw[None, :] < hist.closure_time[:, None]
    )
    ci, qi = np.nonzero(live)
    cq = pop.credit_quality[ci]
    delinq = rng.poisson(np.exp(-1.6 - 1.1 * cq))
    score = np.clip(
        np.round(690 + 75 * cq + rng.normal(0, 18, ci.size) - 22 * delinq), 300, 999
    )
    n_credit = np.bincount(a_cust[credit], minlength=n)
    return pa.table(
        {
            "customer_id": cid.take(pa.array(ci)),
            "as_of": pa.array(quarter_ends[qi]),
            "credit_score": pa.array(score.astype(np.int64)),
            "total_debt": pa.array(np.round(debt[ci, qi] + external[ci], 2)),
            "open_trades": pa.array(n_credit[ci] + rng.poisson(1.5, ci.size)),
            "delinquencies_12m": pa.array(delinq.astype(np.int64)),
            "utilisation": pa.array(
                np.round(
                    np.clip(
                        1 / (1 + np.exp(cq + 0.8 + rng.normal(0, 0.5, ci.size))), 0, 1.2
                    ),
                    3,
                )
            ),
        }
    )


def _truth_customers(
    params: WorldParams,
    pop: Population,
    hist: History,
    market: Market,
    start: np.datetime64,
    weeks: int,
    cid: pa.Array,
) -> pa.Table:
    """Latent traits and true future quantities at the end of the window."""
    W = float(weeks)
    open_end = hist.closure_time > W
    active = open_end & (hist.death_time > W)
    mu = pop.lam * pop.p_drop
    horizon = 52.0
    exp_tx = np.where(active, -np.expm1(-mu * horizon) / pop.p_drop, 0.0)
    mean_spend = pop.p_gg / pop.nu
    unemp = float(market.at(weeks - 1, "unemployment_rate"))
    policy = float(market.at(weeks - 1, "policy_rate"))
    hp = market.house_price_change(weeks - 1)
    lh_a = churn_log_hazard(
        params.churn,
        pop.segment,
        pop.life_stage,
        np.zeros(pop.n, bool),
        hist.complaints_last_13w,
        unemp,
    )
    lh_d = churn_log_hazard(
        params.churn,
        pop.segment,
        pop.life_stage,
        np.ones(pop.n, bool),
        hist.complaints_last_13w,
        unemp,
    )
    churn90 = np.where(open_end, churn_probability(90 / 7, active, mu, lh_a, lh_d), 0.0)
    held_end = np.isfinite(hist.open_time) & (hist.close_time > W)
    cols: dict[str, pa.Array] = {
        "customer_id": cid,
        "household_id": id_strings("H", (pop.household, 8)),
        "role": pa.array(pop.role),
        "segment": pa.array(np.asarray([s.name for s in params.segments])[pop.segment]),
        "segment_index": pa.array(pop.segment),
        "life_stage": pa.array(np.asarray(LIFE_STAGES)[pop.life_stage]),
        "life_stage_index": pa.array(pop.life_stage),
        "age": pa.array(pop.age),
        "income_level": pa.array(pop.income_level),
        "lam": pa.array(pop.lam),
        "p_drop": pa.array(pop.p_drop),
        "nu": pa.array(pop.nu),
        "p_gg": pa.array(pop.p_gg),
        "t0": pa.array(hist.t0),
        "x": pa.array(hist.repeat_x),
        "t_x": pa.array(hist.t_x),
        "T": pa.array(W - hist.t0),
        "death_time": pa.array(hist.death_time),
        "closure_time": pa.array(hist.closure_time),
        "active_end": pa.array(active),
        "open_end": pa.array(open_end),
        "expected_purchases_52w": pa.array(exp_tx),
        "expected_spend_52w": pa.array(exp_tx * mean_spend),
        "mean_spend": pa.array(mean_spend),
        "churn_prob_90d": pa.array(churn90),
        "complaints_13w": pa.array(hist.complaints_last_13w),
        "churn_shift_end": pa.array(hist.churn_shift_end),
        "churn_shift_until": pa.array(hist.churn_shift_until),
        "credit_quality": pa.array(pop.credit_quality),
        "logins_per_week": pa.array(pop.logins_per_week),
    }
    for j, product in enumerate(PRODUCTS):
        cols[f"held_{product}"] = pa.array(held_end[:, j])
    for spec in params.take_up:
        j = P_INDEX[spec.product]
        lh = take_up_log_hazard(
            spec, pop.segment, pop.life_stage, pop.income_level, policy, hp
        )
        prob = -np.expm1(-np.exp(lh) * 90 / 7)
        cols[f"propensity_{spec.product}"] = pa.array(
            np.where(open_end & ~held_end[:, j], prob, 0.0)
        )
    del start
    return pa.table(cols)


def _truth_snapshots(hist: History, start: np.datetime64, cid: pa.Array) -> pa.Table:
    """One row per customer and snapshot: the true probabilities as of the day
    before the snapshot week starts (data up to and including ``as_of``)."""
    parts = []
    for week, snap in sorted(hist.snapshots.items()):
        as_of = start + np.timedelta64(7 * week - 1, "D")
        cols: dict[str, pa.Array] = {
            "customer_id": cid,
            "as_of": pa.array(np.full(len(cid), as_of)),
            "open": pa.array(snap["open"]),
            "active": pa.array(snap["active"]),
            "churn_prob_90d": pa.array(snap["churn_prob_90d"]),
        }
        for j, product in enumerate(PRODUCTS):
            cols[f"held_{product}"] = pa.array(snap["held"][:, j])
        for j, product in enumerate(PRODUCTS):
            if product != "current":
                cols[f"propensity_{product}"] = pa.array(snap["propensity"][:, j])
        parts.append(pa.table(cols))
    return pa.concat_tables(parts)
