"""The fallback chain: per page, try each backend in order until one converts it.

Policy (documented in docs/BACKENDS.md): *any* failure on one backend —
transient errors after their retries, a rejection (4xx), a truncated or empty
answer — sends the page to the next backend; the page fails only when every
backend has failed, and then it carries every backend's error. Two outcomes
are empty pages instead, converted with nothing to write: a page the renderer
found blank is not sent anywhere, and a page on which no backend found text
(``answer_policy.page_is_empty``) is empty, not failed.

Each backend sits behind a :class:`~docling_hybrid_cli.breaker.CircuitBreaker`,
so a dead primary costs a few fast refusals for the whole run, not a timeout
per page.

A converted page is then checked against its own text layer
(:mod:`~docling_hybrid_cli.quality.review`): scored, flagged when it looks
wrong, and with ``--verify`` read once more by the next backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx

from .answer_policy import page_is_empty
from .backends import build_backend
from .backends.base import Backend
from .breaker import CircuitBreaker
from .errors import BackendError
from .pages import AttemptError, Notify, PageImage, PageResult, PageText
from .quality.review import QualityCheck
from .retry import RetryPolicy
from .settings import Settings
from .spending import SpendingCap
from .textclean import one_line

__all__ = ["BLANK_PAGE", "FallbackChain", "build_chain"]

BLANK_PAGE = "blank page: no text layer and a near-uniform image"


class FallbackChain:
    """Backends in order, each behind its own circuit breaker."""

    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        breaker_threshold: int = 3,
        breaker_cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        quality: QualityCheck | None = None,
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
        self.quality = quality

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        """Convert one page; never raises for backend failures, the result says what happened."""
        result = PageResult(page=page.page)
        if page.blank:
            result.text = PageText(markdown="", empty_reason=BLANK_PAGE)
            return result
        started = self._clock()
        failures: list[BackendError] = []
        chosen: Backend | None = None
        for backend in self.backends:
            try:
                text = await backend.ocr_page(page, notify, breaker=self.breakers[backend.name])
            except BackendError as exc:
                result.attempts += exc.attempts
                tried = [*exc.earlier, exc]
                failures.extend(tried)
                result.errors.extend(AttemptError.of(backend.name, f) for f in tried)
                if notify is not None:
                    notify("falling back", str(exc))
                continue
            except Exception as exc:
                # A bug, or an answer shaped in a way no check foresaw: it must cost
                # this backend's attempt, never the run (and the rest of a batch).
                result.attempts += 1
                result.errors.append(_unexpected(backend.name, exc))
                if notify is not None:
                    notify("falling back", f"{backend.name}: unexpected {type(exc).__name__}")
                continue
            result.attempts += text.attempts
            result.errors.extend(text.failed_steps)
            result.text, chosen = text, backend
            break
        if result.text is None and page_is_empty(failures):
            result.text = PageText(markdown="", empty_reason=_no_text_reason(result.errors))
        if self.quality is not None:
            later = self.backends[self.backends.index(chosen) + 1 :] if chosen else []
            await self.quality.review(page, result, chosen, later, self._read_again, notify)
        result.latency_s = self._clock() - started
        return result

    async def _read_again(self, backend: Backend, page: PageImage) -> PageText | str:
        """A second reading of a suspect page (``--verify``): the text, or why there is none."""
        try:
            return await backend.ocr_page(page, None, breaker=self.breakers[backend.name])
        except BackendError as exc:
            return one_line(str(exc).removeprefix(f"{backend.name}: "))
        except Exception as exc:
            return _unexpected(backend.name, exc).error

    def request_capacity(self) -> tuple[int, int, bool]:
        """The first backend's (requests in flight allowed now, the most ever, adaptive?).

        Pages start on the first backend, so its limits size the pipeline's
        request slots (``convert.concurrency = "auto"``).
        """
        first = self.backends[0]
        now, most = first.request_capacity()
        return now, most, first.config.adaptive

    def concurrency_limits(self) -> dict[str, dict[str, int]]:
        """Adaptive backends' replica limits now: ``{backend: {replica URL: limit}}``."""
        return {b.name: limits for b in self.backends if (limits := b.concurrency_limits())}

    def concurrency_report(self) -> dict[str, list[dict[str, Any]]]:
        """Adaptive backends' replica limits with their bounded traces, for reports."""
        return {b.name: report for b in self.backends if (report := b.concurrency_report())}

    async def aclose(self) -> None:
        for backend in self.backends:
            await backend.aclose()


def _unexpected(backend: str, exc: Exception) -> AttemptError:
    """An exception outside our tree, recorded like any failed attempt (with its type)."""
    try:
        detail = str(exc)
    except Exception:
        detail = ""
    text = f"unexpected {type(exc).__name__}" + (f": {detail}" if detail else "")
    return AttemptError(backend=backend, error=one_line(text, 500), kind=type(exc).__name__)


def _no_text_reason(errors: list[AttemptError]) -> str:
    """Why a page is empty, from what each backend said: "deepseek-vllm: empty answer; …"."""
    said: dict[str, str] = {}
    for error in errors:
        said[error.backend] = error.error  # the last word of each backend
    return "no backend found text (" + "; ".join(f"{b}: {e}" for b, e in said.items()) + ")"


def build_chain(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
    spending: SpendingCap | None = None,
) -> FallbackChain:
    """The configured ``fallback_chain``, each backend built from its config.

    Every backend shares ``spending``, the run's cost record (and ``--max-cost`` cap).
    """
    retry = RetryPolicy.from_settings(settings.retry)
    backends = [
        build_backend(cfg, retry=retry, transport=transport, environ=environ, spending=spending)
        for cfg in settings.chain
    ]
    convert = settings.convert
    return FallbackChain(
        backends,
        breaker_threshold=settings.retry.breaker_threshold,
        breaker_cooldown_s=settings.retry.breaker_cooldown_s,
        quality=QualityCheck(suspect_below=convert.suspect_below, verify=convert.verify)
        if convert.text_agreement
        else None,
    )
