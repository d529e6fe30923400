"""HTTP error statuses as the tool's errors: context overflows and rate-limit headers."""

from __future__ import annotations

import httpx
import pytest

from docling_hybrid_cli.errors import (
    BackendRateLimited,
    BackendRejected,
    BackendServerError,
    ContextOverflow,
)
from docling_hybrid_cli.http_errors import status_error


def vllm_error(status: int, message: str, **headers: str) -> httpx.Response:
    error = {"message": message, "type": "BadRequestError", "param": None, "code": status}
    return httpx.Response(status, json={"error": error}, headers=headers)


@pytest.mark.parametrize(
    ("message", "limit", "prompt"),
    [
        pytest.param(
            "'max_tokens' or 'max_completion_tokens' is too large: 7225. This model's maximum "
            "context length is 4096 tokens and your request has 925 input tokens "
            "(7225 > 4096 - 925).",
            4096,
            925,
            id="vllm-too-large",
        ),
        pytest.param(
            "max_tokens=9000 cannot be greater than max_model_len=8192. Please request fewer "
            "output tokens. (parameter=max_tokens, value=9000)",
            8192,
            None,
            id="vllm-max-model-len",
        ),
        pytest.param(
            "The decoder prompt (length 5000) is longer than the maximum model length of 4096.",
            4096,
            5000,
            id="vllm-prompt-too-long",
        ),
        pytest.param(
            "This model's maximum context length is 8192 tokens. However, you requested 9000 "
            "tokens (808 in the messages, 8192 in the completion).",
            8192,
            808,
            id="openai-wording",
        ),
        pytest.param(
            "This model's maximum context length is 99999999999999 tokens",
            None,
            None,
            id="absurd-number-dropped",
        ),
    ],
)
def test_400_context_overflow_carries_the_servers_numbers(
    message: str, limit: int | None, prompt: int | None
) -> None:
    error = status_error(vllm_error(400, message), "ds")
    assert isinstance(error, ContextOverflow) and isinstance(error, BackendRejected)
    assert not error.retryable
    assert (error.limit, error.prompt_tokens) == (limit, prompt)
    assert str(error).startswith("ds: HTTP 400: ")
    assert error.hint is not None and "--max-model-len" in error.hint


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(400, "`ngram_size` has to be a strictly positive integer", id="other-400"),
        pytest.param(413, "maximum context length is 4096", id="not-a-400"),
    ],
)
def test_other_answers_are_not_context_overflows(status: int, message: str) -> None:
    error = status_error(vllm_error(status, message), "ds")
    assert not isinstance(error, ContextOverflow)


def test_rate_limit_headers_ride_along_from_headers_or_body() -> None:
    """OpenRouter repeats X-RateLimit-* inside error.metadata.headers; real headers win."""
    body = {
        "error": {
            "code": 429,
            "message": "Rate limit exceeded",
            "metadata": {"headers": {"X-RateLimit-Reset": "1", "X-RateLimit-Limit": "50"}},
        }
    }
    response = httpx.Response(
        429,
        json=body,
        headers={"X-RateLimit-Reset": "1700000000000", "Retry-After": "7"},
    )
    error = status_error(response, "or")
    assert isinstance(error, BackendRateLimited) and error.retry_after == 7.0
    assert error.rate_limit_headers == {
        "x-ratelimit-reset": "1700000000000",
        "x-ratelimit-limit": "50",
    }


def test_rate_limit_headers_are_bounded() -> None:
    """A hostile server's thousand headers, or a megabyte value, are not kept."""
    headers = {f"X-RateLimit-H{i}": "9" * 1000 for i in range(1000)}
    error = status_error(httpx.Response(503, headers=headers), "x")
    assert isinstance(error, BackendServerError)
    assert len(error.rate_limit_headers) == 8
    assert all(len(v) == 64 for v in error.rate_limit_headers.values())


def test_an_error_without_rate_limit_headers_has_none() -> None:
    assert status_error(httpx.Response(500, text="boom"), "x").rate_limit_headers == {}
