"""Churn: the probability that a customer's relationship ends in the next 90 days.

Candidates (logistic baseline, LightGBM, random forest, MLP) are compared over
time-ordered folds (:mod:`nbo_engine.scoring.selection`); the winner is
calibrated out of time. Features are chosen by LightGBM importance on the oldest
training date only, so validation dates never influence the choice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from nbo_engine.features.auto import select_features
from nbo_engine.scoring.labels import churn_labels
from nbo_engine.scoring.models import FAMILIES
from nbo_engine.scoring.selection import Selection, select_binary
from nbo_engine.scoring.training import make_folds, numeric_features

__all__ = ["TASK", "train_churn"]

TASK = "churn_90d"


def train_churn(
    frames: Sequence[pd.DataFrame],
    dates: Sequence[pd.Timestamp],
    accounts: pd.DataFrame,
    *,
    families: Sequence[str] = FAMILIES,
    n_features: int = 40,
    max_rows: int | None = 200_000,
    seed: int = 0,
) -> Selection:
    """Select and fit the churn model.

    Parameters
    ----------
    frames : profiles as of each of ``dates`` (oldest first, at least 2).
    accounts : the accounts table (labels come from account closures).
    """
    eligible, labels = [], []
    for frame, d in zip(frames, dates, strict=True):
        ok, y = churn_labels(accounts, frame.index, d)
        eligible.append(ok)
        labels.append(y)
    first = frames[0][eligible[0]]
    chosen = select_features(
        first[numeric_features(first)], labels[0][eligible[0]], k=n_features, seed=seed
    )
    folds = make_folds(frames, eligible, labels, chosen, max_rows=max_rows, seed=seed)
    return select_binary(folds, families=families, seed=seed)


def churn_scores(selection: Selection, frame: pd.DataFrame) -> np.ndarray:
    """Calibrated 90-day churn probability for every row of ``frame``."""
    return selection.model.predict_proba(frame)
