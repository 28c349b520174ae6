"""Who may call what: API keys, roles, the route table and rate limits.

Every route is declared in :data:`ROUTE_ACCESS`, as ``PUBLIC`` or as the set of
roles allowed. :func:`authorize` runs as an app-wide dependency before every
API route, finds the matched route's declaration and fails closed (403) if
there is none; :func:`check_declared` refuses to build an app with an
undeclared route, and a test walks ``app.routes`` to the same end.

Keys arrive in ``X-API-Key`` (or ``Authorization: Bearer``, for scrapers such
as Prometheus that cannot set other headers). Lookups are cached per process
for ``ttl`` seconds (hits and misses), keyed by the key's SHA-256, so the
request path does not query the store each time; a revocation therefore takes
effect within ``ttl`` seconds in every worker.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Final, Literal

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Route

from nbo_engine.api.problems import ApiError
from nbo_engine.api.ratelimit import RateLimiter
from nbo_engine.errors import ConfigError
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import ROLES, ApiKeyRecord, hash_key, lookup_key

__all__ = [
    "PUBLIC",
    "ROUTE_ACCESS",
    "Access",
    "KeyCache",
    "access_of",
    "authorize",
    "check_declared",
    "flat_routes",
]

Access = frozenset[str] | Literal["public"]
PUBLIC: Final = "public"

_CHANNEL = frozenset({"channel", "admin"})
_ANALYSIS = frozenset({"analyst", "campaign_manager", "admin"})
_CAMPAIGNS = frozenset({"campaign_manager", "admin"})

#: (method, route template) -> who may call it. HEAD is checked as GET.
ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    ("POST", "/v1/offers"): _CHANNEL,
    ("POST", "/v1/events"): _CHANNEL,
    ("GET", "/v1/customers/{customer_id}"): _ANALYSIS,
    ("GET", "/v1/reports/weekly/latest"): _ANALYSIS,
    ("GET", "/metrics"): frozenset({"admin"}),
    ("POST", "/v1/experiments"): _CAMPAIGNS,
    ("GET", "/v1/experiments"): _ANALYSIS,
    ("GET", "/v1/experiments/{name}"): _ANALYSIS,
    ("POST", "/v1/experiments/{name}/start"): _CAMPAIGNS,
    ("POST", "/v1/experiments/{name}/stop"): _CAMPAIGNS,
    # Probes and the API's own documentation carry no data.
    ("GET", "/health"): PUBLIC,
    ("GET", "/ready"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
}
assert all(
    a == PUBLIC or (a and set(a) <= set(ROLES)) for a in ROUTE_ACCESS.values()
), "ROUTE_ACCESS names an unknown role"


def flat_routes(routes: Iterable[BaseRoute]) -> Iterator[BaseRoute]:
    """Every route, descending into included routers (FastAPI >= 0.13x keeps
    an included router as one entry holding the original router)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from flat_routes(inner.routes)
        else:
            yield route


def _methods(route: BaseRoute) -> list[str]:
    if isinstance(route, APIRoute | Route):
        return sorted({"GET" if m == "HEAD" else m for m in route.methods or ()})
    return []


def access_of(method: str, path: str) -> Access | None:
    """The declaration for a method and route template, or None."""
    return ROUTE_ACCESS.get(("GET" if method == "HEAD" else method, path))


def check_declared(routes: Iterable[BaseRoute]) -> None:
    """Raise ConfigError naming every route without an access declaration."""
    missing = [
        f"{m} {getattr(r, 'path', type(r).__name__)}"
        for r in flat_routes(routes)
        for m in (_methods(r) or ["*"])
        if access_of(m, str(getattr(r, "path", ""))) is None
    ]
    if missing:
        raise ConfigError(
            "routes without an access declaration in nbo_engine.api.auth."
            f"ROUTE_ACCESS: {', '.join(missing)}"
        )


class KeyCache:
    """Key lookups, cached for ``ttl`` seconds (``ttl=0``: no cache)."""

    def __init__(
        self,
        engine: Engine,
        ttl: float,
        *,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[ApiKeyRecord | None, float]] = {}

    async def lookup(self, key: str) -> ApiKeyRecord | None:
        digest = hash_key(key)
        now = self._clock()
        hit = self._entries.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = await run_in_threadpool(lookup_key, self._engine, key)
        if self._ttl > 0:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[digest] = (record, now + self._ttl)
        return record


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authorize(request: Request) -> None:
    """App-wide dependency: authenticate, rate-limit and authorise the request."""
    route = request.scope.get("route")
    path = str(getattr(route, "path", ""))
    access = access_of(request.method, path)
    if access is None:  # fail closed; check_declared makes this unreachable
        raise ApiError(403, "forbidden", f"route {path} has no access declaration")
    if access == PUBLIC:
        return
    key = _presented_key(request)
    if key is None:
        raise ApiError(
            401,
            "unauthorized",
            "missing API key: send it in the X-API-Key header",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    state = request.app.state.nbo
    record = await state.keys.lookup(key)
    if record is None:
        raise ApiError(
            401,
            "unauthorized",
            "invalid API key",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    if not record.active:
        raise ApiError(
            401,
            "unauthorized",
            f"API key {record.prefix} was revoked",
            headers={"WWW-Authenticate": "ApiKey"},
        )
    limiter: RateLimiter = state.limiter
    wait = limiter.take(record.id, record.rate_per_minute)
    if wait > 0:
        retry = max(1, math.ceil(wait))
        raise ApiError(
            429,
            "rate_limited",
            f"rate limit of {record.rate_per_minute} requests/minute exceeded "
            f"for key {record.prefix}; retry in {retry} s",
            headers={"Retry-After": str(retry)},
        )
    if record.role not in access:
        raise ApiError(
            403,
            "forbidden",
            f"role {record.role!r} may not call {request.method} {path}; "
            f"allowed: {', '.join(sorted(access))}",
        )
    request.state.api_key = record
