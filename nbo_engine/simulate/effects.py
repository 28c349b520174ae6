"""True hazards and offer effects: one home, used by the history and the loop.

All functions are vectorised over customers; shapes are given as ``(n,)`` or
``(n, k)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from nbo_engine.simulate.params import ChurnSpec, OfferSpec, TakeUpSpec, WorldParams

__all__ = [
    "CONVERSION_WEEKS",
    "EFFECT_WEEKS",
    "churn_log_hazard",
    "churn_probability",
    "conversion_probability",
    "offer_churn_shift",
    "offer_conversion",
    "offer_conversion_shift",
    "take_up_log_hazard",
]

#: Conversion counts if the product is taken within this many weeks of the offer.
CONVERSION_WEEKS = 30 / 7
#: An offer moves the churn hazard for this many weeks.
EFFECT_WEEKS = 13


def _sigmoid(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out: NDArray[np.float64] = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    out: NDArray[np.float64] = np.log(p) - np.log1p(-p)
    return out


def take_up_log_hazard(
    spec: TakeUpSpec,
    segment: NDArray[np.int8],
    life_stage: NDArray[np.int8],
    income_level: NDArray[np.int8],
    policy_rate: float,
    house_price_change_pct: float,
) -> NDArray[np.float64]:
    """Log weekly hazard of opening ``spec.product`` organically, shape (n,)."""
    return (
        spec.log_base
        + np.asarray(spec.by_segment)[segment]
        + np.asarray(spec.by_life_stage)[life_stage]
        + spec.per_income_level * income_level
        + spec.per_policy_rate_point * (policy_rate - 2.0)
        + spec.per_house_price_pct * house_price_change_pct
    )


def churn_log_hazard(
    spec: ChurnSpec,
    segment: NDArray[np.int8],
    life_stage: NDArray[np.int8],
    dormant: NDArray[np.bool_],
    recent_complaints: NDArray[np.integer],
    unemployment: float,
) -> NDArray[np.float64]:
    """Log weekly hazard of closing the relationship, shape (n,)."""
    base = np.where(dormant, spec.log_base_dormant, spec.log_base_active)
    return (
        base
        + np.asarray(spec.by_segment)[segment]
        + np.asarray(spec.by_life_stage)[life_stage]
        + spec.per_recent_complaint * np.minimum(recent_complaints, 3)
        + spec.per_unemployment_point * max(unemployment - 4.0, 0.0)
    )


def churn_probability(
    horizon_weeks: float,
    active: NDArray[np.bool_],
    death_rate: NDArray[np.float64],
    log_h_active: NDArray[np.float64],
    log_h_dormant: NDArray[np.float64],
) -> NDArray[np.float64]:
    """P(relationship closes within ``horizon_weeks``), shape (n,).

    Three states: active --death_rate--> dormant --h_d--> closed, and
    active --h_a--> closed, with hazards held at their current values. For a
    dormant customer it is ``1 - exp(-h_d H)``; for an active one
    ``1 - [exp(-(m + h_a) H) + m exp(-h_d H) (1 - exp(-(m + h_a - h_d) H)) /
    (m + h_a - h_d)]`` with ``m`` the BG/NBD death rate ``lambda * p``.
    """
    H = horizon_weeks
    h_a = np.exp(log_h_active)
    h_d = np.exp(log_h_dormant)
    m = death_rate
    k = m + h_a - h_d
    small = np.abs(k) < 1e-9
    safe_k = np.where(small, 1.0, k)
    frac = np.where(small, H, -np.expm1(-safe_k * H) / safe_k)
    survive_active = np.exp(-(m + h_a) * H) + m * np.exp(-h_d * H) * frac
    survive = np.where(active, survive_active, np.exp(-h_d * H))
    out: NDArray[np.float64] = np.clip(1.0 - survive, 0.0, 1.0)
    return out


def offer_conversion_shift(
    offer: OfferSpec,
    segment: NDArray[np.int8],
    life_stage: NDArray[np.int8],
    policy_rate: float,
) -> NDArray[np.float64]:
    """True effect of making ``offer`` on the 30-day conversion logit, (n,)."""
    return (
        offer.conv_base
        + np.asarray(offer.conv_by_segment)[segment]
        + np.asarray(offer.conv_by_life_stage)[life_stage]
        + offer.conv_per_policy_rate_point * (policy_rate - 2.0)
    )


def offer_churn_shift(
    offer: OfferSpec, segment: NDArray[np.int8]
) -> NDArray[np.float64]:
    """True effect of making ``offer`` on the log churn hazard for 13 weeks, (n,)."""
    return np.asarray(offer.churn_by_segment, dtype=np.float64)[segment]


def conversion_probability(
    organic_log_hazard: NDArray[np.float64],
    shift: NDArray[np.float64] | float = 0.0,
    *,
    organic_logit: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """30-day conversion probability, organic or with an offer's logit ``shift``.

    Organic conversion of a product offer is ``1 - exp(-h * 30/7)`` from its
    weekly take-up hazard; for a retention benefit pass ``organic_logit``.
    """
    if organic_logit is None:
        base = -np.expm1(-np.exp(organic_log_hazard) * CONVERSION_WEEKS)
        organic_logit = _logit(base)
    return _sigmoid(organic_logit + shift)


def offer_conversion(
    params: WorldParams,
    offer: OfferSpec,
    segment: NDArray[np.int8],
    life_stage: NDArray[np.int8],
    income_level: NDArray[np.int8],
    policy_rate: float,
    house_price_change_pct: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """30-day conversion without and with ``offer``, each shape (n,).

    A product offer converts organically at the product's take-up hazard; the
    offer shifts that logit. A retention benefit cannot be accepted unless it is
    offered (control 0); offered, its logit is ``retention_accept_logit`` plus the
    shift. Upgrades of the current account convert organically at that logit.
    """
    shift = offer_conversion_shift(offer, segment, life_stage, policy_rate)
    take_up = {t.product: t for t in params.take_up}
    n = segment.size
    if offer.product in take_up:
        lh = take_up_log_hazard(
            take_up[offer.product],
            segment,
            life_stage,
            income_level,
            policy_rate,
            house_price_change_pct,
        )
        control = conversion_probability(lh)
        organic_logit = _logit(control)
    else:
        organic_logit = np.full(n, params.retention_accept_logit)
        control = conversion_probability(np.zeros(0), organic_logit=organic_logit)
    treated = _sigmoid(organic_logit + shift)
    if offer.retention:
        control = np.zeros(n)
    return control, treated
