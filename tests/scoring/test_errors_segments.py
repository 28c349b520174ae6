"""Error messages of the segmentation package: what, where, received, expected."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from nbo_engine.errors import (
    ConfigError,
    DataValidationError,
    SegmentationError,
    StateFormatError,
)
from nbo_engine.scoring.segmentation import (
    CandidateSpec,
    FeatureSpec,
    SegmentationConfig,
    Segmenter,
    TierSpec,
    describe_segments,
    fit_segmenter,
    life_stage_segments,
    micro_segments,
    migration_matrix,
    product_affinity,
    segment_customers,
    value_tiers,
)

RNG = np.random.default_rng(0)


def _profile(n: int = 100) -> pd.DataFrame:
    return pd.DataFrame({"a": RNG.normal(size=n), "b": RNG.normal(size=n)})


def test_missing_feature_column() -> None:
    with pytest.raises(
        DataValidationError, match=r"profile lacks column\(s\) rfm_mean_365"
    ):
        fit_segmenter(_profile(), RNG)


def test_non_numeric_feature_column() -> None:
    prof = _profile().assign(c="x")
    cfg = SegmentationConfig(features=(FeatureSpec("c", "c"),))
    with pytest.raises(
        DataValidationError,
        match=r"column 'c' has dtype object; "
        r"expected a numeric column",
    ):
        fit_segmenter(prof, RNG, cfg)


def test_too_few_customers() -> None:
    cfg = SegmentationConfig(features=(FeatureSpec("a", "a"),))
    with pytest.raises(
        DataValidationError,
        match=r"profile has 10 customers; "
        r"expected at least 50",
    ):
        fit_segmenter(_profile(10), RNG, cfg)


def test_no_candidate_passes_validation() -> None:
    cfg = SegmentationConfig(
        features=(FeatureSpec("a", "a"),),
        candidates=(CandidateSpec("kmeans", k=2),),
        n_bootstrap=2,
        min_cluster_share=0.9,
    )
    with pytest.raises(
        SegmentationError,
        match=r"none of 1 candidate clusterings "
        r"passed validation on 100 customers \(kmeans\(k=2\): "
        r"(bootstrap ARI [0-9.]+ < 0\.8; )?smallest cluster .*% < 90\.0%\)",
    ):
        fit_segmenter(_profile(), RNG, cfg)


def test_unstable_single_keeps_everyone_in_one_cluster_and_the_reasons() -> None:
    cfg = SegmentationConfig(
        features=(FeatureSpec("a", "a"),),
        candidates=(CandidateSpec("kmeans", k=2),),
        n_bootstrap=2,
        min_cluster_share=0.9,
        unstable="single",
    )
    prof = _profile()
    fit = fit_segmenter(prof, np.random.default_rng(5), cfg)
    assert fit.segmenter.n_clusters == 1
    assert fit.segmenter.names == ("all customers",)
    assert (fit.labels == 0).all()
    assert not fit.candidates["accepted"].any()
    assert fit.candidates["reason"].str.contains("smallest cluster").all()
    # The one-cluster model assigns new customers too, and survives JSON.
    again = type(fit.segmenter).from_json(fit.segmenter.to_json())
    assert (again.assign(prof.iloc[:5]) == 0).all()
    assert again.assign_one({"a": 123.0}) == 0
    with pytest.raises(ConfigError, match="unstable='maybe'; expected 'raise'"):
        SegmentationConfig(unstable="maybe")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "dbscan", "k": 3}, r"method 'dbscan'; expected one of kmeans, gmm"),
        (
            {"method": "kmeans", "k": 1},
            r"CandidateSpec\(kmeans\): k=1; expected an int >= 2",
        ),
        (
            {"method": "hdbscan", "min_cluster_share": 0.7},
            r"min_cluster_share 0.7; expected a share in \(0, 0.5\)",
        ),
    ],
)
def test_candidate_spec(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        CandidateSpec(**kwargs)  # type: ignore[arg-type]


def test_feature_spec_transform() -> None:
    with pytest.raises(
        ConfigError,
        match=r"FeatureSpec 'x': transform 'log'; "
        r"expected one of identity, log1p",
    ):
        FeatureSpec("x", "x", "log")  # type: ignore[arg-type]


def test_config_values() -> None:
    with pytest.raises(ConfigError, match=r"n_bootstrap=1; expected >= 2"):
        SegmentationConfig(n_bootstrap=1)
    with pytest.raises(ConfigError, match=r"sample_size=10; expected >= 50"):
        SegmentationConfig(sample_size=10)


@pytest.mark.parametrize(
    ("names", "shares", "match"),
    [
        (
            ("a", "b"),
            (0.5, 0.6),
            r"shares \(0.5, 0.6\) \(sum 1.1\); expected shares in "
            r"\(0, 1\] that sum to 1",
        ),
        (("a",), (0.5, 0.5), r"1 names and 2 shares; expected one share per name"),
        (("a", "a"), (0.5, 0.5), r"names \('a', 'a'\) repeat a name"),
    ],
)
def test_tier_spec(
    names: tuple[str, ...], shares: tuple[float, ...], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        TierSpec(names, shares)


def test_value_tiers_shape() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"values of shape \(0,\); expected a "
        r"non-empty 1-D array",
    ):
        value_tiers(np.array([]))


def test_value_column() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"value column 'clv_12m' is missing "
        r"or not numeric",
    ):
        segment_customers(_profile(), "clv_12m", RNG)


def test_life_stage_values() -> None:
    prof = pd.DataFrame(
        {"life_stage": ["family", "teen"]},
        index=pd.Index(["C1", "C2"], name="customer_id"),
    )
    with pytest.raises(
        DataValidationError,
        match=r"row 1 \(customer_id=C2\) has "
        r"life_stage 'teen'; expected one of student",
    ):
        life_stage_segments(prof)
    with pytest.raises(DataValidationError, match=r"lacks column 'life_stage'"):
        life_stage_segments(_profile())


def test_micro_segments_inputs() -> None:
    z = np.zeros((3, 1))
    with pytest.raises(DataValidationError, match=r"expected n=3 rows for each"):
        micro_segments(["a"] * 3, ["x"] * 2, ["s"] * 3, z, 1)
    with pytest.raises(DataValidationError, match=r"min_size=0; expected >= 1"):
        micro_segments(["a"] * 3, ["x"] * 3, ["s"] * 3, z, 0)


def test_migration_duplicates() -> None:
    before = pd.Series(["a", "b"], index=["C1", "C1"])
    with pytest.raises(
        DataValidationError,
        match=r"before has customer 'C1' more than "
        r"once; expected one segment per customer",
    ):
        migration_matrix(before, before.iloc[:1])


def test_describe_labels_shape() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"labels of shape \(2,\); expected "
        r"\(100,\), one per profile row",
    ):
        describe_segments(_profile(), ["a", "b"])


def test_affinity_needs_holdings() -> None:
    with pytest.raises(
        DataValidationError,
        match=r"no held_<product> column; expected "
        r"held_current",
    ):
        product_affinity(_profile(), RNG)


def _segmenter_json() -> str:
    cfg = SegmentationConfig(
        features=(FeatureSpec("a", "a"),),
        candidates=(CandidateSpec("kmeans", k=2),),
        n_bootstrap=2,
        min_stability=0.0,
    )
    return fit_segmenter(_profile(), RNG, cfg).segmenter.to_json()


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda d: "{not json", r"not JSON"),
        (
            lambda d: json.dumps({**d, "format": "bandit"}),
            r"format 'bandit'; expected 'nbo.segmenter'",
        ),
        (
            lambda d: json.dumps({**d, "version": 9}),
            r"version 9; this release reads version 1",
        ),
        (
            lambda d: json.dumps({k: v for k, v in d.items() if k != "centroids"}),
            r"malformed document \(KeyError: 'centroids'\)",
        ),
        (
            lambda d: json.dumps({**d, "centroids": [[0.0, 1.0]]}),
            r"'centroids' has shape \(1, 2\), expected \(2, 1\)",
        ),
    ],
)
def test_from_json_rejects(mutate, match: str) -> None:  # type: ignore[no-untyped-def]
    doc = json.loads(_segmenter_json())
    with pytest.raises(StateFormatError, match=match):
        Segmenter.from_json(mutate(doc))


def test_with_names_count() -> None:
    seg = Segmenter.from_json(_segmenter_json())
    with pytest.raises(DataValidationError, match=r"got 1 names; expected 2"):
        seg.with_names(("only",))
