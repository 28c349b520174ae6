"""The evidence a weekly retune decides on, gathered from the store.

:func:`gather_evidence` reads the decision log, the offer events and the
input tables over the look-back weeks; :func:`guardrail_series` the
guardrail metrics around a change (for the automatic rollback). The retune
itself is :mod:`nbo_engine.jobs.retune` (and the pure
:mod:`nbo_engine.retune`).

Evidence, in detail
-------------------
* Units are live decisions in the period. **Controls** are decisions logged
  with experiment ``global_holdout`` (variant ``holdout``), or with a variant
  of a given experiment that has no treatment; **treated** ones are decisions
  that offered something (the first-ranked offer counts). Each customer counts
  once per arm and cell (their first decision in the period).
* A decision's **segment** is the one-hot ``segment=...`` of its logged
  context when it was made by the current version, else
  :func:`~nbo_engine.decisioning.context.resolve_segment` of the customer's
  row in the decision's score snapshot.
* **Value** of a unit for offer ``o`` (currency): ``margin_o x converted -
  cost_o - churned x clv_12m``, where ``converted`` is an accept/conversion
  event on the offer within ``window_days`` or an account of the offer's
  product opened within it (for a control: the account only), ``churned`` a
  churn within ``churn_days``, and ``clv_12m`` the customer's score (0 when
  missing). Cells compare the treated and the control values by Welch's test.
* **Outcomes** come from the store (:func:`nbo_engine.store.proposals.customer_outcomes`:
  account openings, complaints, churn from account closures) unless the
  caller passes ``outcomes`` (columns ``customer_id, ts, outcome, product``
  with ``outcome`` one of ``product_open, complaint, churn``), e.g. the
  simulated world's responses in the closed loop.
* **OPE** rows are the period's decisions by the current version; arms are its
  offers plus "no offer"; the target probabilities of a spec come from the
  logged bandit states with the spec's dates, levers, suppressions and
  exploration applied to the logged eligible sets.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.context import SEGMENT_SOURCES, ContextSpec
from nbo_engine.errors import RetuneError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout, Readout, SampleStats
from nbo_engine.policy import PolicySpec, parse_policy
from nbo_engine.retune import (
    BanditEvidence,
    CellEffect,
    Evidence,
    ExperimentEvidence,
    GuardrailSeries,
    OpeLog,
)
from nbo_engine.retune.attribution import (
    check_outcomes,
    control_mask,
    count_within,
    first_per_customer,
    offer_usage,
    resolve_segments,
    stats_by,
    unit_stats,
)
from nbo_engine.retune.logged import LoggedPolicy
from nbo_engine.store import Engine
from nbo_engine.store import decisions as dstore
from nbo_engine.store import proposals as pstore
from nbo_engine.store.policies import (
    load_version,
    read_slot,
)
from nbo_engine.timeutil import naive_utc as _naive

__all__ = ["gather_evidence", "guardrail_series", "midnight", "spec_of"]

F64 = NDArray[np.float64]
_DAY = dt.timedelta(days=1)


def midnight(d: dt.date) -> dt.datetime:
    """The naive start of day ``d``."""
    return dt.datetime(d.year, d.month, d.day)


def spec_of(engine: Engine, version_id: int) -> PolicySpec:
    info = load_version(engine, version_id)
    return parse_policy(info.spec, filename=f"policy_version_{version_id}.yaml")


def _bandit_loader(engine: Engine) -> Callable[[int], BanditPolicy]:
    def load(state_id: int) -> BanditPolicy:
        row = dstore.load_bandit_state(engine, state_id)
        if row is None:
            raise RetuneError(
                f"bandit state {state_id} of a logged decision does not exist"
            )
        return BanditPolicy.from_bytes(row.state)

    return load


def _segments(
    engine: Engine,
    frame: pd.DataFrame,
    contexts: list[list[float]],
    base_id: int,
    base: PolicySpec,
) -> tuple[NDArray[np.object_], NDArray[np.float64]]:
    """Segment and ``clv_12m`` of every decision (see the module doc)."""
    n = len(frame)
    seg = np.full(n, None, dtype=object)
    names = ContextSpec.of(base).names
    onehot = [i for i, nm in enumerate(names) if nm.startswith("segment=")]
    if onehot:
        mine = (frame["policy_version_id"] == base_id).to_numpy()
        for i in np.flatnonzero(mine):  # a handful of one-hot columns per row
            x = contexts[i]
            hit = [j for j in onehot if len(x) == len(names) and x[j] == 1.0]
            if hit:
                seg[i] = names[hit[0]].removeprefix("segment=")
    clv = np.zeros(n)
    for snap in frame["snapshot_id"].dropna().unique():
        rows = np.flatnonzero((frame["snapshot_id"] == snap).to_numpy())
        ids = frame["customer_id"].iloc[rows]
        scores = pstore.snapshot_columns(
            engine, int(snap), ids, [*SEGMENT_SOURCES, "clv_12m"]
        ).reindex(ids)
        resolved = resolve_segments(scores, base.segments, SEGMENT_SOURCES)
        todo = np.array([s is None for s in seg[rows]], dtype=bool)
        seg[rows[todo]] = resolved[todo]
        clv[rows] = np.nan_to_num(scores["clv_12m"].to_numpy(np.float64), nan=0.0)
    return seg, clv


def _events_within(
    engine: Engine,
    frame: pd.DataFrame,
    treated: NDArray[np.bool_],
    window_days: float,
    as_of: dt.datetime,
) -> NDArray[np.bool_]:
    """Whether an accept/conversion event on the decision's first-ranked
    offer arrived within the window (and by ``as_of``)."""
    out = np.zeros(len(frame), dtype=bool)
    if not treated.any():
        return out
    ev = dstore.positive_events(engine, frame.loc[treated, "decision_id"].tolist())
    if ev.empty:
        return out
    m = (
        frame[["decision_id", "offer_id", "ts"]]
        .assign(row=np.arange(len(frame)))
        .merge(ev.rename(columns={"ts": "event_ts"}), on=["decision_id", "offer_id"])
    )
    ts = m["ts"].to_numpy(dtype="datetime64[ns]")
    at = m["event_ts"].to_numpy(dtype="datetime64[ns]")
    window = np.timedelta64(round(window_days * 86_400e9), "ns")
    ok = (at >= ts) & (at <= np.minimum(ts + window, np.datetime64(as_of, "ns")))
    out[m.loc[ok, "row"].unique()] = True
    return out


def gather_evidence(
    engine: Engine,
    *,
    week_start: dt.date,
    week_end: dt.date,
    as_of: dt.datetime | None = None,
    window_days: float = 30.0,
    churn_days: float = 91.0,
    experiments: Sequence[ExperimentSpec] = (),
    global_holdout: GlobalHoldout | None = None,
    readouts: Sequence[tuple[ExperimentSpec, Readout]] = (),
    outcomes: pd.DataFrame | None = None,
    guardrail_series: Sequence[GuardrailSeries] = (),
    rolled_back: Sequence[str] = (),
) -> Evidence:
    """The evidence of live decisions with ``week_start <= ts < week_end``.

    Parameters
    ----------
    week_start, week_end : the period (UTC days; the end is exclusive). The
        usage trend is read per 7-day week from ``week_start``.
    as_of : outcomes and events up to this time count (default the end).
    window_days : attribution window of conversions (days).
    churn_days : window of churn after a decision (days).
    experiments : running experiment specs (their no-treatment variants are
        controls too).
    global_holdout : carried into the evidence (never changed).
    readouts : ``(spec, readout)`` of experiments evaluated this week.
    outcomes : outcome rows to use instead of the store's (see module doc).
    guardrail_series : carried into the evidence (see :func:`guardrail_series`).
    rolled_back : labels of changes rolled back lately (not proposed again).

    Returns
    -------
    Evidence

    Raises
    ------
    RetuneError
        No policy is live, or ``outcomes`` is malformed.
    """
    since, until = midnight(week_start), midnight(week_end)
    as_of = _naive(as_of) if as_of is not None else until
    live = read_slot(engine, "live")
    if live is None:
        raise RetuneError("no policy version is live; publish and activate one first")
    base = spec_of(engine, live)
    frame = pstore.period_decisions(engine, since=since, until=until)
    n = len(frame)
    contexts = [json.loads(c) for c in frame["context"]]
    eligible = [json.loads(e) for e in frame["eligible"]]
    control = control_mask(frame, experiments)
    treated = frame["offer_id"].notna().to_numpy()
    seg, clv = _segments(engine, frame, contexts, live, base)
    outs = (
        check_outcomes(outcomes)
        if outcomes is not None
        else pstore.customer_outcomes(
            engine, frame["customer_id"], since=since, until=as_of
        )
    )
    churned = count_within(frame, outs, "churn", churn_days, as_of) > 0
    offers = {o.id: o for o in base.offers}
    offer_ids = frame["offer_id"].to_numpy(dtype=object)
    known = treated & np.array([o in offers for o in offer_ids], dtype=bool)
    mine = [offers[o] if k else None for o, k in zip(offer_ids, known, strict=True)]
    margin = np.array([o.value.margin if o else 0.0 for o in mine])
    cost = np.array([o.value.cost if o else 0.0 for o in mine])
    product = np.array([o.product if o else None for o in mine], dtype=object)
    event = _events_within(engine, frame, treated, window_days, as_of)
    opened = count_within(frame, outs, "product_open", window_days, as_of, product)
    converted = known & (event | (opened > 0))
    value = np.where(known, margin * converted - cost, 0.0) - churned * clv

    # each offer in each segment against the holdout in that segment
    has_seg = np.array([s is not None for s in seg], dtype=bool)
    ctrl = first_per_customer(frame, control & has_seg)
    c_frame = frame[ctrl]
    notes = [
        f"{n} live decisions ({int(treated.sum())} with an offer, "
        f"{int(control.sum())} holdout controls) from {since:%Y-%m-%d} to "
        f"{until:%Y-%m-%d}"
    ]
    # Outcomes recorded for the offered customers only would make every offer
    # look harmful (churn) or helpful (take-up) against an empty holdout: a
    # one-sided comparison is no evidence, so no cell is built.
    seen = set(outs["customer_id"])
    one_sided = (
        not c_frame.empty
        and not c_frame["customer_id"].isin(seen).any()
        and frame.loc[known, "customer_id"].isin(seen).any()
    )
    if one_sided:
        notes.append(
            "no outcome (account opened, churn, complaint) was recorded for any "
            "holdout customer while offered customers have some: the holdout's "
            "outcomes are missing, so no offer-segment cell is built"
        )
    cells = []
    for o in base.offers:
        t_rows = first_per_customer(frame, known & (offer_ids == o.id) & has_seg)
        if one_sided or not t_rows.any() or c_frame.empty:
            continue
        c_open = count_within(
            c_frame,
            outs,
            "product_open",
            window_days,
            as_of,
            np.full(len(c_frame), o.product, dtype=object),
        )
        y_c = o.value.margin * (c_open > 0) - churned[ctrl] * clv[ctrl]
        s_t = stats_by(value[t_rows], seg[t_rows])
        s_c = stats_by(y_c, seg[ctrl])
        cells += [
            CellEffect.from_stats(o.id, g, s_c[g], s_t[g], unit_scale=o.value.margin)
            for g in sorted(set(s_t) & set(s_c))
        ]

    # the current version's log, for off-policy evaluation
    ope = None
    rows = np.flatnonzero((frame["policy_version_id"] == live).to_numpy())
    if rows.size >= 2:
        k = len(base.offers)
        index = {o: j for j, o in enumerate(base.offer_ids)}
        el = np.zeros((rows.size, k), dtype=bool)
        for r, i in enumerate(rows):  # a handful of offer ids per logged row
            el[r, [index[o] for o in eligible[i] if o in index]] = True
        actions = np.array(
            [index.get(o, k) if isinstance(o, str) else k for o in offer_ids[rows]],
            dtype=np.int64,
        )
        logged_p = frame["propensity"].to_numpy(np.float64)[rows]
        target = LoggedPolicy(
            base=base,
            contexts=np.asarray([contexts[i] for i in rows], dtype=np.float64),
            eligible=el,
            segments=np.array(["" if s is None else s for s in seg[rows]], dtype=str),
            day=np.array(
                [t.toordinal() for t in frame["ts"].iloc[rows].dt.date], dtype=np.int64
            ),
            states=frame["bandit_state_id"].fillna(-1).to_numpy(np.int64)[rows],
            load_bandit=_bandit_loader(engine),
        )
        ope = OpeLog(
            rewards=value[rows],
            actions=actions,
            propensities=np.where(actions < k, logged_p, 1.0),
            contexts=target.contexts,
            target_probs=target,
            n_arms=k + 1,
        )
    state = dstore.latest_bandit_state(engine, live)
    return Evidence(
        week_start=week_start,
        week_end=week_end,
        cells=tuple(cells),
        experiments=tuple(ExperimentEvidence(s, r) for s, r in readouts),
        usage=offer_usage(frame, eligible, event, base, since, until),
        guardrail_series=tuple(guardrail_series),
        rolled_back=tuple(rolled_back),
        ope=ope,
        bandit=BanditEvidence(state.n_rewards) if state is not None else None,
        global_holdout=global_holdout,
        n_decisions=n,
        notes=tuple(notes),
    )


def guardrail_series(
    engine: Engine,
    *,
    change_at: dt.datetime,
    as_of: dt.datetime,
    days: float = 7.0,
    outcomes: pd.DataFrame | None = None,
) -> tuple[GuardrailSeries, ...]:
    """Complaints per customer and churn of the customers offered something in
    the ``days`` before ``change_at`` and in the same span after it (shortened
    to what ``as_of`` allows), each customer once (first decision), outcomes
    counted from the decision to the end of its span. Empty when no time has
    passed since the change."""
    change_at, as_of = _naive(change_at), _naive(as_of)
    span = min(dt.timedelta(days=days), as_of - change_at)
    if span <= dt.timedelta(0):
        return ()
    lo, hi = change_at - span, change_at + span
    periods = (
        (pstore.period_decisions(engine, since=lo, until=change_at), change_at),
        (pstore.period_decisions(engine, since=change_at, until=hi), hi),
    )
    if outcomes is not None:
        outs = check_outcomes(outcomes)
    else:
        ids = pd.concat([f["customer_id"] for f, _ in periods])
        outs = pstore.customer_outcomes(engine, ids, since=lo, until=hi)
    got: dict[str, list[SampleStats]] = {"complaint": [], "churn": []}
    for frame, end in periods:
        f = frame[first_per_customer(frame, frame["offer_id"].notna().to_numpy())]
        for kind in got:
            y = count_within(f, outs, kind, span / _DAY, end)
            got[kind].append(
                unit_stats(y if kind == "complaint" else (y > 0).astype(np.float64))
            )
    return (
        GuardrailSeries("complaints", got["complaint"][0], got["complaint"][1], "mean"),
        GuardrailSeries("churn", got["churn"][0], got["churn"][1], "proportion"),
    )


# ------------------------------------------------------------------ storing
