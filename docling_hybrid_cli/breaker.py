"""A circuit breaker per backend: stop calling a server that refuses connections.

After ``threshold`` consecutive connection failures (counted per attempt,
across all pages) the backend is skipped for ``cooldown_s`` seconds; then one
page is let through as a trial (half-open), and a success closes the
breaker. Only refused or unreachable connections count: a slow or erroring
server is still alive and is handled by retries.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import BackendConnectError, BackendError, BackendUnavailable

__all__ = ["CircuitBreaker"]


class CircuitBreaker:
    """Closed → open after repeated connection failures → half-open after a cooldown."""

    def __init__(
        self,
        name: str,
        *,
        threshold: int = 3,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def blocked(self) -> BackendError | None:
        """The error to record instead of calling the backend, or None to go ahead."""
        if self._opened_at is None:
            return None
        if not self._probing and self._clock() - self._opened_at >= self.cooldown_s:
            self._probing = True
            return None
        return BackendUnavailable(
            f"{self.name}: skipped, the server refused connections "
            f"{self._failures} times in a row (retried every {self.cooldown_s:.0f} s)",
            backend=self.name,
        )

    def record(self, error: BaseException | None) -> None:
        """Feed the outcome of one attempt: None for success.

        Any answer from the server, even an error status, proves it is alive
        and closes the breaker; only connection failures count towards opening it.
        """
        if not isinstance(error, BackendConnectError):
            self._failures = 0
            self._opened_at = None
            self._probing = False
            return
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False
