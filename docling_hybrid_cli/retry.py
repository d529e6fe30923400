"""Retry with exponential backoff and jitter, within a time budget per page and backend.

A flaky server (5xx, 429, dropped connections) is retried until
``deadline_s`` has passed since the page's first attempt on that backend: a
fixed count of attempts loses pages at a 20 % fault rate when no other
backend is left (three attempts fail together for ~1 page in 125), while a
time budget outlasts any run of bad luck and still bounds how long a page
waits on a server that never recovers. The deadline only gates *new*
attempts; a request already sent runs to its own timeout.

Other failures have fixed budgets, because repeating them is not bad luck:

* a timeout is retried once, and a second one moves the page to the next
  backend instead of a third identical wait of ``timeout_s`` (the retry after
  the first timeout is made even if the deadline has passed meanwhile: a
  request that ran for ``timeout_s`` would otherwise always find it spent);
* an unusable answer (an error inside a 200, no choices, nothing usable) is
  tried three times at most: a provider's glitch may pass, but at temperature
  0 the same request mostly gives the same answer, and waiting out the whole
  deadline on it would only spend quota;
* empty, cut-off and withheld answers (``answer_policy.py``) are not retried
  here at all: the backend's loop ladder, or the chain, decides what changes
  before the next request.

``max_attempts`` and ``rate_limit_attempts`` remain optional caps (for the
non-429 failures and for 429s) so config files that set them keep working;
unset, the deadline alone bounds the loop. ``Retry-After`` is honoured when
the server sends one; a wait longer than ``backoff_max_s``, or one that ends
past the deadline, means "not now" and the page moves on instead of sleeping.
While a page sleeps, its request slot goes to another page
(:func:`~docling_hybrid_cli.slots.wait_without_slot`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from .errors import BackendError, BackendRateLimited, BackendTimeout, BadModelOutput
from .settings import RetrySettings
from .slots import wait_without_slot

__all__ = ["RetryPolicy"]

T = TypeVar("T")

TIMEOUT_ATTEMPTS = 2
"""Attempts per page and backend that may end in a timeout: one retry, then the next backend."""
BAD_OUTPUT_ATTEMPTS = 3
"""Attempts per page and backend that may give an unusable answer before the page moves on."""


@dataclass
class _Tally:
    """Failed attempts of one page on one backend, by what went wrong."""

    limited: int = 0
    timeouts: int = 0
    bad_output: int = 0
    other: int = 0

    @property
    def total(self) -> int:
        return self.limited + self.timeouts + self.bad_output + self.other


@dataclass
class RetryPolicy:
    """Bounds and timing of retries against one backend for one page."""

    deadline_s: float = 300.0
    max_attempts: int | None = None
    rate_limit_attempts: int | None = None
    backoff_initial_s: float = 0.25
    backoff_max_s: float = 30.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> RetryPolicy:
        return cls(
            deadline_s=settings.deadline_s,
            max_attempts=settings.max_attempts,
            rate_limit_attempts=settings.rate_limit_attempts,
            backoff_initial_s=settings.backoff_initial_s,
            backoff_max_s=settings.backoff_max_s,
        )

    def delay(self, failures: int, retry_after: float | None) -> float:
        """Seconds to wait before the next attempt, after ``failures`` failures.

        Our own backoff never exceeds ``backoff_max_s``, jitter included; only
        a server's ``Retry-After`` may ask for longer (and then :meth:`run`
        moves on rather than wait). A shorter ``Retry-After`` does not cut our
        backoff: a server answering ``Retry-After: 0`` to every request would
        otherwise be asked again at full speed until the deadline.
        """
        own = self._backoff(failures)
        return own if retry_after is None else max(retry_after, own)

    def _backoff(self, failures: int) -> float:
        doublings = min(failures - 1, 60)  # 2.0 ** 1024 overflows; the cap is reached long before
        base: float = min(self.backoff_max_s, self.backoff_initial_s * 2.0**doublings)
        return min(self.backoff_max_s, base * (0.5 + self.rng.random()))

    def _count(self, exc: BackendError, tally: _Tally) -> int | None:
        """Record one failure; the failures so far of its kind, or None when its budget is spent."""
        if isinstance(exc, BackendRateLimited):
            tally.limited += 1
            cap, count = self.rate_limit_attempts, tally.limited
        elif isinstance(exc, BackendTimeout):
            tally.timeouts += 1
            cap, count = TIMEOUT_ATTEMPTS, tally.timeouts
        elif isinstance(exc, BadModelOutput):
            tally.bad_output += 1
            cap, count = BAD_OUTPUT_ATTEMPTS, tally.bad_output
        else:
            tally.other += 1
            cap, count = None, tally.other
        non_429 = tally.total - tally.limited
        if (
            not isinstance(exc, BackendRateLimited)
            and self.max_attempts is not None
            and non_429 >= self.max_attempts
        ):
            return None
        if cap is not None and count >= cap:
            return None
        return count

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
        pair lets a circuit breaker cut the loop short (the last error is raised).
        """
        tally = _Tally()
        started = self.clock()
        slept = 0.0  # the budget is spent by time passed or, if more, by the waits we chose
        while True:
            try:
                result = await attempt()
            except BackendError as exc:
                exc.attempts = tally.total + 1
                if on_outcome is not None:
                    on_outcome(exc)
                if not exc.retryable:
                    raise
                failures = self._count(exc, tally)
                if failures is None:
                    raise
                wait = self.delay(failures, getattr(exc, "retry_after", None))
                if wait > self.backoff_max_s:
                    raise
                first_timeout = isinstance(exc, BackendTimeout) and tally.timeouts == 1
                spent = max(self.clock() - started, slept)
                if not first_timeout and spent + wait > self.deadline_s:
                    raise
                if should_stop is not None and should_stop() is not None:
                    raise  # the page keeps its own error; the breaker's is for pages not yet sent
                if on_retry is not None:
                    on_retry(exc, wait)
                await wait_without_slot(self.sleep, wait)
                slept += wait
                continue
            if on_outcome is not None:
                on_outcome(None)
            return result, tally.total + 1
