"""DeepSeek-OCR over an OpenAI-compatible server (vLLM; mlx-vlm on macOS).

The request follows DeepSeek's own recipe for vLLM
(https://docs.vllm.ai/projects/recipes/en/latest/DeepSeek/DeepSeek-OCR.html):
one user message with the page image and the grounding prompt, no
``<image>`` placeholder in the text (the server adds it), temperature 0,
special tokens kept so the grounding tags survive, and on vLLM the n-gram
repetition guard via ``vllm_xargs``. ``max_tokens`` is fitted to the
server's ``max_model_len`` minus the page's image tokens, because vLLM
rejects or clamps requests that overflow the context.

An answer cut off at ``max_tokens`` is almost always a loop. The config's
``loop_ladder`` says what to try next: a guard that catches longer repeats,
then a small temperature (greedy decoding re-enters the same loop; olmOCR
samples its retries for the same reason,
https://github.com/allenai/olmocr/blob/main/olmocr/pipeline.py), then the
next backend.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..answer_policy import empty_answer
from ..backend_configs import DeepSeekConfig, DeepSeekMlxConfig, GuardStep, PenaltyStep
from ..breaker import CircuitBreaker
from ..client import ChatResult, build_chat_body
from ..errors import BackendError
from ..health_report import MIN_ANSWER_TOKENS, HealthReport
from ..pages import PageImage, PageText
from .base import HttpBackend, Notify, RequestStep
from .deepseek_output import clean_deepseek_output

__all__ = ["DEEPSEEK_PROMPT", "GUARD_WHITELIST", "DeepSeekBackend", "image_tokens"]

DEEPSEEK_PROMPT = "<|grounding|>Convert the document to markdown."
GUARD_WHITELIST = [128821, 128822]
"""``<td>`` and ``</td>``: table rows repeat them legitimately, so the guard never bans them."""
DEFAULT_MODEL_LEN = 8192
_SAFETY_TOKENS = 64


def image_tokens(width: int, height: int) -> int:
    """Vision tokens vLLM spends on one image (DeepSeek-OCR's fixed "Gundam" tiling).

    A global 1024² view costs 273 tokens; larger images add a grid of 640²
    tiles (2–6 of them, aspect ratio closest to the image's).
    """
    if width <= 640 and height <= 640:
        return 273
    aspect = width / height
    grids = [(w, h) for w in range(1, 7) for h in range(1, 7) if 2 <= w * h <= 6]
    gw, gh = min(grids, key=lambda g: (abs(g[0] / g[1] - aspect), g[0] * g[1]))
    return 273 + (10 * gh) * (10 * gw + 1)


class DeepSeekBackend(HttpBackend):
    """DeepSeek-OCR; ``kind = "deepseek-mlx"`` swaps the n-gram guard for a repetition penalty."""

    config: DeepSeekConfig | DeepSeekMlxConfig
    _model_len: int | None = None
    _model_len_lock: asyncio.Lock | None = None

    @property
    def on_vllm(self) -> bool:
        return self.config.kind == "deepseek-vllm"

    @property
    def start_hint(self) -> str:
        return (
            "start it with scripts/start_vllm_deepseek.sh" if self.on_vllm else "start the server"
        )

    def check_context(self, report: HealthReport, page_size: tuple[int, int]) -> None:
        """On vLLM the page's image tokens plus the answer must fit ``max_model_len``.

        The backend fits ``max_tokens`` per page itself; the check says when that
        fitting will shrink the answer, and fails when too little room is left.
        """
        if not self.on_vllm:
            return
        model_len = report.max_model_len
        if model_len is None:
            model_len = DEFAULT_MODEL_LEN
            report.notes.append(f"server does not report max_model_len; assuming {model_len}")
        width, height = page_size
        page = PageImage(page=1, data=b"", mime="image/jpeg", width=width, height=height)
        report.image_tokens = image_tokens(width, height)
        report.max_tokens = self.config.max_tokens
        report.fitted_max_tokens = self.fitted_max_tokens(page, model_len)
        room = self.answer_room(page, model_len)
        if room < min(MIN_ANSWER_TOKENS, self.config.max_tokens):
            report.fail(
                "misconfigured",
                f"max_model_len {model_len} leaves {room} tokens for the answer "
                f"after {report.image_tokens} image tokens",
                "restart vLLM with a larger --max-model-len (8192 suits DeepSeek-OCR)",
            )
        elif report.fitted_max_tokens < self.config.max_tokens:
            report.warnings.append(
                f"max_tokens {self.config.max_tokens} + {report.image_tokens} image tokens "
                f"exceed max_model_len {model_len}: each page may use at most "
                f"{report.fitted_max_tokens} answer tokens"
            )

    async def model_len(self) -> int:
        """The served ``max_model_len``, asked once from ``/models``; 8192 if not reported."""
        if self._model_len is not None:
            return self._model_len
        if self._model_len_lock is None:
            self._model_len_lock = asyncio.Lock()
        async with self._model_len_lock:
            if self._model_len is None:
                self._model_len = await self._fetch_model_len()
        return self._model_len

    async def _fetch_model_len(self) -> int:
        try:
            listing = await self.client.get_json("/models")
        except BackendError:
            return DEFAULT_MODEL_LEN
        for card in listing.get("data", []) if isinstance(listing, dict) else []:
            if isinstance(card, dict) and card.get("id") == self.config.model:
                value = card.get("max_model_len")
                if isinstance(value, int) and value > 0:
                    return value
        return DEFAULT_MODEL_LEN

    @staticmethod
    def answer_room(page: PageImage, model_len: int) -> int:
        """Tokens left for the answer once the page's image tokens are in the context."""
        return model_len - image_tokens(page.width, page.height) - _SAFETY_TOKENS

    def fitted_max_tokens(self, page: PageImage, model_len: int) -> int:
        return max(1, min(self.config.max_tokens, self.answer_room(page, model_len)))

    def loop_ladder(self) -> Sequence[RequestStep]:
        """The config's ladder as request changes: guard (vLLM) or penalty (MLX), temperature."""
        return tuple(_request_step(step) for step in self.config.loop_ladder)

    def params(self, page: PageImage, model_len: int, step: RequestStep) -> dict[str, Any]:
        params: dict[str, Any] = {
            "temperature": self.config.temperature,
            "max_tokens": self.fitted_max_tokens(page, model_len),
            "skip_special_tokens": False,
            **step.params,
        }
        params.update(self.config.extra_body)
        return params

    def build_body(self, page: PageImage, **overrides: Any) -> bytes:
        return build_chat_body(
            model=self.config.model,
            page=page,
            prompt=self.config.prompt or DEEPSEEK_PROMPT,
            params=overrides,
        )

    async def attempt(
        self, page: PageImage, notify: Notify | None, breaker: CircuitBreaker | None
    ) -> PageText:
        """Send the page up the loop ladder, ``max_tokens`` fitted to the served context."""
        model_len = await self.model_len() if self.on_vllm else DEFAULT_MODEL_LEN
        return await self.climb(
            page,
            lambda step: self.build_body(page, **self.params(page, model_len, step)),
            notify,
            breaker,
        )

    def finish(self, result: ChatResult, page: PageImage) -> PageText:
        cleaned = clean_deepseek_output(result.content, page)
        if not cleaned.markdown.strip():
            raise empty_answer(
                self.name, result.finish_reason, "answer held only layout tags, no text"
            )
        return self.page_text(result, cleaned.markdown, figures=cleaned.figures)


def _request_step(step: GuardStep | PenaltyStep) -> RequestStep:
    """What one ladder step changes in the request, and how the report names it."""
    params: dict[str, Any]
    if isinstance(step, GuardStep):
        guard = {
            "ngram_size": step.ngram_size,
            "window_size": step.window_size,
            "whitelist_token_ids": GUARD_WHITELIST,
        }
        params = {"vllm_xargs": guard}
        label = f"guard {step.ngram_size}/{step.window_size}"
    else:
        params = {"repetition_penalty": step.repetition_penalty}
        label = f"repetition_penalty {step.repetition_penalty:g}"
    if step.temperature is not None:
        params["temperature"] = step.temperature
        label += f", temperature {step.temperature:g}"
    return RequestStep(label=label, params=params)
