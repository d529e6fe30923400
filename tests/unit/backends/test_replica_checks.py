"""A backend with several replicas: its config, its key guard, its pages and its health check."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from health_support import MODEL, NGRAM_REFUSED, check, mocked, models

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.base import HttpBackend
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.retry import RetryPolicy
from docling_hybrid_cli.settings import BackendConfig

ROOTS = ("http://gpu1.test:8000", "http://gpu2.test:8001")
BASES = tuple(f"{root}/v1" for root in ROOTS)


def pool_config(**extra: Any) -> BackendConfig:
    return backend_config(
        **{"name": "deepseek-vllm", "model": MODEL, "base_url": list(BASES), **extra}
    )


# ----------------------------------------------------------------- config


def test_a_list_of_urls_is_a_pool_each_normalised() -> None:
    cfg = backend_config(
        name="ocr",
        kind="openai-compatible",
        base_url=[" http://a.test:8000/v1/chat/completions ", "http://b.test:8000/v1/"],
    )
    assert cfg.base_url == ["http://a.test:8000/v1", "http://b.test:8000/v1"]
    assert cfg.base_urls == ("http://a.test:8000/v1", "http://b.test:8000/v1")
    assert cfg.primary_url == "http://a.test:8000/v1"


def test_a_list_of_one_is_that_url() -> None:
    cfg = backend_config(name="ocr", kind="openai-compatible", base_url=["http://a.test/v1"])
    assert cfg.base_url == "http://a.test/v1"
    assert cfg.base_urls == ("http://a.test/v1",)


@pytest.mark.parametrize(
    ("urls", "message"),
    [
        ([], "at least one URL"),
        (["http://a.test/v1", "http://a.test/v1/"], "listed twice"),
        (["http://a.test/v1", "ftp://b.test/v1"], "http:// or https://"),
        (["http://a.test/v1", " "], "empty"),
        ([f"http://h{i}.test/v1" for i in range(257)], "at most 256"),
    ],
)
def test_bad_replica_lists_are_refused(urls: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backend_config(name="ocr", kind="openai-compatible", base_url=urls)


def test_every_replica_url_passes_the_plain_http_key_guard() -> None:
    """A key may go to a loopback replica over http, never to a remote one."""
    cfg = backend_config(
        name="ocr",
        kind="openai-compatible",
        base_url=["http://127.0.0.1:8000/v1", "http://gpu2.test:8000/v1"],
        api_key_env="OCR_KEY",
    )
    with pytest.raises(ConfigError, match=r"gpu2\.test"):
        build_backend(cfg, environ={"OCR_KEY": "sk-planted"})


def test_each_replica_gets_its_own_client_and_capacity() -> None:
    backend = build_backend(pool_config(max_concurrency=3), environ={})
    assert isinstance(backend, HttpBackend)
    assert [r.client.base_url for r in backend.pool.replicas] == list(BASES)
    assert [r.capacity for r in backend.pool.replicas] == [3, 3]
    assert backend.startup_urls == tuple(f"{root}/health" for root in ROOTS)
    asyncio.run(backend.aclose())


# ----------------------------------------------------------------- pages


def _answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [{"message": {"content": "Hello"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 2},
        },
    )


@pytest.mark.respx(assert_all_called=False)  # the background probe may not get its turn
def test_a_page_refused_by_one_replica_is_served_by_the_other_in_one_attempt(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post(f"{BASES[0]}/chat/completions").mock(
        side_effect=httpx.ConnectError("connection refused")
    )
    respx_mock.post(f"{BASES[1]}/chat/completions").mock(side_effect=_answer)
    respx_mock.get(url__regex=r".*/(health|models)$").respond(json=models(MODEL), status_code=200)
    backend = build_backend(
        pool_config(),
        environ={},
        transport=mocked(respx_mock),
        retry=RetryPolicy(max_attempts=1),
    )
    page = PageImage(page=1, data=b"\xff\xd8jpeg", mime="image/jpeg", width=640, height=800)
    states: list[tuple[str, str]] = []

    async def scenario() -> Any:
        try:
            return await backend.ocr_page(page, lambda s, d="": states.append((s, d)))
        finally:
            await backend.aclose()

    text = asyncio.run(scenario())
    assert text.markdown == "Hello"
    assert text.replica == BASES[1]
    assert text.attempts == 1
    assert any(s == "retrying" and "another replica" in d for s, d in states)
    assert isinstance(backend, HttpBackend) and backend.pool.replicas[0].ejected


# ----------------------------------------------------------------- check-server


def _server(
    router: respx.MockRouter,
    base: str,
    *,
    health: int | Exception = 200,
    max_model_len: int = 8192,
    guard: bool = True,
) -> None:
    root = base.removesuffix("/v1")
    if isinstance(health, Exception):
        router.get(f"{root}/health").mock(side_effect=health)
        router.get(f"{base}/models").mock(side_effect=health)
        router.post(f"{base}/chat/completions").mock(side_effect=health)
        return
    router.get(f"{root}/health").respond(health)
    router.get(f"{base}/models").respond(json=models(MODEL, max_model_len=max_model_len))

    def chat(request: httpx.Request) -> httpx.Response:
        xargs = json.loads(request.content).get("vllm_xargs") or {}
        if guard and xargs.get("ngram_size") == 0:
            return httpx.Response(400, json=NGRAM_REFUSED)
        return _answer(request)

    router.post(f"{base}/chat/completions").mock(side_effect=chat)


def test_every_replica_is_reported_with_its_context_and_latency(
    respx_mock: respx.MockRouter,
) -> None:
    _server(respx_mock, BASES[0], max_model_len=8192)
    _server(respx_mock, BASES[1], max_model_len=4096)

    report = check(pool_config(), {}, respx_mock)

    assert report.ready and report.state == "ready"
    assert [(r.url, r.state, r.max_model_len) for r in report.replicas] == [
        (ROOTS[0], "ready", 8192),
        (ROOTS[1], "ready", 4096),
    ]
    assert all(r.latency_ms is not None for r in report.replicas)
    assert report.max_model_len == 4096  # pages must fit the smallest context
    assert report.ngram_guard is True
    data = report.to_dict()
    assert [r["state"] for r in data["replicas"]] == ["ready", "ready"]


@pytest.mark.parametrize(
    ("second", "state", "reason"),
    [
        ({"health": httpx.ConnectError("refused")}, "dead", "connection refused"),
        ({"health": 503}, "loading", "503"),
        ({"guard": False}, "misconfigured", "n-gram"),
    ],
)
def test_a_pool_with_one_ready_replica_is_ready_and_names_the_other(
    respx_mock: respx.MockRouter, second: dict[str, Any], state: str, reason: str
) -> None:
    _server(respx_mock, BASES[0])
    _server(respx_mock, BASES[1], **second)

    report = check(pool_config(), {}, respx_mock)

    assert report.ready
    assert [r.state for r in report.replicas] == ["ready", state]
    bad = report.replicas[1]
    assert not bad.ready and bad.reason is not None and reason in bad.reason
    assert any(ROOTS[1] in w and state in w for w in report.warnings)


def test_a_pool_with_no_ready_replica_is_not_ready(respx_mock: respx.MockRouter) -> None:
    _server(respx_mock, BASES[0], health=httpx.ConnectError("refused"))
    _server(respx_mock, BASES[1], health=503)

    report = check(pool_config(), {}, respx_mock)

    assert not report.ready
    assert report.state == "unreachable"
    assert report.reason is not None and report.reason.startswith("no replica is ready")
    assert ROOTS[0] in report.reason and ROOTS[1] in report.reason
    assert [r.state for r in report.replicas] == ["dead", "loading"]


def test_a_single_url_has_no_replica_list(respx_mock: respx.MockRouter) -> None:
    _server(respx_mock, BASES[0])
    cfg = backend_config(name="deepseek-vllm", model=MODEL, base_url=BASES[0])
    report = check(cfg, {}, respx_mock)
    assert report.ready and report.replicas == []
    assert report.to_dict()["replicas"] == []


def test_the_context_check_uses_the_smallest_replica(respx_mock: respx.MockRouter) -> None:
    _server(respx_mock, BASES[0], max_model_len=8192)
    _server(respx_mock, BASES[1], max_model_len=2048)
    report = check(pool_config(max_tokens=8192), {}, respx_mock)
    assert report.ready
    assert report.fitted_max_tokens is not None and report.fitted_max_tokens < 2048
