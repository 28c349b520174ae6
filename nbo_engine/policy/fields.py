"""The default profile fields rules and messages may use.

Names follow the customer feature frame (``nbo_engine/features/profile.py``):
``held_<product>`` flags for ``holds()``, the ``*_days_since_*`` columns for
``days_since()``. A policy file may declare more fields (``profile_fields``)
or override these; whatever it declares is what its rules are checked
against.
"""

from __future__ import annotations

from collections.abc import Mapping

from nbo_engine.ingest.schemas import PRODUCTS
from nbo_engine.policy.rules.schema import FieldSpec, RuleSchema

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_FIELDS",
    "LIFE_STAGES",
    "REALTIME_FIELDS",
    "default_rule_schema",
]

LIFE_STAGES: tuple[str, ...] = (
    "student",
    "young_adult",
    "family",
    "established",
    "pre_retiree",
    "retiree",
)

#: Real-time fields, from the offer events in the contact history
#: (``nbo_engine.decisioning.realtime`` computes them).
REALTIME_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("rt_impressions_7", "number", description="Offer impressions, 7 days"),
    FieldSpec("rt_clicks_7", "number", description="Offer clicks, 7 days"),
    FieldSpec(
        "rt_accepts_30", "number", description="Offers accepted or converted, 30 days"
    ),
    FieldSpec("rt_declines_30", "number", description="Offers declined, 30 days"),
    FieldSpec("rt_days_since_click", "number", description="Days since an offer click"),
    FieldSpec(
        "rt_days_since_accept", "number", description="Days since an offer accept"
    ),
)

DEFAULT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("age", "number", description="Age in years"),
    FieldSpec("tenure_days", "number", description="Days since the customer joined"),
    FieldSpec("dependants", "number", description="Dependent children"),
    FieldSpec("income_level", "number", description="Declared income band, 0-4"),
    FieldSpec("life_stage", "category", LIFE_STAGES, "Derived life stage"),
    FieldSpec("segment", "category", (), "Behavioural segment (values: segments)"),
    FieldSpec("marketing_consent", "bool", description="Consent to marketing"),
    FieldSpec("do_not_contact", "bool", description="Asked for no contact at all"),
    FieldSpec("n_products", "number", description="Products held"),
    FieldSpec("svc_complaints_90", "number", description="Complaints, last 90 days"),
    FieldSpec("svc_complaints_365", "number", description="Complaints, last 365 days"),
    FieldSpec("dig_logins_30", "number", description="Digital logins, last 30 days"),
    FieldSpec("rfm_recency_days", "number", description="Days since last purchase"),
    FieldSpec("bureau_credit_score", "number", description="Bureau score, 300-999"),
    FieldSpec("bureau_utilisation", "number", description="Revolving utilisation"),
    FieldSpec(
        "bureau_delinquencies_12m", "number", description="Missed payments, 12 months"
    ),
    FieldSpec("churn_score", "number", description="Churn probability, 90 days"),
    FieldSpec("clv", "number", description="Customer lifetime value (currency)"),
    FieldSpec("first_name", "string", description="Given name (messages)"),
    FieldSpec("last_name", "string", description="Family name (messages)"),
    FieldSpec("city", "string", description="Town or city (messages)"),
    *REALTIME_FIELDS,
)

#: ``days_since(event)`` -> the profile column with the days since it.
DEFAULT_EVENTS: Mapping[str, str] = {
    "last_complaint": "svc_days_since_complaint",
    "last_login": "dig_days_since_login",
    "last_contact": "cmp_days_since_contact",
    "last_purchase": "rfm_recency_days",
    "last_account_open": "days_since_open",
    # the real-time fields (nbo_engine.decisioning.realtime), from offer events
    "last_offer_click": "rt_days_since_click",
    "last_offer_accept": "rt_days_since_accept",
}


def default_rule_schema(
    segments: tuple[str, ...] = (),
    extra: tuple[FieldSpec, ...] = (),
    events: Mapping[str, str] | None = None,
) -> RuleSchema:
    """The default fields plus ``extra`` (which override by name)."""
    fields = {f.name: f for f in DEFAULT_FIELDS}
    fields.update({f.name: f for f in extra})
    return RuleSchema(
        fields=fields,
        products=PRODUCTS,
        segments=segments,
        events=dict(DEFAULT_EVENTS if events is None else events),
    )
