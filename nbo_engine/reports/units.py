"""Units of measurement: customers decided for, their arm, segment and outcomes.

The unit is a customer who had a live decision in the measured window. The
global holdout is drawn by hash before anything else is decided, so holdout
customers are a random sample of the customers the channels asked about.

A unit's outcomes run from the day of its first decision of the window for at
most ``attribution_days`` and not past the window's end; they are the input
tables' outcomes (the frame of
:func:`nbo_engine.store.proposals.customer_outcomes`, or one supplied by the
caller): ``product_open`` (a product taken up), ``complaint`` and ``churn``.
Value follows the retune's convention (``nbo_engine/jobs/evidence.py``), so the
report and the policy changes speak of the same number: take-up valued at the
product's margin, minus the cost of the offers made, minus ``clv_12m`` when
the customer churned.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError

__all__ = [
    "GLOBAL_HOLDOUT_EXPERIMENT",
    "HOLDOUT",
    "TREATED",
    "OfferInfo",
    "require",
    "segment_from_context",
    "unit_outcomes",
    "units_from_decisions",
]

TREATED = "treated"
HOLDOUT = "holdout"
#: ``decisions.experiment`` of a customer in the global holdout.
GLOBAL_HOLDOUT_EXPERIMENT = "global_holdout"
UNKNOWN_SEGMENT = "(unknown)"


@dataclass(frozen=True)
class OfferInfo:
    """What the report needs of an offer: its product, display name, margin of
    one acceptance and cost of making it once (currency)."""

    product: str
    name: str
    margin: float
    cost: float


def require(frame: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    """Raise :class:`DataValidationError` naming the columns ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{name}: missing column(s) {', '.join(missing)}; got "
            f"{', '.join(map(str, frame.columns)) or 'none'}"
        )


def segment_from_context(
    contexts: Sequence[str] | pd.Series, segments: Sequence[str]
) -> NDArray[np.object_]:
    """The segment one-hot of logged context vectors, shape (n,).

    The decision context starts with an intercept and one indicator per policy
    segment (:class:`nbo_engine.decisioning.context.ContextSpec`); a row whose
    indicators are all 0 (a customer outside the policy's segments) or that
    does not parse gives ``None``.

    Examples
    --------
    >>> segment_from_context(["[1, 0, 1, 0.3]", "[1, 0, 0, 0.2]"], ["a", "b"]).tolist()
    ['b', None]
    """
    k = len(segments)
    out = np.full(len(contexts), None, dtype=object)
    if k == 0:
        return out
    names = np.asarray(list(segments), dtype=object)
    for i, text in enumerate(contexts):  # one JSON parse per decision
        try:
            head = np.asarray(json.loads(text)[1 : 1 + k], dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if head.size == k and head.max(initial=0.0) > 0.5:
            out[i] = names[int(np.argmax(head))]
    return out


def units_from_decisions(
    decisions: pd.DataFrame, costs: Mapping[str, float] | None = None
) -> pd.DataFrame:
    """One row per customer from live decision rows.

    Parameters
    ----------
    decisions : DataFrame
        ``customer_id, ts, experiment, segment`` and, for costs, ``offer_id``
        (one row per decision, or per chosen offer).
    costs : mapping, optional
        offer id -> cost of making it once (currency).

    Returns
    -------
    DataFrame
        ``customer_id, first_ts, arm`` (``holdout`` when the customer's first
        decision was in the global holdout, else ``treated``), ``segment``
        (of the first decision; ``"(unknown)"`` when missing), ``decisions``
        (distinct ``decision_id`` if given, else rows), ``cost`` (summed cost
        of the offers made).
    """
    require(decisions, "decisions", ["customer_id", "ts", "experiment", "segment"])
    d = decisions.sort_values("ts", kind="stable")
    first = d.drop_duplicates("customer_id", keep="first")
    by = d.groupby("customer_id", sort=False)
    units = pd.DataFrame(
        {
            "customer_id": first["customer_id"].astype(str).to_numpy(),
            "first_ts": pd.to_datetime(first["ts"]).to_numpy(),
            "arm": np.where(
                first["experiment"].to_numpy() == GLOBAL_HOLDOUT_EXPERIMENT,
                HOLDOUT,
                TREATED,
            ),
            "segment": first["segment"].fillna(UNKNOWN_SEGMENT).astype(str).to_numpy(),
        }
    )
    index = units["customer_id"]
    counts = by["decision_id"].nunique() if "decision_id" in d else by["ts"].size()
    units["decisions"] = counts.reindex(index).to_numpy(np.int64)
    units["cost"] = 0.0
    if costs and "offer_id" in d.columns:
        paid = d["offer_id"].map(costs).astype(float).fillna(0.0)
        units["cost"] = paid.groupby(d["customer_id"]).sum().reindex(index).to_numpy()
    return units.reset_index(drop=True)


def unit_outcomes(
    units: pd.DataFrame,
    outcomes: pd.DataFrame,
    *,
    until: pd.Timestamp,
    attribution_days: int,
    product_value: Mapping[str, float],
    clv: pd.Series | None = None,
) -> pd.DataFrame:
    """Each unit's outcomes after its first decision.

    Parameters
    ----------
    units : DataFrame
        From :func:`units_from_decisions`.
    outcomes : DataFrame
        ``customer_id, ts, outcome, product`` (``outcome``: ``product_open``,
        ``complaint`` or ``churn``; naive UTC times).
    until : Timestamp
        End of the observation (exclusive).
    attribution_days : int
        Longest time after the first decision an outcome counts.
    product_value : mapping
        product -> value of taking it up (currency); its keys get columns.
    clv : Series, optional
        ``clv_12m`` by customer id (0 when missing): the value lost on churn.

    Returns
    -------
    DataFrame
        ``units`` plus, per product ``p``, ``conv:p`` (0/1); ``converted``
        (any product, 0/1), ``takeup_value``, ``complaints`` (count),
        ``churned`` (0/1), ``clv``, and ``value`` = take-up value - cost -
        churned x clv (currency).
    """
    require(outcomes, "outcomes", ["customer_id", "ts", "outcome", "product"])
    out = units.copy()
    first = pd.to_datetime(out["first_ts"])
    stop = (first + pd.Timedelta(days=attribution_days)).where(
        lambda t: t < until, until
    )
    window = pd.DataFrame(
        {
            "customer_id": out["customer_id"],
            "_start": first.dt.normalize(),
            "_stop": stop,
        }
    )
    o = outcomes.assign(customer_id=outcomes["customer_id"].astype(str)).merge(
        window, on="customer_id", how="inner"
    )
    ts = pd.to_datetime(o["ts"])
    o = o[(ts >= o["_start"]) & (ts < o["_stop"])]
    index = pd.Index(out["customer_id"])

    def count(kind: str) -> pd.Series:
        return o[o["outcome"] == kind].groupby("customer_id").size().reindex(index)

    opened = o[o["outcome"] == "product_open"]
    taken = opened.groupby(["customer_id", "product"]).size().unstack("product")
    taken = taken.reindex(index)
    takeup = np.zeros(len(out))
    for p, v in product_value.items():
        has = taken[p].notna() if p in taken.columns else pd.Series(False, index)
        col = has.to_numpy(np.float64)
        out[f"conv:{p}"] = col
        takeup += col * float(v)
    out["converted"] = count("product_open").notna().to_numpy(np.float64)
    out["takeup_value"] = takeup
    out["complaints"] = count("complaint").fillna(0).to_numpy(np.float64)
    out["churned"] = count("churn").notna().to_numpy(np.float64)
    value = clv.reindex(index) if clv is not None else pd.Series(0.0, index)
    out["clv"] = pd.to_numeric(value, errors="coerce").fillna(0.0).to_numpy()
    cost = out["cost"] if "cost" in out.columns else 0.0
    out["value"] = takeup - cost - out["churned"] * out["clv"]
    return out
