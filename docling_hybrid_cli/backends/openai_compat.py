"""Any OpenAI-compatible vision server: SGLang, LM Studio, Ollama, OpenAI itself.

Model, prompt, extra body parameters and headers all come from the backend's
config; the answer is taken as the page's Markdown, minus a code fence some
chat models wrap it in.
"""

from __future__ import annotations

import re

from ..client import ChatResult
from ..pages import PageImage, PageText
from .base import HttpBackend

__all__ = ["OpenAICompatBackend", "strip_markdown_fence"]

_FENCE = re.compile(r"\A\s*```(?:markdown|md)?[ \t]*\n(.*?)\n```\s*\Z", re.DOTALL)


def strip_markdown_fence(text: str) -> str:
    """Chat models often answer with the whole page inside one ```markdown fence."""
    match = _FENCE.match(text)
    return match.group(1).strip() if match else text.strip()


class OpenAICompatBackend(HttpBackend):
    """A chat model told, in plain words, to transcribe the page."""

    def finish(self, result: ChatResult, page: PageImage) -> PageText:
        return self.page_text(result, strip_markdown_fence(result.content))
