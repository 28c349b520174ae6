"""Product-affinity segments: customers grouped by the products they hold (and,
when given, their take-up propensities), named by their dominant products.

k-means on the holding flags (0/1) and propensities (probabilities) -- all on
the same 0..1 scale, so no further scaling -- fitted on a sample and assigned
to everyone by nearest centroid. A cluster is named by the products that at
least half its customers hold and that it holds at least 1.25x as often as the
bank (largest lift first, at most two, e.g. ``savings + investment``); a
cluster with none such is named by what half its customers hold
(``current account only``) or ``few products``. Clusters that get the same name are
one segment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from nbo_engine.errors import DataValidationError
from nbo_engine.ingest.schemas import PRODUCTS

__all__ = ["AffinitySegments", "product_affinity"]

_LABEL = {
    "current": "current account",
    "savings": "savings",
    "credit_card": "credit card",
    "personal_loan": "personal loan",
    "mortgage": "mortgage",
    "investment": "investment",
    "insurance": "insurance",
}


@dataclass(frozen=True)
class AffinitySegments:
    """``labels`` (n,) segment name per customer; ``centroids`` (k, p) cluster
    means over ``columns``; ``names`` (k,) the name of each cluster."""

    labels: NDArray[np.object_]
    names: tuple[str, ...]
    columns: tuple[str, ...]
    centroids: NDArray[np.float64]


def product_affinity(
    profile: pd.DataFrame,
    rng: np.random.Generator,
    *,
    k: int = 6,
    propensity_columns: tuple[str, ...] = (),
    sample_size: int = 20_000,
) -> AffinitySegments:
    """Product-affinity segment of every customer.

    Parameters
    ----------
    profile : n rows with ``held_<product>`` columns (0/1).
    rng : random generator (sample and k-means seeding).
    k : clusters before same-named ones are joined.
    propensity_columns : optional probability columns (0..1) to cluster on too.
    sample_size : customers the centroids are fitted on.
    """
    held = [f"held_{p}" for p in PRODUCTS if f"held_{p}" in profile.columns]
    if not held:
        raise DataValidationError(
            "product_affinity: profile has no held_<product> column; expected "
            + ", ".join(f"held_{p}" for p in PRODUCTS)
        )
    missing = [c for c in propensity_columns if c not in profile.columns]
    if missing:
        raise DataValidationError(
            f"product_affinity: profile lacks propensity column(s) {', '.join(missing)}"
        )
    columns = (*held, *propensity_columns)
    x = np.nan_to_num(profile[list(columns)].to_numpy(np.float64, na_value=np.nan))
    n = x.shape[0]
    rows = (
        rng.choice(n, min(n, sample_size), replace=False)
        if n > sample_size
        else np.arange(n)
    )
    k = max(1, min(k, len(np.unique(x[rows], axis=0))))
    seed = int(rng.integers(2**31 - 1))
    with threadpool_limits(limits=1):  # a small fit; see validation.py
        km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(x[rows])
    cent = km.cluster_centers_.astype(np.float64)
    d2 = (x**2).sum(1)[:, None] - 2 * x @ cent.T + (cent**2).sum(1)[None, :]
    code = np.argmin(d2, axis=1)
    h = x[:, : len(held)]
    count = np.bincount(code, minlength=k).astype(np.float64)
    share = np.zeros((k, len(held)))
    np.add.at(share, code, h)
    share /= np.maximum(count, 1.0)[:, None]
    bank = h.mean(axis=0)
    names = tuple(_name(share[j], bank, held) for j in range(k))
    return AffinitySegments(np.asarray(names, dtype=object)[code], names, columns, cent)


def _name(
    share: NDArray[np.float64], bank: NDArray[np.float64], held: list[str]
) -> str:
    products = [c.removeprefix("held_") for c in held]
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(bank > 0, share / bank, 0.0)
    # Nearly everyone holds a current account: it names a cluster only alone.
    top = [
        j
        for j in np.argsort(-lift, kind="stable")
        if share[j] >= 0.5 and lift[j] >= 1.25 and products[j] != "current"
    ][:2]
    if top:
        return " + ".join(_LABEL[products[j]] for j in top)
    common = [j for j in np.argsort(-share, kind="stable") if share[j] >= 0.5][:2]
    if common:
        return " + ".join(_LABEL[products[j]] for j in common) + " only"
    return "few products"
