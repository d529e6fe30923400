"""A simulated OpenAI-compatible vision server that behaves like vLLM serving DeepSeek-OCR.

Integration tests, ``make demo`` and the ``benchmark`` command need a server that answers, fails
and stalls the way the real ones do, without a GPU:

* vLLM's response and error bodies (400 validation errors, 404 for a wrong model, 401
  ``{"error":"Unauthorized"}`` when an API key is set), its empty-bodied ``/health``, its
  Prometheus ``/metrics``, and a port that refuses connections while the model "loads";
* OpenRouter's habits: 429 with ``Retry-After``, a 200 that carries an ``error`` and no
  ``choices``, and ``/api/v1/key`` with the free-tier daily quota;
* its own counters as JSON at ``/_mock/stats``, for callers that run it in another process;
* page content that downstream code can check: every answer names the decoded image's pixel
  size as ``{W}x{H}``, and in ``deepseek`` style wraps blocks in DeepSeek-OCR's grounding tags.

Faults are injected per chat request, first from a queue (:meth:`MockServer.inject`) and then at
random with ``fail_rate`` from a seeded RNG, so every scenario is reproducible.

The benchmark measures the *client* against this server, so the server must cost little per
request. It is stdlib plus Pillow: one asyncio loop on a daemon thread, HTTP/1.1 keep-alive,
bodies read with ``readexactly`` by Content-Length, and image inspection limited to Pillow's lazy
``Image.open(...).size`` and a SHA-1 of the base64 text.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import contextlib
import hashlib
import http
import io
import json
import logging
import random
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from types import FrameType, TracebackType
from typing import Any, Literal

from PIL import Image

__all__ = ["FAULT_KINDS", "MockConfig", "MockServer", "MockStats", "RequestRecord", "main"]

FAULT_KINDS = frozenset(
    {"429", "500", "502", "503", "reset", "timeout", "empty", "length", "error200", "401", "404"}
)
"""Every fault name :class:`MockConfig` and :meth:`MockServer.inject` accept."""

_log = logging.getLogger(__name__)

_STREAM_LIMIT = 1 << 20
"""Reader buffer size: large enough that an 800 KB body is read without pausing the socket."""

_BACKLOG = 1024
"""Listen backlog, so a burst of 64+ connects is queued rather than refused."""

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

_IMAGE_HEAD_CHARS = 65536
"""Base64 characters (48 KiB of image) decoded to find the image size; a multiple of 4."""

_CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

_GLOBAL_VIEW_TOKENS = 273
"""Image tokens of DeepSeek-OCR's 1024 px global view (16 * 17 + 1), as vLLM counts them."""


@dataclass
class MockConfig:
    """How the simulated server answers; every field has the behaviour of a healthy vLLM."""

    model: str = "deepseek-ai/DeepSeek-OCR"
    max_model_len: int = 8192
    style: Literal["deepseek", "plain"] = "deepseek"
    latency_s: float = 0.0
    per_token_s: float = 0.0
    jitter: float = 0.0
    fail_rate: float = 0.0
    faults: tuple[str, ...] = ("429", "500", "502", "503", "reset", "empty", "length", "error200")
    seed: int = 0
    api_key: str | None = None
    start_delay_s: float = 0.0
    retry_after_s: float | None = None
    timeout_fault_s: float = 30.0

    def __post_init__(self) -> None:
        """Reject settings that would make the server silently do something else."""
        if self.style not in ("deepseek", "plain"):
            raise ValueError(f"style must be 'deepseek' or 'plain', not {self.style!r}")
        unknown = sorted(set(self.faults) - FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(FAULT_KINDS)}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], not {self.fail_rate}")
        if self.fail_rate > 0 and not self.faults:
            raise ValueError("fail_rate > 0 needs at least one fault kind")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], not {self.jitter}")
        delays = (self.latency_s, self.per_token_s, self.start_delay_s, self.timeout_fault_s)
        if min(delays) < 0 or (self.retry_after_s is not None and self.retry_after_s < 0):
            raise ValueError("latencies, delays and retry_after_s must not be negative")
        if self.max_model_len <= 0:
            raise ValueError(f"max_model_len must be positive, not {self.max_model_len}")


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One HTTP request as the server saw it.

    ``status`` is None when no response was sent (the ``reset`` fault). ``image_sha1`` is the
    full SHA-1 hex digest of the base64 text; the page content quotes its first 12 characters.
    """

    path: str
    status: int | None
    image_sha1: str | None = None
    width: int | None = None
    height: int | None = None
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class MockStats:
    """A snapshot of what the server has done since start (or :meth:`MockServer.reset_stats`).

    ``chat_ok`` counts normal page transcriptions sent (including late ones after a
    ``timeout`` fault); fault answers such as ``empty`` or ``length`` are only in
    ``faults_injected``. ``max_in_flight`` is the most chat requests held at once.
    """

    chat_requests: int = 0
    chat_ok: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    connections_opened: int = 0
    max_in_flight: int = 0
    requests: list[RequestRecord] = field(default_factory=list)


@dataclass(slots=True)
class _Tally:
    """The live counters behind :class:`MockStats`, guarded by ``MockServer._lock``."""

    chat_requests: int = 0
    chat_ok: int = 0
    faults_injected: collections.Counter[str] = field(default_factory=collections.Counter)
    connections_opened: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    requests: list[RequestRecord] = field(default_factory=list)


@dataclass(slots=True)
class _Metrics:
    """Prometheus counters; monotonic like vLLM's, so ``reset_stats`` leaves them alone."""

    prompt_tokens: int = 0
    generation_tokens: int = 0
    success_by_reason: collections.Counter[str] = field(default_factory=collections.Counter)
    chat_requests: int = 0
    e2e_seconds: float = 0.0
    e2e_count: int = 0


@dataclass(slots=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    keep_alive: bool
    body: bytes = b""


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Exchange:
    """What a handler learnt about a request, for its :class:`RequestRecord`."""

    image_sha1: str | None = None
    width: int | None = None
    height: int | None = None
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class _ChatCall:
    """A chat request that passed validation."""

    model: str
    max_tokens: int | None
    prompt_tokens: int
    image: tuple[str, int, int] | None  # (sha1 hex of the base64 text, width, height)


class _MalformedRequest(Exception):
    """The bytes on the wire are not HTTP/1.x we can answer; reply 400 and close."""


_Handler = Callable[[_Request, _Exchange], Awaitable[_Response | None]]


class MockServer:
    """The server: a listening socket served by an asyncio loop on a daemon thread.

    Use it as a context manager or call :meth:`start` and :meth:`stop`. All public methods are
    safe to call from any thread.
    """

    def __init__(self, config: MockConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config if config is not None else MockConfig()
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._tally = _Tally()
        self._metrics = _Metrics()
        self._injected: collections.deque[str] = collections.deque()
        self._fault_rng = random.Random(f"{self.config.seed}:faults")
        self._jitter_rng = random.Random(f"{self.config.seed}:jitter")
        self._thread: threading.Thread | None = None
        self._started = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event = asyncio.Event()
        self._loop_ready = threading.Event()
        self._startup_done = threading.Event()
        self._startup_error: BaseException | None = None
        self._listening = False
        self._connections: set[asyncio.Task[Any]] = set()
        self._routes: dict[str, tuple[str, _Handler]] = {
            "/health": ("GET", self._health),
            "/v1/models": ("GET", self._models),
            "/models": ("GET", self._models),
            "/v1/chat/completions": ("POST", self._chat),
            "/chat/completions": ("POST", self._chat),
            "/metrics": ("GET", self._prometheus),
            "/api/v1/key": ("GET", self._key_info),
            "/_mock/stats": ("GET", self._stats_json),
        }

    # ----------------------------------------------------------------- lifecycle

    def start(self) -> MockServer:
        """Bind the port and serve; return once listening, or at once if ``start_delay_s`` > 0.

        The socket is bound here, before the delay, so :attr:`url` is known immediately, but it
        only listens after the delay: until then connections are refused, as with a vLLM that
        is still loading its weights.
        """
        if self._started:
            raise RuntimeError("a MockServer can only be started once")
        self._started = True
        sock = self._bind()
        self._port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=asyncio.run, args=(self._serve(sock),), name=f"mockserver:{self._port}"
        )
        self._thread.daemon = True
        self._thread.start()
        self._loop_ready.wait()
        if self.config.start_delay_s <= 0:
            self._startup_done.wait()
            if self._startup_error is not None:
                self.stop()
                raise self._startup_error
        return self

    def wait_listening(self, timeout: float | None = None) -> bool:
        """Block until the port accepts connections; False on timeout or if stopped before."""
        if not self._startup_done.wait(timeout):
            return False
        if self._startup_error is not None:
            raise self._startup_error
        return self._listening

    def stop(self) -> None:
        """Close the listener and every connection (even mid-request), then join the thread."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop already ended after a failed start
            loop.call_soon_threadsafe(self._stop_event.set)
        thread.join()
        self._thread = None

    def __enter__(self) -> MockServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://HOST:PORT``; the OpenAI-compatible API root is this plus ``/v1``."""
        if self._port == 0:
            raise RuntimeError("the port is chosen at start(); start the server first")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    # ----------------------------------------------------------------- control and stats

    @property
    def stats(self) -> MockStats:
        """A consistent copy of the counters, safe to keep while the server goes on."""
        with self._lock:
            t = self._tally
            return MockStats(
                chat_requests=t.chat_requests,
                chat_ok=t.chat_ok,
                faults_injected=dict(t.faults_injected),
                connections_opened=t.connections_opened,
                max_in_flight=t.max_in_flight,
                requests=list(t.requests),
            )

    def inject(self, *faults: str) -> None:
        """Queue faults for the next valid chat requests, in order, ahead of random ones."""
        unknown = sorted(set(faults) - FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {sorted(FAULT_KINDS)}")
        with self._lock:
            self._injected.extend(faults)

    def reset_stats(self) -> None:
        """Zero :attr:`stats` (not ``/metrics``, whose counters only grow, as in vLLM)."""
        with self._lock:
            in_flight = self._tally.in_flight
            self._tally = _Tally(in_flight=in_flight, max_in_flight=in_flight)

    # ----------------------------------------------------------------- serving

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        return sock

    async def _serve(self, sock: socket.socket) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop_ready.set()
        try:
            if self.config.start_delay_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_event.wait(), self.config.start_delay_s)
            if self._stop_event.is_set():
                sock.close()
                return
            server = await asyncio.start_server(
                self._on_connection, sock=sock, limit=_STREAM_LIMIT, backlog=_BACKLOG
            )
        except OSError as exc:
            sock.close()
            self._startup_error = exc
            return
        finally:
            self._listening = self._startup_error is None and not self._stop_event.is_set()
            self._startup_done.set()
        async with server:
            await self._stop_event.wait()
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        with self._lock:
            self._tally.connections_opened += 1
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request, which clients are allowed to do
        except asyncio.CancelledError:
            pass  # stop(): end quietly, as Python 3.11 logs a cancelled connection task as an error
        finally:
            if task is not None:
                self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request on the connection; return whether to keep it open."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False  # closed between requests: the normal end of a keep-alive connection
        try:
            request = _parse_head(head)
            if "100-continue" in request.headers.get("expect", "").lower():
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.body = await _read_body(reader, request.headers)
        except _MalformedRequest as exc:
            writer.write(_encode(_json(400, {"detail": str(exc)}), keep_alive=False))
            await writer.drain()
            return False
        is_chat = request.method == "POST" and request.path in _CHAT_PATHS
        exchange = _Exchange()
        response: _Response | None = None
        if is_chat:
            self._enter_chat()
        try:
            response = await self._dispatch(request, exchange)
        finally:
            # Recorded before the reply is written, so a client that has its answer also sees
            # it in the stats.
            status = response.status if response is not None else None
            record = RequestRecord(
                request.path,
                status,
                exchange.image_sha1,
                exchange.width,
                exchange.height,
                exchange.fault,
            )
            with self._lock:
                self._tally.requests.append(record)
                if is_chat:
                    self._tally.in_flight -= 1
        if response is None:
            _reset(writer)
            return False
        writer.write(_encode(response, request.keep_alive))
        await writer.drain()
        return request.keep_alive

    def _enter_chat(self) -> None:
        with self._lock:
            t = self._tally
            t.chat_requests += 1
            t.in_flight += 1
            t.max_in_flight = max(t.max_in_flight, t.in_flight)

    async def _dispatch(self, request: _Request, exchange: _Exchange) -> _Response | None:
        route = self._routes.get(request.path)
        if route is None:
            return _json(404, {"detail": "Not Found"})
        method, handler = route
        if request.method != method:
            return _json(405, {"detail": "Method Not Allowed"})
        try:
            return await handler(request, exchange)
        except Exception:
            # A bug in this module, not a simulated fault: say so loudly, answer like uvicorn.
            _log.exception("mock server handler failed for %s %s", request.method, request.path)
            return _Response(500, b"Internal Server Error", "text/plain; charset=utf-8")

    # ----------------------------------------------------------------- routes

    def _authorized(self, request: _Request) -> bool:
        key = self.config.api_key
        return key is None or request.headers.get("authorization") == f"Bearer {key}"

    async def _health(self, request: _Request, exchange: _Exchange) -> _Response:
        return _Response(200, content_type=None)

    async def _models(self, request: _Request, exchange: _Exchange) -> _Response:
        if not self._authorized(request):
            return _json(401, {"error": "Unauthorized"})
        card = {
            "id": self.config.model,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": self.config.model,
            "parent": None,
            "max_model_len": self.config.max_model_len,
            "permission": [],
        }
        return _json(200, {"object": "list", "data": [card]})

    async def _key_info(self, request: _Request, exchange: _Exchange) -> _Response:
        if not self._authorized(request):
            return _json(401, {"error": {"code": 401, "message": "No auth credentials found"}})
        with self._lock:
            used = self._metrics.chat_requests
        quota = {"used": used, "limit": 50, "remaining": max(0, 50 - used)}
        data = {
            "label": "mock",
            "limit": None,
            "usage": 0,
            "is_free_tier": True,
            "free_model_daily_requests": quota,
        }
        return _json(200, {"data": data})

    async def _stats_json(self, request: _Request, exchange: _Exchange) -> _Response:
        """:attr:`stats` for a server in another process (the benchmark), minus the records."""
        snapshot = self.stats
        return _json(
            200,
            {
                "chat_requests": snapshot.chat_requests,
                "chat_ok": snapshot.chat_ok,
                "faults_injected": snapshot.faults_injected,
                "connections_opened": snapshot.connections_opened,
                "max_in_flight": snapshot.max_in_flight,
                "requests_recorded": len(snapshot.requests),
            },
        )

    async def _prometheus(self, request: _Request, exchange: _Exchange) -> _Response:
        with self._lock:
            running = self._tally.in_flight
            m = self._metrics
            counters = (m.prompt_tokens, m.generation_tokens, dict(m.success_by_reason))
            e2e = (m.e2e_seconds, m.e2e_count)
        prompt, generation, success = counters
        label = f'model_name="{self.config.model}"'
        lines = [
            "# HELP vllm:num_requests_running Number of requests in model execution batches.",
            "# TYPE vllm:num_requests_running gauge",
            f"vllm:num_requests_running{{{label}}} {float(running)}",
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.",
            "# TYPE vllm:num_requests_waiting gauge",
            f"vllm:num_requests_waiting{{{label}}} 0.0",
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.",
            "# TYPE vllm:prompt_tokens counter",
            f"vllm:prompt_tokens_total{{{label}}} {float(prompt)}",
            "# HELP vllm:generation_tokens_total Number of generation tokens processed.",
            "# TYPE vllm:generation_tokens counter",
            f"vllm:generation_tokens_total{{{label}}} {float(generation)}",
            "# HELP vllm:request_success_total Count of successfully processed requests.",
            "# TYPE vllm:request_success counter",
        ]
        for reason in ("stop", "length"):
            lines.append(
                f'vllm:request_success_total{{finished_reason="{reason}",{label}}} '
                f"{float(success.get(reason, 0))}"
            )
        # Like vLLM's histogram (sum and count only): time from the parsed request to the
        # answer, parsing included, so the benchmark's Little's-law ideal uses what the
        # server really spent rather than the configured latency.
        lines += [
            "# HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.",
            "# TYPE vllm:e2e_request_latency_seconds histogram",
            f"vllm:e2e_request_latency_seconds_sum{{{label}}} {e2e[0]}",
            f"vllm:e2e_request_latency_seconds_count{{{label}}} {float(e2e[1])}",
        ]
        body = ("\n".join(lines) + "\n").encode()
        return _Response(200, body, "text/plain; version=0.0.4; charset=utf-8")

    async def _chat(self, request: _Request, exchange: _Exchange) -> _Response | None:
        if not self._authorized(request):
            return _json(401, {"error": "Unauthorized"})
        started = time.perf_counter()
        with self._lock:
            self._metrics.chat_requests += 1
        call = _parse_chat(request.body, self.config)
        if isinstance(call, _Response):
            return call
        if call.image is not None:
            exchange.image_sha1, exchange.width, exchange.height = call.image
        fault = self._draw_fault()
        exchange.fault = fault
        if fault is None:
            answer = await self._complete(call, _page_text(self.config.style, call.image), "stop")
            with self._lock:
                self._metrics.e2e_seconds += time.perf_counter() - started
                self._metrics.e2e_count += 1
            return answer
        with self._lock:
            self._tally.faults_injected[fault] += 1
        return await self._apply_fault(fault, call)

    def _draw_fault(self) -> str | None:
        with self._lock:
            if self._injected:
                return self._injected.popleft()
        cfg = self.config
        if cfg.fail_rate > 0 and self._fault_rng.random() < cfg.fail_rate:
            return self._fault_rng.choice(cfg.faults)
        return None

    async def _apply_fault(self, fault: str, call: _ChatCall) -> _Response | None:
        retry_after = self._retry_after_headers()
        page = _page_text(self.config.style, call.image)
        if fault == "429":
            return _json(
                429, {"error": {"message": "Rate limit exceeded", "code": 429}}, retry_after
            )
        if fault == "500":
            message = "EngineCore encountered an issue. See stack trace (above) for the root cause."
            return _vllm_error(500, message, "InternalServerError")
        if fault == "502":
            return _vllm_error(502, "Bad gateway: the engine did not answer.", "BadGatewayError")
        if fault == "503":
            message = "The server is overloaded; try again later."
            return _vllm_error(503, message, "ServiceUnavailableError", headers=retry_after)
        if fault == "401":
            return _json(401, {"error": "Unauthorized"})
        if fault == "404":
            return _model_not_found(call.model, self.config.model)
        if fault == "error200":
            error = {"code": 502, "message": "Provider returned error"}
            return _json(200, {"error": {**error, "metadata": {"provider_name": "mock"}}})
        if fault == "reset":
            return None
        if fault == "timeout":
            await asyncio.sleep(self.config.timeout_fault_s)
            return await self._complete(call, page, "stop")
        if fault == "empty":
            return await self._complete(call, "", "stop")
        # "length": the page starts well, then the decoder loops until the token budget is spent.
        budget = call.max_tokens or max(1, self.config.max_model_len - call.prompt_tokens)
        loop_text = "\n\n" + "<td></td> the same words again" * (budget * 4 // 30 + 1)
        return await self._complete(call, (page + loop_text)[: budget * 4], "length")

    def _retry_after_headers(self) -> tuple[tuple[str, str], ...]:
        seconds = self.config.retry_after_s
        if seconds is None:
            return ()
        return (("retry-after", f"{seconds:g}"),)

    async def _complete(self, call: _ChatCall, content: str, finish_reason: str) -> _Response:
        """Wait out the latency model, count the answer, and shape it like vLLM's."""
        cfg = self.config
        completion_tokens = len(content) // 4
        delay = cfg.latency_s + cfg.per_token_s * completion_tokens
        if cfg.jitter:
            delay *= 1 + self._jitter_rng.uniform(-cfg.jitter, cfg.jitter)
        if delay > 0:
            await asyncio.sleep(delay)
        with self._lock:
            m = self._metrics
            m.prompt_tokens += call.prompt_tokens
            m.generation_tokens += completion_tokens
            m.success_by_reason[finish_reason] += 1
            if content and finish_reason == "stop":
                self._tally.chat_ok += 1
        message: dict[str, Any] = {
            "role": "assistant",
            "content": content,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "tool_calls": [],
            "reasoning": None,
        }
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": finish_reason,
            "stop_reason": None,
        }
        usage = {
            "prompt_tokens": call.prompt_tokens,
            "total_tokens": call.prompt_tokens + completion_tokens,
            "completion_tokens": completion_tokens,
            "prompt_tokens_details": None,
        }
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.model,
            "choices": [choice],
            "service_tier": None,
            "system_fingerprint": None,
            "usage": usage,
            "prompt_logprobs": None,
            "kv_transfer_params": None,
        }
        return _json(200, body)


# --------------------------------------------------------------------- request validation


def _parse_chat(body: bytes, config: MockConfig) -> _ChatCall | _Response:
    """Validate a chat request the way vLLM does, returning its error response on failure."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        return _validation_error("json_invalid", f"body.{exc.pos}", "JSON decode error", "")
    except UnicodeDecodeError as exc:
        return _validation_error("json_invalid", f"body.{exc.start}", "JSON decode error", "")
    if not isinstance(payload, dict):
        message = "Input should be a valid dictionary"
        return _validation_error("dict_type", "body", message, repr(payload)[:50])
    messages = payload.get("messages")
    if messages is None:
        input_repr = f"<dict of {len(payload)} items>"
        return _validation_error("missing", "body.messages", "Field required", input_repr)
    if not isinstance(messages, list):
        message = "Input should be a valid list"
        return _validation_error("list_type", "body.messages", message, repr(messages)[:50])
    model = payload.get("model", config.model)
    if model != config.model:
        return _model_not_found(str(model), config.model)
    max_tokens = payload.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            message = "Input should be a valid integer"
            return _validation_error("int_type", "body.max_tokens", message, repr(max_tokens))
        if max_tokens > config.max_model_len:
            message = (
                f"max_tokens={max_tokens} cannot be greater than "
                f"max_model_len={config.max_model_len}. Please request fewer output tokens. "
                f"(parameter=max_tokens, value={max_tokens})"
            )
            return _vllm_error(400, message, "BadRequestError", param="max_tokens")
    xargs = payload.get("vllm_xargs")
    if isinstance(xargs, dict):
        for name in ("ngram_size", "window_size"):
            value = xargs.get(name)
            if value is not None and (type(value) is not int or value <= 0):
                message = f"`{name}` has to be a strictly positive integer, got {value}."
                return _vllm_error(400, message, "BadRequestError")
    image_url, text = _prompt_parts(messages)
    text_tokens = len(text) // 4 + 1
    if image_url is None:
        return _ChatCall(model, max_tokens, text_tokens, None)
    image = _inspect_image(image_url)
    if isinstance(image, _Response):
        return image
    _, width, height = image
    return _ChatCall(model, max_tokens, text_tokens + _image_tokens(width, height), image)


def _prompt_parts(messages: list[Any]) -> tuple[str | None, str]:
    """The first image URL and all text of the messages, in either content layout."""
    image_url: str | None = None
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url" and image_url is None:
                ref = part.get("image_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                image_url = url if isinstance(url, str) else None
    return image_url, "\n".join(texts)


def _inspect_image(url: str) -> tuple[str, int, int] | _Response:
    """(sha1 of the base64 text, width, height), reading only the image header.

    Decoding a whole 800 KB payload costs more than everything else in a request, so the text
    is only checked for base64 validity and just its head is decoded for Pillow; the full decode
    happens only when the header lies beyond that head (a JPEG with a large EXIF block).
    """
    header, comma, payload = url.partition(",")
    if not url.startswith("data:") or not comma or ";base64" not in header:
        message = "Failed to load image: the mock server only accepts data:...;base64, URLs"
        return _vllm_error(400, message, "BadRequestError")
    encoded = payload.encode("ascii", errors="replace")  # "?" is not base64, so it is caught
    digits = encoded.rstrip(b"=")
    if len(encoded) - len(digits) > 2 or digits.translate(None, _BASE64_ALPHABET):
        return _vllm_error(400, "Non-base64 digit found", "BadRequestError")  # pybase64's words
    if len(encoded) % 4:
        return _vllm_error(400, "Incorrect padding", "BadRequestError")
    size = _image_size(base64.b64decode(encoded[:_IMAGE_HEAD_CHARS]))
    if isinstance(size, Exception) and len(encoded) > _IMAGE_HEAD_CHARS:
        size = _image_size(base64.b64decode(encoded))
    if isinstance(size, Exception):
        return _vllm_error(400, f"Failed to load image: {size}", "BadRequestError")
    return hashlib.sha1(encoded).hexdigest(), *size


def _image_size(data: bytes) -> tuple[int, int] | Exception:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:  # Pillow raises many types for a bad header; vLLM reports them all
        return exc


def _image_tokens(width: int, height: int) -> int:
    """Image tokens as vLLM counts them for DeepSeek-OCR (global view plus 640 px tiles)."""
    if width <= 640 and height <= 640:
        return _GLOBAL_VIEW_TOKENS
    aspect = width / height
    grids = [(w, h) for w in range(1, 7) for h in range(1, 7) if 2 <= w * h <= 6]
    cols, rows = min(grids, key=lambda g: (abs(aspect - g[0] / g[1]), g[0] * g[1]))
    return _GLOBAL_VIEW_TOKENS + (10 * rows) * (10 * cols + 1)


def _page_text(style: str, image: tuple[str, int, int] | None) -> str:
    """The deterministic "transcription": it names the image's size as ``{W}x{H}``."""
    if image is None:
        return "This request carried no image to transcribe."
    sha1, width, height = image
    size = f"{width}x{height}"
    if style == "plain":
        return f"# Page {size}\n\nimage {size} sha1 {sha1[:12]}"
    return (
        "<|ref|>title<|/ref|><|det|>[[100, 50, 900, 90]]<|/det|>\n"
        f"# Page {size}\n\n"
        "<|ref|>text<|/ref|><|det|>[[100, 120, 900, 300]]<|/det|>\n"
        f"image {size} sha1 {sha1[:12]}\n\n"
        "<|ref|>image<|/ref|><|det|>[[100, 400, 500, 700]]<|/det|>\n\n"
        "<|ref|>table<|/ref|><|det|>[[100, 720, 900, 900]]<|/det|>\n"
        "<table><tr><td>a</td><td>b</td></tr></table>"
    )


# --------------------------------------------------------------------- HTTP plumbing


def _json(status: int, payload: Any, headers: tuple[tuple[str, str], ...] = ()) -> _Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return _Response(status, body, "application/json", headers)


def _vllm_error(
    status: int,
    message: str,
    error_type: str,
    param: str | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> _Response:
    error = {"message": message, "type": error_type, "param": param, "code": status}
    return _json(status, {"error": error}, headers)


def _validation_error(kind: str, loc: str, msg: str, input_repr: str) -> _Response:
    """vLLM's request-validation 400: pydantic's error text, with type "Bad Request"."""
    detail = {"type": kind, "loc": loc, "msg": msg, "input": input_repr}
    message = f"1 validation error:\n  {detail!r}"
    return _json(
        400, {"error": {"message": message, "type": "Bad Request", "param": loc, "code": 400}}
    )


def _model_not_found(requested: str, served: str) -> _Response:
    message = f"The model `{requested}` does not exist. Valid aliases: {served}."
    return _vllm_error(404, message, "NotFoundError", param="model")


def _parse_head(head: bytes) -> _Request:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
    except ValueError as exc:
        raise _MalformedRequest("Invalid HTTP request line") from exc
    if not version.startswith("HTTP/1."):
        raise _MalformedRequest(f"Unsupported HTTP version {version}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if line:
            name, colon, value = line.partition(":")
            if not colon:
                raise _MalformedRequest("Invalid HTTP header line")
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection
    if version == "HTTP/1.0":
        keep_alive = "keep-alive" in connection
    return _Request(method, target.partition("?")[0], headers, keep_alive)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader)
    length_text = headers.get("content-length")
    if length_text is None:
        return b""
    if not length_text.isdigit():
        raise _MalformedRequest("Invalid Content-Length")
    return await reader.readexactly(int(length_text))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise _MalformedRequest("Invalid chunk size") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailer fields carry nothing the mock needs
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        if await reader.readexactly(2) != b"\r\n":
            raise _MalformedRequest("Chunk not terminated by CRLF")


def _encode(response: _Response, keep_alive: bool) -> bytes:
    phrase = http.HTTPStatus(response.status).phrase
    lines = [
        f"HTTP/1.1 {response.status} {phrase}",
        f"date: {formatdate(usegmt=True)}",
        "server: docling-hybrid-mock",
        f"content-length: {len(response.body)}",
    ]
    if response.content_type is not None:
        lines.append(f"content-type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if not keep_alive:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.body


def _reset(writer: asyncio.StreamWriter) -> None:
    """Drop the connection with a TCP RST, the way a crashed proxy or worker does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


# --------------------------------------------------------------------- command line


def _parser() -> argparse.ArgumentParser:
    defaults = MockConfig()
    parser = argparse.ArgumentParser(
        prog="python -m docling_hybrid_cli.mockserver",
        description="Simulated OpenAI-compatible vision server (vLLM / DeepSeek-OCR shaped).",
    )
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, default=8000, help="0 picks a free port")
    add("--model", default=defaults.model)
    add("--max-model-len", type=int, default=defaults.max_model_len)
    add("--style", choices=("deepseek", "plain"), default=defaults.style)
    add("--latency", type=float, default=0.0, help="seconds per chat answer")
    add("--per-token", type=float, default=0.0, help="extra seconds per output token")
    add("--jitter", type=float, default=0.0, help="relative +/- jitter on the latency")
    add("--fail-rate", type=float, default=0.0, help="fraction of chat requests given a fault")
    add("--faults", default=",".join(defaults.faults), help="comma-separated fault kinds")
    add("--seed", type=int, default=0)
    add("--api-key", default=None)
    add("--start-delay", type=float, default=0.0, help="seconds before the port listens")
    add("--retry-after", type=float, default=None, help="Retry-After seconds on 429/503")
    add("--timeout-fault", type=float, default=defaults.timeout_fault_s)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, after printing ``mock server listening on URL``."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        config = MockConfig(
            model=args.model,
            max_model_len=args.max_model_len,
            style=args.style,
            latency_s=args.latency,
            per_token_s=args.per_token,
            jitter=args.jitter,
            fail_rate=args.fail_rate,
            faults=tuple(kind for kind in args.faults.split(",") if kind),
            seed=args.seed,
            api_key=args.api_key,
            start_delay_s=args.start_delay,
            retry_after_s=args.retry_after,
            timeout_fault_s=args.timeout_fault,
        )
    except ValueError as exc:
        parser.error(str(exc))
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        server = MockServer(config, host=args.host, port=args.port).start()
    except OSError as exc:
        parser.exit(1, f"mock server: cannot listen on {args.host}:{args.port}: {exc}\n")
    try:
        while not server.wait_listening(timeout=0.1):
            if stop_requested.is_set():
                return
        print(f"mock server listening on {server.url}", flush=True)
        stop_requested.wait()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
