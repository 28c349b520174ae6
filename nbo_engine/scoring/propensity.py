"""Product propensity: the probability of taking up each product in 90 days.

For every product a supervised model is selected over time-ordered folds (the
customer profile as features). Item-based collaborative filtering on the
product-holding matrix adds what co-holdings say ("customers who hold a
mortgage and savings often also hold insurance"): the affinity of customer i for
product j is the cosine-similarity-weighted share of i's holdings,
``sum_k held_ik s_kj / sum_k held_ik``. The two are blended by a logistic
stack fitted out of time on the last date, which also calibrates them. The
next-best product is the highest blended propensity among products not held.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.features.auto import select_features
from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.scoring.labels import takeup_labels
from nbo_engine.scoring.models import BinaryModel, load_model
from nbo_engine.scoring.selection import binary_metrics, select_binary
from nbo_engine.scoring.training import make_folds, numeric_features

__all__ = [
    "SALEABLE",
    "PropensityModel",
    "item_similarity",
    "next_best_product",
    "train_propensity",
]

#: Products that can be taken up (everyone already has a current account).
SALEABLE: tuple[str, ...] = tuple(p for p in PRODUCTS if p != "current")


def _held(frame: pd.DataFrame) -> NDArray[np.float64]:
    return np.column_stack(
        [
            frame[f"held_{p}"].to_numpy(np.float64)
            if f"held_{p}" in frame
            else np.zeros(len(frame))
            for p in PRODUCTS
        ]
    )


def item_similarity(held: NDArray[np.float64]) -> NDArray[np.float64]:
    """Cosine similarity between product columns of a holdings matrix, (P, P),
    zero on the diagonal."""
    h = np.asarray(held, np.float64)
    norms = np.sqrt((h * h).sum(axis=0))
    sim = (h.T @ h) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sim, 0.0)
    return sim


def _affinity(
    held: NDArray[np.float64], sim: NDArray[np.float64]
) -> NDArray[np.float64]:
    return (held @ sim) / np.maximum(held.sum(axis=1, keepdims=True), 1.0)


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


@dataclass
class PropensityModel:
    """Per-product models, the item similarity and the blend weights."""

    models: dict[str, BinaryModel]
    similarity: NDArray[np.float64]
    blend: dict[str, tuple[float, float, float]]  # product -> (a, b, c)
    metrics: dict[str, Any] = field(default_factory=dict)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Blended 90-day take-up probability per saleable product, (n, 6);
        zero for products already held."""
        held = _held(frame)
        aff = _affinity(held, self.similarity)
        out = {}
        for p, model in self.models.items():
            j = PRODUCTS.index(p)
            a, b, c = self.blend[p]
            z = a * _logit(model.predict_raw(frame)) + b * aff[:, j] + c
            out[f"propensity_{p}"] = np.where(held[:, j] > 0, 0.0, 1 / (1 + np.exp(-z)))
        return pd.DataFrame(out, index=frame.index)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "nbo-propensity/1",
            "models": {p: m.to_dict() for p, m in self.models.items()},
            "similarity": self.similarity.tolist(),
            "blend": {p: list(v) for p, v in self.blend.items()},
            "metrics": self.metrics,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PropensityModel:
        if d.get("format") != "nbo-propensity/1":
            raise DataValidationError(
                f"not a stored propensity model ({d.get('format')!r})"
            )
        return cls(
            {p: load_model(m) for p, m in d["models"].items()},
            np.asarray(d["similarity"], np.float64),
            {p: (float(v[0]), float(v[1]), float(v[2])) for p, v in d["blend"].items()},
            d.get("metrics", {}),
        )


def _fit_blend(
    raw: NDArray[np.float64], aff: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[float, float, float]:
    from sklearn.linear_model import LogisticRegression

    X = np.column_stack([_logit(raw), aff])
    lr = LogisticRegression(C=10.0, max_iter=1000).fit(X, y)
    return float(lr.coef_[0][0]), float(lr.coef_[0][1]), float(lr.intercept_[0])


def train_propensity(
    frames: Sequence[pd.DataFrame],
    dates: Sequence[pd.Timestamp],
    accounts: pd.DataFrame,
    *,
    families: Sequence[str] = ("logistic", "lightgbm"),
    n_features: int = 40,
    max_rows: int | None = 200_000,
    seed: int = 0,
    products: Sequence[str] = SALEABLE,
) -> PropensityModel:
    """Select and fit a model per product, the similarity and the blend."""
    labels = [
        takeup_labels(accounts, f.index, d) for f, d in zip(frames, dates, strict=True)
    ]
    sim = item_similarity(_held(frames[-2]))
    models: dict[str, BinaryModel] = {}
    blend: dict[str, tuple[float, float, float]] = {}
    metrics: dict[str, Any] = {}
    for p in products:
        t0 = time.perf_counter()
        j = PRODUCTS.index(p)
        eligible = [e[:, j] for e, _ in labels]
        ys = [y[:, j] for _, y in labels]
        first = frames[0][eligible[0]]
        if ys[0][eligible[0]].sum() < 5:
            raise DataValidationError(
                f"train_propensity: too few take-ups of {p!r} on {dates[0]:%Y-%m-%d} "
                f"({int(ys[0][eligible[0]].sum())}) to train a model"
            )
        chosen = select_features(
            first[numeric_features(first)], ys[0][eligible[0]], k=n_features, seed=seed
        )
        folds = make_folds(frames, eligible, ys, chosen, max_rows=max_rows, seed=seed)
        sel = select_binary(folds, families=families, seed=seed)
        model = sel.model
        last = frames[-1][eligible[-1]]
        y_last = ys[-1][eligible[-1]]
        raw = model.predict_raw(last)
        aff = _affinity(_held(last), sim)[:, j]
        # Out-of-time blend, its metrics cross-fitted over two halves.
        half = np.random.default_rng(seed).random(y_last.size) < 0.5
        p_cf = np.zeros(y_last.size)
        for part in (half, ~half):
            a, b, c = _fit_blend(raw[~part], aff[~part], y_last[~part])
            p_cf[part] = 1 / (1 + np.exp(-(a * _logit(raw[part]) + b * aff[part] + c)))
        blend[p] = _fit_blend(raw, aff, y_last)
        models[p] = model
        metrics[p] = {
            **sel.metrics(),
            "blended_holdout": binary_metrics(y_last, p_cf),
            "model_holdout_auc": binary_metrics(y_last, raw)["auc"],
            "seconds": time.perf_counter() - t0,
        }
    return PropensityModel(models, sim, blend, metrics)


def next_best_product(propensities: pd.DataFrame) -> pd.Series:
    """The saleable product with the highest propensity per row ('' if none)."""
    cols = [c for c in propensities.columns if c.startswith("propensity_")]
    values = propensities[cols].to_numpy(np.float64)
    best = np.argmax(values, axis=1)
    names = np.asarray([c.removeprefix("propensity_") for c in cols], dtype=object)
    return pd.Series(
        np.where(values.max(axis=1) > 0, names[best], ""),
        index=propensities.index,
        name="next_best_product",
    )
