"""Liveness, readiness and metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from nbo_engine.api import metrics
from nbo_engine.api.problems import error_responses
from nbo_engine.api.schemas import HealthResponse, ReadyResponse
from nbo_engine.api.state import State
from nbo_engine.store import migrate
from nbo_engine.store.policies import read_slot

__all__ = ["router"]

router = APIRouter(tags=["operations"])


@router.get(
    "/health",
    response_model=HealthResponse,
    summary="Liveness: the process answers",
    description="Touches no database. Public (no key).",
)
async def health() -> HealthResponse:
    return HealthResponse()


@router.get(
    "/ready",
    response_model=ReadyResponse,
    summary="Readiness: store reachable and migrated, a policy live",
    description=(
        "200 when the store answers, is at this release's migration head and a "
        "policy version is in the `live` slot; 503 otherwise, with each check's "
        "outcome. Public (no key)."
    ),
    responses={503: {"model": ReadyResponse, "description": "Not ready."}},
)
def ready(state: State) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        current = migrate.current_revision(state.engine)
        checks["database"] = "ok"
        if current == state.head_revision:
            checks["migration"] = f"ok: {current}"
        else:
            checks["migration"] = (
                f"failed: store at {current or 'none'}, expected "
                f"{state.head_revision}; run `nbo db upgrade`"
            )
    except Exception as exc:  # the probe reports any failure to connect
        checks["database"] = f"failed: {type(exc).__name__}"
        checks["migration"] = "failed: store unreachable"
    if checks["migration"].startswith("ok"):
        try:
            live = read_slot(state.engine, "live")
            checks["policy"] = (
                f"ok: version id {live}"
                if live is not None
                else "failed: no live policy; run `nbo policy publish FILE --activate`"
            )
        except Exception as exc:
            checks["policy"] = f"failed: {type(exc).__name__}"
    else:
        checks["policy"] = "failed: store not ready"
    ok = all(v.startswith("ok") for v in checks.values())
    body = ReadyResponse(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description=(
        "Decisions, decision latency, events by type, requests and errors by "
        "route and status, summed over all workers. Roles: admin (send the key "
        "as `X-API-Key` or `Authorization: Bearer`)."
    ),
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Exposition format."},
        **error_responses(401, 403, 429),
    },
)
def get_metrics() -> Response:
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE)
