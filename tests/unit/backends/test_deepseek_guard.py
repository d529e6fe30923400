"""check-server on DeepSeek/vLLM: a server that ignores the n-gram guard is not ready."""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from health_support import (
    BASE,
    MODEL,
    NGRAM_REFUSED,
    ROOT,
    check,
    deepseek,
    models,
    vllm_chat,
)

from docling_hybrid_cli.backend_configs import backend_config


def healthy(router: respx.MockRouter) -> None:
    router.get(f"{ROOT}/health").respond(200)
    router.get(f"{BASE}/models").respond(json=models(MODEL))


def test_guard_active_when_the_server_refuses_ngram_size_0(respx_mock: respx.MockRouter) -> None:
    healthy(respx_mock)
    chat = vllm_chat(respx_mock)

    report = check(deepseek(), {}, respx_mock)

    assert report.ready
    assert report.ngram_guard is True
    body = json.loads(chat.calls.last.request.content)
    assert body["max_tokens"] == 1
    assert body["vllm_xargs"]["ngram_size"] == 0
    assert body["messages"] == [{"role": "user", "content": "ping"}]  # no image: cheap


@pytest.mark.parametrize("finish", ["length", "stop"])
def test_guard_missing_when_the_server_completes_the_request(
    respx_mock: respx.MockRouter, finish: str
) -> None:
    healthy(respx_mock)
    vllm_chat(
        respx_mock,
        {"choices": [{"message": {"content": "Hello"}, "finish_reason": finish}]},
        guard=False,
    )

    report = check(deepseek(), {}, respx_mock)

    assert report.state == "misconfigured"
    assert report.ngram_guard is False
    assert report.reason is not None and "n-gram logits processor" in report.reason
    assert report.hint is not None
    assert "--logits-processors" in report.hint
    assert "NGramPerReqLogitsProcessor" in report.hint


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.Response(500, json={"error": {"message": "boom"}}), id="500"),
        pytest.param(httpx.ReadTimeout("slow"), id="timeout"),
        pytest.param(
            httpx.Response(400, json={"error": {"message": "chat template missing"}}),
            id="other-400",
        ),
        pytest.param(httpx.Response(200, json={"error": {"message": "odd"}}), id="error-in-200"),
    ],
)
def test_an_unclear_answer_only_warns(
    respx_mock: respx.MockRouter, answer: httpx.Response | Exception
) -> None:
    healthy(respx_mock)
    route = respx_mock.post(f"{BASE}/chat/completions")
    if isinstance(answer, Exception):
        route.mock(side_effect=answer)
    else:
        route.mock(return_value=answer)

    report = check(deepseek(), {}, respx_mock)

    assert report.ready
    assert report.ngram_guard is None
    assert any("n-gram repetition guard" in w for w in report.warnings)


@pytest.mark.respx(assert_all_called=False)
def test_no_guard_check_on_a_server_that_is_not_ready(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models("someone/else"))
    chat = respx_mock.post(f"{BASE}/chat/completions").respond(400, json=NGRAM_REFUSED)

    report = check(deepseek(), {}, respx_mock)

    assert report.state == "misconfigured"
    assert not chat.called


@pytest.mark.respx(assert_all_called=False)
def test_mlx_has_no_guard_to_check(respx_mock: respx.MockRouter) -> None:
    respx_mock.get(f"{ROOT}/health").respond(200)
    respx_mock.get(f"{BASE}/models").respond(json=models(MODEL))
    chat = respx_mock.post(f"{BASE}/chat/completions").respond(400, json=NGRAM_REFUSED)
    config = backend_config(name="deepseek-mlx", kind="deepseek-mlx", model=MODEL, base_url=BASE)

    report = check(config, {}, respx_mock)

    assert report.ready
    assert not chat.called
    assert report.ngram_guard is None
