"""The chat-completions route: validate, draw a fault, wait out the latency model, answer.

Faults are drawn only for requests that pass validation, so a client's own bad request is never
mistaken for a simulated failure. Each fault answers the way the server it imitates does:
vLLM's error bodies for 5xx and 404, OpenRouter's 429 and its 200 that carries only an
``error``, a TCP reset, a late answer, an empty one, a decoder that loops until
``max_tokens`` is spent, and the other finish reasons a server can end an answer with.

Two behaviours of the real model are settings rather than faults, since they hold for every
request: DeepSeek-OCR answers a blank page with "" (``empty_for_blank``), and a page can loop
until the request's n-gram guard reaches far enough or its temperature breaks the loop
(``loop_period``, ``loop_escape_temperature``).
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from docling_hybrid_cli.sim.answers import (
    completion_body,
    model_not_found,
    page_text,
    unauthorized,
    vllm_error,
)
from docling_hybrid_cli.sim.config import MockConfig
from docling_hybrid_cli.sim.counters import Counters, Exchange
from docling_hybrid_cli.sim.faults import FaultSource
from docling_hybrid_cli.sim.hostile import (
    CONTENT_KINDS,
    HOSTILE_KINDS,
    hostile_content,
    hostile_response,
)
from docling_hybrid_cli.sim.http import (
    Headers,
    Request,
    Response,
    bearer_token_matches,
    json_response,
)
from docling_hybrid_cli.sim.pagebook import PageBook
from docling_hybrid_cli.sim.validation import ChatCall, parse_chat

__all__ = ["ChatRoute"]

_REPETITION_CHARS = 2000
"""Where a ``repetition`` answer stops: detection ends a loop long before max_tokens."""


class ChatRoute:
    """``POST /v1/chat/completions`` (and ``/chat/completions``); None means reset the socket."""

    def __init__(self, config: MockConfig, counters: Counters, faults: FaultSource) -> None:
        self._config = config
        self._counters = counters
        self._faults = faults
        self._jitter_rng = random.Random(f"{config.seed}:jitter")
        self._decoding: asyncio.Semaphore | None = None
        self._book = PageBook(Path(config.reference_pdf)) if config.reference_pdf else None

    async def __call__(self, request: Request, exchange: Exchange) -> Response | None:
        if not bearer_token_matches(request, self._config.api_key):
            return unauthorized()
        started = time.perf_counter()
        self._counters.chat_admitted()
        call = parse_chat(request.body, self._config)
        if isinstance(call, Response):
            return call
        if call.image is not None:
            exchange.image_sha1, exchange.width, exchange.height = call.image
        fault = self._faults.draw()
        exchange.fault = fault
        if fault is None:
            page = self._page_text(call)
            if call.blank:  # nothing to read, nothing to loop on
                page = ""
            elif self._loops(call):
                return await self._complete(call, *self._loop(call, page))
            answer = await self._complete(call, page, "stop")
            self._counters.page_served(time.perf_counter() - started)
            return answer
        self._counters.fault_injected(fault)
        return await self._fault_answer(fault, call)

    async def _fault_answer(self, fault: str, call: ChatCall) -> Response | None:
        cfg = self._config
        retry_after = _retry_after_headers(cfg.retry_after_s)
        page = self._page_text(call)
        if fault in CONTENT_KINDS:
            return await self._complete(call, hostile_content(fault, page), "stop")
        if fault in HOSTILE_KINDS:
            normal = await self._complete(call, page, "stop")
            return hostile_response(
                fault, normal.body, hostile_mb=cfg.hostile_mb, drip_s=cfg.drip_s
            )
        if fault == "429":
            return json_response(
                429, {"error": {"message": "Rate limit exceeded", "code": 429}}, retry_after
            )
        if fault == "429-daily":
            return _daily_cap()
        if fault == "500":
            message = "EngineCore encountered an issue. See stack trace (above) for the root cause."
            return vllm_error(500, message, "InternalServerError")
        if fault == "502":
            return vllm_error(502, "Bad gateway: the engine did not answer.", "BadGatewayError")
        if fault == "503":
            message = "The server is overloaded; try again later."
            return vllm_error(503, message, "ServiceUnavailableError", headers=retry_after)
        if fault == "401":
            return unauthorized()
        if fault == "404":
            return model_not_found(call.model, cfg.model)
        if fault == "error200":
            error = {"code": 502, "message": "Provider returned error"}
            return json_response(200, {"error": {**error, "metadata": {"provider_name": "mock"}}})
        if fault == "reset":
            return None
        if fault == "timeout":
            await asyncio.sleep(cfg.timeout_fault_s)
            return await self._complete(call, page, "stop")
        if fault == "empty":
            return await self._complete(call, "", "stop")
        if fault == "content_filter":
            return await self._complete(call, "", "content_filter")
        if fault in ("abort", "finish_error"):
            reason = "abort" if fault == "abort" else "error"
            return await self._complete(call, page[: len(page) // 2], reason)
        looping, _ = self._loop(call, page)
        if fault == "repetition":  # vLLM's repetition detection ends the loop early
            return await self._complete(call, looping[:_REPETITION_CHARS], "repetition")
        return await self._complete(call, looping, "length")

    async def _decode(self, seconds: float) -> None:
        """Spend ``seconds`` decoding, in one of ``max_num_seqs`` places when they are capped."""
        cap = self._config.max_num_seqs
        counters = self._counters
        if cap is None:
            counters.decode_running(+1)
            try:
                await asyncio.sleep(seconds)
            finally:
                counters.decode_running(-1)
            return
        if self._decoding is None:
            self._decoding = asyncio.Semaphore(cap)
        counters.decode_waiting(+1)
        try:
            await self._decoding.acquire()
        finally:
            counters.decode_waiting(-1)
        counters.decode_running(+1)
        try:
            await asyncio.sleep(seconds)
        finally:
            counters.decode_running(-1)
            self._decoding.release()

    def _page_text(self, call: ChatCall) -> str:
        """What the model reads: the PDF's page when it knows the PDF, else the canned answer."""
        cfg = self._config
        if self._book is not None and call.image_url is not None:
            number = self._book.page_of(call.image_url)
            if number is not None:
                invent, halve = number in cfg.invent_pages, number in cfg.halve_pages
                return self._book.answer(number, cfg.style, invent=invent, halve=halve)
        return page_text(cfg.style, call.image)

    def _loops(self, call: ChatCall) -> bool:
        """Whether this request's page loops: the guard does not reach the loop, nor sampling."""
        period = self._config.loop_period
        if period is None:
            return False
        if call.guard_reach is not None and call.guard_reach >= period:
            return False
        escape = self._config.loop_escape_temperature
        return escape is None or call.temperature < escape

    def _loop(self, call: ChatCall, page: str) -> tuple[str, str]:
        """The page starts well, then the decoder loops until the token budget is spent."""
        budget = call.max_tokens or max(1, self._config.max_model_len - call.prompt_tokens)
        loop_text = "\n\n" + "<td></td> the same words again" * (budget * 4 // 30 + 1)
        return (page + loop_text)[: budget * 4], "length"

    async def _complete(self, call: ChatCall, content: str, finish_reason: str) -> Response:
        """Wait out the latency model, count the answer, and shape it like vLLM's.

        The delay is ``latency_s + per_token_s * output tokens``, scaled by a seeded random
        factor within ``1 +/- jitter``; output tokens are estimated as four characters each.
        """
        cfg = self._config
        completion_tokens = len(content) // 4
        delay = cfg.latency_s + cfg.per_token_s * completion_tokens
        if cfg.jitter:
            delay *= 1 + self._jitter_rng.uniform(-cfg.jitter, cfg.jitter)
        if delay > 0:
            await self._decode(delay)
        page = bool(content) and finish_reason == "stop"
        self._counters.answered(call.prompt_tokens, completion_tokens, finish_reason, page=page)
        body = completion_body(
            call.model,
            content,
            finish_reason,
            call.prompt_tokens,
            completion_tokens,
            cost=cfg.cost_per_request,
        )
        return json_response(200, body)


def _daily_cap() -> Response:
    """OpenRouter's 429 once the free models' daily requests are spent.

    Nothing remains until midnight UTC; ``X-RateLimit-Reset`` is that moment in epoch
    milliseconds, sent as headers and again inside ``error.metadata.headers``. The message
    wording varies in the wild, so clients should not rely on it.
    """
    now = time.time()
    midnight = (now // 86400 + 1) * 86400
    limits = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(int(midnight * 1000)),
    }
    error = {
        "message": "Rate limit exceeded: free-models-per-day. Add 10 credits to unlock 1000 "
        "free model requests per day",
        "code": 429,
        "metadata": {"headers": limits},
    }
    return json_response(429, {"error": error}, tuple(limits.items()))


def _retry_after_headers(seconds: float | None) -> Headers:
    if seconds is None:
        return ()
    return (("retry-after", f"{seconds:g}"),)
