"""Health checks every OpenAI-compatible server shares: ``/health``, ``/models``.

vLLM's readiness rules shape them: while the model loads the port refuses
connections, ``/health`` answers 503 when the engine is dead (SGLang also
while it warms up, so ``--wait`` keeps polling a 503), and
``/v1/models`` names the served model and its ``max_model_len``
(https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html).
Servers without ``/health`` (LM Studio, Ollama) are checked on ``/models``
alone. Family-specific checks (DeepSeek's context fit, OpenRouter's quota)
live in their backend modules and build on these.
"""

from __future__ import annotations

import time
from typing import Any

from ..backend_configs import HttpBackendConfig
from ..client import ChatClient
from ..errors import BackendConnectError, BackendError, BackendServerError, BackendTimeout
from ..health_report import CHECK_TIMEOUT_S, HealthReport
from ..jsonsafe import json_of

__all__ = ["check_openai_server", "get_model_listing", "strip_name", "unreachable"]


def strip_name(config: HttpBackendConfig, exc: BackendError) -> str:
    """Client errors start with ``<backend>: ``; the report already says which backend."""
    return str(exc).removeprefix(f"{config.name}: ")


def _timed_out(exc: BackendError) -> bool:
    return isinstance(exc, BackendTimeout) or "timed out" in str(exc)


def unreachable(
    config: HttpBackendConfig, report: HealthReport, exc: BackendError, start_hint: str
) -> HealthReport:
    """Fail ``report`` for an error that got no HTTP answer at all."""
    if _timed_out(exc):
        return report.fail(
            "unreachable",
            f"no answer from {report.url} within {CHECK_TIMEOUT_S:.0f} s",
            "the server may still be loading or be overloaded: add --wait 600 to wait for it",
        )
    if isinstance(exc, BackendConnectError):
        return report.fail(
            "unreachable",
            f"nothing answers at {report.url} (connection refused)",
            f"{start_hint}, or fix backends.{config.name}.base_url; "
            "if it is still loading, add --wait 600",
        )
    return report.fail("unreachable", strip_name(config, exc), "check the server's log")


async def check_openai_server(
    config: HttpBackendConfig, client: ChatClient, report: HealthReport, start_hint: str
) -> None:
    """``/health``, then ``/models``: the server is alive and serves the configured model."""
    started = time.perf_counter()
    try:
        response = await client.get(f"{report.url}/health", timeout_s=CHECK_TIMEOUT_S)
        report.health_status = response.status_code
    except BackendError as exc:
        report.health_status = exc.status
        if exc.status is None:
            unreachable(config, report, exc, start_hint)
            return
        if exc.status == 503:
            report.fail(
                "unhealthy",
                "/health answered 503: the server is still warming up, or its engine is dead",
                "if it has just started, add --wait 600; otherwise restart it and read its log "
                "(often out of GPU memory)",
            )
            return
        if isinstance(exc, BackendServerError):
            report.fail(
                "unhealthy",
                f"/health answered HTTP {exc.status}",
                "restart the server and read its log",
            )
            return
        report.notes.append(f"no /health endpoint (HTTP {exc.status}); checked /models only")
    report.latency_ms = round((time.perf_counter() - started) * 1000, 1)

    listing = await get_model_listing(config, client, report, start_hint)
    if listing is None:
        return
    cards = [c for c in listing.get("data", []) if isinstance(c, dict)]
    report.served_models = [str(c.get("id")) for c in cards if c.get("id")]
    card = next((c for c in cards if c.get("id") == config.model), None)
    if card is None:
        served = ", ".join(report.served_models) or "no models"
        hint = f"set backends.{config.name}.model to the served name"
        if report.served_models:
            hint = (
                f"docling-hybrid-ocr config set backends.{config.name}.model "
                f"{report.served_models[0]}"
            )
        report.fail(
            "misconfigured", f"model {config.model!r} is not served (serves: {served})", hint
        )
        return
    length = card.get("max_model_len")
    if isinstance(length, int) and not isinstance(length, bool) and length > 0:
        report.max_model_len = length


async def get_model_listing(
    config: HttpBackendConfig, client: ChatClient, report: HealthReport, start_hint: str
) -> dict[str, Any] | None:
    """``GET /models`` as a dict, or None after failing ``report`` with the reason."""
    started = time.perf_counter()
    try:
        response = await client.get(f"{config.base_url}/models", timeout_s=CHECK_TIMEOUT_S)
    except BackendError as exc:
        if exc.status in (401, 403):
            hint = (
                f"check the key in {config.api_key_env}"
                if config.api_key_env
                else f"the server wants an API key: set backends.{config.name}.api_key_env "
                "to the name of the variable holding it"
            )
            if report.key is not None:
                report.key.accepted = False
            report.fail("misconfigured", f"API key rejected (HTTP {exc.status})", hint)
        elif exc.status == 404:
            report.fail(
                "misconfigured",
                f"{config.base_url}/models not found (HTTP 404)",
                f"backends.{config.name}.base_url must be the API root, usually ending in /v1",
            )
        elif exc.status is None:
            unreachable(config, report, exc, start_hint)
        else:
            report.fail("unhealthy", strip_name(config, exc), "read the server's log")
        return None
    if report.latency_ms is None:
        report.latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if report.key is not None:
        report.key.accepted = True
    try:
        listing = json_of(response)
    except ValueError:
        listing = None
    if not isinstance(listing, dict):
        report.fail(
            "misconfigured",
            f"{config.base_url}/models is not an OpenAI-compatible model list",
            f"check backends.{config.name}.base_url",
        )
        return None
    return listing
