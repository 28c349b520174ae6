"""Request id, timing, metrics and the access log, as a pure ASGI middleware.

Pure ASGI rather than ``BaseHTTPMiddleware``: no extra task or body copy per
request. It also answers unexpected exceptions itself (500, logged as type and
stack only), so they never reach uvicorn's error log with their message, which
for database errors includes bound parameters such as customer ids.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nbo_engine.api import metrics
from nbo_engine.api.logs import access_log, log_exception

__all__ = ["RequestMiddleware"]

_MAX_REQUEST_ID = 128


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            if 0 < len(text) <= _MAX_REQUEST_ID and text.isprintable():
                return text
            break
    return uuid.uuid4().hex


class RequestMiddleware:
    """Tags each request with an id (``X-Request-ID``, echoed back) and records
    its status and duration by route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        started = False
        rid_header = (b"x-request-id", request_id.encode("latin-1"))

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started = True
                message["headers"] = [*message.get("headers", []), rid_header]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            log_exception(exc, route=route, request_id=request_id)
            status = 500
            if not started:
                body: dict[str, Any] = {
                    "error": "internal_error",
                    "message": "internal error; quote the request id when reporting it",
                    "fields": [],
                    "request_id": request_id,
                    "details": {},
                }
                payload = json.dumps(body).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 500,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode()),
                            rid_header,
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": payload})
        finally:
            elapsed = time.perf_counter() - start
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = str(scope.get("method", ""))
            metrics.REQUESTS.labels(route, method, str(status)).inc()
            metrics.REQUEST_LATENCY.labels(route).observe(elapsed)
            if status >= 400:
                metrics.ERRORS.labels(route, str(status)).inc()
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d %.1fms %s",
                    method,
                    route,
                    status,
                    elapsed * 1000.0,
                    request_id,
                )
