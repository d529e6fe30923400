"""DeepSeek-OCR over an OpenAI-compatible server (vLLM; mlx-vlm on macOS).

The request follows DeepSeek's own recipe for vLLM
(https://docs.vllm.ai/projects/recipes/en/latest/DeepSeek/DeepSeek-OCR.html):
one user message with the page image and the grounding prompt, no
``<image>`` placeholder in the text (the server adds it), temperature 0,
special tokens kept so the grounding tags survive, and on vLLM the n-gram
repetition guard via ``vllm_xargs``. ``max_tokens`` is fitted to the
server's ``max_model_len`` minus the page's image tokens (DeepSeek-OCR's or
DeepSeek-OCR-2's count, :mod:`.deepseek_tokens`), because vLLM rejects
requests that overflow the context; when it still does (a server restarted
with a smaller ``--max-model-len``), ``/models`` is read again and the page
is refitted once.

An answer cut off at ``max_tokens`` is almost always a loop. The config's
``loop_ladder`` says what to try next: a guard that catches longer repeats,
then a small temperature (greedy decoding re-enters the same loop; olmOCR
samples its retries for the same reason,
https://github.com/allenai/olmocr/blob/main/olmocr/pipeline.py), then the
next backend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from ..answer_policy import empty_answer
from ..backend_configs import DeepSeekConfig, DeepSeekMlxConfig, GuardStep, PenaltyStep
from ..breaker import CircuitBreaker
from ..client import ChatClient, ChatResult, build_chat_body
from ..errors import BackendError, BackendRejected, BackendUnavailable, ContextOverflow
from ..health_report import CHECK_TIMEOUT_S, MIN_ANSWER_TOKENS, HealthReport
from ..jsonsafe import json_of
from ..pages import PageImage, PageText
from .base import HttpBackend, Notify, RequestStep
from .deepseek_guard import check_ngram_guard
from .deepseek_output import clean_deepseek_output
from .deepseek_tokens import VisionEncoder, image_tokens, vision_encoder_for

__all__ = ["DEEPSEEK_PROMPT", "GUARD_WHITELIST", "DeepSeekBackend", "image_tokens"]

DEEPSEEK_PROMPT = "<|grounding|>Convert the document to markdown."
GUARD_WHITELIST = [128821, 128822]
"""``<td>`` and ``</td>``: table rows repeat them legitimately, so the guard never bans them."""
DEFAULT_MODEL_LEN = 8192
_SAFETY_TOKENS = 64
"""Room kept for the prompt's text tokens and the chat template around the image."""
_MAX_MARGIN = 4096
"""A prompt this much larger than counted is no counting error; later pages ignore it."""
_RELOOKUP_S = 5.0
"""After a failed ``/models`` lookup, pages assume the default this long before asking again."""


class DeepSeekBackend(HttpBackend):
    """DeepSeek-OCR; ``kind = "deepseek-mlx"`` swaps the n-gram guard for a repetition penalty."""

    config: DeepSeekConfig | DeepSeekMlxConfig
    _model_len: int | None = None
    _model_len_lock: asyncio.Lock | None = None
    _lookup_failed_at: float | None = None
    _prompt_margin: int = _SAFETY_TOKENS
    """Tokens beyond the image's kept free; grows when the server reports a larger prompt."""
    clock: Callable[[], float] = staticmethod(time.monotonic)
    """When a failed ``/models`` lookup happened (tests set a fake clock)."""

    @property
    def vision_encoder(self) -> VisionEncoder:
        """Whose image-token count fits ``max_tokens``: the config's, else the model name's."""
        return vision_encoder_for(self.config.model, getattr(self.config, "vision_encoder", "auto"))

    @property
    def on_vllm(self) -> bool:
        return self.config.kind == "deepseek-vllm"

    @property
    def start_hint(self) -> str:
        return (
            "start it with scripts/start_vllm_deepseek.sh" if self.on_vllm else "start the server"
        )

    async def check_server(
        self, report: HealthReport, client: ChatClient, page_size: tuple[int, int]
    ) -> None:
        """The shared server checks, then (vLLM) whether the n-gram guard is really loaded.

        In a pool every replica is checked: one started without the guard's
        flag would loop unchecked on its share of the pages.
        """
        await super().check_server(report, client, page_size)
        if report.ready and self.on_vllm:
            await check_ngram_guard(self.config, client, report)

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
        report.image_tokens = image_tokens(width, height, self.vision_encoder)
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

    async def model_len(self, *, stale: int | None = None) -> int:
        """The served ``max_model_len`` from ``/models``, kept once the server has answered.

        A lookup that got no answer (a server still starting, a timeout, a 5xx)
        is not kept: this page assumes 8192 and a page a few seconds later asks
        again. ``stale`` is a length the server just refused: unless another
        page has refreshed it meanwhile, it is asked for afresh.
        """
        if self._model_len is not None and self._model_len != stale:
            return self._model_len
        if self._model_len_lock is None:
            self._model_len_lock = asyncio.Lock()
        async with self._model_len_lock:
            if self._model_len is not None and self._model_len != stale:
                return self._model_len
            failed_at = self._lookup_failed_at
            recent = failed_at is not None and self.clock() - failed_at < _RELOOKUP_S
            if stale is None and recent:
                return DEFAULT_MODEL_LEN
            length = await self._fetch_model_len()
            if length is None:
                self._lookup_failed_at = self.clock()
                return stale if stale is not None else DEFAULT_MODEL_LEN
            self._model_len, self._lookup_failed_at = length, None
            return length

    async def _fetch_model_len(self) -> int | None:
        """``max_model_len`` of the configured model; None when the server did not answer.

        An answer without the model or without a length (a server that is not
        vLLM, a 404 for ``/models``) is final: the default is kept for the run.
        """
        try:
            response = await self.client.get(
                f"{self.client.base_url}/models", timeout_s=CHECK_TIMEOUT_S
            )
            listing = json_of(response)
        except (BackendUnavailable, ValueError):
            return None
        except BackendRejected:
            return DEFAULT_MODEL_LEN
        except BackendError:
            return None
        for card in listing.get("data", []) if isinstance(listing, dict) else []:
            if isinstance(card, dict) and card.get("id") == self.config.model:
                value = card.get("max_model_len")
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    return value
        return DEFAULT_MODEL_LEN

    def answer_room(self, page: PageImage, model_len: int) -> int:
        """Tokens left for the answer once the page's image tokens are in the context."""
        tokens = image_tokens(page.width, page.height, self.vision_encoder)
        return model_len - tokens - self._prompt_margin

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
        """Send the page up the loop ladder, each step fitted to the served context."""
        return await self.climb(lambda step: self.send_fitted(page, notify, breaker, step), notify)

    async def send_fitted(
        self,
        page: PageImage,
        notify: Notify | None,
        breaker: CircuitBreaker | None,
        step: RequestStep,
    ) -> PageText:
        """Send the page with ``max_tokens`` fitted to the served context.

        On vLLM, a 400 saying the request overflows the context (the server was
        restarted with a smaller ``--max-model-len``, or the page's prompt is
        larger than counted) re-reads ``/models`` and refits once, from the
        server's own numbers where its message gives them.
        """
        model_len = await self.model_len() if self.on_vllm else DEFAULT_MODEL_LEN
        params = self.params(page, model_len, step)
        try:
            return await self.send(page, self.build_body(page, **params), notify, breaker)
        except ContextOverflow as exc:
            if not self.on_vllm:
                raise
            fitted = await self._refit(page, exc, model_len, params.get("max_tokens"))
            if fitted is None:
                raise
            if notify is not None:
                notify("retrying", f"context overflow — max_tokens refitted to {fitted}")
            try:
                text = await self.send(
                    page, self.build_body(page, **{**params, "max_tokens": fitted}), notify, breaker
                )
            except BackendError as again:
                again.attempts += exc.attempts
                raise
            return replace(text, attempts=text.attempts + exc.attempts)

    async def _refit(
        self, page: PageImage, overflow: ContextOverflow, used_len: int, sent: Any
    ) -> int | None:
        """``max_tokens`` for one more try, or None when a smaller answer would not fit either.

        The context is the fresh ``/models`` value, or the limit the server's
        message states if smaller; the prompt is the size the message states,
        else the page's counted image tokens. A prompt larger than counted
        widens the margin kept on later pages too.
        """
        model_len = await self.model_len(stale=used_len)
        if overflow.limit is not None:
            model_len = min(model_len, overflow.limit)
        if overflow.prompt_tokens is not None:
            counted = image_tokens(page.width, page.height, self.vision_encoder)
            excess = overflow.prompt_tokens - counted
            if excess <= _MAX_MARGIN:
                self._prompt_margin = max(self._prompt_margin, excess)
            room = model_len - overflow.prompt_tokens
        else:
            room = self.answer_room(page, model_len)
        fitted = min(self.config.max_tokens, room)
        if fitted < 1 or (isinstance(sent, int) and fitted >= sent):
            return None
        return fitted

    def finish(self, result: ChatResult, page: PageImage) -> PageText:
        cleaned = clean_deepseek_output(result.content, page)
        if not cleaned.markdown.strip():
            raise empty_answer(
                self.name, result.finish_reason, "answer held only layout tags, no text"
            )
        # DeepSeek-OCR writes math as \( \) and \[ \] only: every $ on its pages is a dollar.
        return self.page_text(
            result,
            cleaned.markdown,
            figures=cleaned.figures,
            blocks=cleaned.blocks,
            dollars_are_math=False,
        )


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
