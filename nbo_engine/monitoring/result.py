"""One monitoring pass: drift, model health, acceptance, alerts and retraining.

:func:`monitor` is pure: two snapshots' frames, the arrived outcomes of the
scores being judged and acceptance counts in; a :class:`MonitorResult` out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from nbo_engine.monitoring.acceptance import AcceptanceRow, acceptance_table
from nbo_engine.monitoring.alerts import Alert, ModelSpec, Retrain, build_alerts
from nbo_engine.monitoring.drift import DriftRow, drift_table
from nbo_engine.monitoring.health import ModelHealth, model_health
from nbo_engine.monitoring.thresholds import Thresholds

__all__ = ["MonitorResult", "Outcomes", "monitor"]

FORMAT = "nbo-monitor/1"


@dataclass(frozen=True)
class Outcomes:
    """A score and the outcomes that followed it, customer by customer.

    ``y`` and ``p`` have shape (n,); ``model`` is the model task that wrote
    the score; ``auc_baseline`` its holdout AUC at training, if known."""

    subject: str
    y: ArrayLike
    p: ArrayLike
    model: str | None = None
    auc_baseline: float | None = None


def _json(value: Any) -> Any:
    """NaN and infinities as None, numpy scalars as Python: strict JSON."""
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


@dataclass(frozen=True)
class MonitorResult:
    """Everything one monitoring pass found."""

    drift: tuple[DriftRow, ...] = ()
    health: tuple[ModelHealth, ...] = ()
    acceptance: tuple[AcceptanceRow, ...] = ()
    alerts: tuple[Alert, ...] = ()
    retrain: tuple[Retrain, ...] = ()
    thresholds: Thresholds = field(default_factory=Thresholds)
    notes: tuple[str, ...] = ()

    @property
    def retrain_requested(self) -> bool:
        return bool(self.retrain)

    def summary(self) -> dict[str, int | bool | list[str]]:
        """Headline counts."""
        return {
            "columns_compared": len(self.drift),
            "psi_alerts": sum(r.level == "alert" for r in self.drift),
            "psi_warnings": sum(r.level == "warn" for r in self.drift),
            "ks_significant": sum(r.ks_significant for r in self.drift),
            "models_judged": sum(h.status == "ok" for h in self.health),
            "insufficient_outcomes": sum(
                h.status == "insufficient_outcomes" for h in self.health
            ),
            "acceptance_rows": len(self.acceptance),
            "alerts": sum(a.level == "alert" for a in self.alerts),
            "warnings": sum(a.level == "warn" for a in self.alerts),
            "retrain_requested": self.retrain_requested,
            "retrain": [r.model for r in self.retrain],
        }

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON-able (NaN as null); the shape is documented in
        ``docs/monitoring.md``."""
        return _json(
            {
                "format": FORMAT,
                "summary": self.summary(),
                "thresholds": self.thresholds.to_dict(),
                "drift": [r.to_dict() for r in self.drift],
                "health": [h.to_dict() for h in self.health],
                "acceptance": [r.to_dict() for r in self.acceptance],
                "alerts": [a.to_dict() for a in self.alerts],
                "retrain": [r.to_dict() for r in self.retrain],
                "notes": list(self.notes),
            }
        )


def monitor(
    reference: pd.DataFrame | None,
    current: pd.DataFrame | None,
    *,
    numeric: Sequence[str] = (),
    categorical: Sequence[str] = (),
    models: Sequence[ModelSpec] = (),
    outcomes: Sequence[Outcomes] = (),
    acceptance: pd.DataFrame | None = None,
    previous_acceptance: pd.DataFrame | None = None,
    thresholds: Thresholds | None = None,
    notes: Sequence[str] = (),
) -> MonitorResult:
    """Compare two snapshots, judge scores on arrived outcomes, rate offers.

    Parameters
    ----------
    reference, current : one row per customer of the earlier and the later
        snapshot (``None``: no drift is computed).
    numeric, categorical : the columns to compare, by kind.
    models : each model's score columns and input features; a column a model
        writes has role ``score``, any other ``feature``.
    outcomes : one per score judged on arrived outcomes.
    acceptance, previous_acceptance : ``offer_id, channel, shown, accepted``
        of the current window and the one before.
    thresholds : levels (defaults: :class:`Thresholds`).
    notes : context for the reader (e.g. why a part is empty).

    Returns
    -------
    MonitorResult

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> ref = pd.DataFrame({"churn_90d": rng.beta(1, 12, 3000),
    ...                     "age": rng.normal(45, 12, 3000)})
    >>> cur = ref.assign(churn_90d=np.clip(ref["churn_90d"] * 2.5, 0, 1))
    >>> r = monitor(ref, cur, numeric=["churn_90d", "age"],
    ...             models=[ModelSpec("churn_90d", ("churn_90d",), ("age",))])
    >>> [(a.kind, a.level, a.subject) for a in r.alerts]
    [('psi', 'alert', 'churn_90d')]
    >>> [x.model for x in r.retrain]
    ['churn_90d']
    """
    th = thresholds or Thresholds()
    roles = {c: "score" for m in models for c in m.outputs}
    drift: tuple[DriftRow, ...] = ()
    if reference is not None and current is not None:
        drift = drift_table(
            reference,
            current,
            numeric=numeric,
            categorical=categorical,
            roles=roles,
            thresholds=th,
        )
    health = tuple(
        model_health(
            o.subject,
            o.y,
            o.p,
            model=o.model,
            auc_baseline=o.auc_baseline,
            thresholds=th,
        )
        for o in outcomes
    )
    rows = (
        acceptance_table(acceptance, previous_acceptance, alpha=th.acceptance_alpha)
        if acceptance is not None or previous_acceptance is not None
        else ()
    )
    alerts, retrain = build_alerts(drift, health, rows, models=models, thresholds=th)
    return MonitorResult(
        drift=drift,
        health=health,
        acceptance=rows,
        alerts=alerts,
        retrain=retrain,
        thresholds=th,
        notes=tuple(notes),
    )
