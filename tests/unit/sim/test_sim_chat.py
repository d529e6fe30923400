"""Each fault answers the chat route the way the server it imitates does; latency applies."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from sim_support import CHAT, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer


@pytest.mark.parametrize(
    ("fault", "status", "expected_error"),
    [
        pytest.param("429", 429, {"message": "Rate limit exceeded", "code": 429}, id="429"),
        pytest.param("500", 500, "InternalServerError", id="500"),
        pytest.param("502", 502, "BadGatewayError", id="502"),
        pytest.param("503", 503, "ServiceUnavailableError", id="503"),
        pytest.param("401", 401, "Unauthorized", id="401"),
        pytest.param("404", 404, "NotFoundError", id="404"),
    ],
)
def test_injected_error_statuses(
    make_server: Callable[..., MockServer], fault: str, status: int, expected_error: object
) -> None:
    """Error faults answer with their status and body; 429 and 503 carry Retry-After."""
    server = make_server(retry_after_s=2)
    server.inject(fault)
    with httpx.Client(base_url=server.url) as http:
        response = http.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
        assert response.status_code == status
        error = response.json()["error"]
        if isinstance(expected_error, dict):
            assert error == expected_error
        elif isinstance(error, dict):
            assert (error["type"], error["code"]) == (expected_error, status)
        else:
            assert error == expected_error
        has_retry_after = fault in ("429", "503")
        assert (response.headers.get("retry-after") == "2") is has_retry_after
        assert http.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200
    stats = server.stats
    assert stats.faults_injected == {fault: 1}
    assert [r.fault for r in stats.requests] == [fault, None]
    assert stats.chat_requests == 2
    assert stats.chat_ok == 1


def test_error200_fault_is_an_openrouter_error_without_choices(
    server: MockServer, client: httpx.Client
) -> None:
    """error200 is HTTP 200 whose body is only an OpenRouter provider error."""
    server.inject("error200")
    response = client.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
    assert response.status_code == 200
    assert response.json() == {
        "error": {
            "code": 502,
            "message": "Provider returned error",
            "metadata": {"provider_name": "mock"},
        }
    }


def test_empty_and_length_faults_are_well_formed_bad_answers(
    server: MockServer, client: httpx.Client
) -> None:
    """empty: content "" with stop; length: a looping text cut at max_tokens, finish "length"."""
    server.inject("empty", "length")
    empty = client.post(CHAT, json=chat_body(jpeg_b64(320, 200))).json()
    assert empty["choices"][0]["message"]["content"] == ""
    assert empty["choices"][0]["finish_reason"] == "stop"
    assert empty["usage"]["completion_tokens"] == 0
    looping = client.post(CHAT, json=chat_body(jpeg_b64(320, 200), max_tokens=200)).json()
    content = looping["choices"][0]["message"]["content"]
    assert looping["choices"][0]["finish_reason"] == "length"
    assert content.startswith("<|ref|>title<|/ref|>")
    assert len(content) == 800
    assert looping["usage"]["completion_tokens"] == 200
    assert server.stats.chat_ok == 0
    assert server.stats.faults_injected == {"empty": 1, "length": 1}


def test_reset_fault_drops_the_connection(server: MockServer, client: httpx.Client) -> None:
    """reset closes the socket without a response; the server keeps serving."""
    server.inject("reset")
    with pytest.raises(httpx.TransportError):
        client.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
    assert client.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200
    stats = server.stats
    assert [(r.status, r.fault) for r in stats.requests] == [(None, "reset"), (200, None)]
    assert stats.connections_opened == 2


def test_timeout_fault_outlasts_the_client(make_server: Callable[..., MockServer]) -> None:
    """timeout holds the answer for timeout_fault_s, so a client with a shorter timeout gives up."""
    server = make_server(timeout_fault_s=0.5)
    server.inject("timeout")
    with httpx.Client(base_url=server.url, timeout=0.1) as http, pytest.raises(httpx.ReadTimeout):
        http.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200
    assert server.stats.faults_injected == {"timeout": 1}


def test_latency_applies_to_answers(make_server: Callable[..., MockServer]) -> None:
    """latency_s delays each answer by at least that long."""
    server = make_server(latency_s=0.2, jitter=0.1)
    started = time.monotonic()
    response = httpx.post(server.url + CHAT, json=chat_body(None))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.18


def test_daily_cap_fault_carries_openrouters_rate_limit_headers(
    server: MockServer, client: httpx.Client
) -> None:
    """Nothing remaining until midnight UTC, in headers and again in error.metadata.headers."""
    server.inject("429-daily")
    before = time.time()
    response = client.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
    assert response.status_code == 429
    assert response.headers["x-ratelimit-remaining"] == "0"
    reset_s = int(response.headers["x-ratelimit-reset"]) / 1000
    assert 0 < reset_s - before <= 86400
    assert reset_s % 86400 == 0
    inner = response.json()["error"]["metadata"]["headers"]
    assert inner["X-RateLimit-Reset"] == response.headers["x-ratelimit-reset"]
