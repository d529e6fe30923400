"""Retry with exponential backoff and jitter, on two separate budgets.

Transient failures (5xx, resets, timeouts, aborted answers) and rate limits
(429) are counted apart, so a burst of 429s on a shared endpoint does not use
up the attempts meant for real failures (a tool that counts them together
loses whole documents to a rate-limited burst). ``Retry-After`` is honoured when the server
sends one; a wait longer than ``backoff_max_s`` means "not now" and the page
moves on to the next backend instead of sleeping.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import BackendError, BackendRateLimited
from .settings import RetrySettings

__all__ = ["RetryPolicy"]

T = TypeVar("T")


@dataclass
class RetryPolicy:
    """Bounds and timing of retries against one backend for one page."""

    max_attempts: int = 3
    rate_limit_attempts: int = 6
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            max_attempts=settings.max_attempts,
            rate_limit_attempts=settings.rate_limit_attempts,
            backoff_initial_s=settings.backoff_initial_s,
            backoff_max_s=settings.backoff_max_s,
        )

    def delay(self, failures: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt, after ``failures`` failures.

        Our own backoff never exceeds ``backoff_max_s``, jitter included; only
        a server's ``Retry-After`` may ask for longer (and then :meth:`run`
        moves on rather than wait).
        """
        if retry_after is not None:
            return retry_after
        base: float = min(self.backoff_max_s, self.backoff_initial_s * 2.0 ** (failures - 1))
        return min(self.backoff_max_s, base * (0.5 + self.rng.random()))

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        on_retry: Callable[[BackendError, float], None] | None = None,
        on_outcome: Callable[[BackendError | None], None] | None = None,
        should_stop: Callable[[], BackendError | None] | None = None,
    ) -> tuple[T, int]:
        """Call ``attempt`` until it succeeds or a budget runs out.

        Returns the result and the number of attempts made. Non-retryable
        errors (among them empty and cut-off answers: the backend decides
        what to change before trying again) and exhausted budgets re-raise the
        last error, with ``attempts`` set on it. ``on_outcome`` sees every
        attempt's outcome and ``should_stop`` is asked before every retry: the
        pair lets a circuit breaker cut the loop short.
        """
        transient = limited = 0
        while True:
            try:
                result = await attempt()
            except BackendError as exc:
                exc.attempts = transient + limited + 1
                if on_outcome is not None:
                    on_outcome(exc)
                if not exc.retryable:
                    raise
                if isinstance(exc, BackendRateLimited):
                    limited += 1
                    if limited >= self.rate_limit_attempts:
                        raise
                    wait = self.delay(limited, exc.retry_after)
                else:
                    transient += 1
                    if transient >= self.max_attempts:
                        raise
                    wait = self.delay(transient, getattr(exc, "retry_after", None))
                if wait > self.backoff_max_s:
                    raise
                if should_stop is not None and (stop := should_stop()) is not None:
                    stop.attempts = exc.attempts
                    raise stop from exc
                if on_retry is not None:
                    on_retry(exc, wait)
                await self.sleep(wait)
                continue
            if on_outcome is not None:
                on_outcome(None)
            return result, transient + limited + 1
