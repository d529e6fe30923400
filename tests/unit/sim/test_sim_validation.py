"""Chat requests are validated and their images inspected the way vLLM does."""

from __future__ import annotations

import base64
import io
import json

import httpx
import pytest
from PIL import Image
from sim_support import CHAT, MODEL, chat_body

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
