"""Shared set-up of the health-check tests: configs, a model listing, and one check call."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import respx

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.health import HealthReport, check_backend
from docling_hybrid_cli.settings import BackendConfig

ROOT = "http://vllm.test:8000"
BASE = f"{ROOT}/v1"
OR_BASE = "https://openrouter.test/api/v1"
MODEL = "deepseek-ai/DeepSeek-OCR"
SECRET = "sk-or-PLANTED-SECRET-abcdef"
PAGE = (1224, 1584)


def deepseek(**extra: Any) -> BackendConfig:
    return backend_config(**{"name": "deepseek-vllm", "model": MODEL, "base_url": BASE, **extra})


NEMOTRON_FREE = "nvidia/nemotron-nano-12b-v2-vl:free"


def openrouter(model: str = NEMOTRON_FREE) -> BackendConfig:
    return backend_config(
        name="nemotron-openrouter",
        kind="openrouter",
        model=model,
        base_url=OR_BASE,
        api_key_env="OPENROUTER_API_KEY",
    )


def openrouter_models(
    router: respx.MockRouter,
    catalogue: tuple[str, ...] = (NEMOTRON_FREE, "nvidia/nemotron-nano-12b-v2-vl"),
    for_key: tuple[str, ...] | None = None,
) -> tuple[respx.Route, respx.Route]:
    """OpenRouter's /models (every model) and /models/user (those this key may use)."""
    listed = catalogue if for_key is None else for_key
    every = router.get(f"{OR_BASE}/models").respond(json=models(*catalogue))
    usable = router.get(f"{OR_BASE}/models/user").respond(json=models(*listed))
    return every, usable


def models(*ids: str, max_model_len: int = 8192) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": i, "object": "model", "max_model_len": max_model_len} for i in ids],
    }


NGRAM_REFUSED = {
    "error": {
        "message": "`ngram_size` has to be a strictly positive integer, got 0.",
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }
}
"""vLLM's 400 when DeepSeek's n-gram logits processor validates ``ngram_size: 0``."""


def vllm_chat(
    router: respx.MockRouter, page_answer: dict[str, Any] | None = None, *, guard: bool = True
) -> respx.Route:
    """vLLM's chat route: the guard check refused (``guard``) or accepted, pages answered.

    A server without the n-gram processor (``guard=False``) completes the guard
    check's request like any other.
    """
    answer = page_answer or {
        "model": MODEL,
        "choices": [{"message": {"content": "p"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1},
    }

    def respond(request: httpx.Request) -> httpx.Response:
        xargs = json.loads(request.content).get("vllm_xargs") or {}
        if guard and xargs.get("ngram_size") == 0:
            return httpx.Response(400, json=NGRAM_REFUSED)
        return httpx.Response(200, json=answer)

    return router.post(f"{BASE}/chat/completions").mock(side_effect=respond)


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
