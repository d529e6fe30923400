"""Shared set-up of the health-check tests: configs, a model listing, and one check call."""

from __future__ import annotations

import asyncio
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
