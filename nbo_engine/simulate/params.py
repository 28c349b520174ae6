"""The simulated bank's ground truth, written down as data.

Time runs in weeks. Every customer belongs to one latent behavioural segment;
within a segment the purchase process is exactly BG/NBD (purchase rate
``lambda ~ Gamma(r, alpha)`` per week, dropout after each repeat purchase with
``p ~ Beta(a, b)``) and spend is exactly Gamma-Gamma (``z ~ Gamma(p_gg, nu)``,
``nu ~ Gamma(q, gamma)``), so the population is a known mixture of BG/NBD
populations and every customer's true future purchases and value are known.

Relationship churn (closing every account) is a weekly hazard: tiny while the
customer still transacts, larger once dormant, and moved by life stage,
complaints, unemployment and offers. Offers change the 30-day conversion logit
and the 13-week churn hazard by amounts that differ by segment and life stage,
including offers that harm some segments.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from nbo_engine.features.lifestage import LIFE_STAGES

__all__ = [
    "LIFE_STAGES",
    "OFFERS",
    "SEGMENTS",
    "ChurnSpec",
    "OfferSpec",
    "SegmentSpec",
    "SimConfig",
    "TakeUpSpec",
    "WorldParams",
]


@dataclass(frozen=True)
class SegmentSpec:
    """One latent behavioural segment and the populations it draws from."""

    name: str
    share: float
    # BG/NBD, per week
    r: float
    alpha: float
    a: float
    b: float
    # Gamma-Gamma spend (currency units)
    p_gg: float
    q_gg: float
    gamma_gg: float
    age_mean: float
    age_sd: float
    income_shift: float  # shifts the ordinal income draw
    logins_per_week: float  # mean of a gamma-distributed digital affinity
    mobile_share: float
    interactions_per_week: float
    branch_share: float
    mood: float  # mean latent service sentiment in [-1, 1]
    credit_quality: float  # mean latent credit quality (standard normal units)
    category_weights: tuple[float, ...]  # over TXN_CATEGORIES


SEGMENTS: tuple[SegmentSpec, ...] = (
    SegmentSpec(
        "digital_spenders",
        0.26,
        r=2.2,
        alpha=2.0,
        a=1.1,
        b=45.0,
        p_gg=5.0,
        q_gg=4.0,
        gamma_gg=18.0,
        age_mean=31,
        age_sd=8,
        income_shift=0.2,
        logins_per_week=1.5,
        mobile_share=0.85,
        interactions_per_week=0.02,
        branch_share=0.05,
        mood=0.15,
        credit_quality=0.2,
        category_weights=(0.18, 0.2, 0.1, 0.06, 0.2, 0.06, 0.12, 0.03, 0.02, 0.03),
    ),
    SegmentSpec(
        "affluent_savers",
        0.18,
        r=1.6,
        alpha=2.6,
        a=1.0,
        b=70.0,
        p_gg=6.0,
        q_gg=5.0,
        gamma_gg=52.0,
        age_mean=54,
        age_sd=10,
        income_shift=1.6,
        logins_per_week=0.6,
        mobile_share=0.55,
        interactions_per_week=0.03,
        branch_share=0.3,
        mood=0.3,
        credit_quality=1.0,
        category_weights=(0.2, 0.15, 0.2, 0.08, 0.15, 0.08, 0.06, 0.05, 0.01, 0.02),
    ),
    SegmentSpec(
        "stretched_borrowers",
        0.2,
        r=1.8,
        alpha=1.9,
        a=1.4,
        b=28.0,
        p_gg=4.0,
        q_gg=4.0,
        gamma_gg=16.0,
        age_mean=38,
        age_sd=11,
        income_shift=-1.0,
        logins_per_week=0.8,
        mobile_share=0.7,
        interactions_per_week=0.08,
        branch_share=0.2,
        mood=-0.35,
        credit_quality=-1.1,
        category_weights=(0.3, 0.08, 0.02, 0.1, 0.12, 0.16, 0.05, 0.03, 0.1, 0.04),
    ),
    SegmentSpec(
        "traditional_branch",
        0.2,
        r=1.1,
        alpha=2.6,
        a=0.9,
        b=55.0,
        p_gg=6.0,
        q_gg=5.0,
        gamma_gg=40.0,
        age_mean=63,
        age_sd=10,
        income_shift=0.0,
        logins_per_week=0.1,
        mobile_share=0.3,
        interactions_per_week=0.05,
        branch_share=0.7,
        mood=0.05,
        credit_quality=0.4,
        category_weights=(0.35, 0.08, 0.04, 0.1, 0.12, 0.14, 0.03, 0.08, 0.04, 0.02),
    ),
    SegmentSpec(
        "dormant_light",
        0.16,
        r=0.7,
        alpha=3.0,
        a=1.5,
        b=14.0,
        p_gg=4.0,
        q_gg=4.0,
        gamma_gg=20.0,
        age_mean=42,
        age_sd=15,
        income_shift=-0.3,
        logins_per_week=0.15,
        mobile_share=0.6,
        interactions_per_week=0.015,
        branch_share=0.35,
        mood=-0.1,
        credit_quality=-0.2,
        category_weights=(0.25, 0.1, 0.05, 0.1, 0.15, 0.1, 0.08, 0.05, 0.08, 0.04),
    ),
)


@dataclass(frozen=True)
class ChurnSpec:
    """Weekly relationship-closure hazard: ``exp(log-hazard)`` per week."""

    log_base_active: float = -8.2  # ~0.00027 per week while transacting
    log_base_dormant: float = -4.4  # ~0.012 per week once dormant
    by_segment: tuple[float, ...] = (0.1, -0.4, 0.5, -0.3, 0.2)
    by_life_stage: tuple[float, ...] = (0.6, 0.3, -0.2, -0.1, -0.2, 0.0)
    per_recent_complaint: float = 0.9  # each complaint in the last 13 weeks
    per_unemployment_point: float = 0.15  # per percentage point above 4%


@dataclass(frozen=True)
class TakeUpSpec:
    """Organic weekly hazard of opening ``product`` (when not already held)."""

    product: str
    log_base: float
    by_segment: tuple[float, ...]
    by_life_stage: tuple[float, ...]
    per_income_level: float = 0.0  # income level 0..4
    per_policy_rate_point: float = 0.0  # per point above 2%
    per_house_price_pct: float = 0.0  # per % change of the index over 13 weeks
    initial_share: float = 0.1  # probability held at window start (before shifts)


TAKE_UP: tuple[TakeUpSpec, ...] = (
    TakeUpSpec(
        "savings",
        -5.6,
        (0.2, 0.9, -0.8, 0.4, -0.6),
        (0.0, 0.2, 0.0, 0.3, 0.4, 0.2),
        per_income_level=0.15,
        per_policy_rate_point=0.25,
        initial_share=0.35,
    ),
    TakeUpSpec(
        "credit_card",
        -5.4,
        (0.7, 0.1, 0.5, -0.6, -0.5),
        (0.3, 0.4, 0.2, 0.0, -0.3, -0.7),
        per_income_level=0.05,
        per_policy_rate_point=-0.1,
        initial_share=0.3,
    ),
    TakeUpSpec(
        "personal_loan",
        -6.2,
        (0.0, -0.8, 1.0, -0.5, -0.3),
        (-0.3, 0.3, 0.5, 0.1, -0.2, -0.8),
        per_policy_rate_point=-0.2,
        initial_share=0.08,
    ),
    TakeUpSpec(
        "mortgage",
        -7.2,
        (0.2, 0.3, -0.2, -0.6, -0.6),
        (-2.5, 0.5, 0.9, 0.3, -0.6, -2.0),
        per_income_level=0.3,
        per_policy_rate_point=-0.35,
        per_house_price_pct=0.08,
        initial_share=0.15,
    ),
    TakeUpSpec(
        "investment",
        -6.9,
        (-0.2, 1.2, -1.5, 0.2, -0.8),
        (-1.0, 0.0, -0.1, 0.4, 0.6, 0.3),
        per_income_level=0.35,
        initial_share=0.1,
    ),
    TakeUpSpec(
        "insurance",
        -6.0,
        (0.2, 0.3, -0.3, 0.2, -0.4),
        (-0.8, 0.0, 0.6, 0.3, 0.1, -0.2),
        per_income_level=0.1,
        initial_share=0.2,
    ),
)


@dataclass(frozen=True)
class OfferSpec:
    """An offer and its true effects.

    ``conv_*`` add to the logit of 30-day conversion when the offer is made;
    ``churn_*`` add to the log churn hazard for 13 weeks after it is made. A
    negative conversion effect or a positive churn effect is harm.
    """

    offer_id: str
    product: str  # product taken up; "current" for the retention offer
    name: str
    margin: float  # true lifetime margin of one conversion (currency)
    cost: float  # cost of making the offer once (currency)
    conv_base: float
    conv_by_segment: tuple[float, ...]
    conv_by_life_stage: tuple[float, ...]
    churn_by_segment: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)
    conv_per_policy_rate_point: float = 0.0
    retention: bool = False  # conversion means accepting a retention benefit


OFFERS: tuple[OfferSpec, ...] = (
    OfferSpec(
        "cc_cashback",
        "credit_card",
        "Cashback credit card",
        180.0,
        1.0,
        0.5,
        (1.0, 0.1, 0.6, -0.4, 0.0),
        (0.3, 0.4, 0.1, 0.0, -0.2, -0.5),
        churn_by_segment=(0.0, 0.0, 0.7, 0.0, 0.0),
    ),
    OfferSpec(
        "cc_premium_travel",
        "credit_card",
        "Premium travel card",
        320.0,
        2.0,
        0.2,
        (0.2, 1.2, -1.0, -0.3, -0.4),
        (-0.5, 0.1, 0.0, 0.3, 0.3, 0.0),
        churn_by_segment=(0.0, -0.1, 0.4, 0.0, 0.2),
    ),
    OfferSpec(
        "savings_boost",
        "savings",
        "Boosted savings rate",
        90.0,
        0.5,
        0.4,
        (0.2, 0.9, -0.2, 0.6, -0.1),
        (0.0, 0.2, 0.0, 0.3, 0.4, 0.4),
        conv_per_policy_rate_point=0.15,
    ),
    OfferSpec(
        "loan_rate_discount",
        "personal_loan",
        "Personal loan rate discount",
        240.0,
        1.5,
        0.4,
        (0.0, -0.6, 1.1, -0.4, 0.0),
        (-0.5, 0.2, 0.6, 0.1, -0.3, -0.6),
        churn_by_segment=(0.0, 0.0, 0.6, 0.0, 0.0),
    ),
    OfferSpec(
        "mortgage_switch",
        "mortgage",
        "Mortgage rate switch",
        1500.0,
        4.0,
        0.5,
        (0.2, 0.4, -0.3, 0.0, -0.5),
        (-1.5, 0.4, 0.9, 0.5, -0.4, -1.0),
    ),
    OfferSpec(
        "investment_isa",
        "investment",
        "Stocks and shares ISA",
        400.0,
        2.0,
        0.3,
        (0.0, 1.1, -1.2, 0.3, -0.4),
        (-0.6, 0.0, -0.1, 0.3, 0.5, 0.2),
        churn_by_segment=(0.0, 0.0, 0.5, 0.0, 0.0),
    ),
    OfferSpec(
        "home_insurance",
        "insurance",
        "Home insurance",
        150.0,
        1.0,
        0.3,
        (0.0, 0.3, -0.1, 0.3, -0.2),
        (-0.6, 0.0, 0.7, 0.4, 0.1, -0.1),
    ),
    OfferSpec(
        "travel_insurance",
        "insurance",
        "Annual travel insurance",
        80.0,
        0.5,
        0.2,
        (0.6, 0.4, -0.4, -0.2, -0.3),
        (0.2, 0.3, 0.0, 0.1, 0.0, -0.3),
    ),
    OfferSpec(
        "fee_waiver_retention",
        "current",
        "12-month fee waiver",
        0.0,
        3.0,
        -0.5,
        (0.0, 0.0, 0.8, 0.2, 0.6),
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
        churn_by_segment=(-0.2, -0.3, -0.9, -0.2, -0.8),
        retention=True,
    ),
    OfferSpec(
        "premium_upgrade",
        "current",
        "Premium current account",
        200.0,
        1.5,
        -0.2,
        (0.5, 0.8, -0.9, -0.4, -0.6),
        (-0.3, 0.3, 0.2, 0.3, 0.0, -0.4),
        churn_by_segment=(0.0, -0.2, 0.5, 0.3, 0.0),
    ),
)


@dataclass(frozen=True)
class WorldParams:
    """Everything the simulator draws from."""

    segments: tuple[SegmentSpec, ...] = SEGMENTS
    churn: ChurnSpec = field(default_factory=ChurnSpec)
    take_up: tuple[TakeUpSpec, ...] = TAKE_UP
    offers: tuple[OfferSpec, ...] = OFFERS
    #: Organic 30-day take-up of the retention benefit / premium upgrade, logit.
    retention_accept_logit: float = -3.0


@dataclass(frozen=True)
class SimConfig:
    """One simulation run."""

    customers: int = 20_000
    weeks: int = 104
    seed: int = 0
    end_date: dt.date = dt.date(2025, 12, 29)
    dirt: float = 0.02
    chunk_customers: int = 50_000
    campaigns: int = 10
    #: Weeks before the end at which true churn/propensity are recorded.
    truth_snapshots: tuple[int, ...] = (26, 13)

    @property
    def start_date(self) -> dt.date:
        return self.end_date - dt.timedelta(weeks=self.weeks)
