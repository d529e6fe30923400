"""Nemotron Nano 12B v2 VL (or any vision model) through OpenRouter.

What differs from a plain OpenAI-compatible server
(https://openrouter.ai/docs/api-reference/overview,
https://openrouter.ai/nvidia/nemotron-nano-12b-v2-vl):

* the model is a general chat VLM with no OCR prompt of its own, so it gets an
  explicit instruction to transcribe the page into Markdown and nothing else;
* it is a reasoning model, and reasoning tokens count against ``max_tokens``
  and can leave ``content`` empty, so reasoning is switched off twice:
  OpenRouter's ``reasoning.enabled = false``, which a provider may ignore,
  and Nemotron's own switch, ``/no_think`` as the system message
  (https://huggingface.co/nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16); a
  ``<think>`` block that still comes back is stripped like any chat model's;
* Nemotron accepts at most 12 tiles of 512 px (e.g. 1536×2048), so larger
  page images are scaled down to fit before sending;
* the free tier allows about 20 requests a minute account-wide, so requests
  are spaced by the token bucket (``requests_per_minute``); a 429 carries
  ``X-RateLimit-Limit``/``-Remaining``/``-Reset`` (the reset in epoch
  milliseconds), as headers and again in ``error.metadata.headers``
  (https://openrouter.ai/docs/api-reference/limits). The reset is waited for
  when no ``Retry-After`` came; a 429 with nothing remaining until a reset
  far off is the *daily* free cap, which is not waited out: the page moves on;
* a 403 on a request is OpenRouter's moderation or a guardrail on the key or
  account (a bad key is a 401), and a 404 "no endpoints found matching your
  data policy" is the account's privacy settings: the hints say so;
* ``usage.cost`` is recorded per page (the client reads it), and a model
  without ``:free`` is paid, so ``--max-cost`` stops it at the cap.

A 200 that carries ``error`` or no ``choices`` is already a failed, retryable
attempt at the client boundary.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from PIL import Image

from ..backend_configs import OpenRouterConfig
from ..breaker import CircuitBreaker
from ..client import ChatResult, build_chat_body
from ..endpoints import Moved
from ..errors import BackendError, BackendRateLimited, BackendRejected
from ..health_report import CHECK_TIMEOUT_S, HealthReport, KeyInfo
from ..jsonsafe import json_of
from ..pages import PageImage, PageText
from .base import Notify
from .openai_compat import OpenAICompatBackend
from .openrouter_models import check_model_available
from .server_checks import strip_name

__all__ = [
    "MAX_TILES",
    "NEMOTRON_PROMPT",
    "NO_THINK",
    "TILE",
    "OpenRouterBackend",
    "fit_to_tiles",
    "system_message",
]

NEMOTRON_PROMPT = (
    "Transcribe this document page into GitHub-flavoured Markdown. "
    "Keep the reading order. Use # headings for titles, - for bullet lists, "
    "Markdown tables for tables and LaTeX between $ signs for formulas. "
    "Do not describe images, do not summarise, do not add comments: "
    "output only the page's text as Markdown."
)
TILE = 512
MAX_TILES = 12
_DAILY_QUOTA_MARK = "per-day"
"""In the message of a daily-cap 429 ("free-models-per-day", "...-per-day-high-balance")."""
_DAILY_RESET_S = 15 * 60
"""A 429 whose window resets further away than this is a daily cap, not a per-minute one."""
_PRIVACY_MARKS = ("data policy", "no endpoints found")
NO_THINK = "/no_think"
"""Nemotron's system-message switch that turns its reasoning off."""


def system_message(model: str) -> str | None:
    """The system message a model needs: Nemotron's reasoning switch, else none."""
    return NO_THINK if "nemotron" in model.lower() else None


def fit_to_tiles(width: int, height: int, *, tile: int = TILE, max_tiles: int = MAX_TILES) -> float:
    """The largest scale ≤ 1 at which the image covers at most ``max_tiles`` tiles.

    Each candidate grid of ``cols × rows`` tiles allows a scale of
    ``min(cols·tile / width, rows·tile / height)``; the best grid wins. So a
    portrait page fits 1536×2048 (3×4) and a long receipt may use 1024×3072.
    """
    if math.ceil(width / tile) * math.ceil(height / tile) <= max_tiles:
        return 1.0
    best = 0.0
    for cols in range(1, max_tiles + 1):
        rows = max_tiles // cols
        best = max(best, min(cols * tile / width, rows * tile / height))
    return min(1.0, best)


def _resize(page: PageImage, scale: float) -> PageImage:
    """Scale the encoded page down and re-encode it in its own format (CPU-bound)."""
    with Image.open(io.BytesIO(page.data)) as image:
        image.load()
        width = max(1, math.floor(image.width * scale))
        height = max(1, math.floor(image.height * scale))
        small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if page.mime == "image/png":
        small.save(buf, "PNG", compress_level=1)
    else:
        small.save(buf, "JPEG", quality=90)
    return replace(page, data=buf.getvalue(), width=width, height=height)


async def fit_page(page: PageImage) -> PageImage:
    """The page as sent to Nemotron: unchanged if it fits, else scaled off the event loop."""
    scale = fit_to_tiles(page.width, page.height)
    if scale >= 1.0:
        return page
    return await asyncio.to_thread(_resize, page, scale)


class OpenRouterBackend(OpenAICompatBackend):
    """OpenRouter chat completions with Nemotron's prompt, limits and quirks."""

    config: OpenRouterConfig
    ready_phrase: ClassVar[str] = "accepts the key"
    key_help: ClassVar[str] = " (create one at https://openrouter.ai/keys)"

    @property
    def health_url(self) -> str:
        return self.config.primary_url

    @property
    def may_cost_money(self) -> bool:
        """A ``:free`` variant costs nothing; any other model is billed per request."""
        return not self.config.model.endswith(":free")

    @property
    def startup_urls(self) -> tuple[str, ...]:
        """A remote service: there is nothing to wait for."""
        return ()

    async def check_health(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """The key is accepted, its quota not used up, and the model exists for this key.

        OpenRouter's ``GET /key`` answers for the key itself
        (https://openrouter.ai/docs/api-reference/limits); the model lists for
        the model (:mod:`.openrouter_models`).
        """
        await self._check_key_and_quota(report)
        if report.ready:
            await check_model_available(self.config, self.client, report)

    async def _check_key_and_quota(self, report: HealthReport) -> None:
        report.model = self.config.model
        if not self.check_key(report):
            return
        started = time.perf_counter()
        try:
            response = await self.client.get(
                f"{self.client.base_url}/key", timeout_s=CHECK_TIMEOUT_S
            )
        except BackendError as exc:
            self._key_failed(report, exc)
            return
        report.latency_ms = round((time.perf_counter() - started) * 1000, 1)
        key = report.key
        if key is None:  # OpenRouterConfig always names a key variable
            return
        key.accepted = True
        try:
            body = json_of(response)
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            report.warnings.append("the key endpoint answered without key details")
            return
        self._read_key_details(key, data)
        self._check_quota(report, key)

    def _key_failed(self, report: HealthReport, exc: BackendError) -> None:
        if exc.status in (401, 403) and report.key is not None:
            report.key.accepted = False
            report.fail(
                "misconfigured",
                f"OpenRouter rejected the key in {report.key.env_var} (HTTP {exc.status})",
                f"check {report.key.env_var}; keys are at https://openrouter.ai/keys",
            )
        elif exc.status is None:
            report.fail(
                "unreachable",
                f"cannot reach {self.client.base_url}: {strip_name(self.config, exc)}",
                f"check the network, proxy settings and backends.{self.name}.base_url",
            )
        else:
            report.fail("unhealthy", strip_name(self.config, exc), "try again later")

    def _read_key_details(self, key: KeyInfo, data: dict[str, Any]) -> None:
        label = data.get("label")
        if isinstance(label, str):
            secret = self.api_key or ""
            key.label = "(redacted)" if secret and secret in label else label
        key.limit = _number(data.get("limit"))
        key.usage = _number(data.get("usage"))
        key.limit_remaining = _number(data.get("limit_remaining"))
        daily = data.get("free_model_daily_requests")
        if isinstance(daily, dict):
            key.free_model_daily_requests = {
                k: int(v)
                for k, v in daily.items()
                if isinstance(v, int | float) and math.isfinite(v) and abs(v) < 2**53
            }

    def _check_quota(self, report: HealthReport, key: KeyInfo) -> None:
        free = self.config.model.endswith(":free")
        quota = key.free_model_daily_requests or {}
        if free and quota.get("remaining") == 0:
            report.fail(
                "misconfigured",
                f"free-model daily quota used up ({quota.get('used')}/{quota.get('limit')} today)",
                "wait for the reset at 00:00 UTC, or buy credits (10+ raises the cap to 1000/day)",
            )
        elif not free and key.limit_remaining is not None and key.limit_remaining <= 0:
            report.fail(
                "misconfigured",
                "the key's credit limit is used up",
                "raise the key's limit or add credits at https://openrouter.ai/settings/credits",
            )

    def default_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.config.referer:
            headers["HTTP-Referer"] = self.config.referer
        if self.config.title:
            headers["X-Title"] = self.config.title
        return headers

    def build_body(self, page: PageImage, **overrides: Any) -> bytes:
        params: dict[str, Any] = {
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
            "reasoning": {"enabled": False},
            **self.config.extra_body,
            **overrides,
        }
        return build_chat_body(
            model=self.config.model,
            page=page,
            prompt=self.config.prompt or NEMOTRON_PROMPT,
            params=params,
            system=system_message(self.config.model),
        )

    async def attempt(
        self, page: PageImage, notify: Notify | None, breaker: CircuitBreaker | None
    ) -> PageText:
        fitted = await fit_page(page)
        return await super().attempt(fitted, notify, breaker)

    async def call(self, body: bytes, moved: Moved | None = None) -> ChatResult:
        """One attempt, with OpenRouter's 429s, 403s and 404s read for what they mean.

        The daily cap is final for today, so it is not retried; a per-minute
        429 without ``Retry-After`` waits for ``X-RateLimit-Reset``.
        """
        try:
            return await super().call(body, moved)
        except BackendRateLimited as exc:
            limit = RateLimitState.read(exc.rate_limit_headers, time.time())
            if _DAILY_QUOTA_MARK in str(exc) or limit.spent_for_long:
                raise BackendRejected(
                    f"{self.name}: the free models' daily request quota is used up"
                    + limit.until_text(),
                    backend=self.name,
                    status=exc.status,
                    hint="wait for 00:00 UTC, buy credits (10+ raise the cap to 1000 a day), "
                    "or use the paid model variant",
                ) from exc
            if exc.retry_after is None and limit.reset_in_s is not None:
                exc.retry_after = limit.reset_in_s
            raise
        except BackendRejected as exc:
            if exc.status == 403:
                exc.hint = (
                    "OpenRouter refused this request: its moderation flagged the page, or a "
                    "guardrail on this key or account does not allow the model or its providers "
                    "(https://openrouter.ai/docs/guides/features/guardrails); a bad key is a 401"
                )
            elif exc.status == 404 and any(m in str(exc).lower() for m in _PRIVACY_MARKS):
                exc.hint = (
                    "the account's privacy settings exclude every provider of this model: "
                    "allow them at https://openrouter.ai/settings/privacy"
                )
            raise


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """What OpenRouter's ``X-RateLimit-*`` headers say about the window a 429 hit."""

    remaining: int | None = None
    reset_in_s: float | None = None
    """Seconds until the window resets, never negative."""

    @classmethod
    def read(cls, headers: Mapping[str, str], now: float) -> RateLimitState:
        """Parse the headers; anything unreadable is simply unknown.

        OpenRouter sends the reset as epoch milliseconds; epoch seconds and a
        plain number of seconds are read too, told apart by their size.
        """
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _number(_float(headers.get("x-ratelimit-reset")))
        reset_in = None
        if reset is not None and reset >= 0:
            if reset > 1e11:
                reset /= 1000.0
            reset_in = max(0.0, reset - now) if reset > 1e9 else reset
        return cls(remaining=remaining, reset_in_s=reset_in)

    @property
    def spent_for_long(self) -> bool:
        """Nothing left until a reset far off: the daily cap, not the per-minute one."""
        return (
            self.remaining == 0 and self.reset_in_s is not None and self.reset_in_s > _DAILY_RESET_S
        )

    def until_text(self) -> str:
        if self.reset_in_s is None:
            return ""
        hours = self.reset_in_s / 3600
        return f" (resets in {hours:.1f} h)"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _int(text: str | None) -> int | None:
    number = _float(text)
    return int(number) if number is not None and math.isfinite(number) else None
