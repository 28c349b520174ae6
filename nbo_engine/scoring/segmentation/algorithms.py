"""The clustering algorithms, each fitted on a (sample) matrix in the scaled space.

Every family fits all its parameter values on one matrix in one call, so Ward's
dendrogram is built once and cut at every k. Each fit returns a
:class:`~nbo_engine.scoring.segmentation.model.ClusterModel` (the assignment of
any other customer) and the labels of the fitted rows. Clusters are numbered by
decreasing size in the fitted matrix, so cluster 0 is the largest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import HDBSCAN, KMeans
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from nbo_engine.errors import ConfigError
from nbo_engine.scoring.segmentation.model import NOISE, ClusterModel, _sq_dist

__all__ = ["METHODS", "CandidateSpec", "Method", "fit_family"]

Method = Literal["kmeans", "gmm", "ward", "hdbscan"]
METHODS: tuple[str, ...] = ("kmeans", "gmm", "ward", "hdbscan")
#: Covariance regularisation of mixtures (scaled units): the features have point
#: masses (integer income levels, shares of exactly 0 or 1, missing values put
#: at the mean) on which an unregularised component collapses.
GMM_REG_COVAR = 1e-2
MAX_EXEMPLARS = 2000
HDBSCAN_MIN_SAMPLES = 10


@dataclass(frozen=True)
class CandidateSpec:
    """One clustering to try: ``k`` clusters (k-means, mixture, Ward) or a
    minimum cluster size as a share of the fit sample (HDBSCAN)."""

    method: Method
    k: int = 0
    min_cluster_share: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(
                f"CandidateSpec: method {self.method!r}; expected one of "
                f"{', '.join(METHODS)}"
            )
        if self.method == "hdbscan":
            if not 0.0 < self.min_cluster_share < 0.5:
                raise ConfigError(
                    f"CandidateSpec(hdbscan): min_cluster_share "
                    f"{self.min_cluster_share!r}; expected a share in (0, 0.5)"
                )
        elif self.k < 2:
            raise ConfigError(
                f"CandidateSpec({self.method}): k={self.k!r}; expected an int >= 2"
            )


def fit_family(
    method: str,
    specs: list[CandidateSpec],
    z: NDArray[np.float64],
    rng: np.random.Generator,
) -> list[tuple[ClusterModel, NDArray[np.int64]]]:
    """Fit every spec of one ``method`` on ``z`` (n, d); same order as ``specs``.

    Returns, per spec, the model and the labels of the rows of ``z`` (-1 noise) as the
    model assigns them (the same rule as for every other customer).
    """
    # Fits run on samples: single-threaded (see validation.evaluate_candidates).
    with threadpool_limits(limits=1):
        return _fit_family(method, specs, z, rng)


def _fit_family(
    method: str,
    specs: list[CandidateSpec],
    z: NDArray[np.float64],
    rng: np.random.Generator,
) -> list[tuple[ClusterModel, NDArray[np.int64]]]:
    if method == "ward":
        return _ward(specs, z)
    out = []
    for spec in specs:  # a few parameter values, not customers
        seed = int(rng.integers(2**31 - 1))
        if method == "kmeans":
            out.append(_kmeans(spec.k, z, seed))
        elif method == "gmm":
            out.append(_gmm(spec.k, z, seed))
        else:
            out.append(_hdbscan(spec.min_cluster_share, z, np.random.default_rng(seed)))
    return out


def _order(labels: NDArray[np.int64], k: int) -> NDArray[np.int64]:
    """Map old cluster number -> new, by decreasing size (ties by old number)."""
    size = np.bincount(labels[labels >= 0], minlength=k)
    rank = np.empty(k, dtype=np.int64)
    rank[np.argsort(-size, kind="stable")] = np.arange(k)
    return rank


def _relabel(labels: NDArray[np.int64], rank: NDArray[np.int64]) -> NDArray[np.int64]:
    return np.where(labels >= 0, rank[np.maximum(labels, 0)], NOISE).astype(np.int64)


def _means(
    z: NDArray[np.float64], labels: NDArray[np.int64], k: int
) -> NDArray[np.float64]:
    ok = labels >= 0
    count = np.bincount(labels[ok], minlength=k).astype(np.float64)
    sums = np.zeros((k, z.shape[1]))
    np.add.at(sums, labels[ok], z[ok])
    return sums / np.maximum(count, 1.0)[:, None]


def _kmeans(
    k: int, z: NDArray[np.float64], seed: int
) -> tuple[ClusterModel, NDArray[np.int64]]:
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(z)
    rank = _order(km.labels_.astype(np.int64), k)
    centroids = np.empty_like(km.cluster_centers_)
    centroids[rank] = km.cluster_centers_
    model = ClusterModel(
        "kmeans",
        (("k", float(k)),),
        "centroid",
        np.ascontiguousarray(centroids, dtype=np.float64),
    )
    return model, model.predict(z)


def _gmm(
    k: int, z: NDArray[np.float64], seed: int
) -> tuple[ClusterModel, NDArray[np.int64]]:
    gm = GaussianMixture(
        n_components=k,
        covariance_type="full",
        reg_covar=GMM_REG_COVAR,
        random_state=seed,
    ).fit(z)
    rank = _order(gm.predict(z).astype(np.int64), k)
    inv = np.argsort(rank)
    model = ClusterModel(
        "gmm",
        (("k", float(k)),),
        "gaussian",
        centroids=np.ascontiguousarray(gm.means_[inv], dtype=np.float64),
        precisions_chol=np.ascontiguousarray(
            gm.precisions_cholesky_[inv], dtype=np.float64
        ),
        log_weights=np.log(gm.weights_[inv]).astype(np.float64),
    )
    return model, model.predict(z)


def _ward(
    specs: list[CandidateSpec], z: NDArray[np.float64]
) -> list[tuple[ClusterModel, NDArray[np.int64]]]:
    tree = linkage(z, method="ward")
    out = []
    for spec in specs:
        raw = fcluster(tree, t=spec.k, criterion="maxclust").astype(np.int64) - 1
        k = int(raw.max()) + 1
        labels = _relabel(raw, _order(raw, k))
        model = ClusterModel(
            "ward", (("k", float(spec.k)),), "centroid", _means(z, labels, k)
        )
        out.append((model, model.predict(z)))
    return out


def _hdbscan(
    share: float, z: NDArray[np.float64], rng: np.random.Generator
) -> tuple[ClusterModel, NDArray[np.int64]]:
    n = z.shape[0]
    size = max(5, round(share * n))
    raw = (
        HDBSCAN(min_cluster_size=size, min_samples=HDBSCAN_MIN_SAMPLES, copy=True)
        .fit(z)
        .labels_.astype(np.int64)
    )
    k = int(raw.max()) + 1
    labels = _relabel(raw, _order(raw, k)) if k > 0 else raw
    params = (("min_cluster_share", share),)
    if k == 0:
        empty = np.zeros((0, z.shape[1]))
        model = ClusterModel(
            "hdbscan",
            params,
            "exemplar",
            empty,
            exemplars=empty,
            exemplar_labels=np.zeros(0, np.int64),
        )
        return model, labels
    core = np.flatnonzero(labels >= 0)
    if core.size > MAX_EXEMPLARS:
        core = np.sort(rng.choice(core, MAX_EXEMPLARS, replace=False))
    ex = z[core]
    d2 = _sq_dist(ex, ex)
    kth = min(HDBSCAN_MIN_SAMPLES, len(core) - 1)
    core_dist = np.sqrt(np.partition(d2, kth, axis=1)[:, kth])
    model = ClusterModel(
        "hdbscan",
        params,
        "exemplar",
        _means(z, labels, k),
        exemplars=np.ascontiguousarray(ex),
        exemplar_labels=labels[core],
        radius=float(np.quantile(core_dist, 0.95)),
    )
    return model, model.predict(z)
