"""From figures to alerts a campaign manager reads, and to retraining requests.

Rules (each threshold in :class:`~nbo_engine.monitoring.Thresholds`):

- **psi** ``alert`` on a model's score, or on an input feature of a model:
  retrain that model -- unless the model itself changed between the two
  snapshots (``ModelSpec.changed``): its scores then moved because a new
  model wrote them, the alert says so, and retraining again is no remedy.
  ``warn``: reported, no retraining.
- **ks**: a significant (Holm-adjusted) and large enough KS distance on a
  column whose PSI is still ``ok`` is a warning (PSI already speaks for the
  others); never a retrain on its own, since with many customers KS finds
  shifts of no practical size.
- **calibration**: ECE above ``ece_alert`` *and* Hosmer-Lemeshow rejecting at
  ``health_alpha``: retrain (recalibrate) the model.
- **auc**: AUC on arrived outcomes below the training holdout AUC by more than
  ``auc_drop_alert``, the drop significant at ``health_alpha``: retrain.
- **acceptance**: an offer's Wilson interval in the current window wholly
  below the previous window's (both with ``min_shown`` offers shown): a
  warning for the campaign manager; the weekly retune acts on offers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from nbo_engine.monitoring.acceptance import ALL_CHANNELS, AcceptanceRow
from nbo_engine.monitoring.drift import DriftRow
from nbo_engine.monitoring.health import ModelHealth
from nbo_engine.monitoring.thresholds import Thresholds

__all__ = [
    "Alert",
    "ModelSpec",
    "Retrain",
    "build_alerts",
    "column_label",
    "model_label",
]

Kind = Literal["psi", "ks", "calibration", "auc", "acceptance"]

_LABELS: dict[str, str] = {
    "churn_90d": "90-day churn score",
    "clv_12m": "12-month customer value",
    "expected_purchases_12m": "expected purchases in the next 12 months",
    "p_alive": "probability the customer is still active",
    "next_best_product": "next best product",
    "value_tier": "value tier",
    "cluster": "behavioural cluster",
    "life_stage": "life stage",
    "product_affinity": "product affinity segment",
    "micro_segment": "micro-segment",
    "age": "age",
    "tenure_days": "tenure",
    "income_level": "income level",
    "n_products": "number of products held",
    "rfm_recency_days": "days since the last purchase",
    "rfm_count_90": "purchases in the last 90 days",
    "rfm_sum_365": "spend in the last year",
    "dig_logins_30": "digital logins in the last 30 days",
    "svc_complaints_365": "complaints in the last year",
    "svc_sentiment_365": "sentiment of service notes",
    "bal_deposits": "deposit balances",
    "bal_debt": "debt balances",
    "chan_digital_share": "share of digital transactions",
    "marketing_consent": "marketing consent",
    "do_not_contact": "do-not-contact flag",
}
_MODEL_LABELS: dict[str, str] = {
    "churn_90d": "churn model",
    "propensity": "product propensity model",
    "clv": "customer value (CLV) model",
    "segments": "segmentation model",
}


def column_label(column: str) -> str:
    """A reader's name for a score or feature column."""
    if column in _LABELS:
        return _LABELS[column]
    if column.startswith("propensity_"):
        product = column.removeprefix("propensity_").replace("_", " ")
        return f"{product} take-up propensity"
    return column.replace("_", " ")


def model_label(model: str) -> str:
    """A reader's name for a model task."""
    return _MODEL_LABELS.get(model, f"{model.replace('_', ' ')} model")


@dataclass(frozen=True)
class ModelSpec:
    """A model the monitor watches: the score columns it writes and the
    monitored columns it reads."""

    name: str
    outputs: tuple[str, ...]
    features: tuple[str, ...] = ()
    #: A different model version wrote the current snapshot's scores than the
    #: reference's (so score drift is partly the new model's doing).
    changed: bool = False


@dataclass(frozen=True)
class Alert:
    """One finding above a threshold, in words and in figures."""

    kind: Kind
    level: Literal["warn", "alert"]
    subject: str  # a column, a score, or ``offer_id@channel``
    value: float
    threshold: float
    message: str
    models: tuple[str, ...] = ()  # models this alert asks to retrain

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level,
            "subject": self.subject,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "models": list(self.models),
        }


@dataclass(frozen=True)
class Retrain:
    """A request to retrain one model, with every reason for it."""

    model: str
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "reasons": list(self.reasons)}


def _missing_note(row: DriftRow) -> str:
    if abs(row.missing_current - row.missing_reference) < 0.05:
        return ""
    return (
        f" It is missing for {row.missing_current:.0%} of customers now, "
        f"{row.missing_reference:.0%} before."
    )


def _drift_alerts(
    drift: Sequence[DriftRow],
    producer: Mapping[str, str],
    readers: Mapping[str, list[str]],
    changed: frozenset[str],
    th: Thresholds,
) -> list[Alert]:
    out: list[Alert] = []
    for row in drift:
        label = f"{column_label(row.column)} ({row.column})"
        if row.level != "ok":
            threshold = th.psi_alert if row.level == "alert" else th.psi_warn
            owner = producer.get(row.column)
            users = readers.get(row.column, [])
            models: tuple[str, ...] = ()
            if row.level == "alert":
                if owner is None:
                    models = tuple(users)
                elif owner not in changed:
                    models = (owner,)
            if owner is not None:
                what = f"The distribution of the {label} has shifted"
            else:
                what = f"The distribution of customers' {label} has changed"
            if row.level == "alert":
                if owner is not None and owner in changed:
                    tail = (
                        f" The {model_label(owner)} was retrained between the two "
                        "snapshots, so the new model accounts for at least part "
                        "of the shift: check its health before relying on it."
                    )
                elif owner is not None:
                    tail = (
                        " Customers are now scored quite differently; the "
                        f"{model_label(owner)} should be retrained."
                    )
                elif users:
                    names = ", ".join(model_label(m) for m in users)
                    tail = f" The models that read it ({names}) should be retrained."
                else:
                    tail = " No model reads it directly, but the customer base has changed."
                text = (
                    f"{what} a lot since the reference snapshot: PSI {row.psi:.2f} "
                    f"is at or above the alert level {threshold:.2f}.{tail}"
                )
            else:
                text = (
                    f"{what} moderately since the reference snapshot: PSI "
                    f"{row.psi:.2f} is at or above the warning level "
                    f"{threshold:.2f}. Worth watching; nothing to do yet."
                )
            out.append(
                Alert(
                    kind="psi",
                    level=row.level,
                    subject=row.column,
                    value=row.psi,
                    threshold=threshold,
                    message=text + _missing_note(row),
                    models=models,
                )
            )
        elif row.ks_significant and row.ks_pvalue_holm is not None:
            out.append(
                Alert(
                    kind="ks",
                    level="warn",
                    subject=row.column,
                    value=row.ks_pvalue_holm,
                    threshold=th.ks_alpha,
                    message=(
                        f"The distribution of {label} differs from the reference "
                        f"snapshot (KS distance {row.ks_statistic:.2f}, "
                        f"Holm-adjusted p = {row.ks_pvalue_holm:.2g}, below "
                        f"{th.ks_alpha:g}) although its PSI ({row.psi:.2f}) is "
                        "below the warning level. Worth watching."
                    ),
                )
            )
    return out


def _health_alerts(health: Sequence[ModelHealth], th: Thresholds) -> list[Alert]:
    out: list[Alert] = []
    for h in health:
        if h.status != "ok":
            continue
        label = model_label(h.model)
        subject = column_label(h.subject)
        if (
            h.ece is not None
            and h.ece > th.ece_alert
            and h.hl_pvalue is not None
            and h.hl_pvalue < th.health_alpha
        ):
            out.append(
                Alert(
                    kind="calibration",
                    level="alert",
                    subject=h.subject,
                    value=h.ece,
                    threshold=th.ece_alert,
                    message=(
                        f"The {label} is off in its probabilities ({subject}): it "
                        f"predicted {h.mean_predicted:.1%} on average and "
                        f"{h.base_rate:.1%} happened among the {h.n:,} customers "
                        "whose outcomes have arrived (expected calibration error "
                        f"{h.ece:.3f}, above {th.ece_alert:.3f}; Hosmer-Lemeshow "
                        f"p = {h.hl_pvalue:.2g}). It should be recalibrated."
                    ),
                    models=(h.model,),
                )
            )
        if (
            h.auc is not None
            and h.auc_baseline is not None
            and h.auc_drop_pvalue is not None
            and h.auc_baseline - h.auc > th.auc_drop_alert
            and h.auc_drop_pvalue < th.health_alpha
        ):
            drop = h.auc_baseline - h.auc
            out.append(
                Alert(
                    kind="auc",
                    level="alert",
                    subject=h.subject,
                    value=drop,
                    threshold=th.auc_drop_alert,
                    message=(
                        f"The {label} ranks customers less well than when it was "
                        f"trained ({subject}): AUC {h.auc:.3f} on arrived outcomes "
                        f"against {h.auc_baseline:.3f} at training, a drop of "
                        f"{drop:.3f} (above {th.auc_drop_alert:.3f}; p = "
                        f"{h.auc_drop_pvalue:.2g}). It should be retrained."
                    ),
                    models=(h.model,),
                )
            )
    return out


def _acceptance_alerts(rows: Sequence[AcceptanceRow], th: Thresholds) -> list[Alert]:
    out: list[Alert] = []
    level = 1 - th.acceptance_alpha
    for r in rows:
        if (
            r.shown >= th.min_shown
            and r.previous_shown >= th.min_shown
            and r.ci_high < r.previous_ci_low
            and r.rate is not None
            and r.previous_rate is not None
        ):
            where = (
                "across all channels"
                if r.channel == ALL_CHANNELS
                else f"on {r.channel}"
            )
            out.append(
                Alert(
                    kind="acceptance",
                    level="warn",
                    subject=f"{r.offer_id}@{r.channel}",
                    value=r.rate,
                    threshold=r.previous_ci_low,
                    message=(
                        f"Offer {r.offer_id} {where} is accepted less often: "
                        f"{r.rate:.1%} ({level:.0%} interval {r.ci_low:.1%} to "
                        f"{r.ci_high:.1%}, {r.accepted} of {r.shown:,}) in the "
                        f"current window against {r.previous_rate:.1%} "
                        f"({r.previous_ci_low:.1%} to {r.previous_ci_high:.1%}) "
                        "in the window before."
                    ),
                )
            )
    return out


def build_alerts(
    drift: Sequence[DriftRow],
    health: Sequence[ModelHealth],
    acceptance: Sequence[AcceptanceRow],
    *,
    models: Sequence[ModelSpec] = (),
    thresholds: Thresholds | None = None,
) -> tuple[tuple[Alert, ...], tuple[Retrain, ...]]:
    """Alerts (drift, health, acceptance) and the retraining they call for.

    Returns
    -------
    (alerts, retrain) : alerts in that order; one :class:`Retrain` per model
    with at least one alert asking for it, in the order of ``models`` (models
    not listed come after, by name).
    """
    th = thresholds or Thresholds()
    producer = {c: m.name for m in models for c in m.outputs}
    readers: dict[str, list[str]] = {}
    for m in models:
        for f in m.features:
            readers.setdefault(f, []).append(m.name)
    alerts = [
        *_drift_alerts(
            drift, producer, readers, frozenset(m.name for m in models if m.changed), th
        ),
        *_health_alerts(health, th),
        *_acceptance_alerts(acceptance, th),
    ]
    reasons: dict[str, list[str]] = {}
    for a in alerts:
        for name in a.models:
            reasons.setdefault(name, []).append(_short(a))
    order = [m.name for m in models]
    ranked = sorted(
        reasons, key=lambda n: (order.index(n) if n in order else len(order), n)
    )
    return tuple(alerts), tuple(Retrain(n, tuple(reasons[n])) for n in ranked)


def _short(a: Alert) -> str:
    if a.kind == "psi":
        return f"PSI {a.value:.2f} >= {a.threshold:.2f} on {a.subject}"
    if a.kind == "calibration":
        return f"calibration error {a.value:.3f} > {a.threshold:.3f} on {a.subject}"
    if a.kind == "auc":
        return f"AUC down {a.value:.3f} (> {a.threshold:.3f}) on {a.subject}"
    return f"{a.kind} {a.value:.3g} on {a.subject}"
