"""Request and response bodies of the offer API (pydantic v2).

Converted to core types once, in the route. Examples here feed the OpenAPI
document, so ``/docs`` shows a request that works against the demo catalog.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nbo_engine.policy.spec import Channel
from nbo_engine.store.events import MAX_BATCH

__all__ = [
    "CustomerProfile",
    "CustomerResponse",
    "ErrorBody",
    "EventIn",
    "EventsRequest",
    "EventsResponse",
    "FieldError",
    "HealthResponse",
    "OfferOut",
    "OffersRequest",
    "OffersResponse",
    "ReadyResponse",
    "Segment",
]

EventType = Literal["impression", "click", "accept", "decline", "conversion"]
ContextValue = str | float | int | bool | None


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ offers


class OffersRequest(_Body):
    """Ask for the next best offers of one customer on one channel."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "C0000042",
                    "channel": "web",
                    "n": 2,
                    "context": {"page": "accounts", "device": "ios"},
                }
            ]
        },
    )

    customer_id: str = Field(
        description="The bank's customer id.", min_length=1, max_length=128
    )
    channel: Channel = Field(description="Where the offers will be shown.")
    n: int = Field(default=1, ge=1, le=10, description="How many offers, ranked.")
    context: dict[str, ContextValue] | None = Field(
        default=None,
        max_length=50,
        description="Request context (page, device...): logged with the decision.",
    )


class OfferOut(BaseModel):
    """One chosen offer, at its rank, with the message to show."""

    offer_id: str = Field(examples=["cc_cashback"])
    product: str = Field(examples=["credit_card"])
    rank: int = Field(description="1 = show first.", examples=[1])
    message: str | None = Field(
        description="Rendered message template.",
        examples=["Ada, earn 1% back on everyday spending."],
    )
    propensity: float = Field(
        description="Probability the policy chose this offer at this rank.",
        examples=[0.87],
    )


class OffersResponse(BaseModel):
    """A decision: quote ``decision_id`` in every event about these offers."""

    decision_id: str = Field(examples=["d-4f1c2a..."])
    customer_id: str
    channel: str
    policy_name: str = Field(examples=["retail_default"])
    policy_version_id: int = Field(examples=[3])
    experiment: str | None = None
    variant: str | None = None
    offers: list[OfferOut] = Field(
        description="Ranked; empty when nothing is eligible or contact caps are reached."
    )
    latency_ms: float = Field(description="Time the decision took in the engine.")


# ------------------------------------------------------------------ events


class EventIn(_Body):
    """Something a customer did with an offer of a decision."""

    event_id: str = Field(
        description="The client's unique id: a resent event is stored once.",
        min_length=1,
        max_length=128,
    )
    decision_id: str = Field(
        description="From the /v1/offers answer.", min_length=1, max_length=128
    )
    offer_id: str = Field(
        description="One of that decision's offers.", min_length=1, max_length=128
    )
    type: EventType
    ts: dt.datetime = Field(
        description="When it happened (ISO 8601; without a zone it is read as UTC)."
    )
    value: float | None = Field(
        default=None, description="Conversion value in the offer's currency."
    )

    @field_validator("value")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class EventsRequest(_Body):
    """A batch of events (at most 1,000)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "events": [
                        {
                            "event_id": "web-7781-imp",
                            "decision_id": "d-4f1c2a...",
                            "offer_id": "cc_cashback",
                            "type": "impression",
                            "ts": "2026-05-04T10:15:00Z",
                        },
                        {
                            "event_id": "web-7781-acc",
                            "decision_id": "d-4f1c2a...",
                            "offer_id": "cc_cashback",
                            "type": "accept",
                            "ts": "2026-05-04T10:16:30Z",
                        },
                    ]
                }
            ]
        },
    )

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


class EventsResponse(BaseModel):
    """How the batch was taken: ``inserted + duplicates == received``."""

    received: int = Field(examples=[2])
    inserted: int = Field(examples=[1])
    duplicates: int = Field(examples=[1])
    duplicate_event_ids: list[str] = Field(
        description="Events already stored (resent): acknowledged, not stored again.",
        examples=[["web-7781-imp"]],
    )


# ------------------------------------------------------------------ customers


class Segment(BaseModel):
    kind: str = Field(examples=["value_tier"])
    segment: str = Field(examples=["high"])
    name: str | None = Field(default=None, examples=["High value"])


class CustomerProfile(BaseModel):
    """Profile without direct identifiers: no name, address, e-mail, phone or
    birth date (age is in the scores)."""

    customer_id: str
    household_id: str | None = None
    city: str | None = None
    income_band: str | None = None
    occupation: str | None = None
    marital_status: str | None = None
    dependants: int | None = None
    join_date: dt.date | None = None
    marketing_consent: bool | None = None
    do_not_contact: bool | None = None
    products: list[str] = Field(
        default_factory=list, description="Products of open accounts."
    )


class CustomerResponse(BaseModel):
    """A customer's profile, scores and segments from the active snapshot."""

    profile: CustomerProfile
    snapshot_id: int | None = Field(description="None: no snapshot scored yet.")
    snapshot_as_of: dt.date | None = None
    scores: dict[str, bool | float | str | None] = Field(
        default_factory=dict, examples=[{"clv_12m": 812.4, "churn_90d": 0.07}]
    )
    segments: list[Segment] = Field(default_factory=list)


# ------------------------------------------------------------------ ops


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyResponse(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(
        examples=[
            {
                "database": "ok",
                "migration": "ok: 0003_decisions",
                "policy": "ok: retail_default (version id 3)",
            }
        ]
    )


# ------------------------------------------------------------------ errors


class FieldError(BaseModel):
    """One invalid input, by its path (``events[2].type``)."""

    field: str = Field(examples=["events[2].type"])
    location: str = Field(examples=["body"], description="body, query, path, header")
    message: str = Field(
        examples=[
            "Input should be 'impression', 'click', 'accept', 'decline' or 'conversion'"
        ]
    )
    type: str = Field(examples=["literal_error"])


class ErrorBody(BaseModel):
    """Every error answer has this shape."""

    error: str = Field(
        description="A stable code: validation_error, unauthorized, forbidden, "
        "rate_limited, not_found, unknown_customer, unknown_decision, "
        "invalid_input, no_live_policy, internal_error.",
        examples=["validation_error"],
    )
    message: str = Field(examples=["1 invalid field: events[2].type"])
    fields: list[FieldError] = Field(default_factory=list)
    request_id: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)
