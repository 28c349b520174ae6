"""Per-key token buckets, in process.

Each key's bucket refills at ``rate_per_minute / 60`` tokens per second and
holds at most :data:`BURST_SECONDS` seconds of that rate (at least one
request), so a client may burst briefly but not exceed its rate over any 10 s.
State is per worker process: with ``nbo serve --workers 2`` a key may get up
to twice its rate in total (documented in docs/api.md); a shared limit would
need a shared store on the request path.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

__all__ = ["BURST_SECONDS", "RateLimiter"]

BURST_SECONDS = 10.0


class RateLimiter:
    """Token buckets keyed by API key id.

    Examples
    --------
    >>> t = [0.0]
    >>> limiter = RateLimiter(clock=lambda: t[0])
    >>> [limiter.take(1, rate_per_minute=12) for _ in range(3)]  # burst of 2
    [0.0, 0.0, 5.0]
    >>> t[0] = 5.0
    >>> limiter.take(1, rate_per_minute=12)
    0.0
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[int, tuple[float, float]] = {}  # id -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key_id: int, rate_per_minute: int) -> float:
        """Spend one token: 0.0 if allowed, else seconds until one is available."""
        per_second = rate_per_minute / 60.0
        capacity = max(1.0, per_second * BURST_SECONDS)
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key_id, (capacity, now))
            tokens = min(capacity, tokens + (now - at) * per_second)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / per_second
