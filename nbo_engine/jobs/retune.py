"""The weekly retune: gather the evidence, propose, check, publish, apply or roll back.

``run_retune(engine, week_start=..., mode=...)``:

1. **Rollback first.** If the last applied proposal still serves, compare the
   guardrail metrics (complaints per customer, churn) of the customers offered
   something in the week before its activation and in the week after
   (:func:`nbo_engine.retune.rollback_decision`); if one got significantly
   worse, roll the live slot back (``rollback_slot``) with the reason, mark the
   proposal ``rolled_back`` and stop for this week.
2. **Evidence** (:func:`gather_evidence`) over the look-back weeks up to the
   end of the retune week, from the decision log, the offer events and the
   input tables (or an ``outcomes`` frame given by the caller).
3. **Retune** (:func:`nbo_engine.retune.retune`, pure).
4. **Store.** A refused proposal is saved ``refused`` with its reasons
   (nothing published). An accepted one is published as a new immutable
   policy version (not serving) and saved ``proposed``; in ``auto`` mode the
   live slot is switched to it in the same transaction that marks it
   ``applied``. A campaign manager applies a ``proposed`` one with
   :func:`approve` (``nbo policy approve VERSION``).

The new version starts from the current version's newest bandit state when
the context layout and offers are the same (exploration setting updated), so a
retune does not throw away what the bandit learned.

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
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.bandit import BanditPolicy
from nbo_engine.decisioning.context import SEGMENT_SOURCES, ContextSpec
from nbo_engine.errors import NboError, ProposalStateError, RetuneError
from nbo_engine.experiments import ExperimentSpec, GlobalHoldout, Readout, SampleStats
from nbo_engine.jobs.experiments import experiment_results
from nbo_engine.policy import PolicySpec, parse_policy
from nbo_engine.retune import (
    BanditEvidence,
    CellEffect,
    Change,
    Evidence,
    ExperimentEvidence,
    Guardrails,
    GuardrailSeries,
    OpeLog,
    RetuneResult,
    RollbackDecision,
    retune,
    rollback_decision,
    spec_yaml,
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
from nbo_engine.retune.logged import LoggedPolicy, with_exploration
from nbo_engine.store import Engine
from nbo_engine.store import decisions as dstore
from nbo_engine.store import experiments as xstore
from nbo_engine.store import proposals as pstore
from nbo_engine.store.policies import (
    load_version,
    publish_policy,
    read_slot,
    rollback_slot,
)
from nbo_engine.timeutil import naive_utc as _naive

__all__ = [
    "RetuneOutcome",
    "approve",
    "gather_evidence",
    "guardrail_series",
    "run_retune",
]

Mode = Literal["propose", "auto"]
F64 = NDArray[np.float64]
_DAY = dt.timedelta(days=1)


def _midnight(d: dt.date) -> dt.datetime:
    return dt.datetime(d.year, d.month, d.day)


@dataclass(frozen=True)
class RetuneOutcome:
    """What one retune run did.

    ``status``: ``applied``, ``proposed``, ``refused``, ``no_change``,
    ``rolled_back`` (the previous change was rolled back; nothing proposed)
    or ``no_policy``. ``experiments`` are the experiment specs with any traffic
    change applied: the caller (weekly job, closed loop) serves them from now
    on; the global holdout is never changed.
    """

    week_start: dt.date
    mode: str
    status: str
    base_version_id: int | None = None
    proposal_id: int | None = None
    proposed_version_id: int | None = None
    changes: tuple[Change, ...] = ()
    refusals: tuple[str, ...] = ()
    rollback: RollbackDecision | None = None
    rolled_back_proposal_id: int | None = None
    result: RetuneResult | None = None
    evidence: Evidence | None = None
    experiments: tuple[ExperimentSpec, ...] = ()
    n_decisions: int = 0
    notes: tuple[str, ...] = field(default=())

    def counts(self) -> dict[str, int]:
        """Counts for the job runner's ``job_runs.counts``."""
        verdicts = self.result.proposal.verdicts if self.result else ()
        return {
            "decisions": self.n_decisions,
            "cells": len(verdicts),
            "tested": sum(v.verdict != "too_small" for v in verdicts),
            "harmful": sum(v.verdict == "harmful" for v in verdicts),
            "changes": len(self.changes),
            "deferred": len(self.result.proposal.deferred) if self.result else 0,
            "applied": int(self.status == "applied"),
            "proposed": int(self.status == "proposed"),
            "refused": int(self.status == "refused"),
            "rolled_back": int(self.status == "rolled_back"),
        }


# ------------------------------------------------------------------ helpers
def _spec_of(engine: Engine, version_id: int) -> PolicySpec:
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
    since, until = _midnight(week_start), _midnight(week_end)
    as_of = _naive(as_of) if as_of is not None else until
    live = read_slot(engine, "live")
    if live is None:
        raise RetuneError("no policy version is live; publish and activate one first")
    base = _spec_of(engine, live)
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
def _carry_bandit(engine: Engine, base_id: int, new_id: int, new: PolicySpec) -> bool:
    """Start ``new_id`` from ``base_id``'s newest bandit state when the
    context layout and offers match (exploration updated). Returns whether
    it did."""
    base = _spec_of(engine, base_id)
    if (
        ContextSpec.of(base).names != ContextSpec.of(new).names
        or base.offer_ids != new.offer_ids
        or base.bandit.type != new.bandit.type
    ):
        return False
    # the newest learning of the base's line (after a rollback the base is
    # not its line's head; the head has the same layout by construction)
    head = dstore.lineage_heads(engine).get(base_id, base_id)
    row = dstore.latest_bandit_state(engine, head)
    if row is None:
        return False
    bandit = with_exploration(BanditPolicy.from_bytes(row.state), new)
    dstore.save_bandit_state(
        engine,
        new_id,
        bandit.kind,
        bandit.to_bytes(),
        source="warm_start",
        n_rewards=row.n_rewards,
        folded_until=row.folded_until,
        note=(
            f"carried over from policy version {row.policy_version_id} "
            f"(state {row.id}) by a retune of version {base_id}"
        ),
        carried_from_state_id=row.id,
    )
    return True


def _summary(changes: Sequence[Change]) -> str:
    return "; ".join(c.label for c in changes) or "no change"


def _recently_rolled_back(
    engine: Engine, at: dt.datetime, weeks: int
) -> tuple[str, ...]:
    """Labels of the changes of proposals rolled back in the last ``weeks``."""
    since = at - dt.timedelta(days=7 * weeks)
    return tuple(
        sorted(
            {
                Change.from_dict(c).label
                for p in pstore.list_proposals(engine, status="rolled_back")
                if p.decided_at is not None and since <= _naive(p.decided_at) <= at
                for c in p.changes
            }
        )
    )


def _readouts(
    engine: Engine, experiments: Sequence[ExperimentSpec], at: dt.datetime
) -> tuple[tuple[ExperimentSpec, Readout], ...]:
    """The readout of each running ``policy`` experiment (champion/challenger);
    one that cannot be read yet (no units) is left out."""
    out = []
    for spec in experiments:
        if spec.kind != "policy":
            continue
        try:
            out.append((spec, experiment_results(engine, spec.name, as_of=at)))
        except NboError:
            continue
    return tuple(out)


def _apply_experiment_changes(
    engine: Engine, changes: Sequence[Change], actor: str, at: dt.datetime
) -> tuple[str, ...]:
    """Ramp experiments (``traffic``) and stop those whose every challenger is
    paused (``pause_variant``) in the experiments store, after the policy
    switch; what could not be applied is reported, not raised."""
    notes = []
    paused: dict[str, set[str]] = {}
    for c in changes:
        name = str(c.experiment)
        try:
            if c.kind == "traffic" and isinstance(c.after, int | float):
                xstore.ramp_experiment(
                    engine, name, float(c.after), actor=actor, now=at
                )
                notes.append(f"experiment {name}: traffic {c.before} -> {c.after}")
            elif c.kind == "pause_variant":
                paused.setdefault(name, set()).add(str(c.variant))
        except NboError as exc:
            notes.append(f"experiment {name}: {c.kind} not applied ({exc})")
    for name, variants in paused.items():
        try:
            spec = xstore.get_experiment(engine, name).spec
            live = {
                v.name
                for v in getattr(spec, "variants", ())
                if not v.control and not v.paused
            }
            if live <= variants:
                xstore.stop_experiment(
                    engine,
                    name,
                    reason=f"retune: challenger(s) {', '.join(sorted(variants))} "
                    "significantly worse",
                    actor=actor,
                    now=at,
                )
                notes.append(f"experiment {name}: stopped (every challenger harmful)")
            else:
                notes.append(
                    f"experiment {name}: pause {', '.join(sorted(variants))} by "
                    "editing the experiment (the store cannot pause one variant)"
                )
        except NboError as exc:
            notes.append(f"experiment {name}: pause not applied ({exc})")
    return tuple(notes)


def approve(
    engine: Engine, version_id: int, actor: str, *, now: dt.datetime | None = None
) -> pstore.ProposalRow:
    """Apply the ``proposed`` retune proposal that published ``version_id``:
    its bandit starts from the current one's, and the live slot switches to it
    in the transaction that marks it ``applied`` by ``actor``.

    Raises
    ------
    ProposalStateError
        No proposal published that version, it is not awaiting approval, or
        the live policy changed since it was made.
    """
    p = pstore.proposal_for_version(engine, version_id)
    if p is None:
        raise ProposalStateError(
            f"policy version {version_id} was not published by a retune proposal; "
            "see `nbo policy proposals`"
        )
    if p.status != "proposed":
        raise ProposalStateError(
            f"proposal {p.id} (policy version {version_id}) is {p.status}; only a "
            "proposed one can be approved"
        )
    new = _spec_of(engine, version_id)
    if read_slot(engine, "live") == p.base_version_id:
        _carry_bandit(engine, p.base_version_id, version_id, new)
    at = now or dt.datetime.now(dt.UTC)
    row = pstore.apply_proposal(
        engine, p.id, actor=actor, at=at, reason=f"approved by {actor}: {p.summary}"
    )
    _apply_experiment_changes(
        engine, [Change.from_dict(c) for c in row.changes], actor, _naive(at)
    )
    return row


def run_retune(
    engine: Engine,
    *,
    week_start: dt.date,
    mode: Mode = "propose",
    run_id: int | None = None,
    guardrails: Guardrails = Guardrails(),
    now: dt.datetime | None = None,
    lookback_weeks: int = 4,
    window_days: float = 30.0,
    churn_days: float = 91.0,
    experiments: Sequence[ExperimentSpec] | None = None,
    global_holdout: GlobalHoldout | Literal["store"] | None = "store",
    readouts: Sequence[tuple[ExperimentSpec, Readout]] | None = None,
    outcomes: pd.DataFrame | None = None,
    actor: str = "retune",
) -> RetuneOutcome:
    """Retune the live policy for the week starting ``week_start`` (see the
    module doc).

    Parameters
    ----------
    week_start : the Monday (or any day) the retune week starts; decisions of
        the ``lookback_weeks`` weeks ending ``week_start + 7`` are the evidence.
    mode : ``propose`` (a campaign manager approves) or ``auto`` (applied at
        once when every guardrail passes).
    run_id : the ``job_runs`` row of this run, kept with the proposal.
    guardrails : limits and evidence rules.
    now : the retune time (default: the end of the week, midnight UTC; the
        closed loop passes its simulated clock).
    experiments : running experiment specs; default (None) the store's
        running experiments.
    global_holdout : the global holdout; default (``"store"``) the store's
        running one (None: there is none).
    readouts : ``(spec, readout)`` per experiment; default (None) the readout
        of each running ``policy`` experiment
        (:func:`nbo_engine.jobs.experiments.experiment_results`).
    outcomes : see :func:`gather_evidence`.
    actor : recorded as the author of proposals, activations and rollbacks.

    Returns
    -------
    RetuneOutcome
    """
    if mode not in ("propose", "auto"):
        raise RetuneError(f"mode: expected propose or auto, got {mode!r}")
    if (
        isinstance(lookback_weeks, bool)
        or not isinstance(lookback_weeks, int)
        or lookback_weeks < 1
    ):
        raise RetuneError(
            f"lookback_weeks: expected an integer >= 1, got {lookback_weeks!r}"
        )
    week_end = week_start + dt.timedelta(days=7)
    at = _naive(now) if now is not None else _midnight(week_end)
    running = (
        xstore.running_experiments(engine, at.date())
        if experiments is None or global_holdout == "store"
        else None
    )
    exps = tuple(
        running.experiments if experiments is None and running else experiments or ()
    )
    holdout: GlobalHoldout | None = None
    if isinstance(global_holdout, GlobalHoldout):
        holdout = global_holdout
    elif global_holdout == "store" and running is not None:
        holdout = running.global_holdout
    if readouts is None:
        readouts = _readouts(engine, exps, at)
    live = read_slot(engine, "live")
    if live is None:
        return RetuneOutcome(
            week_start, mode, "no_policy", notes=("no policy version is live",)
        )

    # 1. a guardrail that degraded after the last applied change rolls it back
    series: tuple[GuardrailSeries, ...] = ()
    prev = pstore.last_applied(engine)
    rollback: RollbackDecision | None = None
    if (
        prev is not None
        and prev.proposed_version_id == live
        and prev.decided_at is not None
    ):
        series = guardrail_series(
            engine, change_at=prev.decided_at, as_of=at, outcomes=outcomes
        )
        rollback = rollback_decision(series, guardrails)
        if rollback.rollback:
            rollback_slot(engine, "live", actor=actor, reason=rollback.reason)
            pstore.mark_proposal(
                engine,
                prev.id,
                "rolled_back",
                actor=actor,
                at=at,
                reason=rollback.reason,
            )
            return RetuneOutcome(
                week_start,
                mode,
                "rolled_back",
                base_version_id=live,
                rollback=rollback,
                rolled_back_proposal_id=prev.id,
                experiments=exps,
                notes=(rollback.reason,),
            )

    # 2. evidence and 3. the pure retune
    evidence = gather_evidence(
        engine,
        week_start=week_end - dt.timedelta(days=7 * lookback_weeks),
        week_end=week_end,
        as_of=at,
        window_days=window_days,
        churn_days=churn_days,
        experiments=exps,
        global_holdout=holdout,
        readouts=readouts,
        outcomes=outcomes,
        guardrail_series=series,
        rolled_back=_recently_rolled_back(engine, at, lookback_weeks),
    )
    base = _spec_of(engine, live)
    result = retune(base, evidence, guardrails, today=at.date())
    proposal = result.proposal
    common: dict[str, Any] = {
        "base_version_id": live,
        "rollback": rollback,
        "result": result,
        "evidence": evidence,
        "n_decisions": evidence.n_decisions,
    }
    if proposal.empty:
        return RetuneOutcome(week_start, mode, "no_change", experiments=exps, **common)

    # 4. store: refused (nothing published), proposed, or applied
    changes = [c.to_dict() for c in proposal.changes]
    checks = [c.to_dict() for c in result.checks]
    deferred = [c.to_dict() for c in proposal.deferred]
    if result.refused:
        row = pstore.insert_proposal(
            engine,
            base_version_id=live,
            proposed_version_id=None,
            mode=mode,
            status="refused",
            changes=changes,
            guardrails=checks,
            summary="refused: " + " | ".join(result.refusals),
            deferred=deferred,
            actor=actor,
            at=at,
            job_run_id=run_id,
        )
        return RetuneOutcome(
            week_start,
            mode,
            "refused",
            proposal_id=row.id,
            changes=proposal.changes,
            refusals=result.refusals,
            experiments=exps,
            **common,
        )
    summary = _summary(proposal.changes)
    version = publish_policy(
        engine,
        spec_yaml(proposal.spec),
        proposal.spec.name,
        created_by=actor,
        note=f"retune of version {live} for the week of {week_start}: {summary}",
    )
    if mode == "auto":
        _carry_bandit(engine, live, version, proposal.spec)
    row = pstore.insert_proposal(
        engine,
        base_version_id=live,
        proposed_version_id=version,
        mode=mode,
        status="proposed",
        changes=changes,
        guardrails=checks,
        summary=summary,
        deferred=deferred,
        actor=actor,
        at=at,
        job_run_id=run_id,
        activate=mode == "auto",
    )
    notes: tuple[str, ...] = ()
    if row.status == "applied":
        notes = _apply_experiment_changes(engine, proposal.changes, actor, at)
    return RetuneOutcome(
        week_start,
        mode,
        row.status,
        proposal_id=row.id,
        proposed_version_id=version,
        changes=proposal.changes,
        experiments=proposal.experiments if row.status == "applied" else exps,
        notes=notes,
        **common,
    )
