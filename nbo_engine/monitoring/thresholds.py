"""The levels that turn monitoring figures into warnings, alerts and retraining.

Every limit on a threshold is written down once, as data (:data:`LIMITS`), so
the validation message and the tests read the same table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from nbo_engine.errors import ConfigError

__all__ = ["LIMITS", "Thresholds"]

Strategy = Literal["quantile", "uniform"]


@dataclass(frozen=True)
class _Range:
    """``low < value < high`` (``closed`` says which ends are allowed)."""

    low: float
    high: float
    closed: Literal["neither", "left", "right", "both"] = "neither"
    integer: bool = False

    def contains(self, value: float) -> bool:
        lo_ok = (
            value >= self.low if self.closed in ("left", "both") else value > self.low
        )
        hi_ok = (
            value <= self.high
            if self.closed in ("right", "both")
            else value < self.high
        )
        return lo_ok and hi_ok

    def describe(self) -> str:
        left = "[" if self.closed in ("left", "both") else "("
        right = "]" if self.closed in ("right", "both") else ")"
        hi = "inf" if math.isinf(self.high) else f"{self.high:g}"
        kind = "an integer" if self.integer else "a number"
        return f"{kind} in {left}{self.low:g}, {hi}{right}"


_INF = math.inf

#: Allowed range of every numeric threshold.
LIMITS: dict[str, _Range] = {
    "psi_warn": _Range(0.0, _INF),
    "psi_alert": _Range(0.0, _INF),
    "psi_bins": _Range(2, 1000, "both", integer=True),
    "psi_epsilon": _Range(0.0, 0.01, "right"),
    "ks_alpha": _Range(0.0, 1.0),
    "ks_min_statistic": _Range(0.0, 1.0, "left"),
    "calibration_bins": _Range(2, 1000, "both", integer=True),
    "ece_alert": _Range(0.0, 1.0),
    "health_alpha": _Range(0.0, 1.0),
    "auc_drop_alert": _Range(0.0, 0.5, "right"),
    "min_outcomes": _Range(1, 1e12, "both", integer=True),
    "acceptance_alpha": _Range(0.0, 1.0),
    "min_shown": _Range(1, 1e12, "both", integer=True),
}


@dataclass(frozen=True)
class Thresholds:
    """Monitoring thresholds (immutable; validated on construction).

    Attributes
    ----------
    psi_warn, psi_alert : PSI at or above which a column's drift is a warning,
        an alert (industry convention 0.1 and 0.25). An alert on a model's score
        or on one of its input features requests retraining of that model.
    psi_bins : quantile bins of the reference snapshot (deciles by default).
    psi_epsilon : floor of a bin's share in either snapshot, so an empty bin
        gives a finite PSI (a bin empty in both contributes exactly 0).
    ks_alpha : family-wise error rate of the two-sample KS tests, Holm-adjusted
        across every numeric column compared.
    ks_min_statistic : smallest KS distance reported as drift: with a million
        customers a shift of no practical size is still significant.
    calibration_bins, calibration_strategy : reliability bins (``quantile``:
        equal counts; ``uniform``: equal widths on [0, 1]), as in
        ``sklearn.calibration.calibration_curve``.
    ece_alert : expected calibration error above which a model is flagged
        (if the Hosmer-Lemeshow test also rejects at ``health_alpha``).
    health_alpha : significance of the calibration and AUC-drop tests, so a
        small sample's noise does not request a retrain.
    auc_drop_alert : AUC fall below the model's training holdout AUC that is
        flagged (if significant at ``health_alpha``).
    min_outcomes : fewest positive and negative arrived outcomes to judge a
        model; fewer gives status ``insufficient_outcomes``.
    acceptance_alpha : ``1 -`` level of the Wilson intervals of acceptance.
    min_shown : fewest offers shown in each window before an acceptance drop
        is flagged.
    """

    psi_warn: float = 0.1
    psi_alert: float = 0.25
    psi_bins: int = 10
    psi_epsilon: float = 1e-4
    ks_alpha: float = 0.01
    ks_min_statistic: float = 0.1
    calibration_bins: int = 10
    calibration_strategy: Strategy = "quantile"
    ece_alert: float = 0.02
    health_alpha: float = 0.01
    auc_drop_alert: float = 0.05
    min_outcomes: int = 20
    acceptance_alpha: float = 0.05
    min_shown: int = 30

    def __post_init__(self) -> None:
        problems = []
        for name, limit in LIMITS.items():
            value = getattr(self, name)
            ok = (
                isinstance(value, int | float)
                and not isinstance(value, bool)
                and math.isfinite(value)
                and limit.contains(value)
                and (not limit.integer or float(value).is_integer())
            )
            if not ok:
                problems.append(
                    f"thresholds.{name}: expected {limit.describe()}, got {value!r}"
                )
        if not problems and self.psi_alert < self.psi_warn:
            problems.append(
                f"thresholds.psi_alert: expected a number >= psi_warn "
                f"({self.psi_warn:g}), got {self.psi_alert!r}"
            )
        if self.calibration_strategy not in ("quantile", "uniform"):
            problems.append(
                "thresholds.calibration_strategy: expected 'quantile' or 'uniform', "
                f"got {self.calibration_strategy!r}"
            )
        if problems:
            raise ConfigError("; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        """Every threshold by name (JSON-able)."""
        return asdict(self)
