"""The weekly uplift report: gather the week's evidence from the store, write
the page and its figures, keep them in ``weekly_reports``.

:func:`gather_weekly_evidence` reads the store and hands frames to the pure
``nbo_engine.reports``; :func:`write_weekly_report` renders, writes
``report.html``, ``figures/*.csv`` and ``figures.json`` under ``out_dir`` and
upserts the week's row, so running it twice for a week leaves one report.

Windows, for the week ``[monday, monday + 7 days)``:

- *measured*: decisions of the ``measure_weeks`` weeks ending with the week,
  their customers' outcomes observed until the week's end (at most
  ``attribution_days`` after each customer's first decision);
- *learning*: the ``history_weeks`` weeks ending with the week;
- proposals, file loads and finished experiments: the week itself; warnings:
  the newest monitoring report before the week ended.

Outcomes (take-up, churn, complaints) are those of the input tables, read as
the retune reads them (:func:`nbo_engine.store.proposals.customer_outcomes`),
unless the caller passes ``outcomes`` in the same format (``customer_id, ts,
outcome, product``; the simulated loop knows them for the holdout too). Offer
events cannot measure the holdout: a holdout customer is never offered
anything, so never has one. Value follows the retune's convention (see
``nbo_engine/reports/units.py``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from nbo_engine.decisioning.context import PROPENSITY_PRODUCTS, resolve_segment
from nbo_engine.errors import DataValidationError, NboError
from nbo_engine.jobs.experiments import experiment_results
from nbo_engine.policy import PolicySpec, parse_policy
from nbo_engine.reports import (
    BanditLearning,
    ExperimentResult,
    Experiments,
    Missing,
    OfferInfo,
    Playbook,
    QiniCurves,
    UpliftTable,
    WeeklyEvidence,
    alerts,
    bandit_learning,
    data_quality,
    headline,
    playbook,
    policy_changes,
    qini_curves,
    render_html,
    segment_from_context,
    unit_outcomes,
    units_from_decisions,
    uplift_table,
    write_figures,
)
from nbo_engine.reports.operations import forecasts as forecast_section
from nbo_engine.reports.units import TREATED
from nbo_engine.retune.attribution import check_outcomes
from nbo_engine.store import Engine, read
from nbo_engine.store import decisions as decision_store
from nbo_engine.store import experiments as experiment_store
from nbo_engine.store import proposals as proposal_store
from nbo_engine.store import reports as store
from nbo_engine.store import scores as score_store
from nbo_engine.store.policies import read_slot

__all__ = [
    "ReportOutcome",
    "gather_weekly_evidence",
    "monday_of",
    "write_weekly_report",
]

log = logging.getLogger(__name__)
T = TypeVar("T")
_STORE_SOURCE = "accounts opened and closed and complaints logged in the input tables"
_NO_SNAPSHOT = "no score snapshot succeeded before the week ended"


def monday_of(day: dt.date) -> dt.date:
    """The Monday of the week holding ``day``."""
    return day - dt.timedelta(days=day.weekday())


@dataclass(frozen=True)
class _Policies:
    """What the report needs from the policy versions involved (the live
    version's definitions win where versions differ)."""

    name: str | None
    segments: tuple[str, ...]
    specs: Mapping[int, PolicySpec]
    offers: Mapping[str, OfferInfo]
    product_value: Mapping[str, float]
    retention: tuple[str, ...]
    currency: str
    live: PolicySpec | None = None


def _policies(engine: Engine, version_ids: list[int]) -> _Policies:
    live = read_slot(engine, "live")
    ids = sorted(set(version_ids) | ({live} if live is not None else set()))
    specs = {
        v: parse_policy(text, filename=f"policy_version_{v}.yaml")
        for v, text in store.policy_specs(engine, ids).items()
    }
    order = [v for v in ids if v != live] + ([live] if live in specs else [])
    offers: dict[str, OfferInfo] = {}
    retention: list[str] = []
    for v in order:
        for o in specs[v].offers:
            offers[o.id] = OfferInfo(o.product, o.name, o.value.margin, o.value.cost)
            # offers meant to keep customers: named so, or aimed at churn risk
            text = f"{o.id} {o.name} {o.eligibility}".lower()
            if ("retention" in text or "churn" in text) and o.id not in retention:
                retention.append(o.id)
    margins: dict[str, list[float]] = {}
    for info in offers.values():
        margins.setdefault(info.product, []).append(info.margin)
    main = specs.get(live) if live is not None else None
    return _Policies(
        name=main.name if main else None,
        segments=main.segments if main else (),
        specs=specs,
        offers=offers,
        product_value={p: float(np.mean(m)) for p, m in margins.items()},
        retention=tuple(retention),
        currency=main.offers[0].value.currency if main else "GBP",
        live=main,
    )


def _rule_segments(
    engine: Engine,
    snapshot_id: int,
    latest: pd.DataFrame,
    spec: PolicySpec | None,
    now: dt.datetime,
) -> pd.DataFrame:
    """``latest`` with ``segment`` named by the live policy's segment rules
    where one holds (read on the customers' decision profiles, as the
    decisioning reads them), else as resolved from the score columns."""
    if spec is None or not spec.segment_rules or latest.empty:
        return latest
    with read(engine) as conn:
        profiles = decision_store.read_profiles(
            conn,
            snapshot_id,
            latest["customer_id"].astype(str).tolist(),
            now,
            spec.segment_rule_columns,
        )
    frame = pd.DataFrame(profiles).reindex(
        columns=["customer_id", *spec.segment_rule_columns]
    )
    named = pd.Series(spec.rule_segments(frame), index=frame["customer_id"].astype(str))
    by_rule = latest["customer_id"].astype(str).map(named)
    return latest.assign(segment=by_rule.where(by_rule.notna(), latest["segment"]))


def _resolve(frame: pd.DataFrame, segments: tuple[str, ...]) -> np.ndarray:
    """Each row's segment from its segment columns by the decisioning's own
    rule (:func:`resolve_segment`), evaluated once per distinct combination."""
    cols = list(store.SEGMENT_COLUMNS)
    keys = frame[cols].astype(object).where(frame[cols].notna(), None)
    uniq = keys.drop_duplicates().reset_index(drop=True)
    uniq["_segment"] = [
        resolve_segment(dict(zip(cols, row, strict=True)), segments) or "(unknown)"
        for row in uniq.itertuples(index=False, name=None)
    ]
    return keys.merge(uniq, on=cols, how="left")["_segment"].to_numpy(object)


def _section(name: str, build: Callable[[], T | Missing]) -> T | Missing:
    """Build one section; a failure becomes that section's Missing line (the
    job boundary: the rest of the report is still worth reading)."""
    try:
        return build()
    except Exception as exc:
        log.exception("weekly report: section %s failed", name)
        return Missing(f"building it failed ({type(exc).__name__}: {exc})")


def _experiments(
    engine: Engine, *, start: dt.datetime, end: dt.datetime
) -> Experiments | Missing:
    """Experiments stopped in the week (final readouts) and running ones
    (interim readouts as of the week's end), read out by the experiments
    job's own code (:func:`nbo_engine.jobs.experiments.experiment_results`)."""
    finished, running = [], []
    for rec in experiment_store.list_experiments(engine):
        if rec.is_holdout or rec.started_at is None:
            continue
        stopped = rec.stopped_at
        if rec.status == "stopped" and stopped is not None and start <= stopped < end:
            finished.append(_readout(engine, rec, stopped))
        elif rec.status == "running" and rec.started_at < end:
            running.append(_readout(engine, rec, end))
    if not finished and not running:
        return Missing("no experiment was running or finished this week")
    return Experiments(finished=tuple(finished), running=tuple(running))


def _readout(
    engine: Engine, rec: experiment_store.ExperimentRecord, as_of: dt.datetime
) -> ExperimentResult:
    try:
        r = experiment_results(engine, rec.name, as_of=as_of)
    except NboError as exc:
        r, note = None, str(exc)
    else:
        note = ""
    return ExperimentResult(
        name=rec.name,
        kind=rec.kind,
        status=rec.status,
        started_at=rec.started_at,
        stopped_at=rec.stopped_at,
        stop_reason=rec.stop_reason,
        units=0 if r is None else int(sum(r.units)),
        readout=r,
        note=note,
    )


def _segments(
    measured: pd.DataFrame, policies: _Policies, latest: pd.DataFrame | None
) -> pd.Series:
    """A decision's segment: the one-hot of its logged context, else the
    customer's segment in the newest snapshot."""
    seg = pd.Series(np.full(len(measured), None, dtype=object), index=measured.index)
    for v, spec in policies.specs.items():
        rows = measured["policy_version_id"] == v
        seg[rows] = segment_from_context(measured.loc[rows, "context"], spec.segments)
    if latest is not None and seg.isna().any():
        by_customer = latest.set_index("customer_id")["segment"]
        seg = seg.fillna(measured["customer_id"].map(by_customer))
    return seg


def _qini(
    outcomes: pd.DataFrame, latest: pd.DataFrame | None, policies: _Policies
) -> QiniCurves | Missing:
    """Qini curves of the engine's scores: the best offer's expected value
    (propensity x mean margin of the product), CLV and churn risk."""
    if latest is None:
        return Missing(_NO_SNAPSHOT)
    s = latest.set_index("customer_id")
    best = np.zeros(len(s))
    for p in PROPENSITY_PRODUCTS:
        value = policies.product_value.get(p, 0.0)
        best = np.maximum(best, s[f"propensity_{p}"].fillna(0).to_numpy() * value)
    scores = pd.DataFrame(
        {
            "customer_id": s.index,
            "expected offer value": best,
            "CLV (12 months)": s["clv_12m"].to_numpy(),
            "churn risk (90 days)": s["churn_90d"].to_numpy(),
        }
    )
    return qini_curves(outcomes, scores)


def _learning(
    engine: Engine,
    history: pd.DataFrame,
    policies: _Policies,
    *,
    since: dt.datetime,
    week: dt.datetime,
    until: dt.datetime,
) -> BanditLearning | Missing:
    rows = history[history["experiment"] != "global_holdout"]
    events = store.offer_events_between(engine, since=since, until=until)
    live = read_slot(engine, "live")
    state = None if live is None else decision_store.latest_bandit_state(engine, live)
    return bandit_learning(
        rows,
        events,
        week=pd.Timestamp(week),
        offer_names={o: i.name for o, i in policies.offers.items()},
        rewards_folded=None if state is None else state.n_rewards,
    )


def _playbook(
    engine: Engine,
    snap: pd.DataFrame,
    latest: pd.DataFrame | None,
    measured: pd.DataFrame,
    uplift: UpliftTable | Missing,
    policies: _Policies,
    *,
    since: dt.datetime,
    until: dt.datetime,
) -> Playbook | Missing:
    if latest is None:
        return Missing(_NO_SNAPSHOT)
    summary = store.segment_summary(engine, snap["id"].tolist())
    summary["segment"] = _resolve(summary, policies.segments)
    summary = summary.merge(
        snap.rename(columns={"id": "snapshot_id"}), on="snapshot_id"
    )
    g = summary.groupby(["as_of", "segment"], as_index=False)[
        ["n", "clv_sum", "clv_n", "churn_sum", "churn_n"]
    ].sum()
    trend = pd.DataFrame(
        {
            "as_of": pd.to_datetime(g["as_of"]).dt.date,
            "segment": g["segment"],
            "customers": g["n"].astype(np.int64),
            "clv_mean": g["clv_sum"] / g["clv_n"].where(g["clv_n"] > 0),
            "churn_mean": g["churn_sum"] / g["churn_n"].where(g["churn_n"] > 0),
        }
    )
    offered = measured[
        measured["offer_id"].notna() & (measured["experiment"] != "global_holdout")
    ]
    took = store.offer_events_between(engine, since=since, until=until)
    keys = pd.MultiIndex.from_frame(took[["decision_id", "offer_id"]])
    accepted = pd.MultiIndex.from_frame(offered[["decision_id", "offer_id"]]).isin(keys)
    channels = (
        offered.assign(accepted=accepted.astype(np.int64))
        .groupby(["segment", "channel"], as_index=False)
        .agg(offered=("offer_id", "size"), accepted=("accepted", "sum"))
    )
    return playbook(
        trend,
        latest[["segment", "clv_12m", "churn_90d"]],
        uplift,
        channels,
        retention_offers=policies.retention,
    )


def gather_weekly_evidence(
    engine: Engine,
    *,
    week: dt.date,
    forecasts: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    now: dt.datetime | None = None,
    measure_weeks: int = 4,
    history_weeks: int = 8,
    attribution_days: int = 30,
    alpha: float = 0.05,
) -> WeeklyEvidence:
    """Everything the report of ``week`` shows, read from the store.

    Parameters
    ----------
    engine : the store.
    week : any day of the week reported (its Monday is used).
    forecasts : ``series, week, model, mean[, lo80, hi80, lo95, hi95]``.
    outcomes : ``customer_id, ts, outcome, product`` (``outcome`` one of
        ``product_open, complaint, churn``); default the input tables'.
    now : time of generation (default the wall clock).
    measure_weeks, history_weeks, attribution_days, alpha : see the module doc.

    Returns
    -------
    WeeklyEvidence
        Sections that cannot be made say why (``Missing``).

    Raises
    ------
    DataValidationError
        A window length below one.
    RetuneError
        ``outcomes`` lacks a column or has an unknown outcome kind.
    """
    if min(measure_weeks, history_weeks, attribution_days) < 1:
        raise DataValidationError(
            "measure_weeks, history_weeks and attribution_days: expected >= 1, got "
            f"{measure_weeks}, {history_weeks} and {attribution_days}"
        )
    given = check_outcomes(outcomes) if outcomes is not None else None
    monday = monday_of(week)
    t0 = dt.datetime.combine(monday, dt.time())
    t1 = t0 + dt.timedelta(days=7)
    m0 = t1 - dt.timedelta(weeks=measure_weeks)
    h0 = t1 - dt.timedelta(weeks=history_weeks)

    measured = store.live_decisions(engine, since=m0, until=t1, with_context=True)
    history = store.live_decisions(engine, since=h0, until=t1)
    policies = _policies(
        engine,
        sorted(
            set(history["policy_version_id"].dropna().astype(int))
            | set(measured["policy_version_id"].dropna().astype(int))
        ),
    )
    snap = store.snapshots_until(engine, until=t1.date())
    latest = None
    if len(snap):
        cols = ["clv_12m", "churn_90d", *store.SEGMENT_COLUMNS]
        cols += [f"propensity_{p}" for p in PROPENSITY_PRODUCTS]
        latest = score_store.snapshot_scores(engine, int(snap["id"].iloc[-1]), cols)
        latest = latest.reset_index()
        latest["segment"] = _resolve(latest, policies.segments)
        latest = _rule_segments(
            engine, int(snap["id"].iloc[-1]), latest, policies.live, t1
        )

    measured = measured.assign(segment=_segments(measured, policies, latest))
    units = units_from_decisions(
        measured, costs={o: i.cost for o, i in policies.offers.items()}
    )
    if given is not None:
        found, source = given, "outcomes supplied with the report"
    else:
        found = proposal_store.customer_outcomes(
            engine, units["customer_id"], since=m0, until=t1
        )
        source = _STORE_SOURCE
    clv = None if latest is None else latest.set_index("customer_id")["clv_12m"]
    per_unit = unit_outcomes(
        units,
        found,
        until=pd.Timestamp(t1),
        attribution_days=attribution_days,
        product_value=policies.product_value,
        clv=clv,
    )
    window = (pd.Timestamp(m0), pd.Timestamp(t1))
    head = _section(
        "headline",
        lambda: headline(
            per_unit,
            window=window,
            alpha=alpha,
            currency=policies.currency,
            outcome_source=source,
            attribution_days=attribution_days,
        ),
    )
    treated_rows = measured["offer_id"].notna() & measured["customer_id"].isin(
        units.loc[units["arm"] == TREATED, "customer_id"]
    )
    served = measured.loc[treated_rows, ["customer_id", "offer_id"]]
    uplift = _section(
        "uplift",
        lambda: uplift_table(per_unit, served, policies.offers, alpha=alpha),
    )
    return WeeklyEvidence(
        week=monday,
        generated_at=now or dt.datetime.now(dt.UTC),
        currency=policies.currency,
        headline=head,
        uplift=uplift,
        playbook=_section(
            "playbook",
            lambda: _playbook(
                engine, snap, latest, measured, uplift, policies, since=m0, until=t1
            ),
        ),
        experiments=_section(
            "experiments", lambda: _experiments(engine, start=t0, end=t1)
        ),
        qini=_section("qini", lambda: _qini(per_unit, latest, policies)),
        bandit=_section(
            "bandit",
            lambda: _learning(engine, history, policies, since=h0, week=t0, until=t1),
        ),
        policy_changes=_section(
            "policy_changes",
            lambda: policy_changes(
                store.policy_proposals_between(engine, since=t0, until=t1)
            ),
        ),
        forecasts=_section("forecasts", lambda: forecast_section(forecasts)),
        alerts=_section(
            "alerts",
            lambda: alerts(
                store.monitor_reports_until(engine, until=t1.date()), week=monday
            ),
        ),
        data_quality=_section(
            "data_quality",
            lambda: data_quality(
                store.ingest_runs_between(engine, since=t0, until=t1),
                since=monday,
                until=t1.date(),
                last_run=store.last_ingest_run(engine, until=t0),
            ),
        ),
        policy_name=policies.name,
        offer_names={o: i.name for o, i in policies.offers.items()},
    )


@dataclass(frozen=True)
class ReportOutcome:
    """What :func:`write_weekly_report` wrote."""

    week: dt.date
    report_id: int
    html: Path
    figures_json: Path
    figures_csv: tuple[Path, ...]
    evidence: WeeklyEvidence

    def counts(self) -> dict[str, int]:
        """Counts for the job's run row: sections shown and missing, figure
        files, customers measured per arm, harmful offer x segment cells."""
        e = self.evidence
        head = e.headline
        missing = len(e.missing())
        return {
            "sections": len(e.sections()) - missing,
            "missing_sections": missing,
            "figures": len(self.figures_csv),
            "customers_treated": 0 if isinstance(head, Missing) else head.n_treated,
            "customers_holdout": 0 if isinstance(head, Missing) else head.n_holdout,
            "harmful_cells": (
                len(e.uplift.harmful) if isinstance(e.uplift, UpliftTable) else 0
            ),
        }


def write_weekly_report(
    engine: Engine,
    *,
    week: dt.date,
    out_dir: Path,
    forecasts: pd.DataFrame | None = None,
    outcomes: pd.DataFrame | None = None,
    now: dt.datetime | None = None,
    job_run_id: int | None = None,
) -> ReportOutcome:
    """Gather, render and write the report of ``week``; upsert its row.

    Writes ``out_dir/report.html``, ``out_dir/figures/<name>.csv`` and
    ``out_dir/figures.json`` (``out_dir`` is created if needed) and saves the
    page and the JSON in ``weekly_reports`` (one row per week: a rerun
    replaces it).

    Parameters
    ----------
    forecasts : forecast frame for the forecasts section (optional).
    outcomes : outcomes known to the caller (see the module doc).
    now : generation time (default the wall clock).
    job_run_id : the ``job_runs`` row of the weekly job, if any.
    """
    evidence = gather_weekly_evidence(
        engine, week=week, forecasts=forecasts, outcomes=outcomes, now=now
    )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = write_figures(evidence, out)
    html = render_html(evidence)
    page = out / "report.html"
    page.write_text(html, encoding="utf-8")
    report_id = store.save_weekly_report(
        engine,
        week=evidence.week,
        html=html,
        data=files.json.read_text(encoding="utf-8"),
        created_at=evidence.generated_at,
        job_run_id=job_run_id,
    )
    return ReportOutcome(
        week=evidence.week,
        report_id=report_id,
        html=page,
        figures_json=files.json,
        figures_csv=files.csv,
        evidence=evidence,
    )
