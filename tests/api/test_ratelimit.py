"""Per-key token buckets: pure checks with a fake clock, and 429 + Retry-After
from a live server."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from nbo_engine.api.ratelimit import BURST_SECONDS, RateLimiter
from nbo_engine.store import Engine
from nbo_engine.store.apikeys import create_key
from tests.api.conftest import Live


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("rate", [6, 60, 600, 6000])
def test_bucket_allows_the_burst_then_the_rate(rate: int) -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    burst = max(1, int(rate / 60 * BURST_SECONDS))
    assert all(limiter.take(1, rate) == 0.0 for _ in range(burst))
    wait = limiter.take(1, rate)
    assert wait == pytest.approx(60 / rate)  # one token's refill time
    # Over a long run the allowed count converges to the rate.
    allowed = 0
    for _ in range(2 * rate):  # one minute, asking twice as often as allowed
        clock.t += 30 / rate
        allowed += limiter.take(1, rate) == 0.0
    assert allowed == pytest.approx(rate, abs=1)


def test_buckets_are_per_key() -> None:
    limiter = RateLimiter(clock=Clock())
    assert limiter.take(1, 6) == 0.0
    assert limiter.take(1, 6) > 0
    assert limiter.take(2, 6) == 0.0


def test_429_with_retry_after(
    sqlite_engine: Engine, live_factory: Callable[..., Live]
) -> None:
    # Buckets live in the process: the backend plays no part.
    live = live_factory(sqlite_engine)
    _, key = create_key(sqlite_engine, role="admin", name="slow", rate_per_minute=60)
    with live.client(key) as client:
        codes = [client.get("/metrics").status_code for _ in range(12)]
        r = client.get("/metrics")
    assert codes[:10] == [200] * 10  # burst: 10 s at 1/s
    assert codes[10:] == [429, 429]
    assert r.status_code == 429
    assert r.headers["retry-after"] == "1"
    assert r.json()["error"] == "rate_limited"
    assert "rate limit of 60 requests/minute exceeded" in r.json()["message"]
