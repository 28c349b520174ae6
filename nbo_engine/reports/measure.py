"""What the programme caused: the headline against the global holdout and the
uplift of each offer in each segment.

The headline compares all treated customers of the window with the holdout
(:mod:`nbo_engine.reports.units`): an intention-to-treat effect, randomised by
the holdout hash. Per offer x segment, the treated arm is the segment's
customers who were served the offer and the control arm the segment's holdout
customers, with the retune's value convention (``margin x took up the offer's
product - cost - churned x clv``; the control pays no cost). Within a segment
the bandit decides who gets which offer, so a cell mixes the offer's effect
with that selection; it is still the right test for harm (an offer that lowers
take-up or value where it is made).

Statistics come from sufficient statistics (:mod:`nbo_engine.experiments.stats`:
Welch for means, Wald for proportions); the cells' intervals are
false-coverage-rate adjusted across every cell
(:func:`nbo_engine.experiments.multiple.interval_alpha`, Benjamini & Yekutieli
2005), so a flagged cell is a discovery at false-discovery rate ``alpha``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from nbo_engine.experiments.multiple import benjamini_hochberg, interval_alpha
from nbo_engine.experiments.stats import (
    REASONS,
    Effect,
    mean_effect,
    proportion_effect,
)
from nbo_engine.experiments.sufficient import SampleStats
from nbo_engine.reports.evidence import Comparison, Headline, Missing, UpliftTable
from nbo_engine.reports.units import HOLDOUT, TREATED, OfferInfo, require

__all__ = ["headline", "uplift_table"]


def _stats(y: NDArray[np.float64], groups: NDArray[np.intp], k: int) -> SampleStats:
    """Per-group ``n, sum, sum_sq`` of ``y``, shape (k,) each."""
    return SampleStats(
        np.bincount(groups, minlength=k).astype(np.float64),
        np.bincount(groups, weights=y, minlength=k).astype(np.float64),
        np.bincount(groups, weights=y * y, minlength=k).astype(np.float64),
    )


def _effect(
    proportion: bool, control: SampleStats, treated: SampleStats, alpha: ArrayLike
) -> Effect:
    if proportion:
        return proportion_effect(control, treated, alpha)
    return mean_effect(control, treated, alpha)


def _compare(
    y: NDArray[np.float64], arm: NDArray[np.intp], alpha: float, proportion: bool
) -> Comparison:
    s = _stats(y, arm, 3)
    e = _effect(proportion, s.select(0), s.select(1), alpha)
    return Comparison(
        treated=float(s.mean[1]),
        holdout=float(s.mean[0]),
        effect=float(e.estimate),
        ci_low=float(e.ci_low),
        ci_high=float(e.ci_high),
        p_value=float(e.p_value),
    )


def headline(
    outcomes: pd.DataFrame,
    *,
    window: tuple[pd.Timestamp, pd.Timestamp],
    alpha: float = 0.05,
    currency: str = "GBP",
    outcome_source: str = "",
    attribution_days: int = 30,
) -> Headline | Missing:
    """The programme's incremental value per customer against the holdout.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`nbo_engine.reports.units.unit_outcomes` (``arm``,
        ``value``, ``converted``, ``churned``, ``complaints``).
    window : (start, end)
        The decisions measured (end exclusive).

    Returns
    -------
    Headline, or Missing when an arm has fewer than two customers or nothing
    at all was recorded after the window's decisions.

    Examples
    --------
    >>> import pandas as pd
    >>> o = pd.DataFrame({"arm": ["treated"] * 4 + ["holdout"] * 4,
    ...                   "converted": [1, 1, 0, 1, 0, 1, 0, 0],
    ...                   "value": [90.0, 80.0, 0.0, 100.0, 0.0, 90.0, 0.0, 0.0],
    ...                   "churned": 0.0, "complaints": 0.0})
    >>> w = (pd.Timestamp("2026-05-04"), pd.Timestamp("2026-06-01"))
    >>> h = headline(o, window=w)
    >>> round(h.value.effect, 2), h.n_treated, round(h.incremental_value, 1)
    (45.0, 4, 180.0)
    """
    require(
        outcomes, "outcomes", ["arm", "value", "converted", "churned", "complaints"]
    )
    arm = outcomes["arm"].to_numpy()
    n_t, n_h = int((arm == TREATED).sum()), int((arm == HOLDOUT).sum())
    if n_h < 2 or n_t < 2:
        return Missing(
            f"the window's decisions reached {n_t} treated and {n_h} global-holdout "
            "customers; at least two of each are needed (is the global holdout "
            "running?)"
        )
    recorded = outcomes[["converted", "churned", "complaints"]].to_numpy().any()
    if not recorded:
        return Missing(
            f"no take-up, churn or complaint was recorded for the {n_t + n_h} "
            f"customers decided for between {window[0].date()} and "
            f"{window[1].date()}: the holdout's outcomes must reach the store "
            "(accounts opened and closed, complaints) for the programme to be "
            "measured against it"
        )
    g = np.where(arm == HOLDOUT, 0, np.where(arm == TREATED, 1, 2)).astype(np.intp)

    def col(name: str) -> NDArray[np.float64]:
        return outcomes[name].to_numpy(np.float64)

    return Headline(
        window_start=window[0].date(),
        window_end=window[1].date(),
        n_treated=n_t,
        n_holdout=n_h,
        value=_compare(col("value"), g, alpha, proportion=False),
        conversion=_compare(col("converted"), g, alpha, proportion=True),
        churn=_compare(col("churned"), g, alpha, proportion=True),
        complaints=_compare(col("complaints"), g, alpha, proportion=False),
        alpha=alpha,
        currency=currency,
        outcome_source=outcome_source,
        attribution_days=attribution_days,
    )


def uplift_table(
    outcomes: pd.DataFrame,
    served: pd.DataFrame,
    offers: Mapping[str, OfferInfo],
    *,
    alpha: float = 0.05,
    min_units: int = 30,
) -> UpliftTable | Missing:
    """Uplift of each offer in each segment against the segment's holdout.

    Parameters
    ----------
    outcomes : DataFrame
        From :func:`nbo_engine.reports.units.unit_outcomes`.
    served : DataFrame
        ``customer_id, offer_id`` of the offers served in the window.
    offers : mapping
        offer id -> :class:`~nbo_engine.reports.units.OfferInfo`.
    min_units : int
        Cells with fewer units in an arm are shown but never flagged.

    Returns
    -------
    UpliftTable
        Metrics ``conversion`` (took up the offer's product, 0/1) and
        ``value`` (currency, see the module doc).
    Missing
        Without holdout customers, outcomes or offers served.
    """
    require(served, "served", ["customer_id", "offer_id"])
    hold = outcomes[outcomes["arm"] == HOLDOUT]
    if len(hold) < 2:
        return Missing(
            f"only {len(hold)} global-holdout customers were decided for in the "
            "window; each offer is compared with the holdout of its segment"
        )
    if not outcomes[["converted", "churned"]].to_numpy().any():
        return Missing(
            "no take-up or churn was recorded for the window's customers, so no "
            "offer's uplift can be measured"
        )
    treated = outcomes[outcomes["arm"] == TREATED]
    pairs = served.drop_duplicates(["customer_id", "offer_id"])
    segments = np.sort(outcomes["segment"].astype(str).unique())
    seg_index = {s: i for i, s in enumerate(segments)}
    k = len(segments)
    hold_g = hold["segment"].map(seg_index).to_numpy(np.intp)
    lost_c = (hold["churned"] * hold["clv"]).to_numpy(np.float64)
    rows: list[pd.DataFrame] = []
    parts: dict[str, list[tuple[SampleStats, SampleStats]]] = {
        "conversion": [],
        "value": [],
    }
    for offer in sorted(offers):  # a few arms; each vectorised over segments
        info = offers[offer]
        conv = f"conv:{info.product}"
        got = treated[
            treated["customer_id"].isin(
                pairs.loc[pairs["offer_id"] == offer, "customer_id"]
            )
        ]
        if got.empty or conv not in outcomes.columns:
            continue
        got_g = got["segment"].map(seg_index).to_numpy(np.intp)
        lost_t = (got["churned"] * got["clv"]).to_numpy(np.float64)
        y = {
            "conversion": (
                hold[conv].to_numpy(np.float64),
                got[conv].to_numpy(np.float64),
            ),
            "value": (
                info.margin * hold[conv].to_numpy(np.float64) - lost_c,
                info.margin * got[conv].to_numpy(np.float64) - info.cost - lost_t,
            ),
        }
        for metric, (yc, yt) in y.items():
            sc, st = _stats(yc, hold_g, k), _stats(yt, got_g, k)
            parts[metric].append((sc, st))
            rows.append(
                pd.DataFrame(
                    {
                        "offer": offer,
                        "offer_name": info.name,
                        "segment": segments,
                        "metric": metric,
                        "n_treated": st.n.astype(np.int64),
                        "n_control": sc.n.astype(np.int64),
                        "mean_treated": st.mean,
                        "mean_control": sc.mean,
                    }
                )
            )
    if not rows:
        return Missing("no offer was served to a treated customer in the window")
    frame = pd.concat(rows, ignore_index=True)
    masks = {m: (frame["metric"] == m).to_numpy() for m in parts}
    stats = {
        m: (_concat([a for a, _ in parts[m]]), _concat([b for _, b in parts[m]]))
        for m in parts
    }
    raw = np.ones(len(frame))
    reason = np.full(len(frame), "ok", dtype=object)
    for m, mask in masks.items():
        e = _effect(m == "conversion", *stats[m], alpha)
        raw[mask] = e.p_value
        reason[mask] = np.asarray(REASONS)[e.reason]
    enough = (
        (frame["n_treated"] >= min_units) & (frame["n_control"] >= min_units)
    ).to_numpy() & (reason == "ok")
    q = np.ones(len(frame))
    level = np.full(len(frame), alpha)
    if enough.any():
        q[enough] = benjamini_hochberg(raw[enough])
        level[enough] = interval_alpha(raw[enough], "bh", alpha)
    est, lo, hi = np.empty(len(frame)), np.empty(len(frame)), np.empty(len(frame))
    for m, mask in masks.items():
        e = _effect(m == "conversion", *stats[m], level[mask])
        est[mask], lo[mask], hi[mask] = e.estimate, e.ci_low, e.ci_high
    frame["effect"] = est
    frame["ci_low"] = lo
    frame["ci_high"] = hi
    frame["p_value"] = raw
    frame["q_value"] = q
    frame["harmful"] = enough & (hi < 0)
    frame["helpful"] = enough & (lo > 0)
    frame["note"] = np.where(
        reason != "ok", reason, np.where(enough, "", f"fewer than {min_units} units")
    )
    return UpliftTable(frame=frame, alpha=alpha, min_units=min_units)


def _concat(parts: list[SampleStats]) -> SampleStats:
    return SampleStats(
        np.concatenate([p.n for p in parts]),
        np.concatenate([p.sum for p in parts]),
        np.concatenate([p.sum_sq for p in parts]),
    )
