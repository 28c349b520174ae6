"""Qini curves of the engine's rankings, programme against holdout.

Customers of the window are ranked by a score (highest first); the Qini curve
(:func:`nbo_engine.evaluation.metrics.qini_curve`, the engine's one home for
it) is the incremental outcome of the programme among the customers targeted.
A ranking whose curve rises above the straight line finds the customers the
programme moves; the holdout makes the curve causal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbo_engine.evaluation.metrics import Curve, qini_coefficient, qini_curve
from nbo_engine.reports.evidence import Missing, QiniCurves
from nbo_engine.reports.units import TREATED, require

__all__ = ["qini_curves", "thin_curve"]


def thin_curve(curve: Curve, points: int = 201) -> Curve:
    """The curve at ``points`` evenly spaced numbers of customers (linear
    interpolation), for charts and tables; short curves are returned as is.

    Examples
    --------
    >>> c = Curve(np.arange(1001.0), np.arange(1001.0) ** 0.5)
    >>> t = thin_curve(c, 11)
    >>> t.x.tolist()[:3], round(float(t.y[-1]), 3)
    ([0.0, 100.0, 200.0], 31.623)
    """
    if curve.x.size <= points:
        return curve
    x = np.linspace(0.0, float(curve.x[-1]), points)
    return Curve(x, np.interp(x, curve.x, curve.y))


def qini_curves(
    outcomes: pd.DataFrame,
    scores: pd.DataFrame,
    *,
    outcome: str = "value",
    points: int = 201,
) -> QiniCurves | Missing:
    """Qini curves of each ranking in ``scores`` (treated vs holdout).

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`nbo_engine.reports.units.unit_outcomes`.
    scores : DataFrame
        ``customer_id`` and one column per ranking (higher = target first);
        customers without a score are ranked last.
    outcome : str
        Outcome column of ``outcomes``.
    points : int
        Points kept per curve.
    """
    require(scores, "scores", ["customer_id"])
    data = outcomes.merge(scores, on="customer_id", how="left")
    t = (data["arm"] == TREATED).to_numpy(np.int64)
    y = data[outcome].to_numpy(np.float64)
    n_t, n_c = int(t.sum()), int(t.size - t.sum())
    if n_t < 2 or n_c < 2:
        return Missing(
            f"the window has {n_t} treated and {n_c} global-holdout customers; "
            "a Qini curve needs both"
        )
    if not np.any(y != 0):
        return Missing(f"the {outcome} of every customer of the window is 0")
    curves: dict[str, Curve] = {}
    coefs: dict[str, float] = {}
    for label in [c for c in scores.columns if c != "customer_id"]:
        s = pd.to_numeric(data[label], errors="coerce").to_numpy(np.float64)
        if not np.isfinite(s).any():
            continue
        s = np.where(np.isfinite(s), s, np.nanmin(s) - 1.0)
        curves[label] = thin_curve(qini_curve(y, t, s), points)
        coefs[label] = qini_coefficient(y, t, s)
    if not curves:
        return Missing("no ranking score was available for the window's customers")
    return QiniCurves(
        curves=curves,
        coefficients=coefs,
        n_treated=n_t,
        n_control=n_c,
        outcome=outcome,
    )
