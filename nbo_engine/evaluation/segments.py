"""Average treatment effect per segment or micro-segment, with intervals.

Any grouping column works (a segment label, income band, a cross of several
columns). The effect of a group is the mean of the rows' doubly robust scores
(:func:`~nbo_engine.evaluation.cate.dr_pseudo_outcome`) when outcome
predictions are given, else the difference in means of treated and control
rows; its standard error is the score's standard deviation over ``sqrt(n)``,
respectively Neyman's ``sqrt(s_T^2 / n_T + s_C^2 / n_C)``, and the interval is
normal. Both are unbiased under randomised treatment; the DR version is
narrower when the outcome model explains part of the outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.stats import norm

from nbo_engine.errors import DataValidationError
from nbo_engine.evaluation.cate import dr_pseudo_outcome

__all__ = ["segment_effects"]


def segment_effects(
    y: ArrayLike,
    t: ArrayLike,
    groups: ArrayLike | pd.Series | pd.DataFrame,
    *,
    mu0: ArrayLike | None = None,
    mu1: ArrayLike | None = None,
    propensity: ArrayLike | float | None = None,
    predicted: ArrayLike | None = None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Effect per group with a ``1 - alpha`` interval.

    Parameters
    ----------
    y, t : array_like, shape (n,)
        Outcome and treatment (0/1).
    groups : array_like (n,) or DataFrame (n, k)
        Group label per row; several columns make micro-segments (their cross).
    mu0, mu1 : array_like, shape (n,), optional
        Out-of-sample predictions of the outcome without/with treatment; when
        given the DR (AIPW) estimator is used.
    propensity : float or array_like, optional
        Treatment probability; default the treated share of all rows.
    predicted : array_like, shape (n,), optional
        A model's predicted uplift; its group mean is reported alongside.

    Returns
    -------
    DataFrame
        One row per group (in sorted order): the group column(s), ``n``,
        ``n_treated``, ``n_control``, ``effect``, ``se``, ``ci_low``,
        ``ci_high``, ``predicted`` (if given) and ``note``: ``""``, or
        ``"no_treated"``/``"no_control"`` when the group lacks an arm (effect
        NaN).

    Examples
    --------
    >>> out = segment_effects([1, 0, 1, 1, 0, 0], [1, 0, 1, 0, 1, 0], ["a"] * 3 + ["b"] * 3)
    >>> out[["group", "n", "effect"]].to_dict("records")
    [{'group': 'a', 'n': 3, 'effect': 1.0}, {'group': 'b', 'n': 3, 'effect': -0.5}]
    """
    if not 0.0 < alpha < 1.0:
        raise DataValidationError(f"alpha: got {alpha!r}, expected a value in (0, 1)")
    ya = np.asarray(y, dtype=np.float64)
    ta = np.asarray(t, dtype=np.float64)
    n = ya.size
    if ta.shape != (n,) or not np.all((ta == 0) | (ta == 1)):
        raise DataValidationError(
            f"t: expected shape ({n},) of 0/1 values, got shape {ta.shape}"
        )
    if isinstance(groups, pd.DataFrame):
        keys = groups.reset_index(drop=True)
    else:
        keys = pd.DataFrame({"group": np.asarray(groups)})
    if len(keys) != n:
        raise DataValidationError(
            f"groups: expected {n} rows to match y, got {len(keys)}"
        )
    frame = keys.copy()
    e = float(ta.mean()) if propensity is None else propensity
    use_dr = mu0 is not None and mu1 is not None
    if use_dr:
        frame["_score"] = dr_pseudo_outcome(ya, ta, mu0, mu1, e)  # type: ignore[arg-type]
    frame["_y"] = ya
    frame["_t"] = ta
    frame["_yt"] = ya * ta
    frame["_yc"] = ya * (1 - ta)
    frame["_y2t"] = ya * ya * ta
    frame["_y2c"] = ya * ya * (1 - ta)
    if predicted is not None:
        frame["_pred"] = np.asarray(predicted, dtype=np.float64)
    cols = list(keys.columns)
    agg = frame.groupby(cols, dropna=False, sort=True)
    s = agg.sum(numeric_only=True)
    out = pd.DataFrame(index=s.index)
    out["n"] = agg.size().astype(np.int64)
    out["n_treated"] = s["_t"].round().astype(np.int64)
    out["n_control"] = out["n"] - out["n_treated"]
    nt = out["n_treated"].to_numpy(dtype=np.float64)
    nc = out["n_control"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        mt, mc = s["_yt"].to_numpy() / nt, s["_yc"].to_numpy() / nc
        if use_dr:
            m = agg["_score"].mean().to_numpy()
            sd = agg["_score"].std(ddof=1).to_numpy()
            se = sd / np.sqrt(out["n"].to_numpy(dtype=np.float64))
        else:
            m = mt - mc
            vt = (s["_y2t"].to_numpy() - nt * mt**2) / (nt - 1)
            vc = (s["_y2c"].to_numpy() - nc * mc**2) / (nc - 1)
            se = np.sqrt(np.maximum(vt, 0) / nt + np.maximum(vc, 0) / nc)
    note = np.where(nt == 0, "no_treated", np.where(nc == 0, "no_control", ""))
    m = np.where(note == "", m, np.nan)
    q = float(norm.ppf(1 - alpha / 2))
    out["effect"] = m
    out["se"] = se
    out["ci_low"] = m - q * se
    out["ci_high"] = m + q * se
    if predicted is not None:
        out["predicted"] = agg["_pred"].mean().to_numpy()
    out["note"] = note
    return out.reset_index()
