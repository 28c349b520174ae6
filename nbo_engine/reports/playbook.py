"""A playbook per segment: what works there, where it answers, whom to keep.

For each segment of the newest score snapshot: its size and mean CLV over the
recent snapshots (the trend), the offers with the best measured value uplift
there (:func:`nbo_engine.reports.measure.uplift_table`; significant ones
first), the channel on which its offers are accepted most, and the valuable
customers at risk of leaving (CLV at least the bank-wide ``clv_quantile``,
90-day churn score at least ``churn_threshold``) with the retention offers to
make them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.reports.evidence import Missing, Playbook, SegmentPlay, UpliftTable

__all__ = ["playbook"]


def playbook(
    trend: pd.DataFrame,
    customers: pd.DataFrame,
    uplift: UpliftTable | Missing,
    channels: pd.DataFrame,
    *,
    retention_offers: tuple[str, ...] = (),
    clv_quantile: float = 0.75,
    churn_threshold: float = 0.3,
    min_offered: int = 20,
    max_offers: int = 3,
) -> Playbook | Missing:
    """One :class:`SegmentPlay` per segment of the newest snapshot.

    Parameters
    ----------
    trend : DataFrame
        ``as_of, segment, customers, clv_mean, churn_mean`` per snapshot.
    customers : DataFrame
        The newest snapshot, one row per customer: ``segment, clv_12m,
        churn_90d``.
    uplift : UpliftTable or Missing
        Offer x segment uplift (the ``value`` metric ranks offers).
    channels : DataFrame
        ``segment, channel, offered, accepted`` over the measured window.
    retention_offers : tuple of str
        Offers meant to keep customers (suggested for the at-risk ones).
    clv_quantile, churn_threshold : float
        Who is valuable (CLV quantile over all customers) and at risk.
    min_offered : int
        Offers a channel must have made in a segment to be named.
    max_offers : int
        Offers listed per segment.

    Returns
    -------
    Playbook, or Missing when there is no score snapshot.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"as_of": [pd.Timestamp("2026-05-31").date()] * 2,
    ...     "segment": ["a", "b"], "customers": [3, 1], "clv_mean": [100.0, 50.0],
    ...     "churn_mean": [0.1, 0.5]})
    >>> c = pd.DataFrame({"segment": ["a", "a", "a", "b"],
    ...     "clv_12m": [10.0, 300.0, 50.0, 40.0], "churn_90d": [0.1, 0.6, 0.2, 0.9]})
    >>> ch = pd.DataFrame(columns=["segment", "channel", "offered", "accepted"])
    >>> from nbo_engine.reports.evidence import Missing
    >>> p = playbook(t, c, Missing("x"), ch)
    >>> [(s.segment, s.customers, s.at_risk) for s in p.segments]
    [('a', 3, 1), ('b', 1, 0)]
    """
    if not 0.0 < clv_quantile < 1.0:
        raise DataValidationError(
            f"clv_quantile: expected a quantile in (0, 1), got {clv_quantile!r}"
        )
    if trend.empty or customers.empty:
        return Missing("no score snapshot succeeded before the week ended")
    latest = max(trend["as_of"])
    now = trend[trend["as_of"] == latest].sort_values(
        ["customers", "segment"], ascending=[False, True], kind="stable"
    )
    clv = pd.to_numeric(customers["clv_12m"], errors="coerce")
    churn = pd.to_numeric(customers["churn_90d"], errors="coerce")
    clv_cut = float(np.nanquantile(clv, clv_quantile)) if clv.notna().any() else np.inf
    risky = (clv >= clv_cut) & (churn >= churn_threshold)
    at_risk = risky.groupby(customers["segment"]).sum()
    at_risk_clv = clv.where(risky, 0.0).groupby(customers["segment"]).sum()
    total = float(now["customers"].sum())
    cells = (
        uplift.frame[uplift.frame["metric"] == "value"]
        if isinstance(uplift, UpliftTable)
        else pd.DataFrame(
            columns=[
                "segment",
                "offer",
                "offer_name",
                "effect",
                "ci_low",
                "ci_high",
                "helpful",
                "harmful",
            ]
        )
    )
    plays = []
    for row in now.itertuples(index=False):  # a handful of segments
        seg = str(row.segment)
        channel, rate, offered = _best_channel(
            channels[channels["segment"] == seg], min_offered
        )
        plays.append(
            SegmentPlay(
                segment=seg,
                customers=int(row.customers),
                share=float(row.customers) / total if total else 0.0,
                clv_mean=_float(row.clv_mean),
                churn_mean=_float(row.churn_mean),
                trend=trend.loc[
                    trend["segment"] == seg, ["as_of", "customers", "clv_mean"]
                ].reset_index(drop=True),
                offers=_best_offers(cells[cells["segment"] == seg], max_offers),
                channel=channel,
                channel_accept_rate=rate,
                channel_offered=offered,
                at_risk=int(at_risk.get(seg, 0)),
                at_risk_clv=float(at_risk_clv.get(seg, 0.0)),
                retention_offers=_retention(retention_offers, cells, seg),
            )
        )
    return Playbook(
        segments=tuple(plays),
        clv_threshold=clv_cut,
        churn_threshold=churn_threshold,
        as_of=latest,
    )


def _float(v: object) -> float | None:
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def _best_offers(cells: pd.DataFrame, k: int) -> pd.DataFrame:
    """Offers with a positive value uplift estimate, significant ones first,
    never a harmful one."""
    cols = ["offer", "offer_name", "effect", "ci_low", "ci_high", "significant"]
    good = cells[(cells["effect"] > 0) & ~cells["harmful"].astype(bool)]
    if good.empty:
        return pd.DataFrame(columns=cols)
    good = good.assign(significant=good["helpful"].astype(bool))
    good = good.sort_values(
        ["significant", "effect"], ascending=[False, False], kind="stable"
    )
    return good[cols].head(k).reset_index(drop=True)


def _best_channel(
    frame: pd.DataFrame, min_offered: int
) -> tuple[str | None, float | None, int]:
    """(channel, its acceptance rate, offers made there) with the highest
    acceptance among channels with at least ``min_offered`` offers."""
    per = frame.groupby("channel")[["offered", "accepted"]].sum()
    per = per[per["offered"] >= min_offered]
    if per.empty:
        return None, None, 0
    rate = per["accepted"] / per["offered"]
    best = str(rate.sort_values(ascending=False, kind="stable").index[0])
    return best, float(rate[best]), int(per["offered"][best])


def _retention(
    offers: tuple[str, ...], cells: pd.DataFrame, segment: str
) -> tuple[str, ...]:
    """Retention offers for a segment, those measured harmful there left out
    and the best measured first."""
    mine = cells[cells["segment"] == segment].set_index("offer")
    harmful = set(mine.index[mine["harmful"].astype(bool)]) if len(mine) else set()
    effect = mine["effect"] if len(mine) else pd.Series(dtype=float)
    ok = [o for o in offers if o not in harmful]
    return tuple(sorted(ok, key=lambda o: -float(effect.get(o, -np.inf))))
