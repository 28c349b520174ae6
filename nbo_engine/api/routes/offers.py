"""``POST /v1/offers``: the next best offers for a customer on a channel."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from nbo_engine.api import metrics
from nbo_engine.api.logs import log, pseudonym
from nbo_engine.api.problems import error_responses, request_id_of
from nbo_engine.api.schemas import OfferOut, OffersRequest, OffersResponse
from nbo_engine.api.state import State
from nbo_engine.decisioning.decide import DecisionRequest

__all__ = ["router"]

router = APIRouter(tags=["offers"])


@router.post(
    "/v1/offers",
    response_model=OffersResponse,
    summary="Decide the next best offers for a customer",
    description=(
        "Applies the live policy (eligibility, contact caps, consent, quiet hours), "
        "asks the bandit, arbitrates and renders each offer's message. The decision "
        "is logged with its propensities before the answer is sent; quote "
        "`decision_id` in every event about these offers. An empty `offers` list "
        "means nothing is eligible or the contact caps are reached.\n\n"
        "Roles: channel, admin."
    ),
    responses=error_responses(401, 403, 404, 422, 429, 503),
)
async def post_offers(
    body: OffersRequest, request: Request, state: State
) -> OffersResponse:
    start = time.perf_counter()
    result = await state.batcher.decide(
        DecisionRequest(
            body.customer_id,
            body.channel,
            body.n,
            request_id=request_id_of(request) or None,
            context=dict(body.context) if body.context else None,
            received=start,
        )
    )
    metrics.observe_decision(body.channel, time.perf_counter() - start)
    if log.isEnabledFor(10):  # DEBUG
        log.debug(
            "decision %s for %s on %s: %d offers",
            result.decision_id,
            pseudonym(body.customer_id),
            body.channel,
            len(result.offers),
        )
    return OffersResponse(
        decision_id=result.decision_id,
        customer_id=result.customer_id,
        channel=result.channel,
        policy_name=result.policy_name,
        policy_version_id=result.policy_version_id,
        experiment=result.experiment,
        variant=result.variant,
        offers=[
            OfferOut(
                offer_id=o.offer_id,
                product=o.product,
                rank=o.rank,
                message=o.message,
                propensity=o.propensity,
            )
            for o in result.offers
        ],
        latency_ms=result.latency_ms,
    )
