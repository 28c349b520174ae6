"""Outcomes attributed to logged decisions, and the statistics cells are built from.

Pure pandas/numpy on frames the job reads from the store: a decision frame
(one row per logged decision: ``decision_id, ts, customer_id, experiment,
variant, offer_id, eligible``...) and an outcome frame (``customer_id, ts,
outcome, product``; ``outcome`` one of :data:`OUTCOMES`). Times are naive UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import RetuneError
from nbo_engine.experiments import ExperimentSpec, SampleStats, sample_stats
from nbo_engine.policy import PolicySpec
from nbo_engine.retune.evidence import GLOBAL_HOLDOUT_NAME, OfferUsage

__all__ = [
    "OUTCOMES",
    "check_outcomes",
    "control_mask",
    "count_within",
    "first_per_customer",
    "offer_usage",
    "resolve_segments",
    "stats_by",
    "unit_stats",
]

#: Outcome kinds an outcome frame may hold.
OUTCOMES: tuple[str, ...] = ("product_open", "complaint", "churn")
_OUTCOME_COLUMNS = ["customer_id", "ts", "outcome", "product"]

F64 = NDArray[np.float64]


def check_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The outcome frame with ``ts`` as naive UTC datetimes.

    Raises
    ------
    RetuneError
        A missing column or an unknown outcome kind.
    """
    missing = [c for c in _OUTCOME_COLUMNS if c not in outcomes.columns]
    if missing:
        raise RetuneError(
            f"outcomes: missing column(s) {', '.join(missing)}; expected "
            f"{', '.join(_OUTCOME_COLUMNS)}"
        )
    bad = sorted(set(outcomes["outcome"].astype(str)) - set(OUTCOMES))
    if bad:
        raise RetuneError(
            f"outcomes.outcome: unknown value(s) {', '.join(map(repr, bad))}; "
            f"expected one of {', '.join(OUTCOMES)}"
        )
    out = outcomes[_OUTCOME_COLUMNS].copy()
    ts = pd.to_datetime(out["ts"])
    if ts.dt.tz is not None:
        ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
    out["ts"] = ts
    return out


def unit_stats(y: F64) -> SampleStats:
    """Scalar :class:`SampleStats` of a per-unit outcome, shape (n,)
    (:func:`nbo_engine.experiments.sample_stats` with one group)."""
    y = np.asarray(y, dtype=np.float64)
    return sample_stats(y, np.zeros(y.size, dtype=np.int64), 1).select(0)


def stats_by(y: F64, groups: NDArray[np.object_]) -> dict[str, SampleStats]:
    """:class:`SampleStats` of ``y`` per group (shape (n,) each), by
    :func:`nbo_engine.experiments.sample_stats`."""
    codes, names = pd.factorize(pd.Series(groups, dtype=object), sort=True)
    s = sample_stats(np.asarray(y, dtype=np.float64), codes, len(names))
    return {str(name): s.select(i) for i, name in enumerate(names)}


def first_per_customer(
    frame: pd.DataFrame, mask: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """The rows of ``mask`` that are each customer's first (``frame`` sorted
    by time), so a customer counts once per arm."""
    keep = np.zeros(len(frame), dtype=bool)
    idx = np.flatnonzero(mask)
    if idx.size:
        first = ~frame["customer_id"].iloc[idx].duplicated().to_numpy()
        keep[idx[first]] = True
    return keep


def control_mask(
    frame: pd.DataFrame, experiments: Sequence[ExperimentSpec] = ()
) -> NDArray[np.bool_]:
    """Decisions that are holdout controls: logged with experiment
    ``global_holdout``, or with a no-treatment variant of ``experiments``, and
    that offered nothing."""
    holdout = (frame["experiment"] == GLOBAL_HOLDOUT_NAME).to_numpy()
    no_treatment = {
        (e.name, v.name) for e in experiments for v in e.variants if v.treatment is None
    }
    if no_treatment:
        pairs = zip(frame["experiment"], frame["variant"], strict=True)
        holdout = holdout | np.array([p in no_treatment for p in pairs], dtype=bool)
    return np.asarray(holdout & frame["offer_id"].isna().to_numpy(), dtype=bool)


def count_within(
    frame: pd.DataFrame,
    outcomes: pd.DataFrame,
    kind: str,
    days: float,
    as_of: dt.datetime,
    product: NDArray[np.object_] | None = None,
) -> F64:
    """Per row of ``frame`` (``customer_id, ts``): how many ``kind`` outcomes
    of the customer fall in ``[day of ts, min(ts + days, as_of)]``; with
    ``product`` (shape (n,)), only outcomes of the row's product. Outcomes of
    day resolution (account dates) count from the decision's day.

    Examples
    --------
    >>> import pandas as pd, datetime as dt
    >>> f = pd.DataFrame({"customer_id": ["a", "b"],
    ...                   "ts": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 00:00"])})
    >>> o = pd.DataFrame({"customer_id": ["a", "a", "b"], "outcome": "complaint",
    ...                   "ts": pd.to_datetime(["2026-01-06", "2026-03-01", "2026-01-01"]),
    ...                   "product": None})
    >>> count_within(f, o, "complaint", 30, dt.datetime(2026, 6, 1)).tolist()
    [1.0, 0.0]
    """
    out = np.zeros(len(frame))
    o = outcomes[outcomes["outcome"] == kind]
    if o.empty or frame.empty:
        return out
    left = pd.DataFrame(
        {
            "row": np.arange(len(frame)),
            "customer_id": frame["customer_id"].to_numpy(),
            "ts": pd.to_datetime(frame["ts"]).to_numpy(),
        }
    )
    if product is not None:
        left["product"] = product
        m = left.merge(
            o[["customer_id", "ts", "product"]],
            on=["customer_id", "product"],
            suffixes=("", "_o"),
        )
    else:
        m = left.merge(o[["customer_id", "ts"]], on="customer_id", suffixes=("", "_o"))
    if m.empty:
        return out
    ts = m["ts"].to_numpy(dtype="datetime64[ns]")
    ts_o = m["ts_o"].to_numpy(dtype="datetime64[ns]")
    end = np.minimum(
        ts + np.timedelta64(round(days * 86_400e9), "ns"), np.datetime64(as_of, "ns")
    )
    inside = (ts_o >= ts.astype("datetime64[D]")) & (ts_o <= end)
    counts = m[inside].groupby("row").size()
    out[counts.index.to_numpy()] = counts.to_numpy(np.float64)
    return out


def resolve_segments(
    scores: pd.DataFrame, segments: Sequence[str], sources: Sequence[str]
) -> NDArray[np.object_]:
    """Vectorised :func:`nbo_engine.decisioning.context.resolve_segment`: per
    row of ``scores``, the first of the ``sources`` columns whose value is one
    of ``segments``, else ``cluster`` (None when missing)."""
    n = len(scores)
    out = np.full(n, None, dtype=object)
    todo = np.ones(n, dtype=bool)
    wanted = np.asarray(list(segments), dtype=str)
    if wanted.size:
        for col in sources:
            v = scores[col].to_numpy(dtype=object)
            hit = todo & pd.notna(v) & np.isin(v.astype(str), wanted)
            out[hit] = v[hit]
            todo &= ~hit
    cluster = scores["cluster"].to_numpy(dtype=object)
    out[todo] = cluster[todo]
    return np.array([None if pd.isna(s) else str(s) for s in out], dtype=object)


def offer_usage(
    frame: pd.DataFrame,
    eligible: Sequence[Sequence[str]],
    accepted: NDArray[np.bool_],
    spec: PolicySpec,
    since: dt.datetime,
    until: dt.datetime,
) -> tuple[OfferUsage, ...]:
    """Per offer of ``spec``: eligible share of the unblocked decisions per
    7-day week from ``since`` (the last week ending at ``until`` is "now", the
    peak is the best week), and first-rank shows and acceptances ("now" vs
    the weeks before). ``eligible`` holds each row's logged eligible offers,
    ``accepted`` (n,) whether its first-ranked offer was accepted."""
    if frame.empty:
        return ()
    week = (
        (pd.to_datetime(frame["ts"]) - pd.Timestamp(since)) // pd.Timedelta(days=7)
    ).to_numpy(np.int64)
    last = int((pd.Timestamp(until) - pd.Timestamp(since)) // pd.Timedelta(days=7)) - 1
    unblocked = np.array([len(e) > 0 for e in eligible], dtype=bool)
    offered = frame["offer_id"].to_numpy(dtype=object)
    now = week == last
    out = []
    for o in spec.offers:
        has = np.array([o.id in e for e in eligible], dtype=bool)
        shares = [
            float(has[unblocked & (week == w)].mean())
            for w in range(last + 1)
            if (unblocked & (week == w)).any()
        ]
        now_rows = unblocked & now
        shown = offered == o.id
        out.append(
            OfferUsage(
                offer=o.id,
                eligible_share_now=float(has[now_rows].mean())
                if now_rows.any()
                else 0.0,
                eligible_share_peak=max(shares) if shares else 0.0,
                decisions_now=int(now_rows.sum()),
                shown_before=int((shown & ~now).sum()),
                accepted_before=int((shown & ~now & accepted).sum()),
                shown_now=int((shown & now).sum()),
                accepted_now=int((shown & now & accepted).sum()),
            )
        )
    return tuple(out)
