"""Evaluation: uplift and CATE models, Qini/AUUC, effects per segment, OPE.

Every uplift/CATE model is an :class:`UpliftModel` (``fit(X, t, y)``,
``predict(X) -> (n,)``, ``predict_interval(X, alpha)``); :func:`choose_best`
picks one by Qini on held-out rows. Metric definitions: ``docs/uplift.md``.
"""

from nbo_engine.evaluation.cate import (
    EconmlCausalForest,
    EconmlDRLearner,
    EconmlLinearDML,
    HistDRLearner,
    dr_pseudo_outcome,
)
from nbo_engine.evaluation.encoding import FeatureEncoder
from nbo_engine.evaluation.metrics import (
    Curve,
    UpliftScores,
    auuc,
    evaluate_uplift,
    perfect_qini_curve,
    perfect_uplift_curve,
    plot_curves,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
    uplift_curve,
)
from nbo_engine.evaluation.ope import Estimate, estimate_policy_value
from nbo_engine.evaluation.segments import segment_effects
from nbo_engine.evaluation.selection import (
    MODELS,
    ModelResult,
    Selection,
    choose_best,
    fit_and_score,
    make_model,
)
from nbo_engine.evaluation.table import TableEvaluation, evaluate_table
from nbo_engine.evaluation.uplift import (
    CausalmlMetaLearner,
    CausalmlUpliftForest,
    UpliftModel,
)

__all__ = [
    "MODELS",
    "CausalmlMetaLearner",
    "CausalmlUpliftForest",
    "Curve",
    "EconmlCausalForest",
    "EconmlDRLearner",
    "EconmlLinearDML",
    "Estimate",
    "FeatureEncoder",
    "HistDRLearner",
    "ModelResult",
    "Selection",
    "TableEvaluation",
    "UpliftModel",
    "UpliftScores",
    "auuc",
    "choose_best",
    "dr_pseudo_outcome",
    "estimate_policy_value",
    "evaluate_table",
    "evaluate_uplift",
    "fit_and_score",
    "make_model",
    "perfect_qini_curve",
    "perfect_uplift_curve",
    "plot_curves",
    "qini_coefficient",
    "qini_curve",
    "segment_effects",
    "uplift_at_k",
    "uplift_curve",
]
