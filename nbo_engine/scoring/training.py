"""Training data for time-split scores: feature frames at past dates plus labels.

Label dates step back from the scoring date by the label horizon, so the newest
labelled date's outcomes are known by the scoring date: for ``as_of`` and a
90-day horizon with three dates, D = (as_of - 273d, as_of - 182d, as_of - 91d).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.features.profile import CATEGORICAL
from nbo_engine.scoring.selection import Fold

__all__ = ["label_dates", "make_folds", "numeric_features"]


def label_dates(
    as_of: pd.Timestamp | str, n_dates: int = 3, step_days: int = 91
) -> list[pd.Timestamp]:
    """``n_dates`` past dates, oldest first, the newest ``step_days`` before
    ``as_of``."""
    if n_dates < 2:
        raise DataValidationError(f"label_dates: n_dates must be >= 2, got {n_dates}")
    end = pd.Timestamp(as_of).normalize()
    return [end - pd.Timedelta(days=step_days * k) for k in range(n_dates, 0, -1)]


def numeric_features(frame: pd.DataFrame) -> list[str]:
    """Profile columns usable as model inputs (numeric, not identifiers)."""
    return [
        c
        for c in frame.columns
        if c not in CATEGORICAL and pd.api.types.is_numeric_dtype(frame[c])
    ]


def make_folds(
    frames: Sequence[pd.DataFrame],
    eligible: Sequence[NDArray[np.bool_]],
    labels: Sequence[NDArray[np.float64]],
    features: Sequence[str],
    *,
    max_rows: int | None = None,
    seed: int = 0,
) -> list[Fold]:
    """Consecutive (train on D_i, validate on D_{i+1}) folds over eligible rows.

    ``max_rows`` subsamples each date's eligible rows (training cost bound).
    """
    rng = np.random.default_rng(seed)
    data = []
    for frame, ok, y in zip(frames, eligible, labels, strict=True):
        idx = np.flatnonzero(ok)
        if max_rows is not None and idx.size > max_rows:
            idx = np.sort(rng.choice(idx, size=max_rows, replace=False))
        data.append((frame.iloc[idx][list(features)], np.asarray(y)[idx]))
    return [
        Fold(
            data[i][0],
            data[i][1],
            data[i + 1][0],
            data[i + 1][1],
            label=f"{i}->{i + 1}",
        )
        for i in range(len(data) - 1)
    ]
