"""Two years of a chunk of customers: purchases, products, churn, campaigns.

Time is in weeks from the start of the window (float). The week loop runs over
weeks (about a hundred) and is vectorised over customers and products inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.simulate.effects import (
    CONVERSION_WEEKS,
    EFFECT_WEEKS,
    churn_log_hazard,
    churn_probability,
    offer_churn_shift,
    offer_conversion,
    take_up_log_hazard,
)
from nbo_engine.simulate.market import Market
from nbo_engine.simulate.params import WorldParams
from nbo_engine.simulate.population import Population

__all__ = ["Campaign", "History", "draw_campaigns", "simulate_history"]

P_INDEX = {p: i for i, p in enumerate(PRODUCTS)}
CAMPAIGN_CHANNELS = ("email", "email", "mobile", "web", "call_centre", "branch")


@dataclass(frozen=True)
class Campaign:
    """A past campaign with a randomised control group."""

    campaign_id: str
    week: int
    offer: int  # index into WorldParams.offers
    channel: str
    audience_share: float
    #: Probability of treatment by segment (targeted campaigns vary it).
    treat_prob: tuple[float, ...]


def draw_campaigns(
    rng: np.random.Generator, params: WorldParams, weeks: int, n: int
) -> tuple[Campaign, ...]:
    """``n`` campaigns spread over the window, cycling through the catalog."""
    if n <= 0:
        return ()
    n_seg = len(params.segments)
    weeks_at = np.linspace(6, max(weeks - 8, 7), n).astype(int)
    offers = rng.permutation(np.resize(np.arange(len(params.offers)), n))
    out = []
    for i, (w, o) in enumerate(zip(weeks_at, offers, strict=True)):
        if i % 2 == 0:
            probs = tuple([0.8] * n_seg)
        else:
            probs = tuple(float(x) for x in rng.choice([0.5, 0.7, 0.9], size=n_seg))
        out.append(
            Campaign(
                campaign_id=f"CMP{i + 1:03d}",
                week=int(w),
                offer=int(o),
                channel=str(rng.choice(CAMPAIGN_CHANNELS)),
                audience_share=float(rng.uniform(0.08, 0.2)),
                treat_prob=probs,
            )
        )
    return tuple(out)


@dataclass
class History:
    """What happened to a chunk of customers (all times in weeks from the start)."""

    t0: NDArray[np.float64]  # start of the purchase process
    # purchases (trial + repeat purchases kept), flat and grouped by customer
    purchase_customer: NDArray[np.int64]  # local customer index
    purchase_time: NDArray[np.float64]
    purchase_amount: NDArray[np.float64]
    repeat_x: NDArray[np.int64]  # repeat purchases observed (before closure)
    t_x: NDArray[np.float64]  # time of last purchase, weeks from t0
    death_time: NDArray[np.float64]  # BG/NBD dropout time (inf if still active)
    closure_time: NDArray[np.float64]  # relationship closed (inf if open)
    open_time: NDArray[np.float64]  # (n, n_products), -inf before window, nan never
    close_time: NDArray[np.float64]  # (n, n_products) product closure, inf if open
    joint_current: NDArray[np.bool_]  # head's current account is joint with partner
    # interactions
    int_customer: NDArray[np.int64]
    int_time: NDArray[np.float64]
    int_reason: NDArray[np.int8]
    int_sentiment: NDArray[np.float64]
    int_complaint: NDArray[np.bool_]
    complaints_last_13w: NDArray[np.int64]
    # campaigns: one row per customer selected
    cmp_customer: NDArray[np.int64]
    cmp_index: NDArray[np.int64]
    cmp_treated: NDArray[np.bool_]
    cmp_prob: NDArray[np.float64]
    cmp_converted: NDArray[np.bool_]
    cmp_convert_time: NDArray[np.float64]
    churn_shift_end: NDArray[np.float64]  # offer churn shift still active at end
    churn_shift_until: NDArray[np.float64]
    #: week -> {"open", "active", "churn_prob_90d", "held" (n, n_products),
    #: "propensity" (n, n_products)}: the true state at the start of that week.
    snapshots: dict[int, dict[str, NDArray[Any]]]


def _grouped_rank(groups: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
    """0-based rank of each element within its group (elements sorted by group)."""
    counts = np.bincount(groups, minlength=n_groups)
    starts = np.cumsum(counts) - counts
    return np.arange(groups.size) - starts[groups]


def simulate_history(
    rng: np.random.Generator,
    params: WorldParams,
    pop: Population,
    market: Market,
    campaigns: tuple[Campaign, ...],
    window_start: np.datetime64,
    weeks: int,
    snapshot_weeks: tuple[int, ...] = (),
) -> History:
    """Simulate ``weeks`` weeks for the customers in ``pop``.

    At each week in ``snapshot_weeks`` the true 90-day churn and product take-up
    probabilities of every customer are recorded (``History.snapshots``), so
    scores computed as of that week can be checked against the truth.
    """
    snapshots: dict[int, dict[str, NDArray[Any]]] = {}
    n = pop.n
    join_week = (pop.join_date - window_start).astype(np.float64) / 7.0
    t0 = np.where(join_week > 0, join_week, rng.uniform(0, 1, n))
    span = np.maximum(weeks - t0, 0.0)

    # ---- BG/NBD purchases: Poisson repeat purchases, death after the J-th.
    n_rep = rng.poisson(pop.lam * span)
    j_death = rng.geometric(pop.p_drop)
    cust = np.repeat(np.arange(n), n_rep)
    times = t0[cust] + rng.random(cust.size) * span[cust]
    order = np.lexsort((times, cust))
    cust, times = cust[order], times[order]
    rank = _grouped_rank(cust, n)  # 0-based repeat purchase number
    dead = j_death <= n_rep
    death_time = np.full(n, np.inf)
    at_death = rank == (j_death[cust] - 1)
    death_time[cust[at_death]] = times[at_death]
    keep = rank < j_death[cust]
    cust, times = cust[keep], times[keep]
    assert dead.sum() == np.isfinite(death_time).sum()

    # ---- Interactions and complaints (needed by the churn hazard).
    n_int = rng.poisson(
        pop.interactions_per_week * span * (1 + 0.5 * (pop.mood < -0.3))
    )
    int_c = np.repeat(np.arange(n), n_int)
    int_t = t0[int_c] + rng.random(int_c.size) * span[int_c]
    o = np.lexsort((int_t, int_c))
    int_c, int_t = int_c[o], int_t[o]
    reason = rng.choice(
        9, size=int_c.size, p=[0.22, 0.14, 0.12, 0.08, 0.06, 0.06, 0.12, 0.08, 0.12]
    ).astype(np.int8)
    sentiment = np.clip(
        pop.mood[int_c]
        + rng.normal(0, 0.45, int_c.size)
        - 0.5 * np.isin(reason, [2, 8])  # fees, complaint
        - 0.25 * np.isin(reason, [5, 6]),  # fraud, technical issue
        -1,
        1,
    )
    complaint = (reason == 8) | ((sentiment < -0.55) & (rng.random(int_c.size) < 0.5))
    comp_week = np.zeros((n, weeks + 1), dtype=np.int16)
    cw = np.minimum(int_t[complaint].astype(np.int64), weeks)
    np.add.at(comp_week, (int_c[complaint], cw), 1)
    comp_cum = np.cumsum(comp_week, axis=1)

    # ---- Initial holdings (pre-existing customers) and the week loop.
    n_prod = len(PRODUCTS)
    open_time = np.full((n, n_prod), np.nan)
    close_time = np.full((n, n_prod), np.inf)
    open_time[:, P_INDEX["current"]] = np.minimum(join_week, t0)
    pre = join_week <= 0
    pr0 = market.at(0, "policy_rate")
    for spec in params.take_up:
        j = P_INDEX[spec.product]
        logit = (
            np.log(spec.initial_share / (1 - spec.initial_share))
            + np.asarray(spec.by_segment)[pop.segment]
            + np.asarray(spec.by_life_stage)[pop.life_stage]
            + spec.per_income_level * (pop.income_level - 2)
        )
        held = pre & (rng.random(n) < 1 / (1 + np.exp(-logit)))
        # Opened somewhere between joining and the window start.
        open_time[held, j] = join_week[held] * rng.random(held.sum())
    del pr0

    # Personal loans run 3-5 years.
    loan = P_INDEX["personal_loan"]
    term_weeks = rng.choice([156, 208, 260], size=n)
    joint_current = (pop.role == 0) & (rng.random(n) < 0.5)
    has_partner = np.zeros(n, dtype=bool)
    partner_rows = np.flatnonzero(pop.role == 1)
    has_partner[partner_rows - 1] = (
        pop.household[partner_rows - 1] == pop.household[partner_rows]
    )
    joint_current &= has_partner

    closure = np.full(n, np.inf)
    shift_val = np.zeros(n)
    shift_until = np.full(n, -np.inf)
    suppress_until = np.full((n, n_prod), -np.inf)
    cmp_rows: list[tuple[NDArray[Any], ...]] = []
    cmp_by_week: dict[int, list[int]] = {}
    for ci, c in enumerate(campaigns):
        cmp_by_week.setdefault(c.week, []).append(ci)

    [P_INDEX[s.product] for s in params.take_up]
    for t in range(weeks):
        policy = float(market.at(t, "policy_rate"))
        unemp = float(market.at(t, "unemployment_rate"))
        hp_change = market.house_price_change(t)
        started = t0 <= t + 1
        is_open = started & (closure > t)
        # Personal loans that mature this week close.
        lo = open_time[:, loan]
        matured = (
            np.isfinite(lo) & (lo + term_weeks <= t + 1) & np.isinf(close_time[:, loan])
        )
        close_time[matured, loan] = lo[matured] + term_weeks[matured]
        if t in snapshot_weeks:
            snapshots[t] = _snapshot(
                params,
                pop,
                t,
                t0,
                death_time,
                closure,
                open_time,
                close_time,
                comp_cum,
                shift_val,
                shift_until,
                policy,
                unemp,
                hp_change,
            )

        for ci in cmp_by_week.get(t, []):
            c = campaigns[ci]
            offer = params.offers[c.offer]
            j = P_INDEX[offer.product]
            held_now = np.isfinite(open_time[:, j]) & (close_time[:, j] > t)
            eligible = is_open & pop.consent & ~pop.do_not_contact
            if not offer.retention:
                eligible &= ~held_now
            chosen = np.flatnonzero(eligible & (rng.random(n) < c.audience_share))
            if chosen.size == 0:
                continue
            prob = np.asarray(c.treat_prob)[pop.segment[chosen]]
            treated = rng.random(chosen.size) < prob
            p_ctrl, p_with = offer_conversion(
                params,
                offer,
                pop.segment[chosen],
                pop.life_stage[chosen],
                pop.income_level[chosen],
                policy,
                hp_change,
            )
            p_conv = np.where(treated, p_with, p_ctrl)
            conv = rng.random(chosen.size) < p_conv
            conv_time = t + rng.random(chosen.size) * CONVERSION_WEEKS
            if offer.retention:
                # Accepting means nothing new is opened; only the hazard moves.
                pass
            else:
                opened = chosen[conv]
                open_time[opened, j] = conv_time[conv]
                close_time[opened, j] = np.inf
                suppress_until[chosen, j] = t + CONVERSION_WEEKS
            tr = chosen[treated]
            shift_val[tr] = offer_churn_shift(offer, pop.segment[tr])
            shift_until[tr] = t + EFFECT_WEEKS
            cmp_rows.append(
                (
                    chosen,
                    np.full(chosen.size, ci),
                    treated,
                    prob,
                    conv,
                    np.where(conv, conv_time, np.nan),
                )
            )

        # Relationship closure.
        dormant = death_time < t
        recent = (
            comp_cum[:, t] - comp_cum[:, max(t - 13, 0)] if t > 0 else comp_cum[:, 0]
        )
        lh = churn_log_hazard(
            params.churn, pop.segment, pop.life_stage, dormant, recent, unemp
        )
        lh = lh + np.where(shift_until > t, shift_val, 0.0)
        close_now = is_open & (rng.random(n) < -np.expm1(-np.exp(lh)))
        closure[close_now] = np.maximum(
            t + rng.random(close_now.sum()), t0[close_now] + 1e-6
        )
        is_open &= ~close_now

        # Organic take-up.
        for spec in params.take_up:
            j = P_INDEX[spec.product]
            can = is_open & np.isnan(open_time[:, j]) & (suppress_until[:, j] <= t)
            if j == loan:
                can |= is_open & np.isfinite(close_time[:, j]) & (close_time[:, j] <= t)
            idx = np.flatnonzero(can)
            lh = take_up_log_hazard(
                spec,
                pop.segment[idx],
                pop.life_stage[idx],
                pop.income_level[idx],
                policy,
                hp_change,
            )
            hit = idx[rng.random(idx.size) < -np.expm1(-np.exp(lh))]
            open_time[hit, j] = t + rng.random(hit.size)
            if j == loan:
                close_time[hit, j] = np.inf

    # Closing the relationship closes every product still open.
    closed = np.isfinite(closure)
    held = np.isfinite(open_time) & (open_time < closure[:, None])
    close_time = np.where(
        held & closed[:, None], np.minimum(close_time, closure[:, None]), close_time
    )
    open_time = np.where(held, open_time, np.nan)
    close_time = np.where(held, close_time, np.inf)

    # Purchases stop at closure; the amounts are Gamma-Gamma.
    alive_tx = times < closure[cust]
    cust_all = np.concatenate([np.arange(n), cust[alive_tx]])
    time_all = np.concatenate([t0, times[alive_tx]])
    o = np.lexsort((time_all, cust_all))
    cust_all, time_all = cust_all[o], time_all[o]
    amount = rng.gamma(pop.p_gg[cust_all], 1.0 / pop.nu[cust_all])
    repeat_x = np.bincount(cust[alive_tx], minlength=n)
    last = np.full(n, 0.0)
    np.maximum.at(last, cust_all, time_all)
    t_x = last - t0

    keep_int = int_t < closure[int_c]
    if cmp_rows:
        cols = [np.concatenate(parts) for parts in zip(*cmp_rows, strict=True)]
    else:
        cols = [np.zeros(0, dtype=np.int64)] * 6
    return History(
        t0=t0,
        purchase_customer=cust_all,
        purchase_time=time_all,
        purchase_amount=amount,
        repeat_x=repeat_x,
        t_x=t_x,
        death_time=death_time,
        closure_time=closure,
        open_time=open_time,
        close_time=close_time,
        joint_current=joint_current,
        int_customer=int_c[keep_int],
        int_time=int_t[keep_int],
        int_reason=reason[keep_int],
        int_sentiment=sentiment[keep_int],
        int_complaint=complaint[keep_int],
        complaints_last_13w=(
            comp_cum[:, weeks] - comp_cum[:, max(weeks - 13, 0)]
        ).astype(np.int64),
        cmp_customer=cols[0].astype(np.int64),
        cmp_index=cols[1].astype(np.int64),
        cmp_treated=cols[2].astype(bool),
        cmp_prob=cols[3].astype(np.float64),
        cmp_converted=cols[4].astype(bool),
        cmp_convert_time=cols[5].astype(np.float64),
        churn_shift_end=np.where(shift_until > weeks, shift_val, 0.0),
        churn_shift_until=shift_until,
        snapshots=snapshots,
    )


def _snapshot(
    params: WorldParams,
    pop: Population,
    t: int,
    t0: NDArray[np.float64],
    death_time: NDArray[np.float64],
    closure: NDArray[np.float64],
    open_time: NDArray[np.float64],
    close_time: NDArray[np.float64],
    comp_cum: NDArray[np.int16],
    shift_val: NDArray[np.float64],
    shift_until: NDArray[np.float64],
    policy: float,
    unemp: float,
    hp_change: float,
) -> dict[str, NDArray[Any]]:
    """True 90-day churn and take-up probabilities at the start of week ``t``."""
    open_now = (t0 <= t) & (closure > t)
    active = death_time > t
    recent = comp_cum[:, t] - comp_cum[:, max(t - 13, 0)] if t > 0 else comp_cum[:, 0]
    shift = np.where(shift_until > t, shift_val, 0.0)
    n = pop.n
    lh_a = (
        churn_log_hazard(
            params.churn, pop.segment, pop.life_stage, np.zeros(n, bool), recent, unemp
        )
        + shift
    )
    lh_d = (
        churn_log_hazard(
            params.churn, pop.segment, pop.life_stage, np.ones(n, bool), recent, unemp
        )
        + shift
    )
    churn = churn_probability(90 / 7, active, pop.lam * pop.p_drop, lh_a, lh_d)
    held = (
        np.isfinite(open_time) & (open_time <= t) & (close_time > t) & open_now[:, None]
    )
    prop = np.zeros((n, len(PRODUCTS)))
    for spec in params.take_up:
        j = P_INDEX[spec.product]
        lh = take_up_log_hazard(
            spec, pop.segment, pop.life_stage, pop.income_level, policy, hp_change
        )
        prop[:, j] = np.where(
            open_now & ~held[:, j], -np.expm1(-np.exp(lh) * 90 / 7), 0.0
        )
    return {
        "open": open_now,
        "active": active & open_now,
        "churn_prob_90d": np.where(open_now, churn, 0.0),
        "held": held,
        "propensity": prop,
    }
