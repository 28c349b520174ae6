"""Customer segmentation: value tiers, behavioural clusters chosen by validation,
life stages, product affinity, micro-segments, automatic profiles, migration,
and a frozen :class:`Segmenter` for real-time reassignment. See
``docs/segments.md``."""

from nbo_engine.scoring.segmentation.affinity import AffinitySegments, product_affinity
from nbo_engine.scoring.segmentation.algorithms import METHODS, CandidateSpec
from nbo_engine.scoring.segmentation.describe import (
    SegmentProfile,
    SegmentReport,
    describe_segments,
)
from nbo_engine.scoring.segmentation.features import (
    BEHAVIOURAL_FEATURES,
    FeatureSpec,
    Scaler,
    fit_scaler,
)
from nbo_engine.scoring.segmentation.lifestage import life_stage_segments
from nbo_engine.scoring.segmentation.micro import MicroSegments, micro_segments
from nbo_engine.scoring.segmentation.migration import MigrationMatrix, migration_matrix
from nbo_engine.scoring.segmentation.model import NOISE, ClusterModel
from nbo_engine.scoring.segmentation.pipeline import (
    DEFAULT_CANDIDATES,
    Segmentation,
    SegmentationConfig,
    SegmenterFit,
    fit_segmenter,
    segment_customers,
)
from nbo_engine.scoring.segmentation.segmenter import Segmenter, assign_segment
from nbo_engine.scoring.segmentation.tiers import (
    DEFAULT_TIERS,
    TierSpec,
    ValueTiers,
    value_tiers,
)
from nbo_engine.scoring.segmentation.traits import TRAITS, Trait
from nbo_engine.scoring.segmentation.validation import CandidateResult, candidates_frame

__all__ = [
    "BEHAVIOURAL_FEATURES",
    "DEFAULT_CANDIDATES",
    "DEFAULT_TIERS",
    "METHODS",
    "NOISE",
    "TRAITS",
    "AffinitySegments",
    "CandidateResult",
    "CandidateSpec",
    "ClusterModel",
    "FeatureSpec",
    "MicroSegments",
    "MigrationMatrix",
    "Scaler",
    "SegmentProfile",
    "SegmentReport",
    "Segmentation",
    "SegmentationConfig",
    "Segmenter",
    "SegmenterFit",
    "TierSpec",
    "Trait",
    "ValueTiers",
    "assign_segment",
    "candidates_frame",
    "describe_segments",
    "fit_scaler",
    "fit_segmenter",
    "life_stage_segments",
    "micro_segments",
    "migration_matrix",
    "product_affinity",
    "segment_customers",
    "value_tiers",
]
