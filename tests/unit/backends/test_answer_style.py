"""Every backend's answer goes through the same style: the same page reads the same.

The same page content, as DeepSeek-OCR writes it (grounding tags, an HTML table inside the
caption block, ``\\(``-math) and as a chat model writes it (a ``<think>`` block first -- the
provider ignored the reasoning switch -- then Markdown with an HTML table), is converted by
the real backend classes against a fake server and rendered the way the output writer does.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.openai_compat import strip_reasoning
from docling_hybrid_cli.backends.openrouter import NO_THINK
from docling_hybrid_cli.errors import EmptyAnswer
from docling_hybrid_cli.markdown_style import MarkdownStyle, render_markdown
from docling_hybrid_cli.pages import PageImage, PageText
from docling_hybrid_cli.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "deepseek"
GROUNDED = (FIXTURES / "paper_table_spans.txt").read_text("utf-8")
CHAT_ANSWER = (FIXTURES / "nemotron_answer.txt").read_text("utf-8")


def page() -> PageImage:
    buffer = io.BytesIO()
    Image.new("RGB", (612, 792), "white").save(buffer, format="JPEG")
    return PageImage(page=1, data=buffer.getvalue(), mime="image/jpeg", width=612, height=792)


async def _no_sleep(_: float) -> None:
    return None


def convert(kind: str, content: str, **fields: Any) -> tuple[PageText, list[dict[str, Any]]]:
    """One page through a real backend of ``kind`` whose server answers ``content``."""
    bodies: list[dict[str, Any]] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/models"):
            card = {"id": fields.get("model", "m"), "max_model_len": 8192}
            return httpx.Response(200, json={"data": [card]})
        bodies.append(json.loads(request.content))
        choice = {"message": {"content": content}, "finish_reason": "stop"}
        return httpx.Response(200, json={"model": "m", "choices": [choice]})

    config = backend_config(name=kind, kind=kind, base_url="https://ocr.test/v1", **fields)
    backend = build_backend(
        config,
        retry=RetryPolicy(sleep=_no_sleep),
        transport=httpx.MockTransport(server),
        environ={"OPENROUTER_API_KEY": "sk-or-test"},
    )

    async def run() -> PageText:
        try:
            return await backend.ocr_page(page())
        finally:
            await backend.aclose()

    return asyncio.run(run()), bodies


def written(text: PageText, style: MarkdownStyle) -> str:
    """The page as the output writer puts it in the Markdown file."""
    blocks = text.page_blocks()
    return render_markdown(blocks, style, "doc_images/", dollars_are_math=text.dollars_are_math)


CHAT_BACKENDS = [
    pytest.param("openrouter", {"model": "nvidia/nemotron-nano-12b-v2-vl:free"}, id="nemotron"),
    pytest.param("openai-compatible", {"model": "qwen2.5-vl"}, id="openai-compatible"),
]
STYLES = [
    MarkdownStyle(),
    MarkdownStyle(tables="html"),
    MarkdownStyle(math="latex"),
    MarkdownStyle(tables="html", math="latex"),
]


@pytest.mark.parametrize(("kind", "fields"), CHAT_BACKENDS)
@pytest.mark.parametrize("style", STYLES, ids=lambda s: f"{s.tables}-{s.math}")
def test_a_chat_answer_comes_out_like_deepseeks(
    kind: str, fields: dict[str, Any], style: MarkdownStyle
) -> None:
    deepseek, _ = convert("deepseek-vllm", GROUNDED, model="deepseek-ai/DeepSeek-OCR")
    chat, _ = convert(kind, CHAT_ANSWER, **fields)
    if style.tables == "html":
        # The chat model laid its table out on several lines; the cells are the same.
        assert written(chat, style).replace("\n<tr>", "<tr>").replace("\n</table>", "</table>") == (
            written(deepseek, style)
        )
    else:
        assert written(chat, style) == written(deepseek, style)
    assert "<think>" not in written(chat, style)
    assert "merged cells" not in chat.markdown  # the reasoning is gone, not just hidden


@pytest.mark.parametrize(("kind", "fields"), CHAT_BACKENDS)
def test_a_fenced_answer_after_reasoning_is_unwrapped(kind: str, fields: dict[str, Any]) -> None:
    answer = "<think>\nshort\n</think>\n```markdown\n# Title\n\nBody with \\(x\\).\n```"
    text, _ = convert(kind, answer, **fields)
    assert written(text, MarkdownStyle()) == "# Title\n\nBody with $x$."


@pytest.mark.parametrize(("kind", "fields"), CHAT_BACKENDS)
def test_an_answer_that_is_all_reasoning_is_an_empty_answer(
    kind: str, fields: dict[str, Any]
) -> None:
    """Reasoning cut off before the page: nothing to write, and the page moves on."""
    with pytest.raises(EmptyAnswer):
        convert(kind, "<think>\nI should look at the table first and then", **fields)


def test_nemotron_is_sent_no_think_besides_the_reasoning_switch() -> None:
    _, bodies = convert("openrouter", CHAT_ANSWER, model="nvidia/nemotron-nano-12b-v2-vl:free")
    (body,) = bodies
    assert body["reasoning"] == {"enabled": False}
    assert body["messages"][0] == {"role": "system", "content": NO_THINK}
    assert body["messages"][1]["role"] == "user"


def test_other_openrouter_models_get_no_system_message() -> None:
    _, bodies = convert("openrouter", "# Page", model="qwen/qwen2.5-vl-72b-instruct")
    assert [m["role"] for m in bodies[0]["messages"]] == ["user"]


@pytest.mark.parametrize(
    ("answer", "kept"),
    [
        ("<think>a</think>\n# Page", "\n# Page"),
        ("  <THINK>a\nb</THINK># Page", "# Page"),
        ("<think>never closed", ""),
        ("only the close</think>\n# Page", "\n# Page"),
        (
            "# Page about <think> tags\n\n<think>x</think>",
            "# Page about <think> tags\n\n<think>x</think>",
        ),
        ("# Page", "# Page"),
    ],
    ids=["block", "upper-case", "unclosed", "template-opened", "page-text", "none"],
)
def test_strip_reasoning(answer: str, kept: str) -> None:
    assert strip_reasoning(answer) == kept


@pytest.mark.parametrize(
    ("kind", "fields", "dollars_are_math"),
    [
        ("deepseek-vllm", {"model": "deepseek-ai/DeepSeek-OCR"}, False),
        ("openrouter", {"model": "nvidia/nemotron-nano-12b-v2-vl:free"}, True),
        ("openai-compatible", {"model": "m"}, True),
    ],
    ids=["deepseek", "nemotron", "openai-compatible"],
)
def test_who_may_write_dollar_math(
    kind: str, fields: dict[str, Any], dollars_are_math: bool
) -> None:
    """DeepSeek's dollars are money; a chat model's may be math it was asked for."""
    text, _ = convert(kind, "Pay 5$ or $x$ now.", **fields)
    assert text.dollars_are_math is dollars_are_math
    expected = "Pay 5\\$ or $x$ now." if dollars_are_math else "Pay 5\\$ or \\$x\\$ now."
    assert written(text, MarkdownStyle()) == expected
