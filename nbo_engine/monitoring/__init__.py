"""Monitoring: drift of features and scores between snapshots (PSI, KS), model
health on outcomes that have arrived (AUC, calibration, Brier), acceptance
rates per offer and channel, and the alerts and retraining they call for.

Pure: arrays and frames in, frozen dataclasses out. The daily job that reads
the store and saves the report is :mod:`nbo_engine.jobs.monitor`.
"""

from nbo_engine.monitoring.acceptance import (
    ALL_CHANNELS,
    AcceptanceRow,
    acceptance_table,
    wilson_interval,
)
from nbo_engine.monitoring.alerts import (
    Alert,
    ModelSpec,
    Retrain,
    build_alerts,
    column_label,
    model_label,
)
from nbo_engine.monitoring.drift import (
    KSTWO_MAX_N,
    DriftRow,
    KSResult,
    drift_table,
    ks_two_sample,
    psi,
    psi_categorical,
    psi_from_counts,
    psi_level,
)
from nbo_engine.monitoring.health import (
    ModelHealth,
    ReliabilityBin,
    auc_score,
    auc_standard_error,
    brier_score,
    expected_calibration_error,
    hosmer_lemeshow,
    model_health,
    reliability_bins,
)
from nbo_engine.monitoring.result import FORMAT, MonitorResult, Outcomes, monitor
from nbo_engine.monitoring.thresholds import LIMITS, Thresholds

__all__ = [
    "ALL_CHANNELS",
    "FORMAT",
    "KSTWO_MAX_N",
    "LIMITS",
    "AcceptanceRow",
    "Alert",
    "DriftRow",
    "KSResult",
    "ModelHealth",
    "ModelSpec",
    "MonitorResult",
    "Outcomes",
    "ReliabilityBin",
    "Retrain",
    "Thresholds",
    "acceptance_table",
    "auc_score",
    "auc_standard_error",
    "brier_score",
    "build_alerts",
    "column_label",
    "drift_table",
    "expected_calibration_error",
    "hosmer_lemeshow",
    "ks_two_sample",
    "model_health",
    "model_label",
    "monitor",
    "psi",
    "psi_categorical",
    "psi_from_counts",
    "psi_level",
    "reliability_bins",
    "wilson_interval",
]
