"""Model selection as an AutoML platform would do it, with time respected.

Folds come in time order: fold *i* trains on the customers' features and labels
as of date D_i and validates on D_{i+1} (features as of D_{i+1}, labels from the
90 days after it), so no fold ever learns from the future of its validation
set. Every candidate family is scored on every fold (AUC, log loss, Brier); the
winner has the best mean AUC. The final model is the winner trained on the
second-to-last date and calibrated (isotonic) on the last one, which is also
where its reported out-of-time metrics come from.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.scoring.models import FAMILIES, BinaryModel, Calibration, fit_binary

__all__ = ["CandidateResult", "Fold", "Selection", "binary_metrics", "select_binary"]


@dataclass(frozen=True)
class Fold:
    """Training and validation frames of one time split."""

    X_train: pd.DataFrame
    y_train: NDArray[np.float64]
    X_valid: pd.DataFrame
    y_valid: NDArray[np.float64]
    label: str = ""


@dataclass(frozen=True)
class CandidateResult:
    family: str
    folds: tuple[dict[str, object], ...]
    mean_auc: float
    mean_logloss: float
    fit_seconds: float


@dataclass(frozen=True)
class Selection:
    """The winner, every candidate's metrics, and the final calibrated model."""

    winner: str
    candidates: tuple[CandidateResult, ...]
    model: BinaryModel
    holdout: dict[str, float]

    def metrics(self) -> dict[str, object]:
        """JSON-safe summary for the model registry."""
        return {
            "winner": self.winner,
            "holdout": self.holdout,
            "candidates": [
                {
                    "family": c.family,
                    "mean_auc": c.mean_auc,
                    "mean_logloss": c.mean_logloss,
                    "fit_seconds": c.fit_seconds,
                    "folds": list(c.folds),
                }
                for c in self.candidates
            ],
        }


def binary_metrics(y: NDArray[np.float64], p: NDArray[np.float64]) -> dict[str, float]:
    """AUC, log loss, Brier score, base rate and mean prediction."""
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    y = np.asarray(y, np.float64)
    p = np.clip(np.asarray(p, np.float64), 1e-7, 1 - 1e-7)
    both = 0 < y.sum() < y.size
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "logloss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "base_rate": float(y.mean()),
        "mean_prediction": float(p.mean()),
        "n": float(y.size),
    }


def select_binary(
    folds: Sequence[Fold], *, families: Sequence[str] = FAMILIES, seed: int = 0
) -> Selection:
    """Compare ``families`` over time-ordered ``folds``; fit the final model.

    The last fold's training data is the second-to-last date and its validation
    data the last date: the final model is trained there and calibrated on the
    validation predictions.
    """
    if not folds:
        raise DataValidationError("select_binary: at least one time fold is needed")
    for f in folds:
        for name, y in (("y_train", f.y_train), ("y_valid", f.y_valid)):
            if not 0 < np.asarray(y).sum() < len(y):
                raise DataValidationError(
                    f"select_binary: fold {f.label or '?'} {name} has only one class "
                    f"({len(y)} rows, {int(np.asarray(y).sum())} positives)"
                )
    results = []
    last_models: dict[str, BinaryModel] = {}
    for family in families:
        per_fold = []
        t0 = time.perf_counter()
        for f in folds:
            model = fit_binary(family, f.X_train, f.y_train, seed=seed)
            m = binary_metrics(f.y_valid, model.predict_raw(f.X_valid))
            per_fold.append({"fold": f.label, **m})
            last_models[family] = model
        results.append(
            CandidateResult(
                family=family,
                folds=tuple(per_fold),
                mean_auc=float(np.nanmean([m["auc"] for m in per_fold])),
                mean_logloss=float(np.mean([m["logloss"] for m in per_fold])),
                fit_seconds=time.perf_counter() - t0,
            )
        )
    results.sort(key=lambda r: (-r.mean_auc, r.mean_logloss))
    winner = results[0].family
    final = last_models[winner]
    last = folds[-1]
    raw = final.predict_raw(last.X_valid)
    y = np.asarray(last.y_valid, np.float64)
    # Honest calibrated metrics: each half calibrated by the other half.
    half = np.random.default_rng(seed).random(y.size) < 0.5
    p_cf = raw.copy()
    for part in (half, ~half):
        other = ~part
        if 0 < y[other].sum() < other.sum():
            p_cf[part] = Calibration.fit(raw[other], y[other]).apply(raw[part])
    final.calibration = Calibration.fit(raw, y)
    holdout = binary_metrics(y, p_cf)
    holdout["auc_uncalibrated"] = binary_metrics(y, raw)["auc"]
    return Selection(winner, tuple(results), final, holdout)
