"""DeepSeek on vLLM: max_tokens fitted to the served context, and refitted when the server says no.

A ``/models`` lookup that got no answer is not kept for the run, and a 400
"maximum context length" answer re-reads ``/models`` and refits the page once.
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.deepseek import DeepSeekBackend
from docling_hybrid_cli.backends.deepseek_tokens import image_tokens
from docling_hybrid_cli.errors import BackendError, BackendRejected, ContextOverflow
from docling_hybrid_cli.pages import PageImage, PageText
from docling_hybrid_cli.retry import RetryPolicy

BASE = "http://gpu.test:8000/v1"
CHAT = f"{BASE}/chat/completions"
MODELS = f"{BASE}/models"
MODEL = "deepseek-ai/DeepSeek-OCR"
LETTER = (1224, 1584)
OCR1_LETTER = image_tokens(*LETTER)


def answer() -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [{"message": {"content": "# Page\n\nText."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 920, "completion_tokens": 5},
        },
    )


def listing(max_model_len: int, model: str = MODEL) -> httpx.Response:
    card = {"id": model, "object": "model", "max_model_len": max_model_len}
    return httpx.Response(200, json={"object": "list", "data": [card]})


def overflow(message: str) -> httpx.Response:
    """vLLM's 400 for a request that does not fit the context."""
    error = {"message": message, "type": "BadRequestError", "param": None, "code": 400}
    return httpx.Response(400, json={"error": error})


def too_large(max_tokens: int, limit: int, prompt: int) -> httpx.Response:
    return overflow(
        f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's "
        f"maximum context length is {limit} tokens and your request has {prompt} input tokens "
        f"({max_tokens} > {limit} - {prompt})."
    )


def page(n: int = 1, size: tuple[int, int] = LETTER) -> PageImage:
    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, format="JPEG")
    return PageImage(page=n, data=buf.getvalue(), mime="image/jpeg", width=size[0], height=size[1])


async def _no_sleep(_: float) -> None:
    return None


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(
    respx_mock: respx.MockRouter, kind: str = "deepseek-vllm", **fields: Any
) -> DeepSeekBackend:
    config = backend_config(
        name=kind, kind=kind, model=fields.pop("model", MODEL), base_url=BASE, **fields
    )
    backend = build_backend(
        config,
        retry=RetryPolicy(sleep=_no_sleep),
        transport=httpx.MockTransport(respx_mock.async_handler),
        environ={},
    )
    assert isinstance(backend, DeepSeekBackend)
    return backend


def run(backend: DeepSeekBackend, *pages: PageImage) -> list[PageText | BackendError]:
    """Convert pages one after another; each result is its text or its error."""

    async def go() -> list[PageText | BackendError]:
        out: list[PageText | BackendError] = []
        try:
            for p in pages:
                try:
                    out.append(await backend.ocr_page(p))
                except BackendError as exc:
                    out.append(exc)
        finally:
            await backend.aclose()
        return out

    return asyncio.run(go())


def max_tokens_sent(route: respx.Route) -> list[int]:
    return [json.loads(call.request.content)["max_tokens"] for call in route.calls]


# --------------------------------------------------------------------------- the /models lookup


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(httpx.ConnectError("still loading"), id="refused"),
        pytest.param(httpx.ReadTimeout("slow"), id="timeout"),
        pytest.param(httpx.Response(503, json={"error": "starting"}), id="503"),
        pytest.param(httpx.Response(200, text="<html>proxy</html>"), id="not-json"),
    ],
)
def test_a_failed_lookup_is_not_kept_for_the_run(
    respx_mock: respx.MockRouter, failure: httpx.Response | Exception
) -> None:
    """The first page assumes 8192; a page after the pause asks again and fits 4096."""
    models = respx_mock.get(MODELS).mock(side_effect=[failure, listing(4096)])
    chat = respx_mock.post(CHAT).mock(return_value=answer())
    backend = make(respx_mock)
    clock = Clock()
    backend.clock = clock

    async def go() -> None:
        try:
            await backend.ocr_page(page(1))
            clock.now += 6
            await backend.ocr_page(page(2))
            await backend.ocr_page(page(3))
        finally:
            await backend.aclose()

    asyncio.run(go())

    assert max_tokens_sent(chat) == [
        8192 - OCR1_LETTER - 64,
        4096 - OCR1_LETTER - 64,
        4096 - OCR1_LETTER - 64,
    ]
    assert models.call_count == 2


def test_pages_right_after_a_failed_lookup_do_not_ask_again(respx_mock: respx.MockRouter) -> None:
    """32 pages in flight must not each wait on a /models that just failed."""
    models = respx_mock.get(MODELS).mock(side_effect=httpx.ConnectError("down"))
    chat = respx_mock.post(CHAT).mock(return_value=answer())
    backend = make(respx_mock)
    backend.clock = Clock()

    async def go() -> None:
        try:
            await asyncio.gather(*(backend.ocr_page(page(n)) for n in range(1, 9)))
        finally:
            await backend.aclose()

    asyncio.run(go())

    assert models.call_count == 1
    assert chat.call_count == 8


def test_a_definite_answer_without_a_length_is_kept(respx_mock: respx.MockRouter) -> None:
    """A 404 for /models (a server that is not vLLM) is an answer: asked once, 8192 kept."""
    models = respx_mock.get(MODELS).mock(return_value=httpx.Response(404, json={"error": "no"}))
    respx_mock.post(CHAT).mock(return_value=answer())
    backend = make(respx_mock)
    clock = Clock()
    backend.clock = clock

    run(backend, page(1), page(2))

    assert models.call_count == 1


# --------------------------------------------------------------------------- 400 context overflow


def test_overflow_rereads_models_and_refits_once(respx_mock: respx.MockRouter) -> None:
    """The server was restarted with --max-model-len 4096: the page is refitted from its numbers."""
    models = respx_mock.get(MODELS).mock(side_effect=[listing(8192), listing(4096)])
    sent = 8192 - OCR1_LETTER - 64
    chat = respx_mock.post(CHAT).mock(side_effect=[too_large(sent, 4096, 925), answer()])
    notes: list[tuple[str, str]] = []
    backend = make(respx_mock)

    async def go() -> PageText:
        try:
            return await backend.ocr_page(page(), lambda e, d: notes.append((e, d)))
        finally:
            await backend.aclose()

    text = asyncio.run(go())

    assert max_tokens_sent(chat) == [sent, 4096 - 925]
    assert models.call_count == 2
    assert text.attempts == 2
    assert ("retrying", f"context overflow — max_tokens refitted to {4096 - 925}") in notes


def test_later_pages_use_the_new_length_without_another_overflow(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.get(MODELS).mock(side_effect=[listing(8192), listing(4096)])
    sent = 8192 - OCR1_LETTER - 64
    chat = respx_mock.post(CHAT).mock(
        side_effect=[too_large(sent, 4096, OCR1_LETTER + 20), answer(), answer()]
    )

    results = run(make(respx_mock), page(1), page(2))

    assert all(isinstance(r, PageText) for r in results)
    assert max_tokens_sent(chat)[2] == 4096 - OCR1_LETTER - 64


def test_a_prompt_larger_than_counted_widens_the_margin(respx_mock: respx.MockRouter) -> None:
    """If the server counts 300 more prompt tokens than we do, later pages keep 300 free."""
    respx_mock.get(MODELS).mock(return_value=listing(4096))
    first = 4096 - OCR1_LETTER - 64
    prompt = OCR1_LETTER + 300
    chat = respx_mock.post(CHAT).mock(
        side_effect=[too_large(first, 4096, prompt), answer(), answer()]
    )

    run(make(respx_mock), page(1), page(2))

    assert max_tokens_sent(chat) == [first, 4096 - prompt, 4096 - OCR1_LETTER - 300]


@pytest.mark.parametrize(
    ("message", "refit"),
    [
        pytest.param(
            "max_tokens=7225 cannot be greater than max_model_len=4096. Please request fewer "
            "output tokens. (parameter=max_tokens, value=7225)",
            4096 - OCR1_LETTER - 64,
            id="vllm-max-model-len",
        ),
        pytest.param(
            "This model's maximum context length is 4096 tokens. However, you requested 8150 "
            "tokens (925 in the messages, 7225 in the completion).",
            4096 - 925,
            id="openai-wording",
        ),
    ],
)
def test_every_vllm_wording_is_understood(
    respx_mock: respx.MockRouter, message: str, refit: int
) -> None:
    """The /models re-read fails here: the limit in the message alone is enough."""
    respx_mock.get(MODELS).mock(side_effect=[listing(8192), httpx.ConnectError("gone")])
    chat = respx_mock.post(CHAT).mock(side_effect=[overflow(message), answer()])

    results = run(make(respx_mock), page())

    assert isinstance(results[0], PageText)
    assert max_tokens_sent(chat)[1] == refit


@pytest.mark.parametrize(
    "second",
    [
        pytest.param("again", id="still-too-large"),
        pytest.param("prompt", id="prompt-alone-too-long"),
    ],
)
def test_overflow_is_refitted_only_once(respx_mock: respx.MockRouter, second: str) -> None:
    """A second overflow, or a prompt that alone fills the context, ends this backend's try."""
    respx_mock.get(MODELS).mock(return_value=listing(4096))
    first = 4096 - OCR1_LETTER - 64
    prompt_too_long = overflow(
        "The decoder prompt (length 5000) is longer than the maximum model length of 4096. "
        "Make sure that `max_model_len` is no smaller than the number of text tokens plus "
        "multimodal tokens."
    )
    answers = (
        [too_large(first, 4096, 1100), too_large(2996, 4096, 1200)]
        if second == "again"
        else [prompt_too_long]
    )
    chat = respx_mock.post(CHAT).mock(side_effect=answers)

    [result] = run(make(respx_mock), page())

    assert isinstance(result, ContextOverflow) and isinstance(result, BackendRejected)
    assert chat.call_count == len(answers)
    assert result.attempts == len(answers)


def test_mlx_does_not_refit(respx_mock: respx.MockRouter) -> None:
    """mlx-vlm reports no context length; its overflow goes down the chain as it is."""
    chat = respx_mock.post("http://gpu.test:8000/v1/chat/completions").mock(
        return_value=too_large(4096, 4096, 900)
    )

    [result] = run(make(respx_mock, kind="deepseek-mlx"), page())

    assert isinstance(result, ContextOverflow)
    assert chat.call_count == 1


# --------------------------------------------------------------------------- DeepSeek-OCR-2


@pytest.mark.parametrize(
    ("fields", "encoder"),
    [
        pytest.param({"model": "deepseek-ai/DeepSeek-OCR-2"}, "deepseek-ocr-2", id="by-name"),
        pytest.param(
            {"model": "ocr", "vision_encoder": "deepseek-ocr-2"}, "deepseek-ocr-2", id="by-key"
        ),
        pytest.param({"model": "ocr"}, "deepseek-ocr", id="default"),
    ],
)
def test_max_tokens_fits_the_served_models_image_tokens(
    respx_mock: respx.MockRouter, fields: dict[str, Any], encoder: str
) -> None:
    model = fields["model"]
    respx_mock.get(MODELS).mock(return_value=listing(8192, model=model))
    chat = respx_mock.post(CHAT).mock(return_value=answer())

    run(make(respx_mock, **fields), page())

    assert max_tokens_sent(chat) == [8192 - image_tokens(*LETTER, encoder) - 64]  # type: ignore[arg-type]


def test_an_absurd_prompt_size_does_not_shrink_later_pages(respx_mock: respx.MockRouter) -> None:
    """A server claiming a 50,000-token prompt fails that page only; the margin stays sane."""
    respx_mock.get(MODELS).mock(return_value=listing(4096))
    first = 4096 - OCR1_LETTER - 64
    chat = respx_mock.post(CHAT).mock(side_effect=[too_large(first, 4096, 50_000), answer()])

    results = run(make(respx_mock), page(1), page(2))

    assert isinstance(results[0], ContextOverflow)
    assert isinstance(results[1], PageText)
    assert max_tokens_sent(chat) == [first, first]
