"""The simulated vision server answers, fails and stalls the way vLLM and OpenRouter do."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import io
import json
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from docling_hybrid_cli.sim import MockConfig, MockServer, main

MODEL = "deepseek-ai/DeepSeek-OCR"
CHAT = "/v1/chat/completions"
REPO_ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def jpeg_b64(width: int, height: int) -> str:
    """A base64 JPEG of the given size; each size is encoded once per session."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 245)).save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_body(image_b64: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat request laid out like the DeepSeek-OCR recipe's."""
    content: list[dict[str, Any]] = []
    if image_b64 is not None:
        url = f"data:image/jpeg;base64,{image_b64}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": "<|grounding|>Convert the document to markdown."})
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


@pytest.fixture
def make_server() -> Iterator[Callable[..., MockServer]]:
    """Start servers with the given MockConfig fields; stop them all afterwards."""
    servers: list[MockServer] = []

    def make(**config: Any) -> MockServer:
        server = MockServer(MockConfig(**config)).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., MockServer]) -> MockServer:
    return make_server()


@pytest.fixture
def client(server: MockServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


def test_health_is_an_empty_200(client: httpx.Client) -> None:
    """/health answers 200 with no body, as vLLM's does."""
    response = client.get("/health")
    assert response.status_code == 200
    assert response.content == b""


@pytest.mark.parametrize("path", ["/v1/models", "/models"])
def test_models_lists_the_served_model(make_server: Callable[..., MockServer], path: str) -> None:
    """The model card carries the served id and max_model_len, with or without /v1."""
    server = make_server(model="m/x", max_model_len=2048)
    body = httpx.get(server.url + path).json()
    assert body["object"] == "list"
    [card] = body["data"]
    assert card["id"] == "m/x"
    assert card["owned_by"] == "vllm"
    assert card["parent"] is None
    assert card["max_model_len"] == 2048


def test_deepseek_style_answer_names_page_size_in_grounding_tags(
    server: MockServer, client: httpx.Client
) -> None:
    """A page image comes back as DeepSeek grounding blocks naming WxH and the payload hash."""
    image = jpeg_b64(700, 900)
    response = client.post(CHAT, json=chat_body(image, max_tokens=4096))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    sha1 = hashlib.sha1(image.encode()).hexdigest()
    assert "<|ref|>title<|/ref|><|det|>[[100, 50, 900, 90]]<|/det|>\n# Page 700x900" in content
    assert f"image 700x900 sha1 {sha1[:12]}" in content
    assert "<|ref|>image<|/ref|>" in content
    assert "<table><tr><td>a</td><td>b</td></tr></table>" in content
    usage = body["usage"]
    assert usage["prompt_tokens"] > 903  # 903 image tokens for a tiled portrait page, plus text
    assert usage["completion_tokens"] == len(content) // 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [record] = server.stats.requests
    assert (record.path, record.status, record.fault) == (CHAT, 200, None)
    assert (record.width, record.height, record.image_sha1) == (700, 900, sha1)


def test_plain_style_answer_is_deterministic(make_server: Callable[..., MockServer]) -> None:
    """Plain style is two lines naming WxH and hash; the same image gives the same text."""
    server = make_server(style="plain")
    image = jpeg_b64(320, 200)
    with httpx.Client(base_url=server.url) as http:
        answers = [http.post(CHAT, json=chat_body(image)).json() for _ in range(2)]
    sha1 = hashlib.sha1(image.encode()).hexdigest()
    contents = {answer["choices"][0]["message"]["content"] for answer in answers}
    assert contents == {f"# Page 320x200\n\nimage 320x200 sha1 {sha1[:12]}"}
    assert 273 < answers[0]["usage"]["prompt_tokens"] < 903  # global view only, no tiles


def test_image_header_far_into_the_payload_is_still_found(client: httpx.Client) -> None:
    """A JPEG whose size marker follows a 100 KB ICC profile is measured from the full decode."""
    buffer = io.BytesIO()
    Image.new("RGB", (333, 444)).save(buffer, "JPEG", icc_profile=b"\0" * 100_000)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    response = client.post(CHAT, json=chat_body(image))
    assert response.status_code == 200
    assert "# Page 333x444" in response.json()["choices"][0]["message"]["content"]


def test_text_only_request_is_still_answered(server: MockServer, client: httpx.Client) -> None:
    """A request without an image part gets a normal text answer, like vLLM's."""
    response = client.post(CHAT, json=chat_body(None))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
    assert server.stats.chat_ok == 1


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        pytest.param(b"{not json", 400, "JSON decode error", id="invalid-json"),
        pytest.param(json.dumps({"model": MODEL}).encode(), 400, "Field required", id="no-msgs"),
        pytest.param(
            json.dumps({**chat_body(None), "model": "nope"}).encode(),
            404,
            "The model `nope` does not exist.",
            id="unknown-model",
        ),
        pytest.param(
            json.dumps(chat_body(None, max_tokens=100000)).encode(),
            400,
            "max_tokens=100000 cannot be greater than max_model_len=8192",
            id="max-tokens",
        ),
        pytest.param(
            json.dumps(chat_body("@@notbase64@@")).encode(),
            400,
            "Non-base64 digit found",
            id="bad-base64",
        ),
        pytest.param(
            json.dumps(chat_body("abcde")).encode(), 400, "Incorrect padding", id="bad-padding"
        ),
        pytest.param(
            json.dumps(chat_body(base64.b64encode(b"no image here").decode())).encode(),
            400,
            "Failed to load image: cannot identify image file",
            id="not-an-image",
        ),
        pytest.param(
            json.dumps(chat_body(None, vllm_xargs={"ngram_size": -1})).encode(),
            400,
            "`ngram_size` has to be a strictly positive integer, got -1.",
            id="bad-xargs",
        ),
    ],
)
def test_invalid_requests_are_rejected_like_vllm(
    server: MockServer, client: httpx.Client, payload: bytes, status: int, fragment: str
) -> None:
    """Each malformed request gets vLLM's status and an error body with that message."""
    server.inject("500")
    response = client.post(CHAT, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert fragment in error["message"]
    assert server.stats.faults_injected == {}  # faults are drawn only for valid requests


def test_api_key_guards_v1_routes_only(make_server: Callable[..., MockServer]) -> None:
    """With a key, /v1 needs the bearer token (401 otherwise); /health and /metrics stay open."""
    server = make_server(api_key="sekret")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/v1/models").json() == {"error": "Unauthorized"}
        wrong = http.post(CHAT, json=chat_body(None), headers={"authorization": "Bearer x"})
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Unauthorized"})
        key_info = http.get("/api/v1/key")
        assert key_info.status_code == 401
        assert key_info.json() == {"error": {"code": 401, "message": "No auth credentials found"}}
        assert http.get("/health").status_code == 200
        assert http.get("/metrics").status_code == 200
        authed = {"authorization": "Bearer sekret"}
        assert http.get("/v1/models", headers=authed).status_code == 200
        assert http.get("/api/v1/key", headers=authed).status_code == 200
        ok = http.post(CHAT, json=chat_body(jpeg_b64(320, 200)), headers=authed)
        assert ok.status_code == 200


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


def test_injected_faults_are_used_in_order_before_random_ones(
    server: MockServer, client: httpx.Client
) -> None:
    """The injected queue is consumed first, in order, one fault per chat request."""
    server.inject("503", "429")
    statuses = [client.post(CHAT, json=chat_body(None)).status_code for _ in range(3)]
    assert statuses == [503, 429, 200]


def test_unknown_fault_kinds_are_rejected(server: MockServer) -> None:
    """A typo in a fault name fails loudly instead of never firing."""
    with pytest.raises(ValueError, match="unknown fault kinds"):
        server.inject("418")
    with pytest.raises(ValueError, match="unknown fault kinds"):
        MockConfig(faults=("500", "teapot"))


def test_fail_rate_is_reproducible_with_a_seed(make_server: Callable[..., MockServer]) -> None:
    """Two servers with the same seed fail the same sequential requests the same way."""
    outcomes: list[list[tuple[int, str | None]]] = []
    for _ in range(2):
        server = make_server(fail_rate=0.5, faults=("500", "429", "empty"), seed=7)
        with httpx.Client(base_url=server.url) as http:
            for _ in range(20):
                http.post(CHAT, json=chat_body(None))
        outcomes.append([(r.status or 0, r.fault) for r in server.stats.requests])
    assert outcomes[0] == outcomes[1]
    faults = {fault for _, fault in outcomes[0]}
    assert None in faults
    assert len(faults) > 1


def _metric(text: str, name: str) -> float:
    [line] = [line for line in text.splitlines() if line.startswith(name)]
    return float(line.rsplit(" ", 1)[1])


def test_metrics_count_tokens_and_successes(server: MockServer, client: httpx.Client) -> None:
    """Prometheus counters grow with each answer; running is 0 when idle."""
    label = f'{{model_name="{MODEL}"}}'
    success = f'vllm:request_success_total{{finished_reason="stop",model_name="{MODEL}"}}'
    before = client.get("/metrics").text
    assert _metric(before, success) == 0
    answers = [client.post(CHAT, json=chat_body(jpeg_b64(700, 900))).json() for _ in range(2)]
    after = client.get("/metrics")
    assert after.headers["content-type"].startswith("text/plain")
    prompt = sum(answer["usage"]["prompt_tokens"] for answer in answers)
    generated = sum(answer["usage"]["completion_tokens"] for answer in answers)
    assert _metric(after.text, "vllm:prompt_tokens_total" + label) == prompt
    assert _metric(after.text, "vllm:generation_tokens_total" + label) == generated
    assert _metric(after.text, success) == 2
    assert _metric(after.text, "vllm:num_requests_running" + label) == 0
    assert _metric(after.text, "vllm:num_requests_waiting" + label) == 0


def test_key_endpoint_reports_the_free_daily_quota(client: httpx.Client) -> None:
    """/api/v1/key is OpenRouter-shaped and counts chat requests against a limit of 50."""
    client.post(CHAT, json=chat_body(None))
    data = client.get("/api/v1/key").json()["data"]
    assert data["is_free_tier"] is True
    assert data["free_model_daily_requests"] == {"used": 1, "limit": 50, "remaining": 49}


def test_stats_are_served_as_json_for_other_processes(client: httpx.Client) -> None:
    """/_mock/stats mirrors MockServer.stats for a server run as a subprocess."""
    client.post(CHAT, json=chat_body(None))
    stats = client.get("/_mock/stats").json()
    assert stats["chat_requests"] == stats["chat_ok"] == 1
    assert stats["connections_opened"] == stats["max_in_flight"] == 1
    assert stats["requests_recorded"] == 1


def test_unknown_path_and_wrong_method(client: httpx.Client) -> None:
    """Unknown paths get a JSON 404, known paths with the wrong method a 405."""
    missing = client.get("/v2/nothing")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert client.get(CHAT).status_code == 405


def test_keep_alive_reuses_one_connection(server: MockServer, client: httpx.Client) -> None:
    """Sequential requests on one client share one TCP connection until Connection: close."""
    for _ in range(5):
        assert client.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200
    assert server.stats.connections_opened == 1
    closing = client.get("/health", headers={"connection": "close"})
    assert closing.headers["connection"] == "close"
    client.get("/health")
    assert server.stats.connections_opened == 2


def _recv_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection"
        data += chunk
    return data


def test_expect_100_continue_is_honoured(server: MockServer) -> None:
    """A client that waits for 100 Continue before the body gets it, then the answer."""
    body = json.dumps(chat_body(jpeg_b64(320, 200))).encode()
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: mock\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), 5) as sock:
        sock.sendall(head.encode())
        assert _recv_head(sock).startswith(b"HTTP/1.1 100 Continue\r\n")
        sock.sendall(body)
        assert _recv_head(sock).startswith(b"HTTP/1.1 200 OK\r\n")


def test_chunked_request_body_is_read(client: httpx.Client) -> None:
    """A streamed (chunked) upload is reassembled before parsing."""
    body = json.dumps(chat_body(jpeg_b64(320, 200))).encode()
    chunks = iter([body[:1000], body[1000:]])
    response = client.post(CHAT, content=chunks, headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert "320x200" in response.json()["choices"][0]["message"]["content"]


def test_clients_that_vanish_or_send_garbage_leave_no_trace(
    server: MockServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """Half-sent bodies and junk request lines are dropped quietly; serving goes on."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(f"POST {CHAT} HTTP/1.1\r\nContent-Length: 100000\r\n\r\n{{".encode())
    with socket.create_connection(("127.0.0.1", port), 5) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        assert _recv_head(sock).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200
    server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_latency_applies_to_answers(make_server: Callable[..., MockServer]) -> None:
    """latency_s delays each answer by at least that long."""
    server = make_server(latency_s=0.2, jitter=0.1)
    started = time.monotonic()
    response = httpx.post(server.url + CHAT, json=chat_body(None))
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.18


def test_concurrent_requests_are_served_in_parallel(
    make_server: Callable[..., MockServer],
) -> None:
    """Sixteen concurrent requests are all in flight at once (asyncio, not one at a time)."""
    server = make_server(latency_s=0.5)
    body = chat_body(jpeg_b64(700, 900))

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            responses = await asyncio.gather(*(http.post(CHAT, json=body) for _ in range(16)))
        return [response.status_code for response in responses]

    assert asyncio.run(burst()) == [200] * 16
    stats = server.stats
    assert stats.max_in_flight == 16
    assert stats.chat_ok == 16
    server.reset_stats()
    assert server.stats == type(stats)()


def test_start_delay_refuses_connections_until_listening(
    make_server: Callable[..., MockServer],
) -> None:
    """While "loading", connects are refused (not 503), then /health answers 200."""
    server = make_server(start_delay_s=0.3)
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health")
    assert server.wait_listening(timeout=10)
    assert httpx.get(server.url + "/health").status_code == 200


def test_stop_closes_idle_keep_alive_connections(
    server: MockServer, capfd: pytest.CaptureFixture[str]
) -> None:
    """stop() returns promptly with a client still connected, and logs nothing."""
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200
        server.stop()
        with pytest.raises(httpx.TransportError):
            http.get("/health")
    assert "Traceback" not in capfd.readouterr().err


def test_main_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    """Invalid settings end with a usage error, not a traceback."""
    with pytest.raises(SystemExit) as exit_info:
        main(["--faults", "500,bogus"])
    assert exit_info.value.code == 2
    assert "unknown fault kinds" in capsys.readouterr().err


def test_cli_prints_listening_line_and_stops_on_sigterm() -> None:
    """`python -m ...mockserver` announces its URL, serves, and exits 0 on SIGTERM."""
    command = [sys.executable, "-m", "docling_hybrid_cli.sim", "--port", "0"]
    command += ["--style", "plain", "--latency", "0", "--seed", "1"]
    with subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            ready, _, _ = select.select([process.stdout], [], [], 20)
            assert ready, "no listening line within 20 s"
            line = process.stdout.readline().strip()
            assert line.startswith("mock server listening on http://127.0.0.1:")
            url = line.rsplit(" ", 1)[1]
            answer = httpx.post(url + CHAT, json=chat_body(jpeg_b64(320, 200))).json()
            assert answer["choices"][0]["message"]["content"].startswith("# Page 320x200")
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
            assert process.stderr is not None
            assert "Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
