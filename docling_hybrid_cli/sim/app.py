"""The simulated server's routes, independent of sockets: one request in, one response out.

Besides chat completions it serves what clients probe before they send pages: vLLM's
empty-bodied ``/health`` (503, like chat, for ``warmup_s`` after the port opens, as SGLang
answers while it warms up), its ``/v1/models`` card with ``max_model_len``, its Prometheus
``/metrics``, OpenRouter's ``/api/v1/key`` with the free-tier daily quota and its model lists
(``/api/v1/models``, and ``/api/v1/models/user`` for the key), and the server's own
counters as JSON at ``/_mock/stats`` for callers that run it in another process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from docling_hybrid_cli.sim.answers import unauthorized, vllm_error
from docling_hybrid_cli.sim.chat import ChatRoute
from docling_hybrid_cli.sim.config import MockConfig
from docling_hybrid_cli.sim.counters import Counters, Exchange
from docling_hybrid_cli.sim.faults import FaultSource
from docling_hybrid_cli.sim.http import Request, Response, bearer_token_matches, json_response

__all__ = ["CHAT_PATHS", "MockApp"]

_log = logging.getLogger(__name__)

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})

_FREE_DAILY_REQUESTS = 50
"""OpenRouter's daily request limit on free models for a key without credits."""

OPENROUTER_CATALOGUE = ("nvidia/nemotron-nano-12b-v2-vl:free", "nvidia/nemotron-nano-12b-v2-vl")
"""OpenRouter ids every simulated catalogue lists besides the served model."""

_Handler = Callable[[Request, Exchange], Awaitable[Response | None]]


class MockApp:
    """Routes requests to handlers and records each one; a None response means reset."""

    def __init__(self, config: MockConfig) -> None:
        self.config = config
        self._listening_since: float | None = None
        self.counters = Counters()
        self.faults = FaultSource(config.fail_rate, config.faults, config.seed)
        chat = ChatRoute(config, self.counters, self.faults)
        self._routes: dict[str, tuple[str, _Handler]] = {
            "/health": ("GET", self._health),
            "/v1/models": ("GET", self._models),
            "/models": ("GET", self._models),
            "/v1/chat/completions": ("POST", chat),
            "/chat/completions": ("POST", chat),
            "/metrics": ("GET", self._prometheus),
            "/api/v1/key": ("GET", self._key_info),
            "/api/v1/models": ("GET", self._openrouter_models),
            "/api/v1/models/user": ("GET", self._openrouter_models_for_key),
            "/_mock/stats": ("GET", self._stats_json),
        }

    def mark_listening(self) -> None:
        """The port accepts connections from now on: the warm-up period starts."""
        self._listening_since = time.monotonic()

    def warming(self) -> bool:
        """Whether the server is still in its warm-up period (``warmup_s``)."""
        since = self._listening_since
        return since is not None and time.monotonic() - since < self.config.warmup_s

    async def handle(self, request: Request) -> Response | None:
        """Answer one request and record it, counting chat requests in flight meanwhile."""
        is_chat = request.method == "POST" and request.path in CHAT_PATHS
        exchange = Exchange()
        response: Response | None = None
        if is_chat:
            exchange.started = self.counters.chat_started()
        try:
            response = await self._dispatch(request, exchange)
        finally:
            status = response.status if response is not None else None
            self.counters.request_finished(exchange.record(request.path, status), chat=is_chat)
        return response

    async def _dispatch(self, request: Request, exchange: Exchange) -> Response | None:
        route = self._routes.get(request.path)
        if route is None:
            return json_response(404, {"detail": "Not Found"})
        method, handler = route
        if request.method != method:
            return json_response(405, {"detail": "Method Not Allowed"})
        if self.warming() and (request.path == "/health" or request.path in CHAT_PATHS):
            if request.path == "/health":
                return Response(503, content_type=None)
            message = "The server is warming up; try again shortly."
            return vllm_error(503, message, "ServiceUnavailableError")
        try:
            return await handler(request, exchange)
        except Exception:
            # A bug in this package, not a simulated fault: say so loudly, answer like uvicorn.
            _log.exception("mock server handler failed for %s %s", request.method, request.path)
            return Response(500, b"Internal Server Error", "text/plain; charset=utf-8")

    # ----------------------------------------------------------------- routes

    def _authorized(self, request: Request) -> bool:
        return bearer_token_matches(request, self.config.api_key)

    async def _health(self, request: Request, exchange: Exchange) -> Response:
        return Response(200, content_type=None)

    async def _models(self, request: Request, exchange: Exchange) -> Response:
        if not self._authorized(request):
            return unauthorized()
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
        return json_response(200, {"object": "list", "data": [card]})

    async def _key_info(self, request: Request, exchange: Exchange) -> Response:
        if not self._authorized(request):
            error = {"code": 401, "message": "No auth credentials found"}
            return json_response(401, {"error": error})
        used = self.counters.chats_admitted()
        limit = _FREE_DAILY_REQUESTS
        quota = {"used": used, "limit": limit, "remaining": max(0, limit - used)}
        data = {
            "label": "mock",
            "limit": None,
            "usage": 0,
            "is_free_tier": True,
            "free_model_daily_requests": quota,
        }
        return json_response(200, {"data": data})

    def _catalogue(self) -> list[str]:
        return list(dict.fromkeys((self.config.model, *OPENROUTER_CATALOGUE)))

    async def _openrouter_models(self, request: Request, exchange: Exchange) -> Response:
        """OpenRouter's public model list: the served model and the project's Nemotron ids."""
        return json_response(200, {"data": [{"id": m} for m in self._catalogue()]})

    async def _openrouter_models_for_key(self, request: Request, exchange: Exchange) -> Response:
        """The models this key may use after privacy settings and guardrails (``key_models``)."""
        if not self._authorized(request):
            error = {"code": 401, "message": "No auth credentials found"}
            return json_response(401, {"error": error})
        usable = self.config.key_models
        ids = self._catalogue() if usable is None else list(usable)
        return json_response(200, {"data": [{"id": m} for m in ids]})

    async def _stats_json(self, request: Request, exchange: Exchange) -> Response:
        """The stats for a server in another process (the benchmark), minus the records."""
        snapshot = self.counters.snapshot()
        return json_response(
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

    async def _prometheus(self, request: Request, exchange: Exchange) -> Response:
        body = self.counters.prometheus_text(self.config.model)
        return Response(200, body, "text/plain; version=0.0.4; charset=utf-8")
