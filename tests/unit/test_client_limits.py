"""What a broken or hostile server sends becomes one of our errors: caps, deadline, bad JSON."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from docling_hybrid_cli.client import ChatClient
from docling_hybrid_cli.errors import AnswerTooLarge, BackendTimeout, BadModelOutput

BASE = "http://ocr.test/v1"


def completion(content: str = "# Page") -> dict[str, Any]:
    return {
        "id": "c1",
        "model": "m",
        "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1},
    }


class Drip(httpx.AsyncByteStream):
    """A body that arrives one byte every ``gap_s``: each read is quick, the whole is not."""

    def __init__(self, data: bytes, gap_s: float) -> None:
        self.data, self.gap_s = data, gap_s

    async def __aiter__(self) -> AsyncIterator[bytes]:
        step = 1 if self.gap_s else 4096  # no gap: a plain streamed body, in chunks
        for i in range(0, len(self.data), step):
            await asyncio.sleep(self.gap_s)
            yield self.data[i : i + step]


class Endless(httpx.AsyncByteStream):
    """A body that never ends (1 MiB chunks); only a cap stops reading it."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1
            yield b" " * 2**20


def run(handler: Callable[[httpx.Request], httpx.Response], **client: Any) -> Any:
    async def go() -> Any:
        http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        chat = ChatClient(backend="ds", base_url=BASE, http=http, **client)
        try:
            return await chat.chat(b"{}")
        finally:
            await chat.aclose()

    return asyncio.run(go())


def test_drip_fed_answer_hits_the_total_deadline() -> None:
    data = json.dumps(completion()).encode()
    with pytest.raises(BackendTimeout, match=r"within 0\.3 s"):
        run(lambda r: httpx.Response(200, stream=Drip(data, 0.05)), deadline_s=0.3)


def test_endless_answer_stops_at_the_cap() -> None:
    body = Endless()
    with pytest.raises(AnswerTooLarge, match="larger than 4 MiB"):
        run(lambda r: httpx.Response(200, stream=body), max_response_bytes=4 * 2**20)
    assert body.sent <= 5  # read up to the cap, not beyond


def test_declared_length_over_the_cap_is_refused_before_reading() -> None:
    big = b"x" * 2048
    with pytest.raises(AnswerTooLarge):
        run(lambda r: httpx.Response(200, content=big), max_response_bytes=1024)


def test_gzip_bomb_is_capped_after_decompression() -> None:
    bomb = gzip.compress(b" " * (8 * 2**20))  # 8 MiB of spaces, ~8 KB compressed
    assert len(bomb) < 64 * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip(bomb, 0), headers={"Content-Encoding": "gzip"})

    with pytest.raises(AnswerTooLarge):
        run(handler, max_response_bytes=2**20)


def test_answer_just_under_the_cap_is_read() -> None:
    data = json.dumps(completion("x" * 1000)).encode()
    result = run(lambda r: httpx.Response(200, content=data), max_response_bytes=len(data))
    assert result.content == "x" * 1000


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply nested"),
        pytest.param(b'{"choices": ' + b"9" * 5000 + b"}", id="5000-digit integer"),
        pytest.param(b"\xff\xfe not utf-8", id="bad bytes"),
        pytest.param(b'{"choices": 5}', id="choices not a list"),
        pytest.param(b'{"choices": [{"message": 7, "finish_reason": []}]}', id="wrong types"),
        pytest.param(b'{"error": {"message": ' + b"9" * 5000 + b"}}", id="huge error number"),
    ],
)
def test_unusable_json_is_bad_model_output(payload: bytes) -> None:
    with pytest.raises(BadModelOutput):
        run(lambda r: httpx.Response(200, content=payload))


def test_error_status_with_hostile_body_is_still_one_clean_line() -> None:
    body = b'{"error": {"message": "bad \\u001b[2J\\u0007 thing ' + b"-" * 10 + b'"}}'
    with pytest.raises(Exception) as info:
        run(lambda r: httpx.Response(400, content=body))
    text = str(info.value)
    assert "\x1b" not in text and "\x07" not in text and "\n" not in text
    assert "bad [2J thing" in text


@pytest.mark.parametrize("encoding", ["br", "gzip, gzip", "zstd"])
def test_encodings_that_cannot_be_bounded_are_refused(encoding: str) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip(b"xx", 0), headers={"Content-Encoding": encoding})

    with pytest.raises(BadModelOutput, match="content encoding"):
        run(handler)


def test_damaged_gzip_is_bad_model_output() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, stream=Drip(b"\x1f\x8bnot gzip", 0), headers={"Content-Encoding": "gzip"}
        )

    with pytest.raises(BadModelOutput, match="damaged"):
        run(handler)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_answers_within_the_cap_are_read(encoding: str) -> None:
    import zlib

    data = json.dumps(completion("ok")).encode()
    packed = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Accept-Encoding"] == "identity"
        return httpx.Response(200, stream=Drip(packed, 0), headers={"Content-Encoding": encoding})

    assert run(handler).content == "ok"
