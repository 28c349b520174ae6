"""Error answers: one JSON shape (:class:`ErrorBody`) for every failure.

HTTP errors are created here and only here (and raised as :class:`ApiError`
by the routes and the auth dependency). Domain exceptions from the engine are
mapped by class, walking the exception's MRO, so a new subclass inherits its
parent's status. Validation errors list every invalid field by its path
(``events[2].type``), without echoing the value sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nbo_engine.api.logs import log, log_exception
from nbo_engine.api.schemas import ErrorBody, FieldError
from nbo_engine.errors import NboError

__all__ = [
    "ApiError",
    "error_responses",
    "field_path",
    "install_handlers",
    "request_id_of",
    "route_of",
]

#: Engine exceptions -> (status, code), by class name so the API does not
#: depend on where in ``nbo_engine.errors`` each is defined. First match in
#: the exception's MRO wins.
DOMAIN_STATUS: dict[str, tuple[int, str]] = {
    "UnknownCustomerError": (404, "unknown_customer"),
    "UnknownDecisionError": (422, "unknown_decision"),
    "UnknownExperimentError": (404, "unknown_experiment"),
    "ExperimentStateError": (409, "conflict"),
    "DecisionInputError": (422, "invalid_input"),
    "NoActivePolicyError": (503, "no_live_policy"),
    "DataValidationError": (422, "invalid_input"),
}

_DESCRIPTIONS = {
    401: "Missing, unknown or revoked API key.",
    403: "The key's role may not call this route.",
    404: "Not found.",
    422: "Invalid input: `fields` lists every invalid field by path.",
    429: "Rate limit of the key exceeded; retry after `Retry-After` seconds.",
    503: "Not ready (no live policy published, or the store is unreachable).",
}


class ApiError(Exception):
    """An HTTP error answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        fields: Sequence[FieldError] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.fields = list(fields)
        self.details = details or {}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for error statuses of a route."""
    # the content type is pinned: a route serving HTML answers errors in JSON
    body = {"schema": {"$ref": "#/components/schemas/ErrorBody"}}
    return {
        s: {
            "model": ErrorBody,
            "description": _DESCRIPTIONS.get(s, "Error."),
            "content": {"application/json": body},
        }
        for s in statuses
    }


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def field_path(loc: Sequence[int | str]) -> tuple[str, str]:
    """``("body", "events", 2, "type")`` -> ``("body", "events[2].type")``."""
    if not loc:
        return "body", "(body)"
    where, rest = str(loc[0]), loc[1:]
    out = ""
    for part in rest:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return where, out or f"({where})"


def _answer(request: Request, err: ApiError) -> JSONResponse:
    body = ErrorBody(
        error=err.code,
        message=err.message,
        fields=err.fields,
        request_id=request_id_of(request) or None,
        details=err.details,
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=err.status, headers=err.headers
    )


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return _answer(request, exc)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for e in exc.errors():
        where, path = field_path(tuple(e.get("loc", ())))
        fields.append(
            FieldError(
                field=path,
                location=where,
                message=str(e.get("msg", "invalid")),
                type=str(e.get("type", "value_error")),
            )
        )
    n = len(fields)
    names = ", ".join(dict.fromkeys(f.field for f in fields))
    return _answer(
        request,
        ApiError(
            422,
            "validation_error",
            f"{n} invalid field{'s' if n != 1 else ''}: {names}",
            fields=fields,
        ),
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    headers = dict(exc.headers or {})
    return _answer(
        request,
        ApiError(
            exc.status_code,
            codes.get(exc.status_code, "http_error"),
            str(exc.detail),
            headers=headers,
        ),
    )


async def _on_domain(request: Request, exc: Exception) -> JSONResponse:
    for klass in type(exc).__mro__:
        mapped = DOMAIN_STATUS.get(klass.__name__)
        if mapped is not None:
            status, code = mapped
            details: dict[str, Any] = {}
            ids = getattr(exc, "decision_ids", None)
            if ids:
                details["decision_ids"] = list(ids)
            # The message may name a customer: it goes to the caller, not the log.
            log.info(
                "%s %s on %s (request %s)",
                status,
                code,
                route_of(request),
                request_id_of(request),
            )
            return _answer(request, ApiError(status, code, str(exc), details=details))
    return await _on_unexpected(request, exc)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log_exception(exc, route=route_of(request), request_id=request_id_of(request))
    return _answer(
        request,
        ApiError(
            500,
            "internal_error",
            "internal error; quote the request id when reporting it",
        ),
    )


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(NboError, _on_domain)
    app.add_exception_handler(Exception, _on_unexpected)
