"""``GET /v1/customers/{customer_id}``: profile, scores and segments."""

from __future__ import annotations

from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path

from nbo_engine.api.problems import ApiError, error_responses
from nbo_engine.api.schemas import CustomerProfile, CustomerResponse, Segment
from nbo_engine.api.state import State
from nbo_engine.store import scores as score_store
from nbo_engine.store.queries import read_table

__all__ = ["router"]

router = APIRouter(tags=["customers"])

#: Categorical score columns reported as segments (the rest are scores).
SEGMENT_KINDS = (
    "value_tier",
    "cluster",
    "life_stage",
    "product_affinity",
    "micro_segment",
)
#: Profile columns shown; direct identifiers (names, address, postcode,
#: e-mail, phone, birth date) are deliberately not.
PROFILE_COLUMNS = [f for f in CustomerProfile.model_fields if f != "products"]


def _value(v: Any) -> Any:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if hasattr(v, "item"):
        return v.item()
    return v


@router.get(
    "/v1/customers/{customer_id}",
    response_model=CustomerResponse,
    summary="A customer's profile, scores and segments",
    description=(
        "The profile (without direct identifiers), the scores and the segments "
        "of the customer in the active score snapshot (the newest that "
        "succeeded). `snapshot_id` is null when nothing has been scored yet.\n\n"
        "Roles: analyst, campaign_manager, admin."
    ),
    responses=error_responses(401, 403, 404, 422, 429),
)
def get_customer(
    customer_id: Annotated[
        str, Path(min_length=1, max_length=128, description="The customer id.")
    ],
    state: State,
) -> CustomerResponse:
    engine = state.engine
    rows = read_table(
        engine, "customers", columns=PROFILE_COLUMNS, customer_ids=[customer_id]
    )
    if rows.empty:
        raise ApiError(
            404, "unknown_customer", f"customer {customer_id!r} is not in the store"
        )
    row = {c: _value(v) for c, v in rows.iloc[0].items()}
    accounts = read_table(
        engine,
        "accounts",
        columns=["product", "close_date"],
        customer_ids=[customer_id],
    )
    open_products = accounts.loc[accounts["close_date"].isna(), "product"]
    profile = CustomerProfile(
        **{k: row.get(k) for k in PROFILE_COLUMNS},
        products=sorted(set(open_products.astype(str))),
    )
    snapshot = score_store.latest_snapshot(engine)
    if snapshot is None:
        return CustomerResponse(profile=profile, snapshot_id=None)
    snapshot_id = int(snapshot["id"])
    scored = score_store.customer_scores(engine, customer_id, snapshot_id) or {}
    names: dict[tuple[str, str], str] = {}
    profiles = score_store.segment_profiles(engine, snapshot_id)
    for kind, segment, name in profiles[["kind", "segment", "name"]].itertuples(
        index=False
    ):
        names[(str(kind), str(segment))] = str(name)
    segments = [
        Segment(
            kind=k,
            segment=str(scored[k]),
            name=names.get((k, str(scored[k]))),
        )
        for k in SEGMENT_KINDS
        if scored.get(k) is not None
    ]
    scores = {
        k: _value(v)
        for k, v in scored.items()
        if k not in SEGMENT_KINDS and k not in ("snapshot_id", "customer_id")
    }
    return CustomerResponse(
        profile=profile,
        snapshot_id=snapshot_id,
        snapshot_as_of=snapshot["as_of"],
        scores=scores,
        segments=segments,
    )
