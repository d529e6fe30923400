"""The routes clients probe: /health, /v1/models, /api/v1/key, /_mock/stats, 404 and 405."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from sim_support import CHAT, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer


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


def test_warming_up_answers_503_on_health_and_chat_then_serves(
    make_server: Callable[..., MockServer],
) -> None:
    """As SGLang while it warms up: /health and chat say 503, /models already answers."""
    server = make_server(warmup_s=0.5)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        assert http.get("/health").status_code == 503
        busy = http.post(CHAT, json=chat_body(jpeg_b64(320, 200)))
        assert busy.status_code == 503
        assert "warming up" in busy.json()["error"]["message"]
        assert http.get("/v1/models").status_code == 200
        deadline = time.monotonic() + 10
        while http.get("/health").status_code == 503 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert http.get("/health").status_code == 200
        assert http.post(CHAT, json=chat_body(jpeg_b64(320, 200))).status_code == 200


def test_openrouter_model_lists(make_server: Callable[..., MockServer]) -> None:
    """/api/v1/models is public; /api/v1/models/user needs the key and honours key_models."""
    server = make_server(api_key="sk-test", key_models=("nvidia/nemotron-nano-12b-v2-vl",))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        every = [m["id"] for m in http.get("/api/v1/models").json()["data"]]
        assert http.get("/api/v1/models/user").status_code == 401
        authed = {"Authorization": "Bearer sk-test"}
        usable = [m["id"] for m in http.get("/api/v1/models/user", headers=authed).json()["data"]]
    assert every == [
        "deepseek-ai/DeepSeek-OCR",
        "nvidia/nemotron-nano-12b-v2-vl:free",
        "nvidia/nemotron-nano-12b-v2-vl",
    ]
    assert usable == ["nvidia/nemotron-nano-12b-v2-vl"]
