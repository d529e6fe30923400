"""What the simulated model says, and the bodies vLLM wraps answers and errors in.

Answers are deterministic so downstream code can check them: every transcription names the
decoded image's pixel size as ``{W}x{H}`` and the start of the payload's SHA-1, and in
``deepseek`` style wraps its blocks in DeepSeek-OCR's grounding tags (``<|ref|>``/``<|det|>``)
the way the model writes a page: a figure with its ``<center>`` caption, an empty ``table``
block followed by the caption block holding the caption and the HTML table (with a rowspan),
and ``\\(``-math in a cell.
Prompt tokens follow vLLM's image-token model for DeepSeek-OCR, so ``usage`` and ``/metrics``
grow the way the real server's do.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from docling_hybrid_cli.sim.http import Headers, Response, json_response

__all__ = [
    "GLOBAL_VIEW_TOKENS",
    "ImageFacts",
    "completion_body",
    "context_overflow",
    "image_tokens",
    "is_ocr2",
    "model_not_found",
    "page_text",
    "unauthorized",
    "validation_error",
    "vllm_error",
]

ImageFacts = tuple[str, int, int]
"""(SHA-1 hex of the base64 text, width, height) of a request's image."""

GLOBAL_VIEW_TOKENS = 273
"""Image tokens of DeepSeek-OCR's 1024 px global view (16 * 17 + 1), as vLLM counts them."""
OCR2_GLOBAL_VIEW_TOKENS = 257
"""DeepSeek-OCR-2's global view: 16 * 16 queries without newline tokens, plus a separator."""


def is_ocr2(model: str) -> bool:
    """Whether the served model is DeepSeek-OCR-2 (vLLM knows it by architecture, we by name)."""
    name = model.lower()
    return "ocr-2" in name or "ocr2" in name


def image_tokens(width: int, height: int, *, ocr2: bool = False) -> int:
    """Image tokens as vLLM counts them for DeepSeek-OCR, or with ``ocr2`` for DeepSeek-OCR-2.

    OCR-1: images up to 640 px get the global view only; larger ones are also cut into the
    2..6-tile grid closest to their aspect ratio, each tile 10 x 10 tokens with one newline
    token ending every row of tokens, as in
    https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/models/deepseek_ocr.py
    OCR-2: 768 px tiles of 12 x 12 tokens and no newline tokens (``deepseek_ocr2.py`` there).
    Equally close grids: the larger one when the image covers more than half of it.
    """
    tile, queries, newline = (768, 12, 0) if ocr2 else (640, 10, 1)
    base = OCR2_GLOBAL_VIEW_TOKENS if ocr2 else GLOBAL_VIEW_TOKENS
    if width <= tile and height <= tile:
        return base
    aspect = width / height
    grids = sorted(
        ((w, h) for w in range(1, 7) for h in range(1, 7) if 2 <= w * h <= 6),
        key=lambda g: (g[0] * g[1], g),
    )
    cols, rows = grids[0]
    best = abs(aspect - cols / rows)
    for w, h in grids[1:]:
        diff = abs(aspect - w / h)
        if diff < best or (diff == best and width * height > 0.5 * tile * tile * w * h):
            (cols, rows), best = (w, h), diff
    return base + (queries * rows) * (queries * cols + newline)


def page_text(style: str, image: ImageFacts | None) -> str:
    """The deterministic "transcription": it names the image's size as ``{W}x{H}``."""
    if image is None:
        return "This request carried no image to transcribe."
    sha1, width, height = image
    size = f"{width}x{height}"
    if style == "plain":
        return f"# Page {size}\n\nimage {size} sha1 {sha1[:12]}"
    return (
        "<|ref|>title<|/ref|><|det|>[[100, 50, 900, 90]]<|/det|>\n"
        f"# Page {size}\n\n"
        "<|ref|>text<|/ref|><|det|>[[100, 120, 900, 300]]<|/det|>\n"
        f"image {size} sha1 {sha1[:12]}\n\n"
        "<|ref|>image<|/ref|><|det|>[[100, 400, 500, 700]]<|/det|>\n"
        "<|ref|>image_caption<|/ref|><|det|>[[100, 705, 500, 715]]<|/det|>\n"
        f"<center>Figure 1: the picture of page {size} </center>  \n\n"
        "<|ref|>table<|/ref|><|det|>[[100, 740, 900, 900]]<|/det|>\n"
        "<|ref|>table_caption<|/ref|><|det|>[[100, 720, 900, 735]]<|/det|>\n"
        "Table 1: the page's cells  \n\n"
        '<table><tr><td rowspan="2">a</td><td>b</td></tr><tr><td>\\(x^2\\)</td></tr></table>'
    )


def completion_body(
    model: str,
    content: str,
    finish_reason: str,
    prompt_tokens: int,
    completion_tokens: int,
    cost: float | None = None,
) -> dict[str, Any]:
    """A ``chat.completion`` object with every field vLLM sends, in vLLM's order.

    ``cost`` adds OpenRouter's ``usage.cost`` (what the request was billed).
    """
    message: dict[str, Any] = {
        "role": "assistant",
        "content": content,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": [],
        "reasoning": None,
    }
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason,
        "stop_reason": None,
    }
    usage: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
        "prompt_tokens_details": None,
    }
    if cost is not None:
        usage["cost"] = cost
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "service_tier": None,
        "system_fingerprint": None,
        "usage": usage,
        "prompt_logprobs": None,
        "kv_transfer_params": None,
    }


def vllm_error(
    status: int,
    message: str,
    error_type: str,
    param: str | None = None,
    headers: Headers = (),
) -> Response:
    """vLLM's OpenAI-style error body: message, type, param and the status as ``code``."""
    error = {"message": message, "type": error_type, "param": param, "code": status}
    return json_response(status, {"error": error}, headers)


def validation_error(kind: str, loc: str, msg: str, input_repr: str) -> Response:
    """vLLM's request-validation 400: pydantic's error text, with type "Bad Request"."""
    detail = {"type": kind, "loc": loc, "msg": msg, "input": input_repr}
    message = f"1 validation error:\n  {detail!r}"
    return json_response(
        400, {"error": {"message": message, "type": "Bad Request", "param": loc, "code": 400}}
    )


def context_overflow(max_tokens: int | None, max_model_len: int, prompt_tokens: int) -> Response:
    """vLLM's 400 for a request whose prompt plus ``max_tokens`` exceed ``max_model_len``.

    A prompt that alone fills the context gets vLLM's "decoder prompt" wording instead.
    """
    if max_tokens is None or prompt_tokens >= max_model_len:
        message = (
            f"The decoder prompt (length {prompt_tokens}) is longer than the maximum model "
            f"length of {max_model_len}. Make sure that `max_model_len` is no smaller than the "
            "number of text tokens plus multimodal tokens."
        )
    else:
        message = (
            f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's "
            f"maximum context length is {max_model_len} tokens and your request has "
            f"{prompt_tokens} input tokens ({max_tokens} > {max_model_len} - {prompt_tokens})."
        )
    return vllm_error(400, message, "BadRequestError")


def model_not_found(requested: str, served: str) -> Response:
    """vLLM's 404 for a ``model`` it does not serve, naming the one it does."""
    message = f"The model `{requested}` does not exist. Valid aliases: {served}."
    return vllm_error(404, message, "NotFoundError", param="model")


def unauthorized() -> Response:
    """vLLM's 401 when ``--api-key`` is set and the bearer token is missing or wrong."""
    return json_response(401, {"error": "Unauthorized"})
