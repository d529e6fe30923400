"""Chat requests are validated and their images inspected the way vLLM does."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable

import httpx
import pytest
from PIL import Image
from sim_support import CHAT, MODEL, chat_body, jpeg_b64

from docling_hybrid_cli.sim import MockServer


def test_image_header_far_into_the_payload_is_still_found(client: httpx.Client) -> None:
    """A JPEG whose size marker follows a 100 KB ICC profile is measured from the full decode."""
    buffer = io.BytesIO()
    Image.new("RGB", (333, 444)).save(buffer, "JPEG", icc_profile=b"\0" * 100_000)
    image = base64.b64encode(buffer.getvalue()).decode("ascii")
    response = client.post(CHAT, json=chat_body(image))
    assert response.status_code == 200
    assert "# Page 333x444" in response.json()["choices"][0]["message"]["content"]


def test_text_only_request_is_still_answered(server: MockServer, client: httpx.Client) -> None:
    """A request without an image part gets a normal text answer, like vLLM's."""
    response = client.post(CHAT, json=chat_body(None))
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"]
    assert server.stats.chat_ok == 1


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        pytest.param(b"{not json", 400, "JSON decode error", id="invalid-json"),
        pytest.param(json.dumps({"model": MODEL}).encode(), 400, "Field required", id="no-msgs"),
        pytest.param(
            json.dumps({**chat_body(None), "model": "nope"}).encode(),
            404,
            "The model `nope` does not exist.",
            id="unknown-model",
        ),
        pytest.param(
            json.dumps(chat_body(None, max_tokens=100000)).encode(),
            400,
            "max_tokens=100000 cannot be greater than max_model_len=8192",
            id="max-tokens",
        ),
        pytest.param(
            json.dumps(chat_body("@@notbase64@@")).encode(),
            400,
            "Non-base64 digit found",
            id="bad-base64",
        ),
        pytest.param(
            json.dumps(chat_body("abcde")).encode(), 400, "Incorrect padding", id="bad-padding"
        ),
        pytest.param(
            json.dumps(chat_body(base64.b64encode(b"no image here").decode())).encode(),
            400,
            "Failed to load image: cannot identify image file",
            id="not-an-image",
        ),
        pytest.param(
            json.dumps(chat_body(None, vllm_xargs={"ngram_size": -1})).encode(),
            400,
            "`ngram_size` has to be a strictly positive integer, got -1.",
            id="bad-xargs",
        ),
    ],
)
def test_invalid_requests_are_rejected_like_vllm(
    server: MockServer, client: httpx.Client, payload: bytes, status: int, fragment: str
) -> None:
    """Each malformed request gets vLLM's status and an error body with that message."""
    server.inject("500")
    response = client.post(CHAT, content=payload, headers={"content-type": "application/json"})
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert fragment in error["message"]
    assert server.stats.faults_injected == {}  # faults are drawn only for valid requests


def test_without_the_ngram_processor_xargs_are_silently_ignored(
    make_server: Callable[..., MockServer],
) -> None:
    """A vLLM started without --logits-processors takes any vllm_xargs and answers."""
    server = make_server(ngram_processor=False)
    body = chat_body(None, max_tokens=1, vllm_xargs={"ngram_size": 0})
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.post(CHAT, json=body)
    assert response.status_code == 200
    assert server.stats.chat_ok == 1


@pytest.mark.parametrize(
    ("max_tokens", "fragment"),
    [
        pytest.param(
            1024,
            "'max_tokens' or 'max_completion_tokens' is too large: 1024. This model's maximum "
            "context length is 1200 tokens and your request has 915 input tokens "
            "(1024 > 1200 - 915).",
            id="answer-does-not-fit",
        ),
        pytest.param(None, "The decoder prompt (length 915) is longer", id="prompt-alone"),
    ],
)
def test_a_request_over_the_context_gets_vllms_400(
    make_server: Callable[..., MockServer], max_tokens: int | None, fragment: str
) -> None:
    """Prompt tokens (903 image + the prompt's text) plus max_tokens must fit max_model_len."""
    server = make_server(max_model_len=1200 if max_tokens else 900)
    body = chat_body(jpeg_b64(700, 900), **({"max_tokens": max_tokens} if max_tokens else {}))
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.post(CHAT, json=body)
        fits = http.post(CHAT, json=chat_body(jpeg_b64(700, 900), max_tokens=200))
    assert response.status_code == 400
    assert fragment in response.json()["error"]["message"]
    assert fits.status_code == (200 if max_tokens else 400)


def test_plain_style_does_not_check_the_context(make_server: Callable[..., MockServer]) -> None:
    """Plain style stands for hosted long-context models: a page never overflows them."""
    server = make_server(style="plain", max_model_len=1000)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        response = http.post(CHAT, json=chat_body(jpeg_b64(700, 900), max_tokens=900))
    assert response.status_code == 200


def test_deepseek_ocr_2_counts_its_own_image_tokens(make_server: Callable[..., MockServer]) -> None:
    """Served as DeepSeek-OCR-2, a 1224x1584 page costs 257 + 36 * 24 prompt tokens."""
    model = "deepseek-ai/DeepSeek-OCR-2"
    server = make_server(model=model)
    with httpx.Client(base_url=server.url, timeout=10) as http:
        answer = http.post(CHAT, json={**chat_body(jpeg_b64(1224, 1584)), "model": model}).json()
    text_tokens = len("<|grounding|>Convert the document to markdown.") // 4 + 1
    assert answer["usage"]["prompt_tokens"] == 257 + 36 * 24 + text_tokens
