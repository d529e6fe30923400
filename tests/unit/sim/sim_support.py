"""Requests shaped like the DeepSeek-OCR recipe's, shared by the simulated-server tests."""

from __future__ import annotations

import base64
import functools
import io
import socket
from pathlib import Path
from typing import Any

from PIL import Image

MODEL = "deepseek-ai/DeepSeek-OCR"
CHAT = "/v1/chat/completions"
REPO_ROOT = Path(__file__).resolve().parents[3]


@functools.cache
def jpeg_b64(width: int, height: int) -> str:
    """A base64 JPEG of the given size; each size is encoded once per session."""
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (250, 250, 245)).save(buffer, "JPEG", quality=70)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_body(image_b64: str | None = None, **extra: Any) -> dict[str, Any]:
    """A chat request laid out like the DeepSeek-OCR recipe's."""
    content: list[dict[str, Any]] = []
    if image_b64 is not None:
        url = f"data:image/jpeg;base64,{image_b64}"
        content.append({"type": "image_url", "image_url": {"url": url}})
    content.append({"type": "text", "text": "<|grounding|>Convert the document to markdown."})
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], **extra}


def recv_head(sock: socket.socket) -> bytes:
    """Read from a raw socket until a response head (and maybe more) has arrived."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "server closed the connection"
        data += chunk
    return data
