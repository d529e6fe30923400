"""HTTP failures as the tool's errors: httpx's exceptions and servers' error statuses.

:mod:`docling_hybrid_cli.client` is the one boundary to the network; this module
holds its translation tables, so the client itself stays about requests and
answers. Every message is redacted (servers echo keys back) and bounded.
"""

from __future__ import annotations

import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from .errors import (
    BackendConnectError,
    BackendError,
    BackendRateLimited,
    BackendRejected,
    BackendServerError,
    BackendTimeout,
    BackendUnavailable,
    ContextOverflow,
    lookup_by_mro,
)
from .jsonsafe import json_of
from .keyguard import public_url
from .redact import redact
from .textclean import one_line

__all__ = [
    "HTTPX_ERRORS",
    "error_text",
    "retry_after",
    "status_error",
    "translate_httpx_error",
]

_RATE_LIMIT_PREFIX = "x-ratelimit-"
_MAX_RATE_LIMIT_HEADERS = 8
_MAX_HEADER_CHARS = 64
"""Bounds on the rate-limit headers kept from an error: a hostile server can send thousands."""

_CONTEXT_OVERFLOW = re.compile(
    r"maximum context length|max_model_len|maximum model length|context length",
    re.IGNORECASE,
)
"""How vLLM (and servers copying OpenAI's wording) say a request does not fit the context.

vLLM's wordings: "'max_tokens' or 'max_completion_tokens' is too large: N. This
model's maximum context length is L tokens and your request has P input tokens
(N > L - P)", "max_tokens=N cannot be greater than max_model_len=L", and "The
decoder prompt (length P) is longer than the maximum model length of L"
(https://github.com/vllm-project/vllm/tree/main/vllm/entrypoints).
"""
_CONTEXT_LIMIT = (
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),
    re.compile(r"max_model_len=(\d+)"),
    re.compile(r"maximum model length of (\d+)", re.IGNORECASE),
)
_CONTEXT_PROMPT = (
    re.compile(r"request has (\d+) input tokens"),
    re.compile(r"\((\d+) in the messages"),
    re.compile(r"prompt contains at least (\d+) input tokens"),
    re.compile(r"prompt \(length (\d+)\)"),
)

_FAILED = "{backend}: request to {where} failed ({name})"

HTTPX_ERRORS: dict[type[BaseException], tuple[type[BackendError], str]] = {
    # httpx's roots: everything it exports lies below one of these. Not retried.
    httpx.HTTPError: (BackendRejected, _FAILED),
    httpx.InvalidURL: (BackendRejected, _FAILED),
    httpx.CookieConflict: (BackendRejected, _FAILED),
    httpx.StreamError: (BackendRejected, _FAILED),
    # The network failed: worth retrying.
    httpx.TransportError: (BackendUnavailable, "{backend}: connection to {where} dropped ({name})"),
    httpx.TimeoutException: (BackendTimeout, "{backend}: no answer from {where} in time ({name})"),
    # Nothing answered at all: these feed the circuit breaker.
    httpx.ConnectError: (
        BackendConnectError,
        "{backend}: cannot connect to {where} (is the server running?)",
    ),
    httpx.ConnectTimeout: (BackendConnectError, "{backend}: connection to {where} timed out"),
}
"""httpx exception class → (our class, message template), read along the exception's MRO.

Templates may use ``{backend}``, ``{where}`` (the URL without credentials or
query) and ``{name}`` (the exception's class name). The exception's own
message is left out: it can quote the URL with its credentials.
"""


def status_error(response: httpx.Response, backend: str) -> BackendError:
    """The tool's error for an HTTP error status, with the server's message (redacted).

    The answer's rate-limit headers ride along on the error, for the backend
    family that knows what its service means by them.
    """
    error = _status_error(response, backend)
    error.rate_limit_headers = _rate_limit_headers(response)
    return error


def _status_error(response: httpx.Response, backend: str) -> BackendError:
    status = response.status_code
    full = _error_message(response)
    message = full[:300]
    wait = retry_after(response)
    text = f"{backend}: HTTP {status}: {message}"
    if status == 429 or (status == 402 and wait is not None):
        return BackendRateLimited(text, backend=backend, status=status, retry_after=wait)
    if status == 408 or status >= 500:
        return BackendServerError(text, backend=backend, status=status, retry_after=wait)
    if status == 400 and _CONTEXT_OVERFLOW.search(full):
        return ContextOverflow(
            text,
            backend=backend,
            status=status,
            hint="the server's context (--max-model-len) is too small for this page",
            limit=_first_number(_CONTEXT_LIMIT, full),
            prompt_tokens=_first_number(_CONTEXT_PROMPT, full),
        )
    hint = None
    if status in (401, 403):
        hint = "check the API key for this backend"
    elif status == 404:
        hint = "check the backend's model name and base_url (docling-hybrid-ocr check-server)"
    return BackendRejected(text, backend=backend, status=status, hint=hint)


def error_text(body: Any) -> str:
    """The message of an error body, in any of the shapes servers use.

    vLLM and OpenAI nest it (``{"error": {"message": ..., "code": ...}}``) and
    OpenRouter adds ``error.metadata.provider_name``; older vLLM releases put
    ``message`` at the top level, some servers send ``{"error": "..."}``, and
    FastAPI's default is ``{"detail": ...}``.
    """
    return one_line(_error_text(body))


def _error_text(body: Any) -> str:
    if not isinstance(body, dict):
        return _bounded_str(body, 200)
    err = body.get("error")
    if isinstance(err, dict):
        text = _bounded_str(err.get("message") or err.get("code") or "unknown error")
        metadata = err.get("metadata")
        provider = metadata.get("provider_name") if isinstance(metadata, dict) else None
        return f"{text} (provider {_bounded_str(provider, 100)})" if provider else text
    if isinstance(err, str):
        return err[:2000]
    return _bounded_str(body.get("message") or body.get("detail") or "unknown error")


def _bounded_str(value: Any, limit: int = 2000) -> str:
    """``str(value)`` for a value from a server, cut short; never raises.

    A server can send any JSON where a message belongs: ``str`` of a huge
    integer raises ``ValueError`` (Python's digit limit), of a deep list
    ``RecursionError``.
    """
    if isinstance(value, str):
        return value[:limit]
    try:
        return str(value)[:limit]
    except (ValueError, RecursionError):
        return f"<unprintable {type(value).__name__}>"


def _error_message(response: httpx.Response) -> str:
    """The server's message on one line (callers cut it short); secrets are redacted first."""
    try:
        body = json_of(response)
    except ValueError:
        return one_line(redact(response.text[:4000]), 200) or response.reason_phrase
    return one_line(redact(error_text(body)))


def _first_number(patterns: tuple[re.Pattern[str], ...], text: str) -> int | None:
    """The number the first matching pattern captures, if it is a plausible token count."""
    for pattern in patterns:
        match = pattern.search(text)
        if match and len(match.group(1)) <= 9:
            return int(match.group(1))
    return None


def _rate_limit_headers(response: httpx.Response) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers of an error answer, from the headers or the body.

    OpenRouter repeats them inside the body as ``error.metadata.headers``
    (https://openrouter.ai/docs/api-reference/limits); the real headers win.
    Names are lower-cased; at most a few short values are kept.
    """
    found: dict[str, str] = {}
    try:
        body = json_of(response)
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    metadata = error.get("metadata") if isinstance(error, dict) else None
    inner = metadata.get("headers") if isinstance(metadata, dict) else None
    sources: list[Any] = [
        inner.items() if isinstance(inner, dict) else (),
        response.headers.items(),
    ]
    for items in sources:
        for name, value in items:
            key = str(name).lower()
            if not key.startswith(_RATE_LIMIT_PREFIX) or not isinstance(value, str | int | float):
                continue
            if key in found or len(found) < _MAX_RATE_LIMIT_HEADERS:
                found[key] = str(value)[:_MAX_HEADER_CHARS]
    return found


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def translate_httpx_error(exc: BaseException, *, backend: str, url: str) -> BackendError:
    """The tool's error for an httpx exception raised while requesting ``url``."""
    entry = lookup_by_mro(HTTPX_ERRORS, type(exc))
    if entry is None:
        raise TypeError(f"not an httpx exception: {type(exc).__name__}") from exc
    error_class, template = entry
    message = template.format(backend=backend, where=public_url(url), name=type(exc).__name__)
    return error_class(message, backend=backend)
