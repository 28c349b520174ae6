"""Experiments: definitions, deterministic assignment, sample size, A/B statistics.

Pure: specs, arrays and sufficient statistics in, frozen dataclasses out. See
``docs/experiments.md`` for the assignment recipe (with golden vectors), the
formulas and references, and how to read a readout.
"""

from nbo_engine.experiments.assignment import (
    GLOBAL_HOLDOUT,
    NOT_ENROLLED,
    assign,
    assign_names,
    assign_one,
    exposed_buckets,
    in_global_holdout,
    in_global_holdout_one,
    planned_split,
)
from nbo_engine.experiments.bayes import BayesResult, beta_binomial, normal_posterior
from nbo_engine.experiments.hashing import BUCKETS, bucket_of, buckets
from nbo_engine.experiments.multiple import (
    adjust,
    benjamini_hochberg,
    bonferroni,
    holm,
    interval_alpha,
)
from nbo_engine.experiments.power import SamplePlan, power_of, sample_size
from nbo_engine.experiments.readout import (
    MetricReadout,
    Readout,
    VariantDecision,
    readout,
)
from nbo_engine.experiments.sequential import SequentialEffect, always_valid
from nbo_engine.experiments.spec import (
    ExperimentSpec,
    GlobalHoldout,
    Layer,
    Metric,
    Variant,
    check_layers,
    load_experiment,
    load_global_holdout,
    parse_experiment,
    parse_global_holdout,
)
from nbo_engine.experiments.srm import SrmResult, srm_check
from nbo_engine.experiments.stats import (
    REASONS,
    Effect,
    cuped_effect,
    mean_effect,
    proportion_effect,
    ratio_effect,
)
from nbo_engine.experiments.sufficient import (
    CupedStats,
    RatioStats,
    SampleStats,
    cuped_stats,
    pre_period_covariates,
    ratio_stats,
    sample_stats,
)

__all__ = [
    "BUCKETS",
    "GLOBAL_HOLDOUT",
    "NOT_ENROLLED",
    "REASONS",
    "BayesResult",
    "CupedStats",
    "Effect",
    "ExperimentSpec",
    "GlobalHoldout",
    "Layer",
    "Metric",
    "MetricReadout",
    "RatioStats",
    "Readout",
    "SamplePlan",
    "SampleStats",
    "SequentialEffect",
    "SrmResult",
    "Variant",
    "VariantDecision",
    "adjust",
    "always_valid",
    "assign",
    "assign_names",
    "assign_one",
    "benjamini_hochberg",
    "beta_binomial",
    "bonferroni",
    "bucket_of",
    "buckets",
    "check_layers",
    "cuped_effect",
    "cuped_stats",
    "exposed_buckets",
    "holm",
    "in_global_holdout",
    "in_global_holdout_one",
    "interval_alpha",
    "load_experiment",
    "load_global_holdout",
    "mean_effect",
    "normal_posterior",
    "parse_experiment",
    "parse_global_holdout",
    "planned_split",
    "power_of",
    "pre_period_covariates",
    "proportion_effect",
    "ratio_effect",
    "ratio_stats",
    "readout",
    "sample_size",
    "sample_stats",
    "srm_check",
]
