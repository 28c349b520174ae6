"""Scoring: customer lifetime value (and, from others, churn, propensity, segments).

CLV: ``fit_clv`` (BG/NBD, MBG/NBD, Pareto/NBD + Gamma-Gamma, with covariates),
``fit_ml_clv`` (LightGBM on RFM features), ``evaluate_clv`` (holdout metrics
next to baselines) and ``select_clv_model`` (model choice by holdout).
"""

from nbo_engine.scoring.clv import (
    PURCHASE_MODELS,
    CLVModel,
    ComponentFit,
    discount_schedule,
    fit_clv,
)
from nbo_engine.scoring.clv_evaluate import (
    BASELINES,
    CLV_MODELS,
    EvaluationReport,
    ModelScore,
    evaluate_clv,
    select_clv_model,
)
from nbo_engine.scoring.clv_metrics import (
    decile_mape,
    holdout_metrics,
    normalized_gini,
    spearman,
    top_decile_share,
)
from nbo_engine.scoring.clv_ml import MLCLVModel, fit_ml_clv
from nbo_engine.scoring.rfm import (
    HoldoutSummary,
    RFMSummary,
    calibration_holdout,
    normalize_transactions,
    summarize,
)

__all__ = [
    "BASELINES",
    "CLV_MODELS",
    "PURCHASE_MODELS",
    "CLVModel",
    "ComponentFit",
    "EvaluationReport",
    "HoldoutSummary",
    "MLCLVModel",
    "ModelScore",
    "RFMSummary",
    "calibration_holdout",
    "decile_mape",
    "discount_schedule",
    "evaluate_clv",
    "fit_clv",
    "fit_ml_clv",
    "holdout_metrics",
    "normalize_transactions",
    "normalized_gini",
    "select_clv_model",
    "spearman",
    "summarize",
    "top_decile_share",
]
