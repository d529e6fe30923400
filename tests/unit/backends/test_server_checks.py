"""Checks every OpenAI-compatible server shares: /health, /models, the served model, the key."""

from __future__ import annotations

import httpx
import respx
from health_support import (
    BASE,
    MODEL,
    ROOT,
    check,
    deepseek,
    models,
    vllm_chat,
)


def test_healthy_vllm_is_ready_with_model_and_latency(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))
    vllm_chat(respx_mock)

    report = check(deepseek(max_tokens=4096), {}, respx_mock)

    assert report.ready and report.state == "ready"
    assert report.url == ROOT
    assert report.served_models == [MODEL]
    assert report.max_model_len == 8192
    assert report.health_status == 200
    assert report.latency_ms is not None
    assert report.fitted_max_tokens == 4096
    assert report.warnings == []


def test_dead_engine_503_is_unhealthy_and_says_restart(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(503)

    report = check(deepseek(), {}, respx_mock)

    assert not report.ready and report.state == "unhealthy"
    assert report.reason is not None and "503" in report.reason
    assert report.hint is not None and "restart" in report.hint


def test_refused_connection_is_unreachable_and_says_start_or_wait(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(f"{ROOT}/health").mock(side_effect=httpx.ConnectError("refused"))

    report = check(deepseek(), {}, respx_mock)

    assert report.state == "unreachable"
    assert report.hint is not None and "start" in report.hint and "--wait" in report.hint


def test_wrong_model_names_the_models_served(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models("other/model-a", "other/model-b"))

    report = check(deepseek(model="deepseek-ai/Typo"), {}, respx_mock)

    assert report.state == "misconfigured"
    assert report.reason is not None
    assert "'deepseek-ai/Typo'" in report.reason
    assert "other/model-a, other/model-b" in report.reason
    assert report.hint is not None
    assert "config set backends.deepseek-vllm.model other/model-a" in report.hint


def test_server_without_health_endpoint_is_checked_by_models(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(404)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))

    report = check(deepseek(kind="openai-compatible"), {}, respx_mock)

    assert report.ready
    assert any("no /health" in note for note in report.notes)


def test_vllm_api_key_rejected_on_models(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(401, json={"error": "Unauthorized"})

    report = check(
        deepseek(api_key_env="VLLM_KEY", allow_insecure_http=True),
        {"VLLM_KEY": "wrong-key-123"},
        respx_mock,
    )

    assert report.state == "misconfigured"
    assert report.key is not None and report.key.accepted is False
    assert report.hint is not None and "VLLM_KEY" in report.hint
