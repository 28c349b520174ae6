"""Randomised offer experiments on the simulated bank, with the true uplift.

Used by the uplift tests and benchmarks: observable customer features computed
from the input files only (never the latent truth), offers randomised to
customers with a known propensity, and outcomes drawn from the world's true
probabilities (:meth:`nbo_engine.simulate.World.probabilities`). Pure: frames
and a world in, a frame out.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
import pandas as pd

from nbo_engine.errors import DataValidationError
from nbo_engine.simulate import World, relationship_value

__all__ = ["INCOME_BANDS", "observable_features", "randomised_offers"]

INCOME_BANDS: tuple[str, ...] = ("<20k", "20-40k", "40-70k", "70-100k", "100k+")
PRODUCTS_SOLD: tuple[str, ...] = (
    "current",
    "savings",
    "credit_card",
    "personal_loan",
    "mortgage",
    "investment",
    "insurance",
)
Outcome = Literal["convert", "churn", "value"]


def _days_before(ts: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    return (as_of - pd.to_datetime(ts)).dt.days


def observable_features(
    frames: Mapping[str, pd.DataFrame], as_of: dt.date
) -> pd.DataFrame:
    """One row per customer of what a bank can see on ``as_of``.

    Parameters
    ----------
    frames : mapping of str to DataFrame
        The input files as read (``customers``, ``accounts``, ``transactions``,
        ``digital_events``, ``interactions``, ``bureau``), columns as in
        ``docs/data-contract.md``.
    as_of : datetime.date
        The observation date (the end of the simulated history).

    Returns
    -------
    DataFrame
        Indexed by ``customer_id``: age and tenure (years), income band
        (ordinal 0-4, NaN when not declared), occupation and marital status
        (text), dependants, products held (one 0/1 column per product and a
        count), card spend and transaction count over 13 and 52 weeks
        (currency, count), days since the last transaction, digital logins over
        13 weeks and the mobile share, service contacts over 52 weeks,
        complaints over 13 weeks, and the latest bureau score and utilisation.
    """
    now = pd.Timestamp(as_of)
    c = frames["customers"].drop_duplicates("customer_id").set_index("customer_id")
    out = pd.DataFrame(index=c.index)
    out["age"] = _days_before(c["birth_date"], now) / 365.25
    out["tenure_years"] = _days_before(c["join_date"], now) / 365.25
    band = pd.Categorical(c["income_band"], categories=list(INCOME_BANDS))
    out["income_band"] = np.where(band.codes >= 0, band.codes, np.nan)
    out["occupation"] = c["occupation"].astype("string")
    out["marital_status"] = c["marital_status"].astype("string")
    out["dependants"] = pd.to_numeric(c["dependants"], errors="coerce")

    a = frames["accounts"]
    open_ = a[a["close_date"].isna()]
    held = (
        pd.crosstab(open_["customer_id"], open_["product"])
        .reindex(index=out.index, columns=list(PRODUCTS_SOLD), fill_value=0)
        .clip(upper=1)
    )
    for p in PRODUCTS_SOLD:
        out[f"has_{p}"] = held[p].to_numpy(dtype=np.float64)
    out["products_held"] = held.sum(axis=1).to_numpy(dtype=np.float64)

    tx = frames["transactions"]
    age_days = _days_before(tx["timestamp"], now)
    for weeks in (13, 52):
        recent = tx[age_days.to_numpy() <= 7 * weeks]
        g = recent.groupby("customer_id")["amount"]
        out[f"txn_count_{weeks}w"] = g.size().reindex(out.index, fill_value=0)
        out[f"spend_{weeks}w"] = g.sum().reindex(out.index, fill_value=0.0)
    last = age_days.groupby(tx["customer_id"]).min()
    out["days_since_txn"] = last.reindex(out.index)

    ev = frames["digital_events"]
    logins = ev[
        (ev["event_type"] == "login")
        & (_days_before(ev["timestamp"], now).to_numpy() <= 91)
    ]
    g = logins.groupby("customer_id")["channel"]
    out["logins_13w"] = g.size().reindex(out.index, fill_value=0)
    out["mobile_share"] = (
        (logins["channel"] == "mobile").groupby(logins["customer_id"]).mean()
    ).reindex(out.index)

    it = frames["interactions"]
    it_days = _days_before(it["timestamp"], now).to_numpy()
    out["contacts_52w"] = (
        it[it_days <= 364]
        .groupby("customer_id")
        .size()
        .reindex(out.index, fill_value=0)
    )
    complaint = it["complaint"].astype(str).str.lower().isin(["true", "1"])
    out["complaints_13w"] = (
        it[complaint.to_numpy() & (it_days <= 91)]
        .groupby("customer_id")
        .size()
        .reindex(out.index, fill_value=0)
    )

    b = (
        frames["bureau"]
        .sort_values("as_of")
        .drop_duplicates("customer_id", keep="last")
    )
    b = b.set_index("customer_id")
    out["credit_score"] = b["credit_score"].reindex(out.index)
    out["utilisation"] = b["utilisation"].reindex(out.index)
    return out


def randomised_offers(
    world: World,
    features: pd.DataFrame,
    offers: Sequence[str],
    rng: np.random.Generator,
    *,
    outcome: Outcome = "convert",
    propensity: float = 0.5,
    rows: int | None = None,
    week: int = 0,
) -> pd.DataFrame:
    """A randomised experiment: each row is one customer and one offer.

    Each row draws a customer (all of them once when ``rows`` is None, else
    with replacement), one offer uniformly from ``offers`` and treatment with
    probability ``propensity``; the outcome is drawn from the world's true
    probabilities for the arm the row is in.

    Parameters
    ----------
    outcome : {"convert", "churn", "value"}
        30-day conversion (0/1), 13-week churn (0/1) or realised value to the
        bank (currency: margin if converted, minus the offer's cost if treated,
        minus the relationship value if churned).

    Returns
    -------
    DataFrame
        The feature columns, ``offer`` (text; constant when one offer),
        ``treatment`` (0/1), ``outcome``, ``propensity``, ``true_uplift``
        (of ``outcome``) and ``customer_id``.
    """
    if not 0.0 < propensity < 1.0:
        raise DataValidationError(
            f"propensity: got {propensity!r}, expected a probability in (0, 1)"
        )
    if not offers:
        raise DataValidationError("offers: got none, expected at least one offer id")
    ids = features.index.to_numpy(dtype=str)
    if rows is None:
        pick = rng.permutation(ids.size)
    else:
        pick = rng.integers(0, ids.size, rows)
    n = pick.size
    cust = ids[pick]
    offer = np.asarray(offers, dtype=str)[rng.integers(0, len(offers), n)]
    t = (rng.random(n) < propensity).astype(np.int64)
    p = world.probabilities(cust, offer, week)
    conv = rng.random(n) < np.where(t == 1, p.p_convert_treated, p.p_convert_control)
    churn = rng.random(n) < np.where(t == 1, p.p_churn_treated, p.p_churn_control)
    if outcome == "convert":
        y, tau = conv.astype(np.float64), p.uplift_convert
    elif outcome == "churn":
        y, tau = churn.astype(np.float64), p.uplift_churn
    elif outcome == "value":
        pos = world.offer_positions(offer)
        margin = np.array([o.margin for o in world.params.offers])[pos]
        cost = np.array([o.cost for o in world.params.offers])[pos]
        pos_c = world.positions(cust)
        lost = relationship_value(
            world.expected_spend[pos_c], world.held[pos_c].sum(axis=1)
        )
        y = margin * conv - cost * t - lost * churn
        tau = p.uplift_value
    else:
        raise DataValidationError(
            f"outcome: got {outcome!r}, expected one of convert, churn, value"
        )
    frame = features.iloc[pick].reset_index(drop=True)
    frame["offer"] = offer
    frame["treatment"] = t
    frame["outcome"] = y
    frame["propensity"] = propensity
    frame["true_uplift"] = tau
    frame["customer_id"] = cust
    return frame
