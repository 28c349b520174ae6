"""The daily monitor: drift between snapshots, model health, acceptance rates.

I/O orchestration (the statistics are :mod:`nbo_engine.monitoring`):

1. **Drift**: the newest succeeded score snapshot dated on or before
   ``as_of`` (the *current* one) against the newest one dated before it (the
   *reference*): every ``customer_scores`` column, numeric or categorical.
2. **Model health** on outcomes that have arrived: the newest snapshot whose
   outcome horizon (90 days) has fully passed by ``as_of`` and by the data in
   the store (the newest account opening or closing), scored against what
   followed: churn = the relationship closed within the horizon, take-up = an
   account of the product opened within it (:mod:`nbo_engine.scoring.labels`,
   the labels the models were trained on), each against the model's training
   holdout AUC.
3. **Acceptance** per offer and channel: live decisions of the 28 days whose
   7-day acceptance window closed by the end of ``as_of``, and the 28 days
   before them.
4. Alerts and retraining requests; one ``monitor_reports`` row (never
   overwritten) with ``retrain_requested``.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.monitoring import (
    ModelSpec,
    MonitorResult,
    Outcomes,
    Thresholds,
    monitor,
)
from nbo_engine.scoring.churn import TASK as CHURN_TASK
from nbo_engine.scoring.labels import HORIZON_DAYS, churn_labels, takeup_labels
from nbo_engine.scoring.propensity import SALEABLE
from nbo_engine.store import Engine
from nbo_engine.store import monitoring as store
from nbo_engine.store.queries import read_table

__all__ = ["MODEL_OUTPUTS", "MonitorOutcome", "run_monitor"]

#: The score columns each model task writes into ``customer_scores``.
MODEL_OUTPUTS: dict[str, tuple[str, ...]] = {
    CHURN_TASK: ("churn_90d",),
    "propensity": (*(f"propensity_{p}" for p in SALEABLE), "next_best_product"),
    "clv": ("clv_12m", "expected_purchases_12m", "p_alive"),
    "segments": ("value_tier", "cluster", "product_affinity", "micro_segment"),
}


@dataclass(frozen=True)
class MonitorOutcome:
    """What one monitor run found and where it was saved."""

    report_id: int
    as_of: dt.date
    snapshot_id: int | None
    reference_snapshot_id: int | None
    health_snapshot_id: int | None
    result: MonitorResult
    report: dict[str, Any]  # as saved in monitor_reports.report
    seconds: float

    @property
    def retrain_requested(self) -> bool:
        return self.result.retrain_requested

    def counts(self) -> dict[str, int | float | str]:
        """Figures for the job run row."""
        r = self.result
        out: dict[str, int | float | str] = {
            "report_id": self.report_id,
            "columns_compared": len(r.drift),
            "psi_alerts": sum(d.level == "alert" for d in r.drift),
            "psi_warnings": sum(d.level == "warn" for d in r.drift),
            "ks_significant": sum(d.ks_significant for d in r.drift),
            "models_judged": sum(h.status == "ok" for h in r.health),
            "acceptance_rows": len(r.acceptance),
            "alerts": len(r.alerts),
            "retrain_requested": int(self.retrain_requested),
            "retrain": ",".join(x.model for x in r.retrain),
            "seconds": round(self.seconds, 3),
        }
        for key, value in (
            ("snapshot_id", self.snapshot_id),
            ("reference_snapshot_id", self.reference_snapshot_id),
            ("health_snapshot_id", self.health_snapshot_id),
        ):
            if value is not None:
                out[key] = value
        return out


def _snapshot_ref(snap: dict[str, Any] | None) -> dict[str, Any] | None:
    if snap is None:
        return None
    return {
        "id": snap["id"],
        "as_of": snap["as_of"].isoformat(),
        "n_customers": snap["n_customers"],
    }


def _auc_of(metrics: dict[str, Any], *path: str) -> float | None:
    node: Any = metrics
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if isinstance(node, int | float) else None


def _outcomes(
    engine: Engine,
    snap: dict[str, Any],
    infos: dict[int, dict[str, Any]],
    horizon_days: int,
) -> list[Outcomes]:
    """Each binary score of ``snap`` with the outcomes that followed it."""
    subjects = ["churn_90d", *(f"propensity_{p}" for p in SALEABLE)]
    frame = store.snapshot_frame(engine, snap["id"], subjects)
    accounts = read_table(
        engine,
        "accounts",
        columns=["customer_id", "product", "open_date", "close_date"],
    )
    accounts["customer_id"] = accounts["customer_id"].astype(str)
    start = pd.Timestamp(snap["as_of"])
    models = snap["models"]
    churn_metrics = infos.get(models.get(CHURN_TASK, -1), {}).get("metrics", {})
    prop_metrics = infos.get(models.get("propensity", -1), {}).get("metrics", {})
    out: list[Outcomes] = []
    eligible, label = churn_labels(accounts, frame.index, start, horizon_days)
    p = frame["churn_90d"].to_numpy(np.float64)
    keep = eligible & np.isfinite(p)
    out.append(
        Outcomes(
            "churn_90d",
            label[keep],
            p[keep],
            model=CHURN_TASK,
            auc_baseline=_auc_of(churn_metrics, "holdout", "auc"),
        )
    )
    eligible2, labels2 = takeup_labels(accounts, frame.index, start, horizon_days)
    for product in SALEABLE:
        j = PRODUCTS.index(product)
        p = frame[f"propensity_{product}"].to_numpy(np.float64)
        keep = eligible2[:, j] & np.isfinite(p)
        out.append(
            Outcomes(
                f"propensity_{product}",
                labels2[keep, j],
                p[keep],
                model="propensity",
                auc_baseline=_auc_of(prop_metrics, product, "blended_holdout", "auc"),
            )
        )
    return out


def run_monitor(
    engine: Engine,
    *,
    as_of: dt.date,
    run_id: int | None = None,
    thresholds: Thresholds | None = None,
    horizon_days: int = HORIZON_DAYS,
    acceptance_days: int = 28,
    accept_within_days: int = 7,
    now: dt.datetime | None = None,
) -> MonitorOutcome:
    """Run the monitor as of ``as_of`` and save its report (see module doc).

    Parameters
    ----------
    engine : the store.
    as_of : the day monitored; nothing dated after it is used.
    run_id : the ``job_runs`` row of the scheduled run, kept with the report.
    thresholds : warning, alert and retraining levels.
    horizon_days : outcome horizon of the churn and take-up scores.
    acceptance_days : length of each acceptance window, days.
    accept_within_days : an offer counts as accepted if an accept or
        conversion event follows the decision within this many days.
    now : the report's creation time (default: the wall clock).

    Returns
    -------
    MonitorOutcome
        With the saved report's id; a store without snapshots still gets a
        report (empty drift and health, with a note saying why).
    """
    t0 = time.perf_counter()
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise DataValidationError(f"as_of: expected a date (YYYY-MM-DD), got {as_of!r}")
    for name, value in (
        ("horizon_days", horizon_days),
        ("acceptance_days", acceptance_days),
        ("accept_within_days", accept_within_days),
    ):
        if not isinstance(value, int) or value < 1:
            raise DataValidationError(
                f"{name}: expected a whole number of days >= 1, got {value!r}"
            )
    th = thresholds or Thresholds()
    created = now or dt.datetime.now(dt.UTC)
    notes: list[str] = []

    snaps = store.succeeded_snapshots(engine, until=as_of)
    current = snaps[0] if snaps else None
    reference = (
        next((s for s in snaps[1:] if s["as_of"] < current["as_of"]), None)
        if current is not None
        else None
    )
    numeric = [c for c, k in store.SCORE_KINDS.items() if k == "numeric"]
    categorical = [c for c, k in store.SCORE_KINDS.items() if k == "categorical"]
    monitored = set(numeric) | set(categorical)

    ref_frame = cur_frame = None
    if current is None:
        notes.append(
            f"no score snapshot is dated on or before {as_of}: nothing to compare "
            "or judge (run `nbo score`)"
        )
    elif reference is None:
        notes.append(
            f"snapshot {current['id']} ({current['as_of']}) has no earlier snapshot "
            "to compare with, so no drift is reported"
        )
    else:
        ref_frame = store.snapshot_frame(engine, reference["id"])
        cur_frame = store.snapshot_frame(engine, current["id"])

    # Models: which columns each writes and which monitored columns it reads.
    model_ids = dict(current["models"]) if current is not None else {}
    through = store.data_through(engine)
    cutoff = min(as_of, through) if through is not None else None
    matured = [
        s
        for s in snaps
        if cutoff is not None and s["as_of"] + dt.timedelta(days=horizon_days) <= cutoff
    ]
    health_snap = matured[0] if matured else None
    health_ids = list(health_snap["models"].values()) if health_snap else []
    infos = store.model_info(engine, [*model_ids.values(), *health_ids])
    specs = [
        ModelSpec(
            task,
            outputs,
            tuple(
                f
                for f in infos.get(model_ids.get(task, -1), {}).get("features", [])
                if f in monitored
            ),
            changed=reference is not None
            and reference["models"].get(task) != model_ids.get(task),
        )
        for task, outputs in MODEL_OUTPUTS.items()
    ]

    outcomes: list[Outcomes] = []
    if health_snap is not None:
        outcomes = _outcomes(engine, health_snap, infos, horizon_days)
    elif current is not None:
        notes.append(
            f"no snapshot is old enough for its {horizon_days}-day outcomes to have "
            f"arrived by {cutoff or as_of} (the store's accounts run to "
            f"{through or 'no date'}), so model health is not judged"
        )

    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time()) - dt.timedelta(
        days=accept_within_days
    )
    mid = end - dt.timedelta(days=acceptance_days)
    start = mid - dt.timedelta(days=acceptance_days)
    current_counts = store.acceptance_counts(
        engine, since=mid, until=end, accept_within_days=accept_within_days
    )
    previous_counts = store.acceptance_counts(
        engine, since=start, until=mid, accept_within_days=accept_within_days
    )

    result = monitor(
        ref_frame,
        cur_frame,
        numeric=numeric,
        categorical=categorical,
        models=specs,
        outcomes=outcomes,
        acceptance=current_counts,
        previous_acceptance=previous_counts,
        thresholds=th,
        notes=notes,
    )
    seconds = time.perf_counter() - t0
    report: dict[str, Any] = {
        **result.to_dict(),
        "as_of": as_of.isoformat(),
        "created_at": created.astimezone(dt.UTC).isoformat()
        if created.tzinfo
        else created.isoformat(),
        "job_run_id": run_id,
        "snapshot": _snapshot_ref(current),
        "reference": _snapshot_ref(reference),
        "health_snapshot": (
            {
                **(_snapshot_ref(health_snap) or {}),
                "horizon_days": horizon_days,
                "outcomes_through": cutoff.isoformat() if cutoff else None,
            }
            if health_snap is not None
            else None
        ),
        "acceptance_window": {
            "current": [mid.isoformat(), end.isoformat()],
            "previous": [start.isoformat(), mid.isoformat()],
            "accept_within_days": accept_within_days,
        },
        "models": {
            task: model_ids[task] for task in MODEL_OUTPUTS if task in model_ids
        },
        "seconds": round(seconds, 3),
    }
    report_id = store.save_report(
        engine,
        created_at=created,
        as_of=as_of,
        snapshot_id=current["id"] if current is not None else None,
        reference_snapshot_id=reference["id"] if reference is not None else None,
        report=report,
        n_alerts=len(result.alerts),
        retrain_requested=result.retrain_requested,
        job_run_id=run_id,
    )
    return MonitorOutcome(
        report_id=report_id,
        as_of=as_of,
        snapshot_id=current["id"] if current is not None else None,
        reference_snapshot_id=reference["id"] if reference is not None else None,
        health_snapshot_id=health_snap["id"] if health_snap is not None else None,
        result=result,
        report=report,
        seconds=seconds,
    )
