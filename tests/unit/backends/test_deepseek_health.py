"""DeepSeek on vLLM: the page's image tokens plus the answer must fit max_model_len."""

from __future__ import annotations

import respx
from health_support import (
    BASE,
    MODEL,
    PAGE,
    ROOT,
    check,
    deepseek,
    models,
    vllm_chat,
)

from docling_hybrid_cli.backends.deepseek import image_tokens


def test_small_context_warns_with_the_fitted_max_tokens(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL, max_model_len=4096))
    vllm_chat(respx_mock)

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
    vllm_chat(respx_mock)

    report = check(deepseek(max_tokens=16), {}, respx_mock)

    assert report.ready
    assert report.fitted_max_tokens == 16
    assert report.warnings == []
