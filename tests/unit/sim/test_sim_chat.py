"""Each fault answers the chat route the way the server it imitates does; latency applies."""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable

import httpx
import pytest
from PIL import Image, ImageDraw
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


@pytest.mark.parametrize(
    ("fault", "finish_reason", "has_text"),
    [
        ("content_filter", "content_filter", False),
        ("abort", "abort", True),
        ("finish_error", "error", True),
        ("repetition", "repetition", True),
    ],
)
def test_finish_reason_faults(
    server: MockServer, client: httpx.Client, fault: str, finish_reason: str, has_text: bool
) -> None:
    """Each finish-reason fault is a well-formed 200 ending with that reason."""
    server.inject(fault)
    body = client.post(CHAT, json=chat_body(jpeg_b64(320, 200), max_tokens=4000)).json()
    [choice] = body["choices"]
    assert choice["finish_reason"] == finish_reason
    assert bool(choice["message"]["content"]) is has_text
    if fault == "repetition":  # stopped early, well before max_tokens
        assert body["usage"]["completion_tokens"] < 4000
        assert "the same words again" in choice["message"]["content"]
    assert server.stats.faults_injected == {fault: 1}
    assert server.stats.chat_ok == 0


def _jpeg_with_text() -> str:
    image = Image.new("RGB", (320, 200), "white")
    ImageDraw.Draw(image).text((20, 20), "Some words on the page", fill="black")
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@pytest.mark.parametrize("empty_for_blank", [True, False])
def test_blank_images_answered_empty(
    make_server: Callable[..., MockServer], empty_for_blank: bool
) -> None:
    """With empty_for_blank a blank page gets "" and stop, as DeepSeek-OCR answers it."""
    server = make_server(empty_for_blank=empty_for_blank)
    with httpx.Client(base_url=server.url) as http:
        blank = http.post(CHAT, json=chat_body(jpeg_b64(320, 200))).json()["choices"][0]
        inked = http.post(CHAT, json=chat_body(_jpeg_with_text())).json()["choices"][0]
    assert blank["finish_reason"] == inked["finish_reason"] == "stop"
    assert (blank["message"]["content"] == "") is empty_for_blank
    assert "320x200" in inked["message"]["content"]


@pytest.mark.parametrize(
    ("xargs", "temperature", "loops"),
    [
        pytest.param(None, 0.0, True, id="no guard"),
        pytest.param({"ngram_size": 30, "window_size": 90}, 0.0, True, id="recipe guard: 61"),
        pytest.param({"ngram_size": 40, "window_size": 512}, 0.0, False, id="wide guard: 473"),
        pytest.param({"ngram_size": 30, "window_size": 90}, 0.2, False, id="temperature"),
        pytest.param({"ngram_size": 30, "window_size": 90}, 0.1, True, id="too cold"),
    ],
)
def test_loops_until_the_guard_reaches_or_sampling_breaks_them(
    make_server: Callable[..., MockServer],
    xargs: dict[str, int] | None,
    temperature: float,
    loops: bool,
) -> None:
    """A page looping with a 200-token period: cut off unless the request escapes the loop."""
    server = make_server(loop_period=200, loop_escape_temperature=0.2)
    extra: dict[str, object] = {"max_tokens": 500, "temperature": temperature}
    if xargs is not None:
        extra["vllm_xargs"] = xargs
    with httpx.Client(base_url=server.url) as http:
        answer = http.post(CHAT, json=chat_body(jpeg_b64(320, 200), **extra)).json()
    [choice] = answer["choices"]
    assert choice["finish_reason"] == ("length" if loops else "stop")
    assert ("the same words again" in choice["message"]["content"]) is loops
    assert server.stats.chat_ok == (0 if loops else 1)
