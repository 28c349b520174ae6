"""Machine-learned CLV: gradient boosting on RFM features, trained back in time.

To predict the next ``H`` days from a cutoff ``c``, the model learns from
earlier cutoffs ``c_k = c - H - k * 91`` days: features from transactions up to
``c_k`` (``clv_features.rfm_features``), labels from ``(c_k, c_k + H]`` - all
on or before ``c``, so no future data reaches training. Revenue is fitted with a
Tweedie objective (a point mass at zero plus a skewed positive part, the shape
of customer value) and purchase periods with a Poisson objective. Early
stopping uses a random 20% of the training customers. Extra profile columns
(numeric or categorical) join the RFM features by customer id.

When the history before ``c`` is shorter than ``H`` plus a minimum look-back,
the label window shrinks to fit and predictions are scaled by the ratio of the
horizons (recorded in ``info``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.scoring.clv_features import future_value, rfm_features
from nbo_engine.scoring.rfm import as_day

__all__ = ["MLCLVModel", "fit_ml_clv"]

Profile = pd.DataFrame | Callable[[np.datetime64], pd.DataFrame] | None
#: Days between stacked training cutoffs.
CUTOFF_STEP_DAYS = 91
#: Least history (days) before a training cutoff.
MIN_HISTORY_DAYS = 30

_PARAMS: dict[str, Any] = {
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 40,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "verbosity": -1,
    "deterministic": True,
    "force_row_wise": True,
}


def _profile_at(profile: Profile, cutoff: np.datetime64) -> pd.DataFrame | None:
    if profile is None:
        return None
    if callable(profile):
        return profile(cutoff)
    return profile


def _frame(
    log: pd.DataFrame,
    cutoff: np.datetime64,
    freq: str,
    profile: Profile,
    categories: dict[str, list[str]],
) -> pd.DataFrame:
    feats = rfm_features(log, cutoff, freq)
    prof = _profile_at(profile, cutoff)
    if prof is not None:
        prof = prof.copy()
        prof.index = prof.index.astype(str)
        clash = [c for c in prof.columns if c in feats.columns]
        if clash:
            raise DataValidationError(
                f"profile: column(s) {', '.join(map(str, clash))} clash with the RFM "
                "features; rename them"
            )
        feats = feats.join(prof, how="left")
    for col, levels in categories.items():
        feats[col] = pd.Categorical(feats[col].astype(str), categories=levels)
    return feats


def _categories(frame: pd.DataFrame | None) -> dict[str, list[str]]:
    if frame is None:
        return {}
    return {
        str(c): sorted(frame[c].astype(str).unique().tolist())
        for c in frame.columns
        if not pd.api.types.is_numeric_dtype(frame[c])
        or pd.api.types.is_bool_dtype(frame[c])
    }


@dataclass(frozen=True)
class MLCLVModel:
    """Two boosters (revenue, purchase periods) and how to build their inputs."""

    horizon_days: float
    freq: str
    features: tuple[str, ...]
    categories: dict[str, list[str]]
    revenue_model: str
    purchases_model: str
    scale: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)

    def predict(
        self, log: pd.DataFrame, cutoff: np.datetime64, profile: Profile = None
    ) -> pd.DataFrame:
        """Expected purchase periods and revenue in the ``horizon_days`` after
        ``cutoff``, per customer with a transaction on or before it."""
        x = _frame(log, cutoff, self.freq, profile, self.categories)[
            list(self.features)
        ]
        rev = lgb.Booster(model_str=self.revenue_model).predict(x)
        pur = lgb.Booster(model_str=self.purchases_model).predict(x)
        return pd.DataFrame(
            {
                "expected_purchases": np.asarray(pur, dtype=np.float64) * self.scale,
                "expected_revenue": np.asarray(rev, dtype=np.float64) * self.scale,
            },
            index=x.index,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (boosters as LightGBM's text model format)."""
        return {
            "horizon_days": self.horizon_days,
            "freq": self.freq,
            "features": list(self.features),
            "categories": self.categories,
            "revenue_model": self.revenue_model,
            "purchases_model": self.purchases_model,
            "scale": self.scale,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MLCLVModel:
        return cls(
            horizon_days=float(d["horizon_days"]),
            freq=str(d["freq"]),
            features=tuple(d["features"]),
            categories={k: list(v) for k, v in d["categories"].items()},
            revenue_model=str(d["revenue_model"]),
            purchases_model=str(d["purchases_model"]),
            scale=float(d["scale"]),
            info=dict(d["info"]),
        )


def fit_ml_clv(
    log: pd.DataFrame,
    cutoff: np.datetime64,
    horizon_days: float,
    *,
    freq: str = "D",
    profile: Profile = None,
    seed: int = 0,
    n_cutoffs: int = 3,
    n_jobs: int = 1,
    max_rounds: int = 600,
    tweedie_power: float = 1.3,
) -> MLCLVModel:
    """Train the revenue and purchase models for ``horizon_days`` after ``cutoff``.

    Parameters
    ----------
    log : DataFrame
        Normalised transactions (``rfm.normalize_transactions``); rows after
        ``cutoff`` are ignored.
    cutoff : numpy.datetime64
        The day predictions start after.
    horizon_days : float
        Length of the predicted window (days).
    freq : {"D", "W"}
        Period in which purchases are counted.
    profile : DataFrame or callable, optional
        Extra columns by customer id, or ``profile(date) -> DataFrame`` giving
        them as of a date (so training rows see their own past).
    seed : int
        Seeds the validation split and LightGBM.
    n_cutoffs : int
        Training cutoffs stacked, 91 days apart (as history allows).

    Returns
    -------
    MLCLVModel

    Raises
    ------
    DataValidationError
        Too little history before ``cutoff`` to train.
    """
    c = as_day(cutoff)
    days = log["date"].to_numpy(dtype="datetime64[ns]").astype("datetime64[D]")
    past = days <= c
    if not past.any():
        raise DataValidationError(f"no transactions on or before {c} to train on")
    start = days[past].min()
    history = float((c - start).astype(np.int64))
    label_days = float(horizon_days)
    scale = 1.0
    if history < label_days + MIN_HISTORY_DAYS:
        label_days = max(history / 2.0, 1.0)
        scale = float(horizon_days) / label_days
    cutoffs = []
    for k in range(max(n_cutoffs, 1)):
        ck = (
            c
            - np.timedelta64(round(label_days), "D")
            - np.timedelta64(k * CUTOFF_STEP_DAYS, "D")
        )
        if float((ck - start).astype(np.int64)) >= min(MIN_HISTORY_DAYS, history / 2):
            cutoffs.append(ck)
    if not cutoffs:
        raise DataValidationError(
            f"{history:.0f} days of history before {c}: too short to train the ML "
            "CLV model (expected at least 2 days)"
        )
    prof0 = _profile_at(profile, cutoffs[0])
    categories = _categories(prof0)
    frames, y_rev, y_pur = [], [], []
    for ck in cutoffs:
        f = _frame(log, ck, freq, profile, categories)
        pur, rev = future_value(
            log, ck, label_days, np.asarray(f.index, dtype=object), freq
        )
        frames.append(f)
        y_rev.append(rev)
        y_pur.append(pur)
    x = pd.concat(frames, ignore_index=True)
    yr = np.concatenate(y_rev)
    yp = np.concatenate(y_pur)
    rng = np.random.default_rng(seed)
    valid = rng.random(len(x)) < 0.2
    feats = tuple(map(str, x.columns))
    params = {**_PARAMS, "seed": seed, "num_threads": n_jobs}
    # Tweedie needs non-negative labels: refunds beyond spend clip at zero.
    yr = np.maximum(yr, 0.0)
    boosters: dict[str, lgb.Booster] = {}
    rounds: dict[str, int] = {}
    for name, y, objective in (
        (
            "revenue",
            yr,
            {"objective": "tweedie", "tweedie_variance_power": tweedie_power},
        ),
        ("purchases", yp, {"objective": "poisson"}),
    ):
        train = lgb.Dataset(x[~valid], label=y[~valid], free_raw_data=False)
        val = lgb.Dataset(x[valid], label=y[valid], reference=train)
        b = lgb.train(
            {**params, **objective},
            train,
            num_boost_round=max_rounds,
            valid_sets=[val],
            callbacks=[lgb.early_stopping(40, verbose=False)],
        )
        boosters[name] = b
        rounds[name] = int(b.best_iteration or max_rounds)
    return MLCLVModel(
        horizon_days=float(horizon_days),
        freq=freq,
        features=feats,
        categories=categories,
        revenue_model=boosters["revenue"].model_to_string(
            num_iteration=rounds["revenue"]
        ),
        purchases_model=boosters["purchases"].model_to_string(
            num_iteration=rounds["purchases"]
        ),
        scale=scale,
        info={
            "training_cutoffs": [str(ck) for ck in cutoffs],
            "label_days": label_days,
            "training_rows": len(x),
            "rounds": rounds,
            "tweedie_power": tweedie_power,
            "horizon_scale": scale,
        },
    )
