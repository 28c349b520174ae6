"""The behavioural feature space that customers are clustered in.

A handful of profile columns, each optionally ``log1p``-transformed (heavy-tailed
amounts and counts), then standardised with the fitted mean and standard
deviation, winsorised at +-5 standard deviations (so one extreme customer cannot
pull a centroid), and with a missing value put at the mean (0 after scaling).

Why these columns (:data:`BEHAVIOURAL_FEATURES`): each measures one trait that
differs between customers' behaviour and is observed for nearly everyone --
spend per purchase, purchase rate (mean days between purchases over the
whole history), digital engagement, the mobile share of digital activity,
credit standing, how they speak to the bank, income and age. On the simulated
bank, adding correlated measures of the same trait (counts in several windows,
deposits alongside income, recency alongside frequency) gives that trait more
weight in the Euclidean distance and lowered the recovery of the latent
segments, so the default keeps one column per trait. Any other subset can be
passed as ``FeatureSpec`` tuples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import ConfigError, DataValidationError

__all__ = [
    "BEHAVIOURAL_FEATURES",
    "FeatureSpec",
    "Scaler",
    "fit_scaler",
    "raw_matrix",
]

Transform = Literal["identity", "log1p"]
_TRANSFORMS = ("identity", "log1p")
#: Scaled values are clipped to +-CLIP standard deviations.
CLIP = 5.0


@dataclass(frozen=True)
class FeatureSpec:
    """One axis of the clustering space: profile ``column`` under ``transform``.

    ``log1p`` applies ``log(1 + max(x, 0))`` (amounts in currency units, counts).
    """

    name: str
    column: str
    transform: Transform = "identity"

    def __post_init__(self) -> None:
        if self.transform not in _TRANSFORMS:
            raise ConfigError(
                f"FeatureSpec {self.name!r}: transform {self.transform!r}; "
                f"expected one of {', '.join(_TRANSFORMS)}"
            )


BEHAVIOURAL_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("spend_per_purchase", "rfm_mean_365", "log1p"),
    FeatureSpec("days_between_purchases", "rfm_interpurchase_days", "log1p"),
    FeatureSpec("digital_logins", "dig_even_login_count_365", "log1p"),
    FeatureSpec("mobile_share", "dig_mobile_share"),
    FeatureSpec("credit_score", "bureau_credit_score"),
    FeatureSpec("service_sentiment", "svc_sentiment_365"),
    FeatureSpec("income_level", "income_level"),
    FeatureSpec("age", "age"),
)


def _transform(values: NDArray[np.float64], transform: str) -> NDArray[np.float64]:
    if transform == "log1p":
        return np.log1p(np.clip(values, 0.0, None))
    return values


def raw_matrix(
    profile: pd.DataFrame, features: tuple[FeatureSpec, ...]
) -> NDArray[np.float64]:
    """Transformed (not yet scaled) feature matrix, shape (n_customers, n_features).

    Missing values stay NaN; infinities become NaN.

    Raises
    ------
    DataValidationError
        A column is missing from ``profile`` or is not numeric.
    """
    missing = [f.column for f in features if f.column not in profile.columns]
    if missing:
        raise DataValidationError(
            f"segmentation: profile lacks column(s) {', '.join(missing)}; "
            f"expected the columns of build_features ({len(profile.columns)} present)"
        )
    out = np.empty((len(profile), len(features)), dtype=np.float64)
    for j, f in enumerate(features):
        col = profile[f.column]
        if not pd.api.types.is_numeric_dtype(col):
            raise DataValidationError(
                f"segmentation: profile column {f.column!r} has dtype {col.dtype}; "
                "expected a numeric column"
            )
        out[:, j] = _transform(col.to_numpy(np.float64, na_value=np.nan), f.transform)
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass(frozen=True)
class Scaler:
    """Fitted standardisation: ``clip((x - center) / scale, -5, 5)``, NaN -> 0.

    ``center`` and ``scale`` have shape (n_features,), in the transformed units.
    """

    center: NDArray[np.float64]
    scale: NDArray[np.float64]

    def transform(self, raw: NDArray[np.float64]) -> NDArray[np.float64]:
        """Scale a transformed matrix (n, n_features) or one row (n_features,)."""
        z = (raw - self.center) / self.scale
        z = np.clip(z, -CLIP, CLIP)
        return np.where(np.isnan(z), 0.0, z)


def fit_scaler(raw: NDArray[np.float64]) -> Scaler:
    """Mean and standard deviation of each column, ignoring NaN.

    A column that is constant or entirely missing gets scale 1 (it then
    contributes nothing to distances).

    >>> s = fit_scaler(np.array([[1.0, np.nan], [3.0, 2.0]]))
    >>> s.transform(np.array([[3.0, np.nan]])).tolist()
    [[1.0, 0.0]]
    """
    present = ~np.isnan(raw)
    count = present.sum(axis=0)
    filled = np.where(present, raw, 0.0)
    center = np.divide(
        filled.sum(axis=0), count, out=np.zeros(raw.shape[1]), where=count > 0
    )
    dev = np.where(present, raw - center, 0.0)
    var = np.divide(
        (dev**2).sum(axis=0), count, out=np.zeros(raw.shape[1]), where=count > 0
    )
    scale = np.sqrt(var)
    scale = np.where(scale > 1e-12, scale, 1.0)
    return Scaler(center=center, scale=scale)
