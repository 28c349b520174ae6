"""Customer segmentation end to end: value tiers, behavioural clusters chosen by
validation, life stages, product affinity, micro-segments and their profiles.

Pure: a profile frame (one row per customer, from ``build_features``) and a
random generator in; frozen dataclasses and frames out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import ConfigError, DataValidationError, SegmentationError
from nbo_engine.scoring.segmentation.affinity import AffinitySegments, product_affinity
from nbo_engine.scoring.segmentation.algorithms import CandidateSpec
from nbo_engine.scoring.segmentation.describe import SegmentReport, describe_segments
from nbo_engine.scoring.segmentation.features import (
    BEHAVIOURAL_FEATURES,
    FeatureSpec,
    fit_scaler,
    raw_matrix,
)
from nbo_engine.scoring.segmentation.lifestage import life_stage_segments
from nbo_engine.scoring.segmentation.micro import MicroSegments, micro_segments
from nbo_engine.scoring.segmentation.model import ClusterModel
from nbo_engine.scoring.segmentation.segmenter import Segmenter
from nbo_engine.scoring.segmentation.tiers import (
    DEFAULT_TIERS,
    TierSpec,
    ValueTiers,
    value_tiers,
)
from nbo_engine.scoring.segmentation.traits import TRAITS, Trait
from nbo_engine.scoring.segmentation.validation import (
    CandidateResult,
    candidates_frame,
    choose,
    evaluate_candidates,
)

__all__ = [
    "DEFAULT_CANDIDATES",
    "Segmentation",
    "SegmentationConfig",
    "SegmenterFit",
    "fit_segmenter",
    "segment_customers",
]

#: k from 4 to 8 for the centroid and mixture methods -- fewer segments than 4
#: are too coarse to target, more than 8 too many for a campaign team to run --
#: and HDBSCAN with minimum cluster sizes of 2% and 5% of the sample.
DEFAULT_CANDIDATES: tuple[CandidateSpec, ...] = (
    *(CandidateSpec("kmeans", k=k) for k in range(4, 9)),
    *(CandidateSpec("gmm", k=k) for k in range(4, 9)),
    *(CandidateSpec("ward", k=k) for k in range(4, 9)),
    CandidateSpec("hdbscan", min_cluster_share=0.02),
    CandidateSpec("hdbscan", min_cluster_share=0.05),
)


@dataclass(frozen=True)
class SegmentationConfig:
    """Settings of :func:`segment_customers` (see the modules for each step)."""

    features: tuple[FeatureSpec, ...] = BEHAVIOURAL_FEATURES
    candidates: tuple[CandidateSpec, ...] = DEFAULT_CANDIDATES
    sample_size: int = 5000
    n_bootstrap: int = 5
    silhouette_sample: int = 2000
    min_stability: float = 0.8
    min_cluster_share: float = 0.02
    max_noise_share: float = 0.2
    tiers: TierSpec = DEFAULT_TIERS
    min_micro_size: int = 200
    affinity_k: int = 6
    propensity_columns: tuple[str, ...] = ()
    value_label: str = "12-month value"
    traits: tuple[Trait, ...] = TRAITS
    #: What to do when no candidate passes validation: ``"raise"``
    #: (SegmentationError) or ``"single"`` (one cluster, ``all customers``, so a
    #: refresh still publishes tiers, life stages and micro-segments; the
    #: rejected candidates and their reasons stay in the fit's results).
    unstable: str = "raise"

    def __post_init__(self) -> None:
        if self.sample_size < 50:
            raise ConfigError(
                f"SegmentationConfig: sample_size={self.sample_size}; expected >= 50"
            )
        if self.n_bootstrap < 2:
            raise ConfigError(
                f"SegmentationConfig: n_bootstrap={self.n_bootstrap}; expected >= 2 "
                "(stability compares pairs of bootstrap fits)"
            )
        if not self.candidates:
            raise ConfigError("SegmentationConfig: no candidates to try")
        if self.unstable not in ("raise", "single"):
            raise ConfigError(
                f"SegmentationConfig: unstable={self.unstable!r}; expected 'raise' "
                "or 'single'"
            )


@dataclass(frozen=True)
class SegmenterFit:
    """The chosen :class:`Segmenter`, every customer's cluster (n,), and every
    candidate's validation metrics (``candidates``, one row each)."""

    segmenter: Segmenter
    labels: NDArray[np.int64]
    results: tuple[CandidateResult, ...]

    @property
    def candidates(self) -> pd.DataFrame:
        return candidates_frame(list(self.results))


def fit_segmenter(
    profile: pd.DataFrame,
    rng: np.random.Generator,
    config: SegmentationConfig = SegmentationConfig(),
) -> SegmenterFit:
    """Fit every candidate clustering on a sample, validate, keep the best.

    The scaler is fitted on all customers; the candidates on a random sample of
    ``config.sample_size``; the chosen model then assigns every customer.
    Clusters are named ``cluster 0`` ... here; :func:`segment_customers` gives
    them generated names.

    Raises
    ------
    DataValidationError
        Missing or non-numeric feature columns, or fewer than 50 customers.
    SegmentationError
        No candidate passed validation.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> centres = np.repeat([[0.0, 0.0], [9.0, 9.0], [0.0, 9.0]], 100, axis=0)
    >>> prof = pd.DataFrame(centres + rng.normal(size=(300, 2)), columns=["a", "b"])
    >>> cfg = SegmentationConfig(
    ...     features=(FeatureSpec("a", "a"), FeatureSpec("b", "b")),
    ...     candidates=(CandidateSpec("kmeans", k=2), CandidateSpec("kmeans", k=3)))
    >>> fit = fit_segmenter(prof, rng, cfg)
    >>> fit.segmenter.n_clusters, np.bincount(fit.labels).tolist()
    (3, [100, 100, 100])
    """
    n = len(profile)
    if n < 50:
        raise DataValidationError(
            f"fit_segmenter: profile has {n} customers; expected at least 50"
        )
    raw = raw_matrix(profile, config.features)
    scaler = fit_scaler(raw)
    z = scaler.transform(raw)
    rows = (
        np.sort(rng.choice(n, config.sample_size, replace=False))
        if n > config.sample_size
        else np.arange(n)
    )
    fitted = evaluate_candidates(
        z[rows],
        list(config.candidates),
        rng,
        n_bootstrap=config.n_bootstrap,
        silhouette_sample=config.silhouette_sample,
        min_stability=config.min_stability,
        min_cluster_share=config.min_cluster_share,
        max_noise_share=config.max_noise_share,
    )
    results = choose([r for r, _ in fitted])
    chosen = [i for i, r in enumerate(results) if r.chosen]
    if not chosen and config.unstable == "single":
        single = ClusterModel(
            "single", (), "centroid", np.ascontiguousarray(z.mean(axis=0)[None, :])
        )
        segmenter = Segmenter(config.features, scaler, single, ("all customers",))
        return SegmenterFit(segmenter, single.predict(z), tuple(results))
    if not chosen:
        lines = "; ".join(f"{r.label}: {r.reason}" for r in results)
        raise SegmentationError(
            f"fit_segmenter: none of {len(results)} candidate clusterings passed "
            f"validation on {len(rows)} customers ({lines}); expected at least one "
            f"with bootstrap ARI >= {config.min_stability}"
        )
    model = fitted[chosen[0]][1]
    segmenter = Segmenter(
        config.features,
        scaler,
        model,
        tuple(f"cluster {i}" for i in range(model.n_clusters)),
    )
    return SegmenterFit(segmenter, model.predict(z), tuple(results))


@dataclass(frozen=True)
class Segmentation:
    """Every segmentation of the customers and the profiles behind them.

    ``assignments`` is indexed like the profile, with columns ``value_tier``,
    ``cluster`` (int, -1 noise), ``cluster_name``, ``life_stage``,
    ``affinity`` and ``micro_segment``. ``clusters`` profiles the behavioural
    clusters (keyed by cluster name), ``micro`` the micro-segments.
    """

    assignments: pd.DataFrame
    fit: SegmenterFit
    tiers: ValueTiers
    affinity: AffinitySegments
    micro: MicroSegments
    clusters: SegmentReport
    micro_report: SegmentReport

    @property
    def segmenter(self) -> Segmenter:
        return self.fit.segmenter


def segment_customers(
    profile: pd.DataFrame,
    value_column: str,
    rng: np.random.Generator,
    config: SegmentationConfig = SegmentationConfig(),
) -> Segmentation:
    """All segmentations of the customers in ``profile``.

    Parameters
    ----------
    profile : one row per customer (``build_features``), indexed by customer id.
    value_column : numeric column of ``profile`` with each customer's value
        (e.g. ``clv_12m``, currency units) for the value tiers and profiles.
    rng : random generator (samples, bootstrap, k-means seeds).
    config : see :class:`SegmentationConfig`.
    """
    if value_column not in profile.columns or not pd.api.types.is_numeric_dtype(
        profile[value_column]
    ):
        raise DataValidationError(
            f"segment_customers: value column {value_column!r} is missing or not "
            "numeric in the profile; expected a numeric value score (e.g. clv_12m)"
        )
    value = profile[value_column].to_numpy(np.float64, na_value=np.nan)
    tiers = value_tiers(value, config.tiers)
    fit = fit_segmenter(profile, rng, config)
    report = describe_segments(
        profile,
        fit.labels,
        value=value,
        value_label=config.value_label,
        traits=config.traits,
    )
    names = report.names()
    segmenter = fit.segmenter.with_names(
        tuple(
            names.get(str(i), f"cluster {i}") for i in range(fit.segmenter.n_clusters)
        )
    )
    fit = SegmenterFit(segmenter, fit.labels, fit.results)
    cluster_name = segmenter.name_of(fit.labels)
    # The cluster profiles, keyed by name rather than number.
    clusters = SegmentReport(
        tuple(replace(p, segment=p.name) for p in report.profiles),
        report.tests.assign(segment=report.tests["segment"].map(names)),
    )
    stage = life_stage_segments(profile)
    affinity = product_affinity(
        profile, rng, k=config.affinity_k, propensity_columns=config.propensity_columns
    )
    z = segmenter.scaled(profile)
    micro = micro_segments(tiers.labels, cluster_name, stage, z, config.min_micro_size)
    micro_report = describe_segments(
        profile,
        micro.ids,
        value=value,
        value_label=config.value_label,
        traits=config.traits,
    )
    assignments = pd.DataFrame(
        {
            "value_tier": tiers.labels,
            "cluster": fit.labels,
            "cluster_name": cluster_name,
            "life_stage": stage,
            "affinity": affinity.labels,
            "micro_segment": micro.ids,
        },
        index=profile.index,
    )
    return Segmentation(
        assignments, fit, tiers, affinity, micro, clusters, micro_report
    )
