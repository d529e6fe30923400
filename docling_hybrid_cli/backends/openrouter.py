"""Nemotron Nano 12B v2 VL (or any vision model) through OpenRouter.

What differs from a plain OpenAI-compatible server (backends.md §3, §6 rules
3, 8, 10–12):

* the model is a general chat VLM with no OCR prompt of its own, so it gets an
  explicit instruction to transcribe the page into Markdown and nothing else;
* it is a reasoning model, and reasoning tokens count against ``max_tokens``
  and can leave ``content`` empty, so reasoning is switched off;
* Nemotron accepts at most 12 tiles of 512 px (e.g. 1536×2048), so larger
  page images are scaled down to fit before sending;
* the free tier allows about 20 requests a minute account-wide, so requests
  are spaced by the token bucket (``requests_per_minute``), and a 429 that
  says the *daily* free quota is gone is not waited out: the page moves on;
* ``usage.cost`` is recorded per page (the client reads it).

A 200 that carries ``error`` or no ``choices`` is already a failed, retryable
attempt at the client boundary.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import replace
from typing import Any

from PIL import Image

from ..breaker import CircuitBreaker
from ..client import ChatResult, build_chat_body
from ..errors import BackendRateLimited, BackendRejected
from ..pages import PageImage, PageText
from .base import Notify
from .openai_compat import OpenAICompatBackend

__all__ = ["MAX_TILES", "NEMOTRON_PROMPT", "TILE", "OpenRouterBackend", "fit_to_tiles"]

NEMOTRON_PROMPT = (
    "Transcribe this document page into GitHub-flavoured Markdown. "
    "Keep the reading order. Use # headings for titles, - for bullet lists, "
    "Markdown tables for tables and LaTeX between $ signs for formulas. "
    "Do not describe images, do not summarise, do not add comments: "
    "output only the page's text as Markdown."
)
TILE = 512
MAX_TILES = 12
_DAILY_QUOTA_MARK = "free-models-per-day"


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
        )

    async def attempt(
        self, page: PageImage, notify: Notify | None, breaker: CircuitBreaker | None
    ) -> PageText:
        fitted = await fit_page(page)
        return await self.send(fitted, self.build_body(fitted), notify, breaker)

    async def call(self, body: bytes) -> ChatResult:
        """One attempt; the free tier's daily cap is final for today, so it is not retried."""
        try:
            return await super().call(body)
        except BackendRateLimited as exc:
            if _DAILY_QUOTA_MARK in str(exc):
                raise BackendRejected(
                    f"{self.name}: the free models' daily request quota is used up",
                    backend=self.name,
                    status=exc.status,
                    hint="wait for 00:00 UTC, buy credits, or use the paid model variant",
                ) from exc
            raise
