"""The bandit's learning, week by week, from the decision log and the events.

For each week of decisions: how many offers were made, the share accepted
(an ``accept`` or ``conversion`` event on that decision and offer, as of the
report), the value those events reported, and how sure the policy was of its
first choice. With ``p`` the logged probability of the first-ranked offer,
``E[-log p]`` over decisions is the mean entropy of the policy's choice
distribution (the expectation of ``-log pi(a)`` under ``a ~ pi`` is the
entropy of ``pi``), estimated without knowing the other offers'
probabilities; it falls as the bandit becomes sure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from nbo_engine.reports.evidence import BanditLearning, Missing

__all__ = ["EXPLORE_BELOW", "bandit_learning", "week_of"]

#: A first choice made with a probability below this counts as exploration.
EXPLORE_BELOW = 0.95


def week_of(ts: pd.Series) -> pd.Series:
    """The Monday (a Timestamp at midnight) of each time."""
    t = pd.to_datetime(ts)
    return (t - pd.to_timedelta(t.dt.weekday, unit="D")).dt.normalize()


def bandit_learning(
    decisions: pd.DataFrame,
    events: pd.DataFrame,
    *,
    week: pd.Timestamp,
    offer_names: Mapping[str, str],
    rewards_folded: int | None = None,
) -> BanditLearning | Missing:
    """Weekly acceptance, value and choice entropy, and this week's offer mix.

    Parameters
    ----------
    decisions : DataFrame
        Live decision rows of the treated arm (holdouts excluded) over the
        weeks to show: ``decision_id, ts, rank, offer_id, propensity`` (one row
        per chosen offer; decisions that offered nothing have ``offer_id``
        null).
    events : DataFrame
        ``decision_id, offer_id, value`` of accept/conversion events.
    week : Timestamp
        Monday of the report's week (the offer mix is of this week, compared
        with the one before).
    offer_names : mapping
        offer id -> display name.
    rewards_folded : int, optional
        Rewards folded into the live bandit so far.

    Returns
    -------
    BanditLearning, or Missing when no decision was logged in the weeks shown.
    """
    if decisions.empty:
        return Missing("no live decision was logged in the weeks shown")
    d = decisions.assign(week=week_of(decisions["ts"]))
    offered = d[d["offer_id"].notna()]
    took = (
        events.assign(value=pd.to_numeric(events["value"], errors="coerce"))
        .groupby(["decision_id", "offer_id"], sort=False)["value"]
        .max()
        .fillna(0.0)
        .rename("event_value")
        .reset_index()
    )
    offered = offered.merge(took, on=["decision_id", "offer_id"], how="left")
    offered = offered.assign(
        accepted=offered["event_value"].notna().astype(np.int64),
        event_value=offered["event_value"].fillna(0.0),
    )
    first = offered[offered["rank"] == 1]
    p = first["propensity"].clip(lower=1e-12, upper=1.0).astype(np.float64)
    first = first.assign(nll=-np.log(p), explore=(p < EXPLORE_BELOW).astype(float))
    weekly = pd.DataFrame({"decisions": d.groupby("week")["decision_id"].nunique()})
    by = offered.groupby("week")
    weekly["offered"] = by.size()
    weekly["accepted"] = by["accepted"].sum()
    weekly["value"] = by["event_value"].sum()
    weekly["entropy"] = first.groupby("week")["nll"].mean()
    weekly["explore_share"] = first.groupby("week")["explore"].mean()
    weekly = weekly.fillna({"offered": 0, "accepted": 0, "value": 0.0})
    weekly["offered"] = weekly["offered"].astype(np.int64)
    weekly["accepted"] = weekly["accepted"].astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        weekly["accept_rate"] = weekly["accepted"] / weekly["offered"].where(
            weekly["offered"] > 0
        )
        weekly["value_per_offer"] = weekly["value"] / weekly["offered"].where(
            weekly["offered"] > 0
        )
    weekly = weekly.reset_index()
    weekly["week"] = weekly["week"].dt.date
    weekly = weekly[
        [
            "week",
            "decisions",
            "offered",
            "accepted",
            "accept_rate",
            "value",
            "value_per_offer",
            "entropy",
            "explore_share",
        ]
    ]
    return BanditLearning(
        weekly=weekly,
        offer_mix=_offer_mix(offered, week, offer_names),
        rewards_folded=rewards_folded,
    )


def _offer_mix(
    offered: pd.DataFrame, week: pd.Timestamp, offer_names: Mapping[str, str]
) -> pd.DataFrame:
    now = offered[offered["week"] == week]
    before = offered[offered["week"] == week - pd.Timedelta(days=7)]
    mix = now.groupby("offer_id").agg(
        offered=("offer_id", "size"), accepted=("accepted", "sum")
    )
    prev = before.groupby("offer_id").size()
    offers = sorted(set(mix.index) | set(prev.index))
    mix = mix.reindex(offers).fillna(0).astype(np.int64)
    total, total_prev = max(int(mix["offered"].sum()), 1), max(int(prev.sum()), 1)
    out = pd.DataFrame(
        {
            "offer": offers,
            "offer_name": [offer_names.get(o, o) for o in offers],
            "offered": mix["offered"].to_numpy(),
            "share": mix["offered"].to_numpy() / total,
            "accepted": mix["accepted"].to_numpy(),
            "accept_rate": np.divide(
                mix["accepted"].to_numpy(np.float64),
                mix["offered"].to_numpy(np.float64),
                out=np.full(len(offers), np.nan),
                where=mix["offered"].to_numpy() > 0,
            ),
            "share_before": prev.reindex(offers).fillna(0).to_numpy() / total_prev,
        }
    )
    return out.sort_values("offered", ascending=False, kind="stable").reset_index(
        drop=True
    )
