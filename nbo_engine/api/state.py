"""What the app holds per process, and the typed dependency that hands it out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request

from nbo_engine.api.auth import KeyCache
from nbo_engine.api.batching import DecisionBatcher, EventBatcher
from nbo_engine.api.deciding import DeciderHolder
from nbo_engine.api.ratelimit import RateLimiter
from nbo_engine.store import Engine

__all__ = ["ApiState", "State", "get_state"]


@dataclass
class ApiState:
    engine: Engine
    keys: KeyCache
    limiter: RateLimiter
    deciders: DeciderHolder
    batcher: DecisionBatcher
    event_batcher: EventBatcher
    head_revision: str | None
    refresh_seconds: float
    #: The time decisions and events are stamped with (a simulated clock in
    #: the closed loop; the wall clock otherwise).
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))


async def get_state(request: Request) -> ApiState:
    """The app's state (async: FastAPI runs a plain ``def`` dependency in its
    thread pool, a thread hop on every request for a dictionary lookup)."""
    state: ApiState = request.app.state.nbo
    return state


State = Annotated[ApiState, Depends(get_state)]
