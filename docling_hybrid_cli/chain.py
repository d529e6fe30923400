"""The fallback chain: per page, try each backend in order until one converts it.

Policy (documented in docs/BACKENDS.md): *any* failure on one backend —
transient errors after their retries, a rejection (4xx), a truncated or empty
answer — sends the page to the next backend; the page fails only when every
backend has failed, and then it carries every backend's error.

Each backend sits behind a :class:`~docling_hybrid_cli.breaker.CircuitBreaker`,
so a dead primary costs a few fast refusals for the whole run, not a timeout
per page.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import httpx

from .backends import build_backend
from .backends.base import Backend
from .breaker import CircuitBreaker
from .errors import BackendError, BackendUnavailable
from .pages import AttemptError, Notify, PageImage, PageResult
from .retry import RetryPolicy
from .settings import Settings

__all__ = ["FallbackChain", "build_chain"]


class FallbackChain:
    """Backends in order, each behind its own circuit breaker."""

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not backends:
            raise ValueError("a chain needs at least one backend")
        self.backends = list(backends)
        self.breakers = {
            b.name: CircuitBreaker(
                b.name, threshold=breaker_threshold, cooldown_s=breaker_cooldown_s, clock=clock
            )
            for b in self.backends
        }
        self._clock = clock

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        """Convert one page; never raises for backend failures, the result says what happened."""
        result = PageResult(page=page.page)
        started = self._clock()
        for backend in self.backends:
            try:
                text = await backend.ocr_page(page, notify, breaker=self.breakers[backend.name])
            except BackendError as exc:
                result.attempts += getattr(exc, "attempts", 1)
                result.errors.append(_attempt_error(backend.name, exc))
                if notify is not None:
                    notify("falling back", str(exc))
                continue
            result.attempts += text.attempts
            result.text = text
            break
        result.latency_s = self._clock() - started
        return result

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()


def _attempt_error(backend: str, exc: BackendError) -> AttemptError:
    return AttemptError(
        backend=backend,
        error=str(exc),
        kind=type(exc).__name__,
        status=exc.status,
        transient=isinstance(exc, BackendUnavailable),
    )


def build_chain(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
) -> FallbackChain:
    """The configured ``fallback_chain``, each backend built from its config."""
    retry = RetryPolicy.from_settings(settings.retry)
    backends = [
        build_backend(cfg, retry=retry, transport=transport, environ=environ)
        for cfg in settings.chain
    ]
    return FallbackChain(
        backends,
        breaker_threshold=settings.retry.breaker_threshold,
        breaker_cooldown_s=settings.retry.breaker_cooldown_s,
    )
