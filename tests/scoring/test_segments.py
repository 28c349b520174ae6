"""Segmentation on synthetic data with known structure (pure, no database).

Blobs: ``k`` well-separated Gaussian clusters (centres 8 standard deviations
apart), so every method must recover them exactly (ARI 1) and be stable; the
metrics, JSON and real-time paths are checked against scikit-learn and scipy on
the same inputs.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture

from nbo_engine.scoring.segmentation import (
    NOISE,
    CandidateSpec,
    FeatureSpec,
    SegmentationConfig,
    Segmenter,
    TierSpec,
    assign_segment,
    describe_segments,
    fit_scaler,
    fit_segmenter,
    micro_segments,
    migration_matrix,
    product_affinity,
    value_tiers,
)
from nbo_engine.scoring.segmentation.algorithms import fit_family
from nbo_engine.scoring.segmentation.features import raw_matrix
from nbo_engine.scoring.segmentation.validation import choose, evaluate_candidates

FEATURES = (
    FeatureSpec("a", "a"),
    FeatureSpec("b", "b", "log1p"),
    FeatureSpec("c", "c"),
)


@pytest.fixture(params=[0, 1, 2])
def seg_seed(request: pytest.FixtureRequest) -> int:
    """Stochastic tests run over several seeds and must pass for each."""
    return int(request.param)


def blobs(
    rng: np.random.Generator, n_per: int = 200, k: int = 3
) -> tuple[pd.DataFrame, np.ndarray]:
    """``k`` clusters in (a, log1p b, c), centres 8 sd apart; some NaN in c."""
    centres = np.array([[0, 0, 0], [8, 0, 8], [0, 8, -8], [8, 8, 0]], float)[:k]
    truth = np.repeat(np.arange(k), n_per)
    x = centres[truth] + rng.normal(size=(truth.size, 3))
    frame = pd.DataFrame(
        {"a": x[:, 0], "b": np.expm1(x[:, 1] + 10.0), "c": x[:, 2]},
        index=pd.Index([f"C{i}" for i in range(truth.size)], name="customer_id"),
    )
    return frame, truth


# ---------------------------------------------------------------- feature space


def test_scaler_standardises_ignores_nan_and_clips() -> None:
    raw = np.array([[1.0, np.nan], [3.0, 2.0], [5.0, 4.0], [1000.0, np.nan]])
    s = fit_scaler(raw)
    z = s.transform(raw)
    assert s.center[1] == pytest.approx(3.0)
    assert s.scale[1] == pytest.approx(1.0)
    assert z[0, 1] == 0.0  # missing -> the mean
    assert z.max() <= 5.0


def test_raw_matrix_log1p_clips_negatives() -> None:
    prof = pd.DataFrame({"b": [-5.0, 0.0, np.e - 1, np.inf]})
    m = raw_matrix(prof, (FeatureSpec("b", "b", "log1p"),))
    assert m[:3, 0].tolist() == pytest.approx([0.0, 0.0, 1.0])
    assert np.isnan(m[3, 0])


# ---------------------------------------------------------------- methods


@pytest.mark.parametrize(
    ("method", "spec"),
    [
        ("kmeans", CandidateSpec("kmeans", k=3)),
        ("gmm", CandidateSpec("gmm", k=3)),
        ("ward", CandidateSpec("ward", k=3)),
        ("hdbscan", CandidateSpec("hdbscan", min_cluster_share=0.1)),
    ],
)
def test_every_method_recovers_separated_blobs(
    method: str, spec: CandidateSpec, seg_seed: int
) -> None:
    rng = np.random.default_rng(seg_seed)
    prof, truth = blobs(rng)
    z = fit_scaler(raw_matrix(prof, FEATURES)).transform(raw_matrix(prof, FEATURES))
    model, labels = fit_family(method, [spec], z, rng)[0]
    ok = labels != NOISE
    assert ok.mean() > 0.9
    assert adjusted_rand_score(truth[ok], labels[ok]) == 1.0
    assert model.n_clusters == 3
    # Clusters are numbered by decreasing size.
    sizes = np.bincount(labels[ok])
    assert (np.diff(sizes) <= 0).all()


def test_gmm_assignment_equals_scikit_learn(seg_seed: int) -> None:
    """Our numpy posterior is scikit-learn's predict (same fitted parameters)."""
    rng = np.random.default_rng(seg_seed)
    z = rng.normal(size=(600, 3)) + np.repeat([[0, 0, 0], [2, 1, 0]], 300, axis=0)
    model, _ = fit_family("gmm", [CandidateSpec("gmm", k=2)], z, rng)[0]
    ref = GaussianMixture(2, covariance_type="full")
    ref.weights_ = np.exp(model.log_weights)
    ref.means_ = model.centroids
    ref.precisions_cholesky_ = model.precisions_chol
    assert (model.predict(z) == ref.predict(z)).all()


def test_hdbscan_marks_far_customers_as_noise() -> None:
    rng = np.random.default_rng(3)
    prof, _ = blobs(rng)
    z = fit_scaler(raw_matrix(prof, FEATURES)).transform(raw_matrix(prof, FEATURES))
    model, _ = fit_family(
        "hdbscan", [CandidateSpec("hdbscan", min_cluster_share=0.1)], z, rng
    )[0]
    far = np.full((1, 3), 4.9)
    assert model.predict(far).tolist() == [NOISE]
    assert model.predict(model.centroids).tolist() == [0, 1, 2]


# ---------------------------------------------------------------- validation


def test_metrics_match_scikit_learn_and_stability_gate(seg_seed: int) -> None:
    rng = np.random.default_rng(seg_seed)
    prof, _ = blobs(rng, n_per=100)
    z = fit_scaler(raw_matrix(prof, FEATURES)).transform(raw_matrix(prof, FEATURES))
    specs = [CandidateSpec("kmeans", k=3), CandidateSpec("kmeans", k=7)]
    fitted = evaluate_candidates(z, specs, rng, n_bootstrap=3, silhouette_sample=300)
    (good, model), (over, _) = fitted
    labels = model.predict(z)
    assert good.silhouette == pytest.approx(silhouette_score(z, labels), abs=1e-12)
    assert good.stability == 1.0
    assert good.accepted
    # Splitting three round blobs into seven is arbitrary, so refits disagree.
    assert over.stability < good.stability
    assert over.accepted == (over.stability >= 0.8 and over.smallest_share >= 0.02)
    chosen = [r for r in choose([good, over]) if r.chosen]
    assert [r.label for r in chosen] == ["kmeans(k=3)"]


def test_fit_segmenter_returns_every_candidate_and_chooses_true_k() -> None:
    rng = np.random.default_rng(7)
    prof, truth = blobs(rng, n_per=100, k=4)
    cfg = SegmentationConfig(
        features=FEATURES,
        sample_size=300,
        n_bootstrap=3,
        candidates=tuple(
            CandidateSpec(m, k=k)
            for m in ("kmeans", "gmm", "ward")  # type: ignore[arg-type]
            for k in (3, 4, 5)
        ),
    )
    fit = fit_segmenter(prof, rng, cfg)
    frame = fit.candidates
    assert len(frame) == 9
    assert frame["chosen"].sum() == 1
    assert {
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "bic",
        "stability",
        "accepted",
    } <= set(frame.columns)
    assert frame.loc[frame["method"] == "gmm", "bic"].notna().all()
    assert fit.segmenter.n_clusters == 4
    assert adjusted_rand_score(truth, fit.labels) == 1.0


# ---------------------------------------------------------------- segmenter


@pytest.mark.parametrize(
    "spec",
    [
        CandidateSpec("kmeans", k=3),
        CandidateSpec("gmm", k=3),
        CandidateSpec("ward", k=3),
        CandidateSpec("hdbscan", min_cluster_share=0.1),
    ],
)
def test_json_round_trip_and_one_row_path(spec: CandidateSpec) -> None:
    rng = np.random.default_rng(1)
    prof, _ = blobs(rng)
    prof.iloc[::7, 2] = np.nan
    cfg = SegmentationConfig(
        features=FEATURES,
        candidates=(spec,),
        n_bootstrap=2,
        min_stability=0.0,
        max_noise_share=1.0,
    )
    seg = fit_segmenter(prof, rng, cfg).segmenter
    back = Segmenter.from_json(seg.to_json())
    assert back == seg
    assert back.to_json() == seg.to_json()
    np.testing.assert_array_equal(back.model.centroids, seg.model.centroids)
    batch = seg.assign(prof)
    np.testing.assert_array_equal(back.assign(prof), batch)
    rows = prof.to_dict("records")
    one = np.array([assign_segment(back, r) for r in rows])
    np.testing.assert_array_equal(one, batch)
    # A pandas row, missing keys and None are accepted too.
    assert assign_segment(seg, prof.iloc[5]) == batch[5]
    assert assign_segment(seg, {"a": None}) in (*range(seg.n_clusters), NOISE)


def test_assign_segment_under_a_millisecond() -> None:
    rng = np.random.default_rng(2)
    prof, _ = blobs(rng)
    cfg = SegmentationConfig(
        features=FEATURES, candidates=(CandidateSpec("gmm", k=3),), n_bootstrap=2
    )
    seg = fit_segmenter(prof, rng, cfg).segmenter
    row = prof.iloc[0].to_dict()
    for _ in range(50):
        assign_segment(seg, row)
    t0 = time.perf_counter()
    for _ in range(1000):
        assign_segment(seg, row)
    per_call = (time.perf_counter() - t0) / 1000
    assert per_call < 1e-3, f"{per_call * 1e6:.0f} us per customer"


# ---------------------------------------------------------------- tiers


def test_tiers_have_configured_shares_even_with_ties() -> None:
    v = np.r_[np.zeros(600), np.arange(400.0), [np.nan] * 10]
    t = value_tiers(v)
    counts = pd.Series(t.labels).value_counts()
    n = v.size
    assert counts["platinum"] == round(0.05 * n)
    assert counts["gold"] == round(0.20 * n) - round(0.05 * n)
    assert counts["silver"] == round(0.60 * n) - round(0.20 * n)
    assert counts.sum() == n
    assert (t.labels[-10:] == "bronze").all()  # NaN ranks last
    # Higher value never sits in a lower tier.
    order = np.argsort(-np.nan_to_num(v, nan=-1), kind="stable")
    assert (np.diff(t.codes[order]) >= 0).all()
    assert t.tier_of(float(np.nanmax(v))) == "platinum"


def test_tier_of_agrees_with_batch_for_distinct_values() -> None:
    v = np.random.default_rng(0).gamma(1.0, 100.0, 1000)
    t = value_tiers(v, TierSpec(("a", "b", "c"), (0.1, 0.3, 0.6)))
    assert [t.tier_of(float(x)) for x in v[:200]] == t.labels[:200].tolist()


# ---------------------------------------------------------------- micro


def test_micro_segments_respect_minimum_and_merge_into_nearest() -> None:
    rng = np.random.default_rng(4)
    n = 3000
    tier = rng.choice(["gold", "silver"], n, p=[0.3, 0.7])
    cluster = rng.choice(["x", "y", "z"], n, p=[0.6, 0.39, 0.01])
    stage = rng.choice(["young", "old"], n)
    z = np.c_[
        np.where(cluster == "x", 0.0, np.where(cluster == "y", 10.0, 1.0)),
        rng.normal(size=n) * 0.1,
    ]
    m = micro_segments(tier, cluster, stage, z, min_size=100)
    sizes = pd.Series(m.ids).value_counts()
    assert sizes.min() >= 100
    merged = m.cells[m.cells["merged"]]
    assert len(merged) > 0
    for _, row in merged.iterrows():
        t, c, _s = row["cell"].split("/")
        # Cluster z (centroid 1) is nearer x (0) than y (10), in the same tier.
        assert c == "z"
        assert row["micro_segment"].startswith(f"{t}/x/")
    # Ids of surviving cells are their own cell names (stable across runs).
    kept = m.cells[~m.cells["merged"]]
    assert (kept["cell"] == kept["micro_segment"]).all()


# ---------------------------------------------------------------- migration


def test_migration_matrix_counts_and_row_shares() -> None:
    before = pd.Series(["a", "a", "b", "b", "b"], index=list("12345"))
    after = pd.Series(["a", "b", "b", "a", "c"], index=list("12346"))
    mm = migration_matrix(before, after)
    assert mm.counts.loc["a", "a"] == 1
    assert mm.counts.loc["a", "b"] == 1
    assert mm.counts.loc["b", "(gone)"] == 1
    assert mm.counts.loc["(new)", "c"] == 1
    assert mm.counts.to_numpy().sum() == 6
    np.testing.assert_allclose(mm.shares.sum(axis=1), 1.0)
    assert mm.stayed == pytest.approx(2 / 4)


# ---------------------------------------------------------------- profiles


def test_describe_matches_welch_and_benjamini_hochberg() -> None:
    rng = np.random.default_rng(5)
    n = 2000
    lab = rng.choice(["s1", "s2", "s3"], n)
    prof = pd.DataFrame(
        {
            "dig_mobile_share": np.clip(
                rng.normal(0.5, 0.2, n) + 0.3 * (lab == "s1"), 0, 1
            ),
            "age": rng.normal(45, 10, n) + 12 * (lab == "s2"),
            "held_credit_card": (
                rng.random(n) < np.where(lab == "s3", 0.6, 0.2)
            ).astype(float),
            "rfm_mean_365": rng.gamma(2, 20, n),
        }
    )
    value = rng.gamma(2, 100, n) * np.where(lab == "s2", 3.0, 1.0)
    rep = describe_segments(prof, lab, value=value)
    t = rep.tests
    # Welch's t-test from sufficient statistics equals scipy's.
    for seg in ("s1", "s2"):
        row = t[(t["segment"] == seg) & (t["column"] == "age")].iloc[0]
        ref = stats.ttest_ind(
            prof["age"][lab == seg], prof["age"][lab != seg], equal_var=False
        )
        assert row["t"] == pytest.approx(ref.statistic, rel=1e-9)
        assert row["p"] == pytest.approx(ref.pvalue, rel=1e-6, abs=1e-300)
    np.testing.assert_allclose(t["q"], stats.false_discovery_control(t["p"]))
    by = {p.segment: p for p in rep.profiles}
    assert "mostly mobile" in by["s1"].summary
    assert "older" in by["s2"].summary
    assert "high value" in by["s2"].summary
    assert re.search(r"hold credit cards \(\d+% vs 3\d%\)", by["s3"].summary)
    assert not t[t["column"] == "rfm_mean_365"]["reported"].any()  # no real difference
    assert len({p.name for p in rep.profiles}) == 3
    assert by["s2"].name.startswith("high-value")


# ---------------------------------------------------------------- affinity


def test_product_affinity_named_by_dominant_products() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    kind = rng.choice(3, n)
    prof = pd.DataFrame(
        {
            f"held_{p}": 0.0
            for p in (
                "current",
                "savings",
                "credit_card",
                "personal_loan",
                "mortgage",
                "investment",
                "insurance",
            )
        },
        index=range(n),
    )
    prof["held_current"] = 1.0
    prof.loc[kind == 1, ["held_savings", "held_investment"]] = 1.0
    prof.loc[kind == 2, "held_mortgage"] = 1.0
    seg = product_affinity(prof, rng, k=3)
    names = pd.Series(seg.labels).groupby(kind).agg(lambda s: s.mode()[0])
    assert names[0] == "current account only"
    assert set(names[1].split(" + ")) == {"savings", "investment"}
    assert names[2] == "mortgage"
