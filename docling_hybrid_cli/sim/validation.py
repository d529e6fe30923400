"""Reading a chat request the way vLLM does: its checks, its error bodies, its image inspection.

A request that fails here never draws a fault, so tests can tell a client's bad request from a
simulated server failure. The image is inspected as cheaply as possible: decoding a whole page
image costs more than everything else the server does for a request, so the base64 text is only
checked for validity and just its head is decoded for Pillow's lazy ``Image.open(...).size``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any, cast

from PIL import Image

from docling_hybrid_cli.sim.answers import (
    ImageFacts,
    context_overflow,
    image_tokens,
    is_ocr2,
    model_not_found,
    validation_error,
    vllm_error,
)
from docling_hybrid_cli.sim.config import MockConfig
from docling_hybrid_cli.sim.http import Response

__all__ = ["BLANK_LEVELS", "ChatCall", "image_is_blank", "inspect_image", "parse_chat"]

BLANK_LEVELS = 24
"""A decoded image whose grey levels span at most this is blank to the simulated model."""

_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

_IMAGE_HEAD_CHARS = 65536
"""Base64 characters (48 KiB of image) decoded to find the image size; a multiple of 4."""


@dataclass(frozen=True, slots=True)
class ChatCall:
    """A chat request that passed validation.

    ``guard_reach`` is the longest loop period (tokens) the request's n-gram guard
    stops, ``window_size - ngram_size + 1``, or None without a guard. ``blank`` is
    only looked at when the server answers blank images empty.
    """

    model: str
    max_tokens: int | None
    prompt_tokens: int
    image: ImageFacts | None
    temperature: float = 0.0
    guard_reach: int | None = None
    blank: bool = False
    image_url: str | None = None
    """The image itself, for a server that reads pages (``MockConfig.reference_pdf``)."""


def parse_chat(body: bytes, config: MockConfig) -> ChatCall | Response:
    """Validate a chat request the way vLLM does, returning its error response on failure."""
    try:
        payload = json.loads(body)
    except json.JSONDecodeError as exc:
        return validation_error("json_invalid", f"body.{exc.pos}", "JSON decode error", "")
    except UnicodeDecodeError as exc:
        return validation_error("json_invalid", f"body.{exc.start}", "JSON decode error", "")
    if not isinstance(payload, dict):
        message = "Input should be a valid dictionary"
        return validation_error("dict_type", "body", message, repr(payload)[:50])
    messages = payload.get("messages")
    if messages is None:
        input_repr = f"<dict of {len(payload)} items>"
        return validation_error("missing", "body.messages", "Field required", input_repr)
    if not isinstance(messages, list):
        message = "Input should be a valid list"
        return validation_error("list_type", "body.messages", message, repr(messages)[:50])
    model = payload.get("model", config.model)
    if model != config.model:
        return model_not_found(str(model), config.model)
    max_tokens = payload.get("max_tokens")
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            message = "Input should be a valid integer"
            return validation_error("int_type", "body.max_tokens", message, repr(max_tokens))
        if max_tokens > config.max_model_len:
            message = (
                f"max_tokens={max_tokens} cannot be greater than "
                f"max_model_len={config.max_model_len}. Please request fewer output tokens. "
                f"(parameter=max_tokens, value={max_tokens})"
            )
            return vllm_error(400, message, "BadRequestError", param="max_tokens")
    xargs = payload.get("vllm_xargs")
    guard_reach: int | None = None
    if isinstance(xargs, dict) and config.ngram_processor:
        for name in ("ngram_size", "window_size"):
            value = xargs.get(name)
            if value is not None and (type(value) is not int or value <= 0):
                message = f"`{name}` has to be a strictly positive integer, got {value}."
                return vllm_error(400, message, "BadRequestError")
        ngram, window = xargs.get("ngram_size"), xargs.get("window_size")
        if isinstance(ngram, int) and isinstance(window, int):
            guard_reach = window - ngram + 1
    temperature = payload.get("temperature", 0.0)
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        temperature = 0.0
    image_url, text = _prompt_parts(messages)
    prompt_tokens = len(text) // 4 + 1
    image: ImageFacts | None = None
    blank = False
    if image_url is not None:
        facts = inspect_image(image_url)
        if isinstance(facts, Response):
            return facts
        image = facts
        _, width, height = facts
        prompt_tokens += image_tokens(width, height, ocr2=is_ocr2(config.model))
        blank = config.empty_for_blank and image_is_blank(image_url)
    # vLLM refuses a request that overflows the context; "plain" style stands for hosted
    # models with long contexts (OpenRouter's), which a page never fills.
    overflows = prompt_tokens >= config.max_model_len or (
        max_tokens is not None and prompt_tokens + max_tokens > config.max_model_len
    )
    if config.style == "deepseek" and overflows:
        return context_overflow(max_tokens, config.max_model_len, prompt_tokens)
    return ChatCall(
        model, max_tokens, prompt_tokens, image, temperature, guard_reach, blank, image_url
    )


def _prompt_parts(messages: list[Any]) -> tuple[str | None, str]:
    """The first image URL and all text of the messages, in either content layout."""
    image_url: str | None = None
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
            continue
        for part in content if isinstance(content, list) else ():
            if not isinstance(part, dict):
                continue
            if part.get("type") == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "image_url" and image_url is None:
                ref = part.get("image_url")
                url = ref.get("url") if isinstance(ref, dict) else ref
                image_url = url if isinstance(url, str) else None
    return image_url, "\n".join(texts)


def inspect_image(url: str) -> ImageFacts | Response:
    """(sha1 of the base64 text, width, height), reading only the image header.

    The full decode happens only when the header lies beyond the decoded head (a JPEG with a
    large EXIF block or ICC profile).
    """
    header, comma, payload = url.partition(",")
    if not url.startswith("data:") or not comma or ";base64" not in header:
        message = "Failed to load image: the mock server only accepts data:...;base64, URLs"
        return vllm_error(400, message, "BadRequestError")
    encoded = payload.encode("ascii", errors="replace")  # "?" is not base64, so it is caught
    digits = encoded.rstrip(b"=")
    if len(encoded) - len(digits) > 2 or digits.translate(None, _BASE64_ALPHABET):
        return vllm_error(400, "Non-base64 digit found", "BadRequestError")  # pybase64's words
    if len(encoded) % 4:
        return vllm_error(400, "Incorrect padding", "BadRequestError")
    size = _image_size(base64.b64decode(encoded[:_IMAGE_HEAD_CHARS]))
    if isinstance(size, Exception) and len(encoded) > _IMAGE_HEAD_CHARS:
        size = _image_size(base64.b64decode(encoded))
    if isinstance(size, Exception):
        return vllm_error(400, f"Failed to load image: {size}", "BadRequestError")
    return hashlib.sha1(encoded).hexdigest(), *size


def image_is_blank(url: str) -> bool:
    """Whether a (valid) image data URL shows a near-uniform page.

    JPEGs are decoded at an eighth of their size (Pillow's ``draft``: the DCT
    scales for free), so the check costs about a millisecond a page.
    """
    _, _, payload = url.partition(",")
    try:
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            image.draft("L", (max(1, image.width // 8), max(1, image.height // 8)))
            extrema = image.convert("L").getextrema()
    except Exception:  # a page the model cannot read is not blank to it
        return False
    darkest, lightest = cast(tuple[int, int], extrema)
    return lightest - darkest <= BLANK_LEVELS


def _image_size(data: bytes) -> tuple[int, int] | Exception:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:  # Pillow raises many types for a bad header; vLLM reports them all
        return exc
