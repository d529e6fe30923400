"""Backends that turn a rendered page image into page Markdown.

Each family's config model names the class that implements it
(``backend_class``); :func:`build_backend` imports that class only when a
backend of its kind is built, so ``--help`` never pays for Pillow or a
subprocess module it does not use.
"""

from __future__ import annotations

import importlib
from typing import cast

import httpx

from ..backend_configs import BackendConfigBase
from ..errors import ConfigError
from ..retry import RetryPolicy
from ..spending import SpendingCap
from .base import Backend, HttpBackend, LocalBackend, Notify

__all__ = ["Backend", "HttpBackend", "LocalBackend", "Notify", "build_backend"]


def build_backend(
    config: BackendConfigBase,
    *,
    retry: RetryPolicy | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    environ: dict[str, str] | None = None,
    spending: SpendingCap | None = None,
) -> Backend:
    """Instantiate the backend for ``config``; ``transport`` is for tests and benchmarks.

    ``spending`` is the run's cost record and cap, shared by every backend of the chain.
    """
    module_name, _, class_name = config.backend_class.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(
            f"backend {config.name!r}: kind {config.kind!r} is not available ({exc})"
        ) from None
    return cast(
        Backend,
        cls(config, retry=retry, transport=transport, environ=environ, spending=spending),
    )
