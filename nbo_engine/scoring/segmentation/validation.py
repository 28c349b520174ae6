"""Choosing a clustering by validation.

Every candidate is fitted on the same sample of customers (scaled features) and
measured by:

* silhouette (on a sub-sample; higher is better, in [-1, 1]),
* Davies-Bouldin index (lower is better), Calinski-Harabasz index (higher),
* BIC for Gaussian mixtures (lower; NaN for other methods),
* bootstrap stability: the method is refitted on ``n_bootstrap`` bootstrap
  resamples of the sample, each refit assigns the whole sample (the common
  set), and the stability is the mean adjusted Rand index over all pairs of
  refits (Ben-Hur, Elisseeff & Guyon 2002; Hennig 2007),
* the share of the smallest cluster and of noise.

A candidate is **accepted** when its stability is at least ``min_stability``
(0.8), its smallest cluster holds at least ``min_cluster_share`` of the sample
and at most ``max_noise_share`` is noise. Among the accepted, the one with the
highest **score** is chosen: the mean, over silhouette, Davies-Bouldin,
Calinski-Harabasz and stability, of the candidate's min-max normalised value
among the accepted (Davies-Bouldin reversed), so each index counts equally
whatever its units. Ties go to fewer clusters, then to the earlier candidate.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    silhouette_score,
)
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from nbo_engine.scoring.segmentation.algorithms import CandidateSpec, fit_family
from nbo_engine.scoring.segmentation.model import ClusterModel

__all__ = ["CandidateResult", "candidates_frame", "choose", "evaluate_candidates"]


@dataclass(frozen=True)
class CandidateResult:
    """Validation metrics of one fitted candidate (see the module docstring)."""

    label: str
    method: str
    n_clusters: int
    silhouette: float
    davies_bouldin: float
    calinski_harabasz: float
    bic: float
    stability: float
    stability_min: float
    smallest_share: float
    noise_share: float
    fit_seconds: float
    accepted: bool
    reason: str
    score: float = float("nan")
    chosen: bool = False


def candidates_frame(results: list[CandidateResult]) -> pd.DataFrame:
    """All candidates' metrics, one row each (for storing with the model)."""
    return pd.DataFrame(
        [{f.name: getattr(r, f.name) for f in fields(r)} for r in results]
    )


def evaluate_candidates(
    z: NDArray[np.float64],
    specs: list[CandidateSpec],
    rng: np.random.Generator,
    *,
    n_bootstrap: int = 5,
    silhouette_sample: int = 2000,
    min_stability: float = 0.8,
    min_cluster_share: float = 0.02,
    max_noise_share: float = 0.2,
) -> list[tuple[CandidateResult, ClusterModel]]:
    """Fit and measure every candidate on the sample ``z`` (n, d).

    Returns ``(metrics, model)`` per spec, in the order of ``specs``; metrics have
    ``score``/``chosen`` unset (see :func:`choose`).
    """
    # Samples are small (thousands x ~8): OpenMP/BLAS threads cost more to
    # start and synchronise than they save, and spin on a shared machine.
    with threadpool_limits(limits=1):
        return _evaluate(
            z,
            specs,
            rng,
            n_bootstrap,
            silhouette_sample,
            min_stability,
            min_cluster_share,
            max_noise_share,
        )


def _evaluate(
    z: NDArray[np.float64],
    specs: list[CandidateSpec],
    rng: np.random.Generator,
    n_bootstrap: int,
    silhouette_sample: int,
    min_stability: float,
    min_cluster_share: float,
    max_noise_share: float,
) -> list[tuple[CandidateResult, ClusterModel]]:
    n = z.shape[0]
    by_method: dict[str, list[int]] = {}
    for i, spec in enumerate(specs):
        by_method.setdefault(spec.method, []).append(i)
    fitted: dict[int, tuple[ClusterModel, NDArray[np.int64], float]] = {}
    boot_labels: dict[int, list[NDArray[np.int64]]] = {i: [] for i in range(len(specs))}
    for method, idx in by_method.items():
        group = [specs[i] for i in idx]
        t0 = time.perf_counter()
        fits = fit_family(method, group, z, rng)
        seconds = (time.perf_counter() - t0) / len(group)
        for i, (model, labels) in zip(idx, fits, strict=True):
            fitted[i] = (model, labels, seconds)
        for _ in range(n_bootstrap):
            rows = rng.integers(0, n, n)
            for i, (model, _) in zip(
                idx, fit_family(method, group, z[rows], rng), strict=True
            ):
                boot_labels[i].append(model.predict(z))
    out = []
    for i, spec in enumerate(specs):
        model, labels, seconds = fitted[i]
        out.append(
            (
                _measure(
                    spec,
                    model,
                    labels,
                    boot_labels[i],
                    z,
                    seconds,
                    rng,
                    silhouette_sample,
                    min_stability,
                    min_cluster_share,
                    max_noise_share,
                ),
                model,
            )
        )
    return out


def _measure(
    spec: CandidateSpec,
    model: ClusterModel,
    labels: NDArray[np.int64],
    boots: list[NDArray[np.int64]],
    z: NDArray[np.float64],
    seconds: float,
    rng: np.random.Generator,
    silhouette_sample: int,
    min_stability: float,
    min_cluster_share: float,
    max_noise_share: float,
) -> CandidateResult:
    n = z.shape[0]
    ok = labels >= 0
    noise = float(1.0 - ok.mean())
    sizes = np.bincount(labels[ok], minlength=max(model.n_clusters, 1))
    used = int((sizes > 0).sum())
    smallest = float(sizes.min() / n) if model.n_clusters else 0.0
    pairs = [
        adjusted_rand_score(boots[a], boots[b])
        for a in range(len(boots))
        for b in range(a + 1, len(boots))
    ]
    stability = float(np.mean(pairs)) if pairs else float("nan")
    stab_min = float(np.min(pairs)) if pairs else float("nan")
    sil = db = ch = float("nan")
    if used >= 2 and ok.sum() > used:
        zs, ls = z[ok], labels[ok]
        m = min(silhouette_sample, len(ls))
        sil = float(
            silhouette_score(
                zs, ls, sample_size=m, random_state=int(rng.integers(2**31 - 1))
            )
        )
        db = float(davies_bouldin_score(zs, ls))
        ch = float(calinski_harabasz_score(zs, ls))
    bic = _bic(model, z) if spec.method == "gmm" else float("nan")
    reasons = []
    if used < 2:
        reasons.append(f"{used} cluster(s) found")
    if not stability >= min_stability:
        reasons.append(f"bootstrap ARI {stability:.3f} < {min_stability}")
    if smallest < min_cluster_share:
        reasons.append(f"smallest cluster {smallest:.1%} < {min_cluster_share:.1%}")
    if noise > max_noise_share:
        reasons.append(f"noise {noise:.1%} > {max_noise_share:.1%}")
    return CandidateResult(
        label=model.label,
        method=spec.method,
        n_clusters=model.n_clusters,
        silhouette=sil,
        davies_bouldin=db,
        calinski_harabasz=ch,
        bic=bic,
        stability=stability,
        stability_min=stab_min,
        smallest_share=smallest,
        noise_share=noise,
        fit_seconds=seconds,
        accepted=not reasons,
        reason="; ".join(reasons) or "accepted",
    )


def _bic(model: ClusterModel, z: NDArray[np.float64]) -> float:
    """BIC of the mixture on ``z``: ``-2 log L + p log n`` with
    ``p = k d (d + 3) / 2 + k - 1`` free parameters (full covariances)."""
    k, d = model.centroids.shape
    log_joint = model._log_joint(z)
    top = log_joint.max(axis=1, keepdims=True)
    log_lik = float((top[:, 0] + np.log(np.exp(log_joint - top).sum(axis=1))).sum())
    p = k * d * (d + 3) / 2 + k - 1
    return -2.0 * log_lik + p * np.log(z.shape[0])


def choose(results: list[CandidateResult]) -> list[CandidateResult]:
    """Score the accepted candidates and mark the chosen one.

    Returns the results with ``score`` (accepted only) and ``chosen`` set; no
    candidate is chosen when none is accepted.
    """
    acc = [i for i, r in enumerate(results) if r.accepted]
    if not acc:
        return list(results)
    cols = np.array(
        [
            [
                results[i].silhouette,
                -results[i].davies_bouldin,
                results[i].calinski_harabasz,
                results[i].stability,
            ]
            for i in acc
        ]
    )
    low, high = cols.min(axis=0), cols.max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    score = ((cols - low) / span).mean(axis=1)
    order = sorted(
        range(len(acc)),
        key=lambda j: (-round(float(score[j]), 12), results[acc[j]].n_clusters, acc[j]),
    )
    best = acc[order[0]]
    out = list(results)
    for j, i in enumerate(acc):
        out[i] = replace(out[i], score=float(score[j]), chosen=i == best)
    return out
