"""Fitted cluster models and how every customer is assigned to one.

Each clustering is fitted on a sample; every customer (in the sample or not) is
then assigned by one of three numpy-only rules, so batch scoring, the
real-time path and the bootstrap all use the same code:

* ``centroid`` (k-means, Ward): the nearest centroid in Euclidean distance.
  Ward minimises within-cluster variance, so its nearest centroid is the
  assignment that increases that variance least.
* ``gaussian`` (Gaussian mixture): the component of highest posterior,
  ``argmax_k log w_k + log N(z | mu_k, Sigma_k)``, from the stored Cholesky
  factors of the precision matrices.
* ``exemplar`` (HDBSCAN): the label of the nearest exemplar (non-noise sample
  point) when it lies within ``radius``, else noise (-1); batches search a
  k-d tree, one row scans the exemplars (numpy only), with the same answer.
  ``radius`` is the 95th percentile of the exemplars' ``min_samples``-th
  neighbour distance, an estimate of the core distance at the density level the clusters were cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.spatial import cKDTree

__all__ = ["NOISE", "Assignment", "ClusterModel"]

Assignment = Literal["centroid", "gaussian", "exemplar"]
#: Label of customers a density clustering leaves unassigned.
NOISE = -1
_CHUNK_ENTRIES = 2_000_000  # rows x clusters (or exemplars) per block


@dataclass(frozen=True, eq=False)
class ClusterModel:
    """A fitted clustering in the scaled feature space (d dimensions, k clusters).

    ``centroids`` (k, d) are the cluster means for every method (used for
    naming, merging and the ``centroid`` rule). ``precisions_chol`` (k, d, d)
    and ``log_weights`` (k,) are set for ``gaussian``; ``exemplars`` (m, d),
    ``exemplar_labels`` (m,) and ``radius`` for ``exemplar``.
    """

    method: str
    params: tuple[tuple[str, float], ...]
    assignment: Assignment
    centroids: NDArray[np.float64]
    precisions_chol: NDArray[np.float64] | None = None
    log_weights: NDArray[np.float64] | None = None
    exemplars: NDArray[np.float64] | None = None
    exemplar_labels: NDArray[np.int64] | None = None
    radius: float = float("inf")

    @property
    def n_clusters(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def label(self) -> str:
        """E.g. ``kmeans(k=5)``."""
        args = ", ".join(f"{k}={v:g}" for k, v in self.params)
        return f"{self.method}({args})"

    def predict(self, z: NDArray[np.float64]) -> NDArray[np.int64]:
        """Cluster of each row of the scaled matrix ``z`` (n, d); -1 is noise."""
        n = z.shape[0]
        if self.assignment == "exemplar" and self.n_clusters and n > 1:
            return self._predict_exemplar_tree(z)
        step = max(1, _CHUNK_ENTRIES // max(1, self.n_clusters))
        out = np.empty(n, dtype=np.int64)
        for start in range(0, n, step):  # blocks bound memory, not a loop per row
            out[start : start + step] = self._predict_block(z[start : start + step])
        return out

    def _predict_exemplar_tree(self, z: NDArray[np.float64]) -> NDArray[np.int64]:
        """Nearest exemplar for many rows with a k-d tree (exact nearest
        neighbour, the same answer as the one-row scan)."""
        assert self.exemplars is not None
        assert self.exemplar_labels is not None
        dist, nearest = cKDTree(self.exemplars).query(z, k=1)
        labels = self.exemplar_labels[nearest]
        return np.where(dist <= self.radius, labels, NOISE).astype(np.int64)

    def _predict_block(self, z: NDArray[np.float64]) -> NDArray[np.int64]:
        if self.n_clusters == 0:
            return np.full(z.shape[0], NOISE, dtype=np.int64)
        if self.assignment == "gaussian":
            assert self.precisions_chol is not None
            assert self.log_weights is not None
            return np.argmax(self._log_joint(z), axis=1).astype(np.int64)
        if self.assignment == "exemplar":
            assert self.exemplars is not None
            assert self.exemplar_labels is not None
            # One row (the real-time path): a direct scan, numpy only.
            dist = np.sqrt(
                ((self.exemplars[None, :, :] - z[:, None, :]) ** 2).sum(axis=2)
            )
            nearest = np.argmin(dist, axis=1)
            best = dist[np.arange(z.shape[0]), nearest]
            labels = self.exemplar_labels[nearest]
            return np.where(best <= self.radius, labels, NOISE).astype(np.int64)
        # argmin_k |z - c_k|^2 = argmin_k (|c_k|^2 - 2 z.c_k): |z|^2 is common.
        c = self.centroids
        score = (c**2).sum(axis=1)[None, :] - 2.0 * (z @ c.T)
        return np.argmin(score, axis=1).astype(np.int64)

    def _log_joint(self, z: NDArray[np.float64]) -> NDArray[np.float64]:
        """``log w_k + log N(z | mu_k, Sigma_k)``, shape (n, k) (as scikit-learn's
        ``_estimate_log_gaussian_prob`` for full covariances)."""
        assert self.precisions_chol is not None
        assert self.log_weights is not None
        prec = self.precisions_chol
        d = z.shape[1]
        log_det = np.log(np.diagonal(prec, axis1=1, axis2=2)).sum(axis=1)
        shift = np.einsum("kd,kde->ke", self.centroids, prec)
        y = np.einsum("nd,kde->nke", z, prec) - shift[None, :, :]
        log_prob = -0.5 * (d * np.log(2 * np.pi) + (y**2).sum(axis=2)) + log_det
        return log_prob + self.log_weights


def _sq_dist(z: NDArray[np.float64], c: NDArray[np.float64]) -> NDArray[np.float64]:
    """Squared Euclidean distances, shape (n, m), never negative."""
    d2 = (z**2).sum(axis=1)[:, None] - 2.0 * (z @ c.T) + (c**2).sum(axis=1)[None, :]
    return np.maximum(d2, 0.0)
