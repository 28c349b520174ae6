"""The customer profile: one row of features per customer, as of a date.

Pure: a mapping of input tables (pandas frames with the data contract's columns,
dates as ``datetime64``) in, a frame out. Only data dated on or before ``as_of``
is used (``as_of`` is a date; its whole day counts), so the same call reproduces
yesterday's profile from today's store, and the batch function runs unchanged on
a chunk of customers or on Dask partitions.

Feature groups (column prefixes): demographics and life stage; holdings
(``held_``); balances and their trend (``bal_``); recency, frequency and monetary
value over 30/90/365 days (``rfm_``); automated aggregates by category, channel
and window (``tx_``, ``dig_``; see :mod:`nbo_engine.features.auto`); channel
preference (``chan_``); digital engagement; service sentiment and complaints
(``svc_``); bureau (``bureau_``); household (``hh_``); sensitivity to the market
(``mkt_``); campaign history (``cmp_``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from nbo_engine.errors import DataValidationError
from nbo_engine.features.aggregate import Grouped, codes_for
from nbo_engine.features.auto import aggregate_events
from nbo_engine.features.lifestage import LIFE_STAGES, life_stage_of
from nbo_engine.features.sentiment import score_notes
from nbo_engine.ingest.schemas import INCOME_BANDS, OCCUPATIONS, PRODUCTS

__all__ = ["CATEGORICAL", "build_features", "cutoff_of"]

Out = dict[str, Any]

#: Non-numeric profile columns (everything else is float).
CATEGORICAL = ("life_stage", "household_id")
WINDOWS = (30, 90, 365)
_DAY = np.timedelta64(1, "D")


def as_datetime(col: pd.Series) -> pd.Series:
    """The column as ``datetime64`` (no work when it already is one)."""
    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    return pd.to_datetime(col, format="ISO8601")


@dataclass(frozen=True)
class Events:
    """An event table cut at the profile date, with per-row customer codes and
    ages in days (computed once, shared by every feature group)."""

    frame: pd.DataFrame
    codes: NDArray[np.int64]
    age: NDArray[np.float64]
    grouped: Grouped

    @classmethod
    def of(
        cls, frame: pd.DataFrame, time_col: str, index: pd.Index, cut: pd.Timestamp
    ) -> Events:
        when = as_datetime(frame[time_col])
        keep = (when < cut).to_numpy()
        f = frame[keep] if not keep.all() else frame
        codes = codes_for(index, f["customer_id"])
        age = _in_days(cut - when[keep])
        return cls(f, codes, age, Grouped(codes, len(index)))


def _in_days(delta: Any) -> NDArray[np.float64]:
    """Timedeltas (Series or array) as float days."""
    return (
        np.asarray(
            pd.to_timedelta(delta).to_numpy(dtype="timedelta64[us]"), dtype=np.int64
        )
        / 86_400e6
    )


def cutoff_of(as_of: pd.Timestamp | str | dt.date) -> pd.Timestamp:
    """The exclusive end of ``as_of``'s day: data strictly before it is used."""
    return pd.Timestamp(as_of).normalize() + pd.Timedelta(days=1)


def _require(
    tables: Mapping[str, pd.DataFrame], name: str, cols: tuple[str, ...]
) -> pd.DataFrame:
    if name not in tables:
        raise DataValidationError(
            f"build_features: table '{name}' is missing; "
            f"got {', '.join(sorted(tables))}"
        )
    frame = tables[name]
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"build_features: table '{name}' lacks column(s) {', '.join(missing)}"
        )
    return frame


def _days_before(cut: pd.Timestamp, when: pd.Series) -> NDArray[np.float64]:
    return _in_days(cut - as_datetime(when))


def build_features(
    tables: Mapping[str, pd.DataFrame], as_of: pd.Timestamp | str | dt.date
) -> pd.DataFrame:
    """Profile of every customer who had joined by ``as_of``.

    Parameters
    ----------
    tables : frames keyed by entity name. ``customers`` is required; the others
        (``accounts``, ``balances``, ``transactions``, ``digital_events``,
        ``interactions``, ``bureau``, ``campaign_history``, ``market``) add their
        feature groups when present. ``interactions`` may carry a ``sentiment``
        column (VADER compound, -1..1); without it the notes are scored here.
    as_of : the profile date (inclusive).

    Returns
    -------
    DataFrame indexed by ``customer_id`` (sorted): float features plus the categorical
    columns in :data:`CATEGORICAL`. Amounts are in currency units, durations
    in days.

    Examples
    --------
    >>> import pandas as pd
    >>> customers = pd.DataFrame({
    ...     "customer_id": ["C1"], "birth_date": [pd.Timestamp("1990-05-01")],
    ...     "join_date": [pd.Timestamp("2020-01-01")], "dependants": [0],
    ...     "occupation": ["employed"], "income_band": ["40-70k"],
    ...     "marketing_consent": [True], "do_not_contact": [False],
    ...     "household_id": ["HH-C1"]})
    >>> f = build_features({"customers": customers}, "2025-01-01")
    >>> round(float(f.loc["C1", "age"]), 1), f.loc["C1", "life_stage"]
    (34.7, 'young_adult')
    """
    cut = cutoff_of(as_of)
    cust = _require(tables, "customers", ("customer_id", "birth_date", "join_date"))
    cust = cust[as_datetime(cust["join_date"]) < cut].drop_duplicates("customer_id")
    # Rows in customer id order whatever order the store returned them in, so
    # models trained on the profile are reproducible.
    cust = cust.assign(customer_id=cust["customer_id"].astype(str)).sort_values(
        "customer_id", kind="stable"
    )
    index = pd.Index(cust["customer_id"].astype(str), name="customer_id")
    n = len(index)
    out: Out = {}

    # ---------------------------------------------------------------- demographics
    age = _days_before(cut, cust["birth_date"]) / 365.25
    out["age"] = age
    out["tenure_days"] = _days_before(cut, cust["join_date"])
    dep = (
        pd.to_numeric(cust["dependants"], errors="coerce").to_numpy(np.float64)
        if "dependants" in cust
        else np.full(n, np.nan)
    )
    out["dependants"] = dep
    income = cust["income_band"] if "income_band" in cust else pd.Series([None] * n)
    out["income_level"] = (
        pd.Series(income.to_numpy())
        .map({b: i for i, b in enumerate(INCOME_BANDS)})
        .to_numpy(np.float64)
    )
    occupation = (
        cust["occupation"].to_numpy(dtype=object)
        if "occupation" in cust
        else np.full(n, None, dtype=object)
    )
    for occ in OCCUPATIONS:
        out[f"occ_{occ}"] = (occupation == occ).astype(np.float64)
    for flag in ("marketing_consent", "do_not_contact"):
        if flag in cust:
            out[flag] = cust[flag].fillna(False).astype(bool).to_numpy(np.float64)
    stage = life_stage_of(age, dep, occupation == "student")
    out["life_stage"] = np.asarray(LIFE_STAGES, dtype=object)[stage]
    for i, name in enumerate(LIFE_STAGES):
        out[f"ls_{name}"] = (stage == i).astype(np.float64)
    household = (
        cust["household_id"].fillna("HH-" + cust["customer_id"].astype(str))
        if "household_id" in cust
        else "HH-" + cust["customer_id"].astype(str)
    )
    out["household_id"] = household.to_numpy(dtype=object)

    accounts = tables.get("accounts")
    held = np.zeros((n, len(PRODUCTS)))
    if accounts is not None and len(accounts):
        held = _holdings(out, accounts, index, cut)
    _balances(out, tables.get("balances"), accounts, index, cut)
    raw_tx = tables.get("transactions")
    tx = Events.of(raw_tx, "timestamp", index, cut) if raw_tx is not None else None
    if tx is not None:
        _rfm(out, tx)
        out.update(
            aggregate_events(
                tx.frame, tx.codes, tx.age, len(index), kind="transactions"
            )
        )
        _market_sensitivity(out, tx, tables.get("market"), len(index), cut)
    raw_dig = tables.get("digital_events")
    dig = Events.of(raw_dig, "timestamp", index, cut) if raw_dig is not None else None
    if dig is not None:
        _digital(out, dig)
        out.update(
            aggregate_events(
                dig.frame, dig.codes, dig.age, len(index), kind="digital_events"
            )
        )
    _service(out, tables.get("interactions"), dig, index, cut)
    _bureau(out, tables.get("bureau"), index, cut)
    _campaigns(out, tables.get("campaign_history"), index, cut)
    _household(out, held, index)

    frame = pd.DataFrame(out, index=index)
    numeric = [c for c in frame.columns if c not in CATEGORICAL]
    frame[numeric] = frame[numeric].astype(np.float64)
    return frame


# ---------------------------------------------------------------------- groups


def _holdings(
    out: Out,
    accounts: pd.DataFrame,
    index: pd.Index,
    cut: pd.Timestamp,
) -> NDArray[np.float64]:
    acc = accounts[as_datetime(accounts["open_date"]) < cut]
    close = as_datetime(acc["close_date"])
    is_open = (close.isna() | (close >= cut)).to_numpy()
    codes = codes_for(index, acc["customer_id"])
    g = Grouped(codes, len(index))
    product = acc["product"].to_numpy(dtype=object)
    held = np.zeros((len(index), len(PRODUCTS)))
    for j, p in enumerate(PRODUCTS):
        held[:, j] = g.count(is_open & (product == p)) > 0
        out[f"held_{p}"] = held[:, j]
    out["n_products"] = held.sum(axis=1)
    opened = _days_before(cut, acc["open_date"])
    out["days_since_open"] = g.min(opened)
    closed_days = _days_before(cut, close.fillna(cut))
    out["closed_365"] = g.count(~is_open & (closed_days <= 365))
    out["joint_accounts"] = g.count(
        is_open & acc["joint_customer_id"].notna().to_numpy()
    )
    limit = pd.to_numeric(acc["credit_limit"], errors="coerce").to_numpy(np.float64)
    out["credit_limit"] = g.sum(np.nan_to_num(limit), is_open)
    return held


def _balances(
    out: Out,
    balances: pd.DataFrame | None,
    accounts: pd.DataFrame | None,
    index: pd.Index,
    cut: pd.Timestamp,
) -> None:
    n = len(index)
    groups = {
        "deposits": ("current", "savings", "investment"),
        "debt": ("credit_card", "personal_loan", "mortgage"),
    }
    if balances is None or accounts is None or not len(balances):
        for p in PRODUCTS:
            out[f"bal_{p}"] = np.zeros(n)
        for gname in groups:
            out[f"bal_{gname}"] = np.zeros(n)
            out[f"bal_{gname}_trend"] = np.full(n, np.nan)
        return
    b = balances[as_datetime(balances["month_end"]) < cut]
    owner = accounts.drop_duplicates("account_id").set_index("account_id")
    joined = b.join(owner[["customer_id", "product"]], on="account_id", how="inner")
    months = as_datetime(joined["month_end"]).dt.to_period("M")
    last = months.max() if len(months) else None
    codes = codes_for(index, joined["customer_id"])
    g = Grouped(codes, n)
    product = joined["product"].to_numpy(dtype=object)
    value = joined["balance"].to_numpy(np.float64)
    age_m = np.zeros(len(joined)) if last is None else _period_diff(last, months)
    latest = age_m == 0
    for p in PRODUCTS:
        out[f"bal_{p}"] = g.sum(value, latest & (product == p))
    for gname, members in groups.items():
        in_group = np.isin(product, members)
        out[f"bal_{gname}"] = g.sum(value, latest & in_group)
        # Trend: slope per month of the group's total over the last 6 month-ends,
        # relative to the mean level (fraction per month).
        recent = in_group & (age_m < 6)
        key = codes.astype(np.int64) * 6 + np.clip(age_m, 0, 5).astype(np.int64)
        ok = (codes >= 0) & recent
        totals = np.bincount(key[ok], weights=value[ok], minlength=n * 6).reshape(n, 6)
        present = np.bincount(key[ok], minlength=n * 6).reshape(n, 6) > 0
        x = -np.arange(6, dtype=np.float64)  # 0 = latest, -5 = five months before
        w = present.astype(np.float64)
        cnt = w.sum(axis=1)
        mx = (w * x).sum(axis=1) / np.maximum(cnt, 1)
        my = (w * totals).sum(axis=1) / np.maximum(cnt, 1)
        sxy = (w * (x - mx[:, None]) * (totals - my[:, None])).sum(axis=1)
        sxx = (w * (x - mx[:, None]) ** 2).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(
                (cnt >= 3) & (sxx > 0), sxy / np.maximum(sxx, 1e-12), np.nan
            )
            out[f"bal_{gname}_trend"] = slope / np.maximum(np.abs(my), 100.0)


def _period_diff(last: pd.Period, months: pd.Series) -> NDArray[np.float64]:
    last_ord = last.year * 12 + last.month
    ords = months.dt.year.to_numpy() * 12 + months.dt.month.to_numpy()
    return (last_ord - ords).astype(np.float64)


def _rfm(out: Out, tx: Events) -> None:
    g, age = tx.grouped, tx.age
    amount = tx.frame["amount"].to_numpy(np.float64)
    out["rfm_recency_days"] = g.min(age)
    out["rfm_first_days"] = g.max(age)
    for w in WINDOWS:
        m = age <= w
        out[f"rfm_count_{w}"] = g.count(m)
        out[f"rfm_sum_{w}"] = g.sum(amount, m)
    out["rfm_mean_365"] = g.mean(amount, age <= 365)
    out["rfm_std_365"] = g.std(amount, age <= 365)
    prev = g.count((age > 90) & (age <= 180))
    out["rfm_count_trend"] = (out["rfm_count_90"] - prev) / np.maximum(
        out["rfm_count_90"] + prev, 1.0
    )
    # Mean days between purchases (a BG/NBD-style rate proxy).
    span = out["rfm_first_days"] - out["rfm_recency_days"]
    cnt = g.count()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rfm_interpurchase_days"] = np.where(
            cnt > 1, span / np.maximum(cnt - 1, 1), np.nan
        )


def _digital(out: Out, dig: Events) -> None:
    g, age, d = dig.grouped, dig.age, dig.frame
    etype = d["event_type"].to_numpy(dtype=object)
    login = etype == "login"
    out["dig_days_since_login"] = g.min(age, login)
    out["dig_logins_30"] = g.count(login & (age <= 30))
    out["dig_logins_90"] = g.count(login & (age <= 90))
    mobile = d["channel"].to_numpy(dtype=object) == "mobile"
    total = g.count(age <= 365)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["dig_mobile_share"] = np.where(
            total > 0, g.count(mobile & (age <= 365)) / np.maximum(total, 1), np.nan
        )
    product = d["product"].to_numpy(dtype=object)
    views = (etype == "product_view") & (age <= 30)
    for p in PRODUCTS[1:]:
        out[f"dig_views_{p}_30"] = g.count(views & (product == p))


def _service(
    out: Out,
    inter: pd.DataFrame | None,
    dig: Events | None,
    index: pd.Index,
    cut: pd.Timestamp,
) -> None:
    n = len(index)
    if inter is None:
        inter = pd.DataFrame(
            {
                "customer_id": [],
                "timestamp": pd.Series([], dtype="datetime64[ns]"),
                "channel": [],
                "reason": [],
                "note": [],
                "complaint": [],
            }
        )
    ev = Events.of(inter, "timestamp", index, cut)
    i, g, age = ev.frame, ev.grouped, ev.age
    year = age <= 365
    complaint = i["complaint"].fillna(False).astype(bool).to_numpy()
    if "sentiment" in i:
        sentiment = i["sentiment"].to_numpy(np.float64)
    else:
        sentiment = score_notes(i["note"].fillna("").astype(str).to_numpy(dtype=object))
    out["svc_interactions_365"] = g.count(year)
    out["svc_complaints_365"] = g.count(year & complaint)
    out["svc_complaints_90"] = g.count((age <= 90) & complaint)
    out["svc_days_since_complaint"] = g.min(age, complaint)
    out["svc_sentiment_365"] = g.mean(sentiment, year)
    out["svc_sentiment_min_90"] = g.min(sentiment, age <= 90)
    out["svc_negative_365"] = g.count(year & (sentiment < -0.3))
    channel = i["channel"].to_numpy(dtype=object)
    dig_count = np.zeros(n)
    if dig is not None:
        dig_count = dig.grouped.count(dig.age <= 365)
    branch = g.count(year & (channel == "branch"))
    call = g.count(year & (channel == "call_centre"))
    remote = g.count(year & np.isin(channel, ["chat", "email"]))
    total = branch + call + remote + dig_count
    with np.errstate(invalid="ignore", divide="ignore"):
        for name, value in (
            ("digital", dig_count + remote),
            ("branch", branch),
            ("call_centre", call),
        ):
            out[f"chan_{name}_share"] = np.where(
                total > 0, value / np.maximum(total, 1), np.nan
            )


def _bureau(
    out: Out,
    bureau: pd.DataFrame | None,
    index: pd.Index,
    cut: pd.Timestamp,
) -> None:
    cols = (
        "credit_score",
        "total_debt",
        "open_trades",
        "delinquencies_12m",
        "utilisation",
    )
    n = len(index)
    if bureau is None or not len(bureau):
        for c in cols:
            out[f"bureau_{c}"] = np.full(n, np.nan)
        out["bureau_score_change"] = np.full(n, np.nan)
        return
    b = bureau[as_datetime(bureau["as_of"]) < cut].sort_values(["customer_id", "as_of"])
    last = b.drop_duplicates("customer_id", keep="last").set_index("customer_id")
    prev = (
        b[b.duplicated("customer_id", keep="last")]
        .drop_duplicates("customer_id", keep="last")
        .set_index("customer_id")
    )
    for c in cols:
        out[f"bureau_{c}"] = last[c].reindex(index).to_numpy(np.float64)
    out["bureau_score_change"] = (
        last["credit_score"].reindex(index) - prev["credit_score"].reindex(index)
    ).to_numpy(np.float64)


def _campaigns(
    out: Out,
    cmp: pd.DataFrame | None,
    index: pd.Index,
    cut: pd.Timestamp,
) -> None:
    n = len(index)
    if cmp is None or not len(cmp):
        for name in ("contacts_365", "responses_365", "conversions_365"):
            out[f"cmp_{name}"] = np.zeros(n)
        out["cmp_days_since_contact"] = np.full(n, np.nan)
        return
    c = cmp[as_datetime(cmp["contact_date"]) < cut]
    g = Grouped(codes_for(index, c["customer_id"]), n)
    treated = c["treated"].fillna(False).astype(bool).to_numpy()
    age = _days_before(cut, c["contact_date"])
    year = treated & (age <= 365)
    conv_date = as_datetime(c["conversion_date"])
    converted = (
        c["converted"].fillna(False).astype(bool)
        & conv_date.notna()
        & (conv_date < cut)
    ).to_numpy()
    out["cmp_contacts_365"] = g.count(year)
    out["cmp_responses_365"] = g.count(
        year & c["responded"].fillna(False).astype(bool).to_numpy()
    )
    out["cmp_conversions_365"] = g.count(year & converted)
    out["cmp_days_since_contact"] = g.min(age, treated)


def _household(
    out: Out,
    held: NDArray[np.float64],
    index: pd.Index,
) -> None:
    hh = pd.Series(out["household_id"], index=index)
    codes, _ = pd.factorize(hh)
    size = np.bincount(codes)
    out["hh_size"] = size[codes].astype(np.float64)
    products = np.bincount(codes, weights=held.sum(axis=1))
    out["hh_products"] = products[codes]
    deposits = np.asarray(out.get("bal_deposits", np.zeros(len(index))), np.float64)
    out["hh_deposits"] = np.bincount(codes, weights=deposits)[codes]


def _market_sensitivity(
    out: Out,
    tx: Events,
    market: pd.DataFrame | None,
    n: int,
    cut: pd.Timestamp,
) -> None:
    """Slope of the customer's monthly spend on unemployment over the last 12
    months, relative to their mean monthly spend: how much a one-point rise in
    unemployment moves their spending (fraction)."""
    if market is None or not len(market):
        out["mkt_spend_unemployment"] = np.full(n, np.nan)
        return
    last_year = tx.age < 365.25
    month = np.clip((tx.age[last_year] / 30.44).astype(np.int64), 0, 11)
    codes = tx.codes[last_year]
    ok = codes >= 0
    amount = tx.frame["amount"].to_numpy(np.float64)[last_year]
    spend = np.bincount(
        codes[ok] * 12 + month[ok], weights=amount[ok], minlength=n * 12
    ).reshape(n, 12)
    week = as_datetime(market["week_start"])
    m_age = _in_days(cut - week)
    recent = (m_age > 0) & (m_age < 365.25)
    mm = np.clip((m_age[recent] / 30.44).astype(np.int64), 0, 11)
    u = np.bincount(
        mm,
        weights=market["unemployment_rate"].to_numpy(np.float64)[recent],
        minlength=12,
    )
    c = np.bincount(mm, minlength=12)
    if (c == 0).any():
        out["mkt_spend_unemployment"] = np.full(n, np.nan)
        return
    x = u / c - (u / c).mean()
    sxx = float(x @ x)
    level = spend.mean(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        beta = (spend - level[:, None]) @ x / max(sxx, 1e-12)
        out["mkt_spend_unemployment"] = np.where(level > 0, beta / level, np.nan)
