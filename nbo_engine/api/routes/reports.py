"""``GET /v1/reports/weekly/latest``: the newest weekly uplift report."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from nbo_engine.api.problems import ApiError, error_responses
from nbo_engine.api.state import State
from nbo_engine.store import reports as store

__all__ = ["router"]

router = APIRouter(tags=["reports"])

#: The page is self-contained: inline styles and SVG, no script, nothing fetched.
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


@router.get(
    "/v1/reports/weekly/latest",
    response_class=HTMLResponse,
    summary="The newest weekly uplift report",
    description=(
        "The report of the most recent week written (by the weekly job or "
        "`nbo report weekly`): one self-contained HTML page, or with "
        "`format=json` every figure in it as JSON "
        '(`{"week", "generated_at", "currency", "policy", "figures": {name: '
        "[records]}}`).\n\nRoles: analyst, campaign_manager, admin."
    ),
    responses={
        200: {
            "content": {"text/html": {}, "application/json": {}},
            "description": "The page, or its figures.",
        },
        **error_responses(401, 403, 404, 422, 429),
    },
)
async def latest_weekly_report(
    state: State,
    fmt: Annotated[
        Literal["html", "json"],
        Query(alias="format", description="`html` (the page) or `json` (figures)."),
    ] = "html",
) -> Response:
    row = await run_in_threadpool(store.latest_weekly_report, state.engine)
    if row is None:
        raise ApiError(
            404,
            "no_report",
            "no weekly report has been written yet; run the weekly job or "
            "`nbo report weekly --out DIR`",
        )
    if fmt == "json":
        return Response(row.data, media_type="application/json")
    return HTMLResponse(row.html, headers={"Content-Security-Policy": _PAGE_POLICY})
