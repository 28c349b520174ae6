"""Households and customers: identities, demographics and latent traits.

Everything is drawn per chunk with numpy, vectorised over customers. Members of a
household are always drawn in the same chunk, so chunks are independent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from nbo_engine.features.lifestage import life_stage_of
from nbo_engine.ingest.schemas import INCOME_BANDS, MARITAL, OCCUPATIONS
from nbo_engine.simulate.names import (
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    STREET_TYPES,
    STREETS,
)
from nbo_engine.simulate.params import SegmentSpec

__all__ = ["Population", "draw_population"]

_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))
_DOMAINS = np.array(
    [
        "gmail.com",
        "outlook.com",
        "yahoo.co.uk",
        "hotmail.co.uk",
        "icloud.com",
        "btinternet.com",
    ]
)
_OCC = {name: i for i, name in enumerate(OCCUPATIONS)}
_MAR = {name: i for i, name in enumerate(MARITAL)}


@dataclass
class Population:
    """Per-customer arrays, all of length n (one chunk)."""

    index: NDArray[np.int64]  # global customer number
    household: NDArray[np.int64]  # global household number
    role: NDArray[np.int8]  # 0 head, 1 partner, 2 adult child
    segment: NDArray[np.int8]
    life_stage: NDArray[np.int8]
    age: NDArray[np.float64]  # years, at the end of the window
    birth_date: NDArray[np.datetime64]
    join_date: NDArray[np.datetime64]
    occupation: NDArray[np.int8]
    income_level: NDArray[np.int8]
    marital: NDArray[np.int8]
    dependants: NDArray[np.int8]
    first_name: NDArray[np.str_]
    last_name: NDArray[np.str_]
    address: NDArray[np.str_]
    city: NDArray[np.str_]
    postcode: NDArray[np.str_]
    email: NDArray[np.object_]  # str or None
    phone: NDArray[np.object_]
    consent: NDArray[np.bool_]
    do_not_contact: NDArray[np.bool_]
    logins_per_week: NDArray[np.float64]
    mobile_share: NDArray[np.float64]
    interactions_per_week: NDArray[np.float64]
    branch_share: NDArray[np.float64]
    mood: NDArray[np.float64]
    credit_quality: NDArray[np.float64]
    lam: NDArray[np.float64]  # BG/NBD purchase rate per week
    p_drop: NDArray[np.float64]  # BG/NBD dropout probability per repeat purchase
    nu: NDArray[np.float64]  # Gamma-Gamma rate; mean spend = p_gg / nu
    p_gg: NDArray[np.float64]

    @property
    def n(self) -> int:
        return int(self.index.size)

    @property
    def customer_id(self) -> NDArray[np.str_]:
        return customer_ids(self.index)


def customer_ids(index: NDArray[np.int64]) -> NDArray[np.str_]:
    """``C`` followed by the zero-padded customer number (one home for the format)."""
    return np.char.add("C", np.char.zfill(index.astype(str), 8))


def _household_sizes(rng: np.random.Generator, n: int) -> NDArray[np.int64]:
    sizes = rng.choice([1, 2, 3, 4], size=n, p=[0.5, 0.38, 0.09, 0.03])
    cut = int(np.searchsorted(np.cumsum(sizes), n))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(sizes.sum()) - n
    return sizes[sizes > 0]


def draw_population(
    rng: np.random.Generator,
    segments: tuple[SegmentSpec, ...],
    first_index: int,
    first_household: int,
    n: int,
    end_date: np.datetime64,
    window_weeks: int,
) -> Population:
    """Draw ``n`` customers in whole households, numbered from ``first_index``."""
    sizes = _household_sizes(rng, n)
    n_hh = sizes.size
    hh_local = np.repeat(np.arange(n_hh), sizes)
    role = (np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)).clip(0, 2)
    role = role.astype(np.int8)
    head_of = np.repeat(np.cumsum(sizes) - sizes, sizes)  # index of the household head

    shares = np.array([s.share for s in segments])
    shares = shares / shares.sum()
    seg = rng.choice(len(segments), size=n, p=shares).astype(np.int8)
    # Partners share the head's segment more often than chance.
    same = (role == 1) & (rng.random(n) < 0.6)
    seg[same] = seg[head_of[same]]

    spec = _segment_arrays(segments)
    age = rng.normal(spec["age_mean"][seg], spec["age_sd"][seg])
    partner = role == 1
    age[partner] = age[head_of[partner]] + rng.normal(0, 3.5, partner.sum())
    child = role == 2
    age[child] = rng.uniform(18, 25, child.sum())
    young_head = (role == 0) & (age < 20)
    age[young_head] = rng.uniform(20, 25, young_head.sum())
    # Reflect rather than clip, so no two people pile up on the same birthday.
    age = _fold(age, 18.2, 94.0)
    parent = (role == 0) & (sizes[hh_local] >= 3) & (age < 42)
    age[parent] = rng.uniform(42, 50, parent.sum())
    age[partner] = _fold(age[partner], 18.2, 94.0)

    # Occupation by age.
    u = rng.random(n)
    occ = np.full(n, _OCC["employed"], dtype=np.int8)
    occ[u < 0.12] = _OCC["self_employed"]
    unemployed_p = np.where(seg == 2, 0.12, 0.04)
    occ[(u >= 0.12) & (u < 0.12 + unemployed_p)] = _OCC["unemployed"]
    occ[(u > 0.93)] = _OCC["homemaker"]
    occ[(age < 25) & (rng.random(n) < 0.55)] = _OCC["student"]
    occ[(age >= 67) & (rng.random(n) < 0.92)] = _OCC["retired"]

    # Dependants: shared within a couple, only for ages that have children.
    dep = np.where(
        (age >= 24) & (age <= 56) & (rng.random(n) < 0.55),
        1 + rng.poisson(0.7, n),
        0,
    ).astype(np.int8)
    dep[partner] = dep[head_of[partner]]
    dep[child] = 0
    stage = life_stage_of(age, dep, occ == _OCC["student"])

    income_latent = (
        spec["income_shift"][seg]
        + 0.03 * np.clip(age - 22, 0, 30)
        - 0.8 * (occ == _OCC["student"])
        - 0.9 * (occ == _OCC["unemployed"])
        + rng.normal(0, 0.8, n)
    )
    income_level = np.digitize(income_latent, [-0.3, 0.6, 1.5, 2.3]).astype(np.int8)
    assert income_level.max() < len(INCOME_BANDS)

    marital = rng.choice(
        [_MAR["single"], _MAR["divorced"], _MAR["widowed"]],
        size=n,
        p=[0.75, 0.18, 0.07],
    ).astype(np.int8)
    marital[(age >= 70) & (rng.random(n) < 0.4)] = _MAR["widowed"]
    couple = (sizes[hh_local] >= 2) & (role <= 1)
    marital[couple] = np.where(
        rng.random(couple.sum()) < 0.7, _MAR["married"], _MAR["partner"]
    )
    marital[couple & partner] = marital[head_of[couple & partner]]
    marital[child] = _MAR["single"]

    # Identity.
    first_idx = rng.integers(0, len(FIRST_NAMES), n)
    # Members of a household never share a given name.
    for _ in range(3):
        clash = (role >= 1) & (first_idx == first_idx[head_of])
        first_idx[clash] = rng.integers(0, len(FIRST_NAMES), clash.sum())
    clash = (role >= 1) & (first_idx == first_idx[head_of])
    first_idx[clash] = (first_idx[clash] + 1) % len(FIRST_NAMES)
    first = np.asarray(FIRST_NAMES)[first_idx]
    last = np.asarray(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n)]
    keep_name = (role >= 1) & (rng.random(n) < 0.8)
    last[keep_name] = last[head_of[keep_name]]
    days_old = (age * 365.25).astype(np.int64)
    birth = end_date - days_old.astype("timedelta64[D]")

    city_idx = rng.integers(0, len(CITIES), n_hh)
    house_no = rng.integers(1, 300, n_hh)
    flat = np.where(rng.random(n_hh) < 0.15, rng.integers(1, 40, n_hh), 0)
    street = np.asarray(STREETS)[rng.integers(0, len(STREETS), n_hh)]
    stype = np.asarray(STREET_TYPES)[rng.integers(0, len(STREET_TYPES), n_hh)]
    addr_hh = np.array(
        [
            (f"Flat {f}, " if f else "") + f"{h} {s} {t}"
            for f, h, s, t in zip(flat, house_no, street, stype, strict=True)
        ]
    )
    area = np.array([c[1] for c in CITIES])[city_idx]
    city_hh = np.array([c[0] for c in CITIES])[city_idx]
    district = rng.integers(1, 40, n_hh)
    unit = rng.integers(1, 10, n_hh)
    l1 = _LETTERS[rng.integers(0, _LETTERS.size, n_hh)]
    l2 = _LETTERS[rng.integers(0, _LETTERS.size, n_hh)]
    postcode_hh = np.array(
        [
            f"{a}{d} {u}{x}{y}"
            for a, d, u, x, y in zip(area, district, unit, l1, l2, strict=True)
        ]
    )
    address = addr_hh[hh_local]
    city = city_hh[hh_local]
    postcode = postcode_hh[hh_local]

    index = np.arange(first_index, first_index + n, dtype=np.int64)
    suffix = (index % 97).astype(str)
    domain = _DOMAINS[rng.integers(0, _DOMAINS.size, n)]
    email = np.char.add(
        np.char.add(np.char.add(np.char.lower(first), "."), np.char.lower(last)),
        np.char.add(suffix, np.char.add("@", domain)),
    ).astype(object)
    email[rng.random(n) < 0.05] = None
    phone = np.asarray(
        np.char.add("+447", np.char.zfill(rng.integers(0, 10**9, n).astype(str), 9)),
        dtype=object,
    )
    phone[rng.random(n) < 0.08] = None

    # Join date: long tenures, plus a cohort that joins inside the window.
    adult_days = ((age - 18) * 365.25).astype(np.int64)
    tenure_days = np.minimum(
        rng.exponential(8 * 365.25, n).astype(np.int64), adult_days
    )
    new = rng.random(n) < 0.18
    tenure_days[new] = rng.integers(1, window_weeks * 7 - 6, new.sum())
    tenure_days = np.maximum(tenure_days, 1)
    join = end_date - tenure_days.astype("timedelta64[D]")

    consent = rng.random(n) < 0.72
    dnc = rng.random(n) < 0.03

    lam = rng.gamma(spec["r"][seg], 1.0 / spec["alpha"][seg])
    p_drop = rng.beta(spec["a"][seg], spec["b"][seg])
    nu = rng.gamma(spec["q_gg"][seg], 1.0 / spec["gamma_gg"][seg])

    logins = rng.gamma(2.0, spec["logins_per_week"][seg] / 2.0)
    logins *= np.where(age > 70, 0.4, 1.0)
    return Population(
        index=index,
        household=first_household + hh_local.astype(np.int64),
        role=role,
        segment=seg,
        life_stage=stage,
        age=age,
        birth_date=birth,
        join_date=join,
        occupation=occ,
        income_level=income_level,
        marital=marital,
        dependants=dep,
        first_name=first,
        last_name=last,
        address=address,
        city=city,
        postcode=postcode,
        email=email,
        phone=phone,
        consent=consent,
        do_not_contact=dnc,
        logins_per_week=logins,
        mobile_share=np.clip(spec["mobile_share"][seg] + rng.normal(0, 0.1, n), 0, 1),
        interactions_per_week=rng.gamma(2.0, spec["interactions_per_week"][seg] / 2.0),
        branch_share=np.clip(spec["branch_share"][seg] + rng.normal(0, 0.1, n), 0, 1),
        mood=np.clip(spec["mood"][seg] + rng.normal(0, 0.35, n), -1, 1),
        credit_quality=spec["credit_quality"][seg] + rng.normal(0, 0.7, n),
        lam=lam,
        p_drop=p_drop,
        nu=nu,
        p_gg=spec["p_gg"][seg],
    )


def _fold(x: NDArray[np.float64], low: float, high: float) -> NDArray[np.float64]:
    """Reflect values into [low, high] (keeps the density smooth at the edges)."""
    span = high - low
    y = np.mod(x - low, 2 * span)
    return low + np.where(y > span, 2 * span - y, y)


def _segment_arrays(
    segments: tuple[SegmentSpec, ...],
) -> dict[str, NDArray[np.float64]]:
    fields = (
        "r",
        "alpha",
        "a",
        "b",
        "p_gg",
        "q_gg",
        "gamma_gg",
        "age_mean",
        "age_sd",
        "income_shift",
        "logins_per_week",
        "mobile_share",
        "interactions_per_week",
        "branch_share",
        "mood",
        "credit_quality",
    )
    return {
        f: np.array([getattr(s, f) for s in segments], dtype=np.float64) for f in fields
    }
