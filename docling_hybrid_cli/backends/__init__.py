"""Backends that turn a rendered page image into page Markdown.

:func:`build_backend` is the one place that maps a config's ``kind`` to the
class implementing it.
"""

from __future__ import annotations

import httpx

from ..errors import ConfigError
from ..retry import RetryPolicy
from ..settings import BackendConfig
from .base import Backend, HttpBackend, Notify

__all__ = ["Backend", "HttpBackend", "Notify", "build_backend"]


def build_backend(
    config: BackendConfig,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
) -> Backend:
    """Instantiate the backend for ``config``; ``transport`` is for tests and benchmarks."""
    if config.kind in ("deepseek-vllm", "deepseek-mlx"):
        from .deepseek import DeepSeekBackend

        return DeepSeekBackend(config, retry=retry, transport=transport, environ=environ)
    if config.kind == "openrouter":
        from .openrouter import OpenRouterBackend

        return OpenRouterBackend(config, retry=retry, transport=transport, environ=environ)
    if config.kind == "openai-compatible":
        from .openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(config, retry=retry, transport=transport, environ=environ)
    if config.kind == "text-layer":
        from .text_layer import TextLayerBackend

        return TextLayerBackend(config)
    if config.kind == "tesseract":
        from .tesseract import TesseractBackend

        return TesseractBackend(config)
    raise ConfigError(f"backend {config.name!r}: kind {config.kind!r} is not available")
