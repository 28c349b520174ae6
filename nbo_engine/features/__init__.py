"""The customer profile as of a date (pure: frames in, frame out)."""

from nbo_engine.features.auto import aggregate_events, select_features
from nbo_engine.features.lifestage import LIFE_STAGES, life_stage_of
from nbo_engine.features.profile import CATEGORICAL, build_features, cutoff_of
from nbo_engine.features.sentiment import score_notes

__all__ = [
    "CATEGORICAL",
    "LIFE_STAGES",
    "aggregate_events",
    "build_features",
    "cutoff_of",
    "life_stage_of",
    "score_notes",
    "select_features",
]
