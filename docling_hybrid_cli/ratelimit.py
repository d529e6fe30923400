"""A token bucket that spaces requests to stay under a requests-per-minute cap.

Hosted endpoints count requests, not concurrency: OpenRouter's free tier
allows 20 requests a minute account-wide
(https://openrouter.ai/docs/api-reference/limits), so a long PDF sent
as fast as the server answers would run straight into 429s and then spend
its retry budget waiting them out. Taking a token before every attempt (the
retries included) keeps the run under the cap instead of bouncing off it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate_per_minute`` tokens a minute, at most ``burst`` saved up.

    A burst of 1 (the default) spaces requests evenly, which is what a
    sliding-window limiter on the server side tolerates best. Waiters are
    served in arrival order, one at a time, so no request starves.
    """

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate_per_s = rate_per_minute / 60.0
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = burst
        self._stamp = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate_per_s)
        self._stamp = now

    async def acquire(self) -> float:
        """Wait until a token is free and take it; return the seconds waited."""
        waited = 0.0
        async with self._lock:
            self._refill()
            while self._tokens < 1.0:
                pause = (1.0 - self._tokens) / self.rate_per_s
                await self._sleep(pause)
                waited += pause
                self._refill()
            self._tokens -= 1.0
        return waited
