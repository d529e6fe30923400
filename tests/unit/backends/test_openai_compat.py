"""Any OpenAI-compatible server: the request it gets, and the answer taken as Markdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.openai_compat import strip_markdown_fence
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.settings import load_settings

BASE = "http://lmstudio.test:1234/v1"
PAGE = PageImage(page=1, data=b"\xff\xd8jpeg", mime="image/jpeg", width=10, height=20)


def convert(answer: str = "# Page", **fields: Any) -> tuple[str, dict[str, Any]]:
    """Convert one page against a fake server; return the Markdown and the request body."""
    seen: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        choice = {"message": {"content": answer}, "finish_reason": "stop"}
        return httpx.Response(200, json={"model": "m", "choices": [choice]})

    config = backend_config(name="local", kind="openai-compatible", base_url=BASE, **fields)
    backend = build_backend(config, transport=httpx.MockTransport(handler))

    async def run() -> str:
        try:
            return (await backend.ocr_page(PAGE)).markdown
        finally:
            await backend.aclose()

    markdown = asyncio.run(run())
    return markdown, seen[0]


def test_default_request_carries_max_tokens_and_temperature() -> None:
    _, body = convert(model="qwen2.5-vl", max_tokens=4000)
    assert body["model"] == "qwen2.5-vl"
    assert body["max_tokens"] == 4000
    assert body["temperature"] == 0.0
    assert "max_completion_tokens" not in body
    [message] = body["messages"]
    assert message["content"][1]["text"] == "Convert this page to Markdown."


def test_reasoning_model_gets_max_completion_tokens_and_no_temperature() -> None:
    """OpenAI's reasoning models reject max_tokens and a temperature of their own."""
    _, body = convert(
        model="o4-mini",
        max_tokens=6000,
        token_limit_field="max_completion_tokens",
        omit_temperature=True,
    )
    assert body["max_completion_tokens"] == 6000
    assert "max_tokens" not in body
    assert "temperature" not in body


def test_extra_body_and_prompt_win() -> None:
    _, body = convert(prompt="OCR this.", extra_body={"top_p": 0.9, "temperature": 0.2})
    assert body["top_p"] == 0.9
    assert body["temperature"] == 0.2
    assert body["messages"][0]["content"][1]["text"] == "OCR this."


@pytest.mark.parametrize(
    ("answer", "markdown"),
    [
        ("```markdown\n# Title\n\nText.\n```", "# Title\n\nText."),
        ("```md\n# T\n```\n", "# T"),
        ("# Plain\n", "# Plain"),
        ("Intro\n```python\ncode\n```", "Intro\n```python\ncode\n```"),
    ],
)
def test_a_fence_around_the_whole_page_is_removed(answer: str, markdown: str) -> None:
    assert strip_markdown_fence(answer) == markdown
    assert convert(answer)[0] == markdown


def test_reasoning_switches_belong_to_this_family_only(tmp_path: Any) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[backends.deepseek-vllm]\ntoken_limit_field = 'max_completion_tokens'\n")
    with pytest.raises(ConfigError, match="unknown key for a deepseek-vllm backend"):
        load_settings(config_file=path, environ={})
