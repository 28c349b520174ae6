"""``POST /v1/events``: what customers did with the offers (idempotent)."""

from __future__ import annotations

from fastapi import APIRouter

from nbo_engine.api import metrics
from nbo_engine.api.problems import error_responses
from nbo_engine.api.schemas import EventsRequest, EventsResponse
from nbo_engine.api.state import State
from nbo_engine.store.events import EventIn
from nbo_engine.timeutil import naive_utc as _naive_utc

__all__ = ["router"]

router = APIRouter(tags=["events"])


@router.post(
    "/v1/events",
    response_model=EventsResponse,
    summary="Report impressions, clicks, accepts, declines and conversions",
    description=(
        "Each event refers to a decision id from `/v1/offers` and one of its "
        "offers. Idempotent by `event_id`: a resent event is acknowledged (listed "
        "in `duplicate_event_ids`) and stored once, so a client may retry a batch "
        "safely. A batch naming an unknown decision, or an offer the decision did "
        "not choose, is refused whole (422) with each id named.\n\n"
        "Roles: channel, admin."
    ),
    responses=error_responses(401, 403, 422, 429),
)
async def post_events(body: EventsRequest, state: State) -> EventsResponse:
    events = [
        EventIn(
            event_id=e.event_id,
            decision_id=e.decision_id,
            offer_id=e.offer_id,
            type=e.type,
            ts=_naive_utc(e.ts),
            value=e.value,
        )
        for e in body.events
    ]
    result = await state.event_batcher.record(events)
    fresh = set(result.inserted_event_ids)
    for e in body.events:
        # Only the first occurrence of a new id was stored.
        new = e.event_id in fresh
        fresh.discard(e.event_id)
        metrics.EVENTS.labels(e.type, "inserted" if new else "duplicate").inc()
    return EventsResponse(
        received=result.received,
        inserted=result.inserted,
        duplicates=result.duplicates,
        duplicate_event_ids=list(result.duplicate_event_ids),
    )
