"""Any OpenAI-compatible vision server: SGLang, LM Studio, Ollama, OpenAI itself.

Model, prompt, extra body parameters and headers all come from the backend's
config; the answer is taken as the page's Markdown, minus the reasoning a
thinking model may put before it (``<think>…</think>``, when the server
does not split it out into its own field) and minus a code fence some chat
models wrap it in. The Markdown is then styled like every backend's pages.
"""

from __future__ import annotations

import re
from typing import Any

from ..backend_configs import OpenAICompatConfig
from ..client import ChatResult, build_chat_body
from ..pages import PageImage, PageText
from .base import DEFAULT_PROMPT, HttpBackend

__all__ = ["OpenAICompatBackend", "strip_markdown_fence", "strip_reasoning"]

_FENCE = re.compile(r"\A\s*```(?:markdown|md)?[ \t]*\n(.*?)\n```\s*\Z", re.DOTALL)
_THINK_OPEN = re.compile(r"\A\s*<think>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)


def strip_reasoning(text: str) -> str:
    """The answer without the reasoning block a thinking model wrote before it.

    ``<think>…</think>`` at the start goes; a ``<think>`` never closed (the
    answer ran out while thinking) leaves nothing, which the empty-answer
    policy then handles. Chat templates that open the block in the prompt
    send only the closing ``</think>``: what comes before it goes too. A
    ``<think>`` elsewhere is page text and stays.
    """
    if _THINK_OPEN.match(text):
        close = _THINK_CLOSE.search(text)
        return "" if close is None else text[close.end() :]
    close = _THINK_CLOSE.search(text)
    if close is not None and "<think>" not in text[: close.start()].lower():
        return text[close.end() :]
    return text


def strip_markdown_fence(text: str) -> str:
    """Chat models often answer with the whole page inside one ```markdown fence."""
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text.strip()


class OpenAICompatBackend(HttpBackend):
    """A chat model told, in plain words, to transcribe the page."""

    def build_body(self, page: PageImage, **overrides: Any) -> bytes:
        """The default request, shaped for reasoning models when the config says so."""
        config = self.config
        if not isinstance(config, OpenAICompatConfig):  # OpenRouter builds its own body
            return super().build_body(page, **overrides)
        params: dict[str, Any] = {config.token_limit_field: config.max_tokens}
        if not config.omit_temperature:
            params["temperature"] = config.temperature
        params.update(config.extra_body)
        params.update(overrides)
        prompt = config.prompt or DEFAULT_PROMPT
        return build_chat_body(model=config.model, page=page, prompt=prompt, params=params)

    def finish(self, result: ChatResult, page: PageImage) -> PageText:
        return self.page_text(result, strip_markdown_fence(strip_reasoning(result.content)))
