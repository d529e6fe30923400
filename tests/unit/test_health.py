"""check-server logic against respx-mocked servers: one verdict, one reason, one hint."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends.deepseek import image_tokens
from docling_hybrid_cli.health import (
    HealthReport,
    check_backend,
    render_probe_page,
    typical_page_size,
    wait_until_up,
)
from docling_hybrid_cli.settings import BackendConfig, ConvertSettings

ROOT = "http://vllm.test:8000"
BASE = f"{ROOT}/v1"
OR_BASE = "https://openrouter.test/api/v1"
MODEL = "deepseek-ai/DeepSeek-OCR"
SECRET = "sk-or-PLANTED-SECRET-abcdef"
PAGE = (1224, 1584)


def deepseek(**extra: Any) -> BackendConfig:
    return backend_config(**{"name": "deepseek-vllm", "model": MODEL, "base_url": BASE, **extra})


def openrouter() -> BackendConfig:
    return backend_config(
        name="nemotron-openrouter",
        kind="openrouter",
        model="nvidia/nemotron-nano-12b-v2-vl:free",
        base_url=OR_BASE,
        api_key_env="OPENROUTER_API_KEY",
    )


def models(*ids: str, max_model_len: int = 8192) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "max_model_len": max_model_len} for i in ids],
    }


def mocked(router: respx.MockRouter | None) -> httpx.MockTransport | None:
    """The respx router as the transport, whatever transport the client would pick itself."""
    return httpx.MockTransport(router.async_handler) if router is not None else None


def check(
    config: BackendConfig,
    environ: dict[str, str] | None = None,
    router: respx.MockRouter | None = None,
) -> HealthReport:
    return asyncio.run(
        check_backend(config, page_size=PAGE, environ=environ or {}, transport=mocked(router))
    )


def test_healthy_vllm_is_ready_with_model_and_latency(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))

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


def test_small_context_warns_with_the_fitted_max_tokens(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL, max_model_len=4096))

    report = check(deepseek(max_tokens=8192), {}, respx_mock)

    tokens = image_tokens(*PAGE)
    assert report.ready
    assert report.image_tokens == tokens
    assert report.fitted_max_tokens is not None
    assert report.fitted_max_tokens < 4096 - tokens
    assert len(report.warnings) == 1
    assert "max_model_len 4096" in report.warnings[0]
    assert str(report.fitted_max_tokens) in report.warnings[0]


def test_context_too_small_for_any_answer_is_not_ready(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL, max_model_len=1024))

    report = check(deepseek(), {}, respx_mock)

    assert report.state == "misconfigured"
    assert report.hint is not None and "--max-model-len" in report.hint


def test_small_configured_max_tokens_is_not_a_small_context(
    respx_mock: respx.MockRouter,
) -> None:
    """A deliberately small max_tokens fits a roomy context: ready, no failure, no warning."""
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL, max_model_len=2048))

    report = check(deepseek(max_tokens=16), {}, respx_mock)

    assert report.ready
    assert report.fitted_max_tokens == 16
    assert report.warnings == []


def test_server_without_health_endpoint_is_checked_by_models(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(404)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))

    report = check(deepseek(kind="openai-compatible"), {}, respx_mock)

    assert report.ready
    assert any("no /health" in note for note in report.notes)


def test_vllm_api_key_rejected_on_models(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(401, json={"error": "Unauthorized"})

    report = check(deepseek(api_key_env="VLLM_KEY"), {"VLLM_KEY": "wrong-key-123"}, respx_mock)

    assert report.state == "misconfigured"
    assert report.key is not None and report.key.accepted is False
    assert report.hint is not None and "VLLM_KEY" in report.hint


def test_openrouter_key_accepted_reports_limits(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{OR_BASE}/key").respond(
        json={
            "data": {
                "label": "sk-or-v1-abc...xyz",
                "limit": None,
                "usage": 0.25,
                "free_model_daily_requests": {"used": 3, "limit": 50, "remaining": 47},
            }
        }
    )

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.ready
    assert route.calls.last.request.headers["authorization"] == f"Bearer {SECRET}"
    assert report.key is not None
    assert report.key.present and report.key.accepted
    assert report.key.usage == 0.25
    assert report.key.free_model_daily_requests == {"used": 3, "limit": 50, "remaining": 47}
    assert SECRET not in json.dumps(report.to_dict())


def test_openrouter_key_rejected_401(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{OR_BASE}/key").respond(401, json={"error": {"code": 401, "message": "nope"}})

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.state == "misconfigured"
    assert report.key is not None and report.key.accepted is False
    assert report.reason is not None and "OPENROUTER_API_KEY" in report.reason
    assert SECRET not in json.dumps(report.to_dict())


@pytest.mark.respx(assert_all_called=False)
def test_openrouter_missing_key_fails_without_a_request(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{OR_BASE}/key").respond(200, json={"data": {}})

    report = check(openrouter(), {}, respx_mock)

    assert not route.called
    assert report.state == "misconfigured"
    assert report.reason == "OPENROUTER_API_KEY is not set"
    assert report.hint is not None and "OPENROUTER_API_KEY" in report.hint


def test_openrouter_free_quota_used_up_is_not_ready(respx_mock: respx.MockRouter) -> None:
    quota = {"used": 50, "limit": 50, "remaining": 0}
    respx_mock.get(f"{OR_BASE}/key").respond(json={"data": {"free_model_daily_requests": quota}})

    report = check(openrouter(), {"OPENROUTER_API_KEY": SECRET}, respx_mock)

    assert report.state == "misconfigured"
    assert report.reason is not None and "50/50" in report.reason


def test_text_layer_is_always_ready() -> None:
    report = check(backend_config(name="text-layer", kind="text-layer"))
    assert report.ready and report.state == "ready"


def test_tesseract_ready_only_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    config = backend_config(name="tesseract", kind="tesseract")
    monkeypatch.setattr("shutil.which", lambda name: None)
    missing = check(config)
    assert missing.state == "misconfigured"
    assert missing.hint is not None and "apt-get install tesseract-ocr" in missing.hint

    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/tesseract")
    assert check(config).ready


def test_wait_polls_until_the_server_answers(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{ROOT}/health")
    route.side_effect = [
        httpx.ConnectError("loading"),
        httpx.ConnectError("loading"),
        httpx.Response(200),
    ]
    ticks: list[float] = []

    waited = asyncio.run(
        wait_until_up(
            deepseek(),
            transport=mocked(respx_mock),
            timeout_s=5,
            interval_s=0.01,
            tick=lambda name, s: ticks.append(s),
        )
    )

    assert route.call_count == 3
    assert len(ticks) == 2
    assert waited < 5


def test_wait_stops_at_once_on_a_dead_engine(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{ROOT}/health").respond(503)

    asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=5, interval_s=0.01)
    )

    assert route.call_count == 1


def test_wait_gives_up_at_the_deadline(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.get(f"{ROOT}/health").mock(side_effect=httpx.ConnectError("refused"))

    asyncio.run(
        wait_until_up(deepseek(), transport=mocked(respx_mock), timeout_s=0.05, interval_s=0.01)
    )

    assert 1 <= route.call_count <= 10


def test_typical_page_respects_max_side() -> None:
    assert typical_page_size(ConvertSettings(dpi=144)) == (1224, 1584)
    width, height = typical_page_size(ConvertSettings(dpi=600, max_side=2000))
    assert height == 2000 and width < 2000


def test_probe_page_is_rendered_from_a_generated_sample() -> None:
    page = asyncio.run(render_probe_page(None, ConvertSettings()))
    assert page.page == 1
    assert (page.width, page.height) == (1224, 1584)
    assert page.data[:2] == b"\xff\xd8"


def test_probe_sends_one_page_and_times_it(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))
    chat = respx_mock.post(f"{BASE}/chat/completions").respond(
        json={
            "model": MODEL,
            "choices": [
                {"message": {"content": "# Probe\n\nText."}, "finish_reason": "stop"},
            ],
            "usage": {"prompt_tokens": 900, "completion_tokens": 7},
        }
    )
    page = asyncio.run(render_probe_page(None, ConvertSettings()))

    report = asyncio.run(
        check_backend(
            deepseek(),
            page_size=PAGE,
            probe_page=page,
            environ={},
            transport=mocked(respx_mock),
        )
    )

    assert chat.call_count == 1
    assert report.ready
    assert report.probe is not None and report.probe.ok
    assert report.probe.completion_tokens == 7
