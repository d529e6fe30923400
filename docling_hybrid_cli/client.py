"""OpenAI-compatible chat-completions client: the one boundary to the network.

Every httpx exception and every HTTP status is translated at this boundary
into the tool's error tree (:mod:`docling_hybrid_cli.errors`; the tables live
in :mod:`docling_hybrid_cli.http_errors`), so nothing above this module knows
httpx exists. Request bodies arrive as prebuilt bytes: the page
image is already base64 inside them, which keeps JSON encoding of a 300 KB
string off the event loop (docs/PERFORMANCE.md has the cost of ``json=``).
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from .answer_policy import answer_error
from .bodyread import BodyTooLarge, UnreadableBody, read_capped
from .errors import AnswerTooLarge, BackendTimeout, BadModelOutput
from .http_errors import (
    HTTPX_ERRORS,
    error_text,
    status_error,
    translate_httpx_error,
)
from .jsonsafe import json_of
from .keyguard import is_secret_header, public_url, refuse_secrets_in_clear
from .pages import PageImage
from .redact import redact as redact_secrets
from .redact import register_secret
from .textclean import clean_text

__all__ = [
    "HTTPX_ERRORS",
    "ChatClient",
    "ChatResult",
    "build_chat_body",
    "image_data_url",
    "translate_httpx_error",
]

_MAX_ID_CHARS = 200
"""Longer "ids" are a broken or hostile server's; they are dropped, not stored."""

DEFAULT_DEADLINE_S = 180.0
"""A request's whole exchange, when the caller names no ``timeout_s``."""
DEFAULT_MAX_RESPONSE_BYTES = 8 * 2**20
"""A page's answer is tens of KB; 8 MiB leaves room for anything real (x concurrency in RAM)."""

_IMAGE_SLOT = "\x00IMAGE\x00"

_HTTPX_EXCEPTIONS = tuple(HTTPX_ERRORS)
"""Every httpx exception the request path may raise, caught once and translated."""


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The parts of a chat completion a backend needs."""

    content: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    model: str
    latency_s: float
    response_id: str | None = None
    """The server's id for this completion (``chatcmpl-…``), to find the page in its log."""
    replica: str = ""
    """Which server of the backend's pool answered (its URL without credentials)."""


def image_data_url(page: PageImage) -> str:
    return f"data:{page.mime};base64,{base64.b64encode(page.data).decode('ascii')}"


def build_chat_body(
    *,
    model: str,
    page: PageImage,
    prompt: str,
    params: dict[str, Any],
    system: str | None = None,
) -> bytes:
    """One user message: the page image, then the instruction text.

    The base64 image is spliced in after ``json.dumps`` (base64 needs no JSON
    escaping), so the large string is never scanned by the encoder.
    """
    content: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": _IMAGE_SLOT}},
        {"type": "text", "text": prompt},
    ]
    messages: list[dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": content})
    body = json.dumps(
        {"model": model, "messages": messages, **params}, ensure_ascii=False, allow_nan=False
    )
    head, tail = body.split(json.dumps(_IMAGE_SLOT), 1)
    return b"".join(
        [
            head.encode(),
            b'"data:',
            page.mime.encode(),
            b";base64,",
            base64.b64encode(page.data),
            b'"',
            tail.encode(),
        ]
    )


class ChatClient:
    """Talks to one OpenAI-compatible server over an injected ``httpx.AsyncClient``.

    The caller owns the choice of transport, limits and timeouts (see
    :meth:`create`); tests inject a respx- or MockTransport-backed client.
    """

    def __init__(
        self,
        *,
        backend: str,
        base_url: str,
        http: httpx.AsyncClient,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        deadline_s: float = DEFAULT_DEADLINE_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.backend = backend
        self.base_url = base_url.rstrip("/")
        self.deadline_s = deadline_s
        """The whole exchange (connect, send, every byte of the answer) must fit in this."""
        self.max_response_bytes = max_response_bytes
        """Answers beyond this (decompressed) are refused while being read."""
        self.on_cost: Callable[[float], None] | None = None
        """Told every cost a completion reports (the spending cap), even one later rejected."""
        self._http = http
        # Uncompressed answers only: see bodyread.py for why.
        self._headers = {
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            **(headers or {}),
        }
        for name, value in self._headers.items():
            if is_secret_header(name):
                register_secret(value)
        register_secret(_url_password(base_url))
        if api_key:
            register_secret(api_key)
            self._headers["Authorization"] = f"Bearer {api_key}"

    @classmethod
    def create(
        cls,
        *,
        backend: str,
        base_url: str,
        timeout_s: float,
        connect_timeout_s: float,
        max_connections: int,
        api_key: str | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http_transport: str = "aiohttp",
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        allow_insecure_http: bool = False,
    ) -> ChatClient:
        """A client whose pool keeps one live connection per request in flight.

        ``transport`` (tests, benchmarks) wins. Otherwise ``http_transport``
        picks the connection pool under httpx's API: ``"aiohttp"`` (default,
        :class:`~docling_hybrid_cli.transport.AiohttpTransport`) or ``"httpx"``
        (httpcore's pool). docs/PERFORMANCE.md has the measurements behind the
        default: httpcore reconnects and loses throughput at 32+ requests in
        flight (encode/httpx#3215). ``max_keepalive_connections`` equals
        ``max_connections`` either way.
        """
        refuse_secrets_in_clear(
            backend,
            base_url,
            api_key=api_key,
            headers=headers or {},
            allow_insecure_http=allow_insecure_http,
        )
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        if transport is None and http_transport == "aiohttp":
            from .transport import AiohttpTransport

            transport = AiohttpTransport(limits=limits, trust_env=True)
        elif transport is None and http_transport != "httpx":
            raise ValueError(f"http_transport must be 'aiohttp' or 'httpx', not {http_transport!r}")
        http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s, connect=connect_timeout_s),
            limits=limits,
            transport=transport,
            trust_env=True,
        )
        return cls(
            backend=backend,
            base_url=base_url,
            http=http,
            api_key=api_key,
            headers=headers,
            deadline_s=timeout_s,
            max_response_bytes=max_response_bytes,
        )

    @property
    def server_root(self) -> str:
        """The server's root, where vLLM serves ``/health`` and ``/metrics``."""
        return server_root(self.base_url)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def chat(self, body: bytes, *, timeout_s: float | None = None) -> ChatResult:
        """POST a prebuilt chat-completions body; return the answer or raise.

        ``timeout_s`` replaces the client's timeouts for this request (a health check's).
        """
        started = time.perf_counter()
        url = f"{self.base_url}/chat/completions"
        response = await self._send("POST", url, content=body, timeout_s=timeout_s)
        latency = time.perf_counter() - started
        payload = self._json(response)
        return self._parse_completion(payload, latency)

    async def get_json(self, path: str) -> Any:
        """GET a JSON document under the API root (``/models``) or the server root."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        response = await self._send("GET", url)
        return self._json(response)

    async def get(self, url: str, *, timeout_s: float | None = None) -> httpx.Response:
        """GET any URL and map failures; a non-2xx status is raised like any other."""
        return await self._send("GET", url, timeout_s=timeout_s)

    async def _send(
        self, method: str, url: str, *, content: bytes | None = None, timeout_s: float | None = None
    ) -> httpx.Response:
        """One request, read whole under a size cap and within a total deadline.

        httpx's timeouts bound each wait (connect, one read), so a server that
        drips a byte a second would never time out; ``deadline_s`` bounds the
        whole exchange. The body is read in chunks and refused past
        ``max_response_bytes`` (counted after decompression, so a gzip bomb
        stops there too).
        """
        kwargs: dict[str, Any] = {}
        deadline = self.deadline_s
        if timeout_s is not None:
            kwargs["timeout"] = httpx.Timeout(timeout_s)
            deadline = timeout_s
        try:
            request = self._http.build_request(
                method, url, content=content, headers=self._headers, **kwargs
            )
            async with asyncio.timeout(deadline):
                streamed = await self._http.send(request, stream=True)
                try:
                    body = await self._read_capped(streamed, url)
                finally:
                    await streamed.aclose()
                    # httpx links a response and its stream wrapper in a cycle; cut it
                    # so the request body is freed now, not by the cyclic collector.
                    streamed.stream = httpx.ByteStream(b"")
        except TimeoutError:
            raise BackendTimeout(
                f"{self.backend}: no complete answer from {public_url(url)} within {deadline:g} s",
                backend=self.backend,
            ) from None
        except _HTTPX_EXCEPTIONS as exc:
            raise translate_httpx_error(exc, backend=self.backend, url=url) from None
        # A fresh response over the bytes read; no cycle keeps ~0.5 MB of request
        # body per page waiting for the cyclic garbage collector
        # (docs/PERFORMANCE.md, target 3).
        headers = [
            (k, v)
            for k, v in streamed.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        response = httpx.Response(
            streamed.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions={"reason_phrase": streamed.reason_phrase.encode("latin-1", "replace")},
        )
        if response.status_code >= 400:
            raise status_error(response, self.backend)
        return response

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        """The decoded body, or :class:`AnswerTooLarge` once it passes the cap."""
        cap = self.max_response_bytes
        if response.is_stream_consumed:
            # Already in memory and decoded: a test transport (respx) reads its answers.
            if len(response.content) > cap:
                raise self._too_large(url, cap)
            return response.content
        encoding = response.headers.get("Content-Encoding", "")
        declared = response.headers.get("Content-Length", "")
        if not encoding and declared.isdigit() and len(declared) < 20 and int(declared) > cap:
            raise self._too_large(url, cap)
        try:
            return await read_capped(response.aiter_raw(), encoding, cap)
        except BodyTooLarge:
            raise self._too_large(url, cap) from None
        except UnreadableBody as exc:
            raise BadModelOutput(f"{self.backend}: {exc}", backend=self.backend) from None

    def _too_large(self, url: str, cap: int) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"{self.backend}: answer from {public_url(url)} is larger than {cap / 2**20:g} MiB",
            backend=self.backend,
            hint="raise the backend's max_response_mb if such answers are expected",
        )

    def _redact(self, text: str) -> str:
        """Servers may echo the key back ("Incorrect API key provided: sk-..."); never show it."""
        return redact_secrets(text)

    def _json(self, response: httpx.Response) -> Any:
        try:
            return json_of(response)
        except ValueError:
            raise BadModelOutput(
                f"{self.backend}: answer is not JSON (HTTP {response.status_code})",
                backend=self.backend,
                status=response.status_code,
            ) from None

    def _parse_completion(self, payload: Any, latency: float) -> ChatResult:
        if not isinstance(payload, dict):
            raise BadModelOutput(
                f"{self.backend}: answer is not a JSON object", backend=self.backend
            )
        if payload.get("error"):
            raise BadModelOutput(
                f"{self.backend}: server reported an error: {self._redact(error_text(payload))}",
                backend=self.backend,
                status=200,
            )
        choices = payload.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise BadModelOutput(f"{self.backend}: answer has no choices", backend=self.backend)
        choice = choices[0]
        finish = _finish_reason(choice.get("finish_reason"))
        message = choice.get("message") or {}
        content = _content_text(message.get("content") if isinstance(message, dict) else None)
        usage = payload.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        cost = _float_or_none(usage.get("cost"))
        if cost and self.on_cost is not None:
            self.on_cost(cost)
        if (problem := answer_error(self.backend, finish, content)) is not None:
            raise problem
        return ChatResult(
            content=content,
            finish_reason=finish,
            prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
            completion_tokens=_int_or_none(usage.get("completion_tokens")),
            cost=cost,
            model=_model_name(payload.get("model")),
            latency_s=latency,
            response_id=_response_id(payload.get("id")),
        )


def server_root(base_url: str) -> str:
    """vLLM serves ``/health`` and ``/metrics`` beside ``/v1``, not under it."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def _url_password(url: str) -> str | None:
    """Credentials in a base URL (``https://user:pass@host``) are a secret like a key."""
    try:
        return httpx.URL(url).password or None
    except (httpx.InvalidURL, TypeError):
        return None


def _model_name(value: Any) -> str:
    """The model the server says answered: a short printable name, else "" (the config's)."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
        return value
    return ""


def _response_id(value: Any) -> str | None:
    """A completion id is a short printable string; anything else is not worth keeping."""
    if isinstance(value, str) and 0 < len(value) <= _MAX_ID_CHARS and value.isprintable():
        return value
    return None


def _finish_reason(value: Any) -> str | None:
    """A finish reason is a short word; anything else a server sends counts as none given."""
    if isinstance(value, str) and 0 < len(value) <= 40 and value.isprintable():
        return value
    return None


def _content_text(content: Any) -> str:
    """``message.content`` is a string, or (some servers) a list of typed parts."""
    if isinstance(content, str):
        return clean_text(content)
    if isinstance(content, list):
        parts = (part.get("text") for part in content if isinstance(part, dict))
        return clean_text("".join(part for part in parts if isinstance(part, str)))
    return ""


_MAX_COUNT = 10**12
"""Token counts beyond this are a broken server's, not a page's."""


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_COUNT:
        return value
    return None


def _float_or_none(value: Any) -> float | None:
    """A finite, non-negative number (cost), else None: NaN would make our JSON invalid."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > _MAX_COUNT:
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None
