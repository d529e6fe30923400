"""The shared machinery of HTTP backends (the Backend protocol lives in :mod:`.protocol`).

HTTP backends differ only in how they build the request, read the answer
and check their server; the endpoint pool (one server or several replicas),
retries, the loop ladder and progress notices live here once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import httpx

from ..answer_policy import EMPTY_ANSWER_RETRIES, empty_answer, next_move
from ..backend_configs import HttpBackendConfig
from ..breaker import CircuitBreaker
from ..client import ChatClient, ChatResult, build_chat_body, server_root
from ..concurrency import AdaptiveLimit
from ..endpoints import EndpointPool, Moved, Replica
from ..errors import BackendError
from ..health_report import HealthReport, KeyInfo
from ..pages import AttemptError, Notify, PageImage, PageText
from ..ratelimit import TokenBucket
from ..retry import RetryPolicy
from ..spending import SpendingCap
from .credentials import Credentials
from .protocol import Backend, BackendTraits, LocalBackend
from .replica_checks import check_replicas
from .server_checks import check_openai_server

__all__ = [
    "DEFAULT_PROMPT",
    "Backend",
    "BackendTraits",
    "HttpBackend",
    "LocalBackend",
    "Notify",
    "RequestStep",
    "server_root",
]

DEFAULT_PROMPT = "Convert this page to Markdown."
"""What a generic chat model is asked when the config names no prompt."""


@dataclass(frozen=True, slots=True)
class RequestStep:
    """One rung of a loop ladder: what the request changes, and its name in the report."""

    label: str = ""
    params: Mapping[str, Any] = field(default_factory=dict)


class HttpBackend(BackendTraits):
    """A backend behind an OpenAI-compatible chat-completions endpoint.

    Subclasses implement :meth:`build_body` and may override :meth:`finish`
    (post-processing), :meth:`loop_ladder` (the requests a cut-off answer
    climbs through) and :meth:`attempt` (e.g. to prepare the page first).
    """

    config: HttpBackendConfig
    ready_phrase: ClassVar[str] = "is healthy"
    key_help: ClassVar[str] = ""
    """Appended to the fix line when the key variable is not set (where to get a key)."""

    def __init__(
        self,
        config: HttpBackendConfig,
        *,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        environ: dict[str, str] | None = None,
        spending: SpendingCap | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self.retry = retry or RetryPolicy()
        self.spending = spending
        self.credentials = Credentials.read(
            config, environ if environ is not None else dict(os.environ)
        )
        self.api_key = self.credentials.api_key
        self.pool = EndpointPool(
            config.name,
            [
                Replica(
                    url,
                    self._client_for(url, transport),
                    config.concurrency_bound,
                    AdaptiveLimit(ceiling=config.max_concurrency_ceiling)
                    if config.adaptive
                    else None,
                )
                for url in config.base_urls
            ],
            probe_interval_s=config.probe_interval_s,
            probe_timeout_s=config.probe_timeout_s,
        )
        self.limiter = (
            TokenBucket(config.requests_per_minute) if config.requests_per_minute else None
        )

    def _client_for(self, url: str, transport: httpx.AsyncBaseTransport | None) -> ChatClient:
        """One replica's client; every replica URL passes the plain-HTTP key guard.

        The connection pool has two connections more than ``max_concurrency``
        (its ceiling when adaptive: connections open only as requests need them),
        so a health probe or a ``/metrics`` scrape never queues behind pages.
        """
        config = self.config
        client = ChatClient.create(
            backend=config.name,
            base_url=url,
            timeout_s=config.timeout_s,
            connect_timeout_s=config.connect_timeout_s,
            max_connections=config.concurrency_bound + 2,
            api_key=self.api_key,
            headers={**self.default_headers(), **config.headers, **self.credentials.headers},
            transport=transport,
            max_response_bytes=int(config.max_response_mb * 2**20),
            allow_insecure_http=config.allow_insecure_http,
        )
        if self.spending is not None:
            spending = self.spending
            client.on_cost = lambda cost: spending.record(self.name, cost)
        return client

    @property
    def client(self) -> ChatClient:
        """A live replica's client, for the family's own lookups (``/models``, ``/key``)."""
        return self.pool.primary.client

    def request_capacity(self) -> tuple[int, int]:
        """(The live replicas' limits summed now, the most they may reach)."""
        return self.pool.capacity()

    def concurrency_limits(self) -> dict[str, int]:
        return {r.label: r.capacity for r in self.pool.replicas if r.limit is not None}

    def concurrency_report(self) -> list[dict[str, Any]]:
        return [
            {"url": r.label, **r.limit.snapshot()}
            for r in self.pool.replicas
            if r.limit is not None
        ]

    @property
    def may_cost_money(self) -> bool:
        """Whether a request here is billed: ``--max-cost`` stops such requests at its cap.

        A backend that reports a cost during the run is treated as paid anyway.
        """
        return False

    @property
    def health_url(self) -> str:
        return server_root(self.config.primary_url)

    @property
    def startup_urls(self) -> tuple[str, ...]:
        return tuple(f"{server_root(url)}/health" for url in self.config.base_urls)

    @property
    def start_hint(self) -> str:
        """First words of the fix line when nothing answers at the server's address."""
        return "start the server"

    async def check_health(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """Key present, then ``/health`` and ``/models``, then the family's own checks."""
        report.model = self.config.model
        if not self.check_key(report):
            return
        if self.pool.pooled:
            await check_replicas(
                self.pool, report, lambda sub, client: self.check_server(sub, client, page_size)
            )
        else:
            await self.check_server(report, self.client, page_size)

    async def check_server(
        self, report: HealthReport, client: ChatClient, page_size: tuple[int, int]
    ) -> None:
        """One server's checks (each replica's, in a pool); families add their own after."""
        await check_openai_server(self.config, client, report, self.start_hint)
        if report.ready:
            self.check_context(report, page_size)

    def check_key(self, report: HealthReport) -> bool:
        """Record the key's presence (never its value); False after failing a missing one."""
        env_var = self.config.api_key_env
        if not env_var:
            return True
        report.key = KeyInfo(env_var=env_var, present=self.api_key is not None)
        if self.api_key is None:
            report.fail(
                "misconfigured",
                f"{env_var} is not set",
                f"set {env_var}: export {env_var}=<your key>{self.key_help}",
            )
            return False
        return True

    def check_context(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """A family whose context can overflow checks it here; most have nothing to add."""
        return None

    def default_headers(self) -> dict[str, str]:
        """Headers a backend family always sends; the config's ``headers`` win over them."""
        return {}

    def missing_key_error(self) -> BackendError | None:
        """A backend whose key (or header) variable is named but empty fails before any request."""
        return self.credentials.missing(self.config)

    def build_body(self, page: PageImage, **overrides: Any) -> bytes:
        """The default request: the page plus the configured prompt and parameters."""
        params: dict[str, Any] = {
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            **self.config.extra_body,
            **overrides,
        }
        prompt = self.config.prompt or DEFAULT_PROMPT
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
            response_id=result.response_id,
            replica=result.replica,
            **extra,
        )

    def loop_ladder(self) -> Sequence[RequestStep]:
        """The requests a cut-off answer climbs through (one, unless a family has more)."""
        return (RequestStep(),)

    async def attempt(
        self, page: PageImage, notify: Notify | None, breaker: CircuitBreaker | None
    ) -> PageText:
        """One page through the retry policy and the loop ladder."""
        return await self.climb(
            lambda step: self.send(page, self.build_body(page, **step.params), notify, breaker),
            notify,
        )

    async def climb(
        self,
        send_step: Callable[[RequestStep], Awaitable[PageText]],
        notify: Notify | None,
    ) -> PageText:
        """Send the page, one ladder step after another, as ``answer_policy.next_move`` says.

        A cut-off answer moves to the next step, an empty one is sent once
        more; anything else, or the last step failing, gives the page to the
        next backend with every step's failure attached (``earlier``).
        ``send_step`` builds and sends one step's request: bodies are built one
        at a time, as each holds the whole page image.
        """
        steps = self.loop_ladder()
        failures: list[BackendError] = []
        index, empty_retries = 0, EMPTY_ANSWER_RETRIES
        while True:
            step = steps[index]
            try:
                text = await send_step(step)
            except BackendError as exc:
                move = next_move(
                    exc, empty_retries_left=empty_retries, steps_left=len(steps) - 1 - index
                )
                # Steps are named once the ladder is in play: a first request that
                # failed for any other reason was just "the request".
                exc.step = step.label if index > 0 or move == "next step" else ""
                if move == "next backend":
                    exc.earlier = tuple(failures)
                    exc.attempts += sum(f.attempts for f in failures)
                    raise
                failures.append(exc)
                if move == "retry":
                    empty_retries -= 1
                    detail = f"{exc} — once more"
                else:
                    index += 1
                    detail = f"{exc} — next: {steps[index].label}"
                if notify is not None:
                    notify("retrying", detail)
                continue
            return replace(
                text,
                attempts=text.attempts + sum(f.attempts for f in failures),
                step=step.label if index > 0 else "",
                failed_steps=tuple(AttemptError.of(self.name, f) for f in failures),
            )

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

        def moved(detail: str) -> None:
            if notify is not None:
                notify("retrying", detail)

        async def once() -> ChatResult:
            if notify is not None:
                notify("sent", self.name)
            return await self.call(body, moved)

        result, attempts = await self.retry.run(
            once,
            on_retry=on_retry,
            on_outcome=breaker.record if breaker else None,
            should_stop=breaker.blocked if breaker else None,
        )
        # Post-processing can be heavy (DeepSeek draws and encodes figure crops, 4-6 ms
        # each); off the event loop it overlaps other pages' I/O, and pdfium and Pillow
        # release the GIL.
        try:
            text = await asyncio.to_thread(self.finish, result, page)
            if not text.markdown.strip():
                raise empty_answer(self.name, result.finish_reason, "empty answer after cleaning")
        except BackendError as exc:
            exc.attempts = attempts
            raise
        return replace(text, attempts=attempts)

    async def call(self, body: bytes, moved: Moved | None = None) -> ChatResult:
        """One HTTP attempt, after taking a token from the rate limiter when one is set.

        The pool picks the replica; a replica's ``max_concurrency`` slot is held
        for the request alone, not across the retry loop's backoff sleeps: a
        page waiting to retry leaves its slot to a page that can use it. A
        request whose replica is lost is moved to another (``moved`` is told).
        A paid backend whose run has reached
        ``--max-cost`` sends nothing: the refusal is final here, so the chain
        moves the page on.
        """
        if self.spending is not None and (
            refused := self.spending.refusal(self.name, paid=self.may_cost_money)
        ):
            raise refused
        if self.limiter is not None:
            await self.limiter.acquire()
        return await self.pool.call(body, moved)

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText:
        if (missing := self.missing_key_error()) is not None:
            raise missing
        if breaker is not None and (blocked := breaker.blocked()) is not None:
            raise blocked
        return await self.attempt(page, notify, breaker)

    async def aclose(self) -> None:
        await self.pool.aclose()
