"""The Backend protocol and the shared machinery of HTTP backends.

A backend turns one :class:`PageImage` into one :class:`PageText` or raises a
:class:`BackendError`. HTTP backends differ only in how they build the request
and read the answer; concurrency bounds, retries and progress notices live
here once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol, runtime_checkable

import httpx

from ..breaker import CircuitBreaker
from ..client import ChatClient, ChatResult, build_chat_body
from ..errors import BackendError, BackendRejected
from ..pages import PageImage, PageText
from ..ratelimit import TokenBucket
from ..retry import RetryPolicy
from ..settings import BackendConfig

__all__ = ["Backend", "HttpBackend", "Notify"]

Notify = Callable[[str, str], None]
"""Progress callback: ``notify(state, detail)``, e.g. ``("retrying", "HTTP 503, in 1.2 s")``."""


@runtime_checkable
class Backend(Protocol):
    """Anything that can convert a page."""

    name: str
    config: BackendConfig

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText: ...

    async def aclose(self) -> None: ...


class HttpBackend:
    """A backend behind an OpenAI-compatible chat-completions endpoint.

    Subclasses implement :meth:`build_body` and may override :meth:`finish`
    (post-processing) and :meth:`attempt` (e.g. to retry a truncated answer
    with different parameters).
    """

    def __init__(
        self,
        config: BackendConfig,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.retry = retry or RetryPolicy()
        self.api_key = self._api_key(environ if environ is not None else dict(os.environ))
        self.client = ChatClient.create(
            backend=config.name,
            base_url=config.base_url,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            max_connections=config.max_concurrency,
            api_key=self.api_key,
            headers={**self.default_headers(), **config.headers},
            transport=transport,
        )
        self._slots = asyncio.Semaphore(config.max_concurrency)
        self.limiter = (
            TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        )

    def default_headers(self) -> dict[str, str]:
        """Headers a backend family always sends; the config's ``headers`` win over them."""
        return {}

    def _api_key(self, environ: dict[str, str]) -> str | None:
        if not self.config.api_key_env:
            return None
        return environ.get(self.config.api_key_env) or None

    def missing_key_error(self) -> BackendError | None:
        """A backend whose key variable is configured but empty fails before any request."""
        if self.config.api_key_env and not self.api_key:
            return BackendRejected(
                f"{self.name}: {self.config.api_key_env} is not set",
                backend=self.name,
                hint=f"export {self.config.api_key_env}=... or remove {self.name} from the chain",
            )
        return None

    def build_body(self, page: PageImage, **overrides: Any) -> bytes:
        """The default request: the page plus the configured prompt and parameters."""
        params: dict[str, Any] = {
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            **self.config.extra_body,
            **overrides,
        }
        prompt = self.config.prompt or "Convert this page to Markdown."
        return build_chat_body(model=self.config.model, page=page, prompt=prompt, params=params)

    def finish(self, result: ChatResult, page: PageImage) -> PageText:
        """Turn the server's answer into page text; the default keeps it as is."""
        return self.page_text(result, result.content.strip())

    def page_text(self, result: ChatResult, markdown: str, **extra: Any) -> PageText:
        return PageText(
            markdown=markdown,
            backend=self.name,
            model=result.model or self.config.model,
            finish_reason=result.finish_reason,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            cost=result.cost,
            raw=result.content,
            **extra,
        )

    async def attempt(
        self, page: PageImage, notify: Notify | None, breaker: CircuitBreaker | None
    ) -> PageText:
        """One page through the retry policy; subclasses wrap it for special cases."""
        return await self.send(page, self.build_body(page), notify, breaker)

    async def send(
        self,
        page: PageImage,
        body: bytes,
        notify: Notify | None,
        breaker: CircuitBreaker | None = None,
    ) -> PageText:
        def on_retry(exc: BackendError, wait: float) -> None:
            if notify is not None:
                notify("retrying", f"{exc} — again in {wait:.1f} s")

        async def once() -> ChatResult:
            if notify is not None:
                notify("sent", self.name)
            return await self.call(body)

        result, attempts = await self.retry.run(
            once,
            on_retry=on_retry,
            on_outcome=breaker.record if breaker else None,
            should_stop=breaker.blocked if breaker else None,
        )
        # Post-processing can be heavy (DeepSeek draws and encodes figure crops, 4-6 ms
        # each); off the event loop it overlaps other pages' I/O, and pdfium and Pillow
        # release the GIL.
        text = await asyncio.to_thread(self.finish, result, page)
        return replace(text, attempts=attempts)

    async def call(self, body: bytes) -> ChatResult:
        """One HTTP attempt, after taking a token from the rate limiter when one is set."""
        if self.limiter is not None:
            await self.limiter.acquire()
        return await self.client.chat(body)

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText:
        if (missing := self.missing_key_error()) is not None:
            raise missing
        async with self._slots:
            if breaker is not None and (blocked := breaker.blocked()) is not None:
                raise blocked
            return await self.attempt(page, notify, breaker)

    async def aclose(self) -> None:
        await self.client.aclose()
