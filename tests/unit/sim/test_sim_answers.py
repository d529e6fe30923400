"""Answers name the page image's size and hash, in DeepSeek's grounding tags or plain."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import httpx
import pytest
from sim_support import CHAT, MODEL, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer
from docling_hybrid_cli.sim.answers import image_tokens, page_text


def test_deepseek_style_answer_names_page_size_in_grounding_tags(
    server: MockServer, client: httpx.Client
) -> None:
    """A page image comes back as DeepSeek grounding blocks naming WxH and the payload hash."""
    image = jpeg_b64(700, 900)
    response = client.post(CHAT, json=chat_body(image, max_tokens=4096))
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    [choice] = body["choices"]
    assert choice["finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    content = choice["message"]["content"]
    sha1 = hashlib.sha1(image.encode()).hexdigest()
    assert "<|ref|>title<|/ref|><|det|>[[100, 50, 900, 90]]<|/det|>\n# Page 700x900" in content
    assert f"image 700x900 sha1 {sha1[:12]}" in content
    assert "<|ref|>image<|/ref|>" in content
    assert '<table><tr><td rowspan="2">a</td><td>b</td></tr>' in content
    assert "<|ref|>image_caption<|/ref|>" in content
    usage = body["usage"]
    assert usage["prompt_tokens"] > 903  # 903 image tokens for a tiled portrait page, plus text
    assert usage["completion_tokens"] == len(content) // 4
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    [record] = server.stats.requests
    assert (record.path, record.status, record.fault) == (CHAT, 200, None)
    assert (record.width, record.height, record.image_sha1) == (700, 900, sha1)


def test_plain_style_answer_is_deterministic(make_server: Callable[..., MockServer]) -> None:
    """Plain style is two lines naming WxH and hash; the same image gives the same text."""
    server = make_server(style="plain")
    image = jpeg_b64(320, 200)
    with httpx.Client(base_url=server.url) as http:
        answers = [http.post(CHAT, json=chat_body(image)).json() for _ in range(2)]
    sha1 = hashlib.sha1(image.encode()).hexdigest()
    contents = {answer["choices"][0]["message"]["content"] for answer in answers}
    assert contents == {f"# Page 320x200\n\nimage 320x200 sha1 {sha1[:12]}"}
    assert 273 < answers[0]["usage"]["prompt_tokens"] < 903  # global view only, no tiles


@pytest.mark.parametrize(
    ("width", "height", "tokens"),
    [
        pytest.param(640, 640, 273, id="global-view-only"),
        pytest.param(700, 900, 903, id="portrait-2x3-tiles"),
        pytest.param(1700, 850, 273 + 10 * 21, id="landscape-2x1-tiles"),
    ],
)
def test_image_tokens_follow_deepseek_ocr_tiling(width: int, height: int, tokens: int) -> None:
    """Up to 640 px only the 273-token global view; larger pages add 10 x 10-token tiles."""
    assert image_tokens(width, height) == tokens


def test_a_request_without_an_image_gets_a_fixed_sentence() -> None:
    assert page_text("deepseek", None) == page_text("plain", None)
    assert "no image" in page_text("plain", None)
