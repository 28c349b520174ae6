"""Calibration/holdout evaluation of every CLV model next to two baselines.

Customers are those with a purchase on or before the calibration end. Each model
predicts their purchase periods and revenue in the holdout (calibration end,
holdout end]; ``clv_metrics.holdout_metrics`` scores them against what they did.
Baselines show what a model adds:

* ``predict_zero``: nobody buys again;
* ``historical_average``: each customer's calibration rate carried forward,
  ``(x + 1) / (T + 1)`` purchase periods and calibration revenue ``/ (T + 1)``
  per period (``T + 1`` periods from the first purchase's to the calibration
  end's, inclusive), times the holdout length.

``select_clv_model`` uses the same evaluation on the last part of the history to
choose which model to fit for scoring (model choice by holdout).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import ConfigError
from nbo_engine.scoring.clv import PURCHASE_MODELS, fit_clv
from nbo_engine.scoring.clv_metrics import holdout_metrics
from nbo_engine.scoring.clv_ml import Profile, fit_ml_clv
from nbo_engine.scoring.rfm import HoldoutSummary, as_day, calibration_holdout

__all__ = [
    "BASELINES",
    "CLV_MODELS",
    "EvaluationReport",
    "ModelScore",
    "evaluate_clv",
    "select_clv_model",
]

FloatArray = NDArray[np.float64]
BASELINES: tuple[str, ...] = ("predict_zero", "historical_average")
CLV_MODELS: tuple[str, ...] = (*PURCHASE_MODELS, "ml")
#: Metrics where lower is better (the rest: higher is better).
_LOWER_IS_BETTER = {"purchases_mae", "revenue_mae", "decile_mape"}


@dataclass(frozen=True)
class ModelScore:
    """One model's (or baseline's) holdout metrics."""

    name: str
    kind: str  # "baseline", "probabilistic" or "ml"
    metrics: dict[str, float]
    fit_seconds: float
    info: dict[str, Any]


@dataclass(frozen=True)
class EvaluationReport:
    """Every model's holdout metrics on one calibration/holdout split."""

    calibration_end: str
    holdout_end: str
    freq: str
    customers: int
    holdout_periods: float
    scores: tuple[ModelScore, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable (NaN becomes null)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and not np.isfinite(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list | tuple):
                return [clean(x) for x in v]
            return v

        return {
            "calibration_end": self.calibration_end,
            "holdout_end": self.holdout_end,
            "freq": self.freq,
            "customers": self.customers,
            "holdout_periods": self.holdout_periods,
            "models": {
                s.name: clean(
                    {
                        "kind": s.kind,
                        **s.metrics,
                        "fit_seconds": round(s.fit_seconds, 3),
                        **({"info": s.info} if s.info else {}),
                    }
                )
                for s in self.scores
            },
        }

    def best(self, metric: str = "revenue_mae") -> str:
        """Name of the best non-baseline model by ``metric``."""
        cands = [s for s in self.scores if s.kind != "baseline"]
        vals = [s.metrics.get(metric, np.nan) for s in cands]
        sign = 1.0 if metric in _LOWER_IS_BETTER else -1.0
        keyed = [
            (sign * v, s.name)
            for v, s in zip(vals, cands, strict=True)
            if np.isfinite(v)
        ]
        if not keyed:
            raise ConfigError(f"metric {metric!r}: no model has a finite value")
        return min(keyed)[1]


def _baselines(h: HoldoutSummary) -> list[ModelScore]:
    s = h.calibration
    periods = s.T + 1.0
    zeros = np.zeros(s.n)
    rate_p = (s.frequency + 1.0) / periods * h.duration
    rate_r = h.calibration_revenue / periods * h.duration
    return [
        ModelScore(
            "predict_zero",
            "baseline",
            holdout_metrics(h.holdout_purchases, h.holdout_revenue, zeros, zeros),
            0.0,
            {},
        ),
        ModelScore(
            "historical_average",
            "baseline",
            holdout_metrics(h.holdout_purchases, h.holdout_revenue, rate_p, rate_r),
            0.0,
            {},
        ),
    ]


def evaluate_clv(
    log: pd.DataFrame,
    calibration_end: np.datetime64,
    holdout_end: np.datetime64,
    *,
    freq: str = "D",
    models: Sequence[str] = CLV_MODELS,
    profile: Profile = None,
    seed: int = 0,
) -> EvaluationReport:
    """Fit each model on the calibration period and score it on the holdout.

    Parameters
    ----------
    log : DataFrame
        Normalised transactions (``rfm.normalize_transactions``).
    calibration_end, holdout_end : numpy.datetime64
        Inclusive ends of the two periods (days).
    freq : {"D", "W"}
        Period for frequency, recency and T.
    models : sequence of str
        Any of ``CLV_MODELS``; baselines are always included.
    profile : DataFrame or callable, optional
        Extra columns for the ML model.
    seed : int

    Returns
    -------
    EvaluationReport
    """
    unknown = [m for m in models if m not in CLV_MODELS]
    if unknown:
        raise ConfigError(
            f"models: unknown {', '.join(unknown)}; expected some of {', '.join(CLV_MODELS)}"
        )
    cal = as_day(calibration_end)
    hold = as_day(holdout_end)
    h = calibration_holdout(log, cal, hold, freq)
    s = h.calibration
    scores = _baselines(h)
    horizon_days = h.duration * s.period_days
    for name in models:
        t0 = time.perf_counter()
        if name == "ml":
            ml = fit_ml_clv(
                log[log["date"].to_numpy(dtype="datetime64[ns]") < (cal + 1)],
                cal,
                float((hold - cal).astype(np.int64)),
                freq=freq,
                profile=profile,
                seed=seed,
            )
            pred = ml.predict(log, cal, profile).reindex(pd.Index(s.customer_id))
            pp = pred["expected_purchases"].to_numpy(np.float64)
            pr = pred["expected_revenue"].to_numpy(np.float64)
            info: dict[str, Any] = dict(ml.info)
            kind = "ml"
        else:
            model = fit_clv(s, name)
            pred = model.predict(s, horizon_days=horizon_days)
            pp = pred["expected_purchases"].to_numpy(np.float64)
            pr = pred["expected_revenue"].to_numpy(np.float64)
            info = {
                "params": model.params,
                "converged": model.purchase.converged
                and (model.spend is None or model.spend.converged),
            }
            kind = "probabilistic"
        seconds = time.perf_counter() - t0
        scores.append(
            ModelScore(
                name,
                kind,
                holdout_metrics(h.holdout_purchases, h.holdout_revenue, pp, pr),
                seconds,
                info,
            )
        )
    return EvaluationReport(
        calibration_end=str(cal),
        holdout_end=str(hold),
        freq=freq,
        customers=s.n,
        holdout_periods=h.duration,
        scores=tuple(scores),
    )


def select_clv_model(
    log: pd.DataFrame,
    as_of: np.datetime64,
    *,
    holdout_days: int = 182,
    freq: str = "D",
    metric: str = "revenue_mae",
    models: Sequence[str] = CLV_MODELS,
    profile: Profile = None,
    seed: int = 0,
) -> tuple[str, EvaluationReport]:
    """Choose the model to score with by its accuracy on the last ``holdout_days``
    before ``as_of`` (fit on the history before them); returns its name and the
    evaluation behind the choice."""
    end = as_day(as_of)
    cal = end - np.timedelta64(holdout_days, "D")
    report = evaluate_clv(
        log, cal, end, freq=freq, models=models, profile=profile, seed=seed
    )
    return report.best(metric), report
