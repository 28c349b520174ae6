"""The FastAPI app factory.

``create_app()`` with no argument serves the store named by
``NBO_DATABASE_URL``; ``nbo serve`` hands uvicorn this factory, so each worker
process builds its own app, engine pool, key cache and decider.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.concurrency import run_in_threadpool

from nbo_engine import __version__
from nbo_engine.api.auth import PUBLIC, KeyCache, access_of, authorize, check_declared
from nbo_engine.api.batching import DecisionBatcher, EventBatcher
from nbo_engine.api.deciding import DeciderHolder
from nbo_engine.api.logs import log
from nbo_engine.api.middleware import RequestMiddleware
from nbo_engine.api.problems import install_handlers
from nbo_engine.api.ratelimit import RateLimiter
from nbo_engine.api.routes import customers, events, experiments, offers, ops, reports
from nbo_engine.api.state import ApiState
from nbo_engine.store import Engine, make_engine, migrate

__all__ = ["create_app"]

_DESCRIPTION = """\
Next best offers for a bank's channels, and the outcomes that teach the engine.

**Authentication**: send an API key in the `X-API-Key` header (create one with
`nbo apikey create --role ROLE --name NAME`). Each route lists the roles that may
call it; a missing, wrong or revoked key gets 401, a key of another role 403, a
key over its rate limit 429 with `Retry-After`.

**Errors** all have one shape (`ErrorBody`): a stable `error` code, a `message`,
and for invalid input the list of `fields` by path (e.g. `events[2].type`).
"""


async def _refresh_loop(state: ApiState) -> None:
    while True:
        try:
            await run_in_threadpool(state.deciders.refresh)
        except Exception as exc:  # keep serving the decider we have
            log.warning("decider refresh failed: %s", type(exc).__name__)
        await asyncio.sleep(state.refresh_seconds)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, with each route's security and roles from the
    access table (public routes need no key)."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    schema.setdefault("components", {})["securitySchemes"] = {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}
    }
    for path, operations in schema.get("paths", {}).items():
        for method, op in operations.items():
            access = access_of(method.upper(), path)
            if access is None or access == PUBLIC:
                op["security"] = []
                op["x-roles"] = ["public"]
            else:
                op["security"] = [{"ApiKey": []}]
                op["x-roles"] = sorted(access)
    app.openapi_schema = schema
    return schema


def create_app(
    engine: Engine | None = None,
    *,
    key_cache_seconds: float = 5.0,
    refresh_seconds: float = 1.0,
    clock: Callable[[], dt.datetime] | None = None,
    max_batch: int = 64,
) -> FastAPI:
    """Build the offer API.

    Parameters
    ----------
    engine
        The store; default the one named by ``NBO_DATABASE_URL``.
    key_cache_seconds
        How long a key lookup is cached in the process (a revocation takes
        effect within this time); 0 disables the cache.
    refresh_seconds
        Interval of the background check for a new live policy, bandit state
        or score snapshot.
    clock
        Returns the (aware) time decisions and received events are stamped
        with; default the wall clock. The simulated closed loop passes its
        simulated clock.
    max_batch
        Most offer requests decided (and logged), or event requests stored,
        in one transaction by the micro-batchers (``nbo_engine.api.batching``).
    """
    store = engine if engine is not None else make_engine()
    deciders = DeciderHolder(store)
    state = ApiState(
        engine=store,
        keys=KeyCache(store, key_cache_seconds),
        limiter=RateLimiter(),
        deciders=deciders,
        batcher=DecisionBatcher(deciders, lambda: state.clock(), max_batch=max_batch),
        event_batcher=EventBatcher(store, lambda: state.clock(), max_batch=max_batch),
        head_revision=migrate.head_revision(),
        refresh_seconds=refresh_seconds,
    )
    if clock is not None:
        state.clock = clock

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_refresh_loop(state))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await state.batcher.close()
            await state.event_batcher.close()

    app = FastAPI(
        title="nbo-engine offer API",
        version=__version__,
        description=_DESCRIPTION,
        dependencies=[Depends(authorize)],
        lifespan=lifespan,
        openapi_tags=[
            {"name": "offers", "description": "Decisions for channels."},
            {"name": "events", "description": "Outcomes of offers shown."},
            {"name": "customers", "description": "Profiles and scores."},
            {"name": "operations", "description": "Probes and metrics."},
            {"name": "experiments", "description": "A/B tests and holdouts."},
            {"name": "reports", "description": "The weekly uplift report."},
        ],
    )
    app.state.nbo = state
    for module in (offers, events, customers, ops, experiments, reports):
        app.include_router(module.router)
    install_handlers(app)
    app.add_middleware(RequestMiddleware)
    check_declared(app.routes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app
