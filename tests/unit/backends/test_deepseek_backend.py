"""DeepSeek-OCR backend: the exact request vLLM needs, max_tokens fitting, and the loop retry."""

from __future__ import annotations

import asyncio
import io
import json
import tomllib
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from PIL import Image
from pydantic import ValidationError

from docling_hybrid_cli.backend_configs import DeepSeekConfig, DeepSeekMlxConfig, backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.deepseek import DEEPSEEK_PROMPT, DeepSeekBackend, image_tokens
from docling_hybrid_cli.errors import EmptyAnswer, LoopedAnswer
from docling_hybrid_cli.pages import PageImage, PageText
from docling_hybrid_cli.retry import RetryPolicy
from docling_hybrid_cli.settings import default_config_text, load_settings

BASE = "http://gpu.test:8000/v1"
CHAT = f"{BASE}/chat/completions"
MODELS = f"{BASE}/models"
MODEL = "deepseek-ai/DeepSeek-OCR"
LETTER_144DPI = (1224, 1584)

RAW_PAGE = (
    "<|ref|>title<|/ref|><|det|>[[100, 50, 900, 90]]<|/det|>\n"
    "# Quarterly report\n\n"
    "<|ref|>text<|/ref|><|det|>[[100, 120, 900, 300]]<|/det|>\n"
    "Revenue grew.\n\n"
    "<|ref|>image<|/ref|><|det|>[[100, 400, 500, 700]]<|/det|>\n\n"
    "<|ref|>table<|/ref|><|det|>[[100, 720, 900, 900]]<|/det|>\n"
    "<table><tr><td>a</td><td>b</td></tr></table>"
)


def answer(content: str = "# Page\n\nText.", finish_reason: str = "stop") -> httpx.Response:
    """A vLLM chat completion."""
    return httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [
                {
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {"prompt_tokens": 910, "completion_tokens": 12},
        },
    )


def models_listing(max_model_len: int, model: str = MODEL) -> httpx.Response:
    """vLLM's /v1/models answer."""
    card = {"id": model, "object": "model", "owned_by": "vllm", "max_model_len": max_model_len}
    return httpx.Response(200, json={"object": "list", "data": [card]})


def jpeg(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (200, 210, 220)).save(buf, format="JPEG")
    return buf.getvalue()


def make_page(
    n: int = 1, size: tuple[int, int] = LETTER_144DPI, prefix: str = "report_images/"
) -> PageImage:
    """A page image of ``size`` pixels whose bytes really decode to that size."""
    width, height = size
    return PageImage(
        page=n,
        data=jpeg(width, height),
        mime="image/jpeg",
        width=width,
        height=height,
        figure_prefix=prefix,
    )


async def _no_sleep(_: float) -> None:
    return None


MakeBackend = Callable[..., DeepSeekBackend]


@pytest.fixture
def make_backend(respx_mock: respx.MockRouter) -> MakeBackend:
    """Build a DeepSeek backend (vLLM by default) on the respx router; retries do not sleep."""

    def make(kind: str = "deepseek-vllm", **fields: Any) -> DeepSeekBackend:
        config = backend_config(name=kind, kind=kind, model=MODEL, base_url=BASE, **fields)
        backend = build_backend(
            config,
            retry=RetryPolicy(sleep=_no_sleep),
            transport=httpx.MockTransport(respx_mock.async_handler),
            environ={},
        )
        assert isinstance(backend, DeepSeekBackend)
        return backend

    return make


def ocr(backend: DeepSeekBackend, *pages: PageImage) -> list[PageText]:
    """Convert pages concurrently through one backend and close it."""

    async def go() -> list[PageText]:
        try:
            return list(await asyncio.gather(*(backend.ocr_page(p) for p in pages)))
        finally:
            await backend.aclose()

    return asyncio.run(go())


def bodies(route: respx.Route) -> list[dict[str, Any]]:
    """Every JSON body a route received, in order."""
    return [json.loads(call.request.content) for call in route.calls]


@pytest.fixture
def vllm(respx_mock: respx.MockRouter) -> tuple[respx.Route, respx.Route]:
    """A vLLM with max_model_len 2048 that answers every page with RAW_PAGE."""
    models = respx_mock.get(MODELS).mock(return_value=models_listing(2048))
    chat = respx_mock.post(CHAT).mock(return_value=answer(RAW_PAGE))
    return models, chat


# --------------------------------------------------------------------------- the request


def test_request_follows_deepseek_recipe(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """Grounding prompt, no <image>, image part first, temperature 0, special tokens kept."""
    _, chat = vllm
    ocr(make_backend(), make_page())
    [body] = bodies(chat)
    assert body["model"] == MODEL
    [message] = body["messages"]
    assert message["role"] == "user"
    image_part, text_part = message["content"]
    assert image_part["type"] == "image_url"
    assert image_part["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert text_part == {"type": "text", "text": "<|grounding|>Convert the document to markdown."}
    assert "<image>" not in json.dumps(body["messages"])
    assert body["temperature"] == 0
    assert body["skip_special_tokens"] is False
    assert "repetition_penalty" not in body


def test_vllm_xargs_are_json_ints(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """vllm_xargs carries ngram 30 / window 90 / whitelist [128821, 128822], all real JSON ints."""
    _, chat = vllm
    ocr(make_backend(), make_page())
    raw = chat.calls.last.request.content.decode()
    xargs = json.loads(raw)["vllm_xargs"]
    assert xargs == {"ngram_size": 30, "window_size": 90, "whitelist_token_ids": [128821, 128822]}
    for value in [xargs["ngram_size"], xargs["window_size"], *xargs["whitelist_token_ids"]]:
        assert type(value) is int
    assert '"[128821' not in raw  # never stringified (vllm#28035)


def test_prompt_constant() -> None:
    """The shipped prompt is DeepSeek's document prompt, with no <image> placeholder."""
    assert DEEPSEEK_PROMPT == "<|grounding|>Convert the document to markdown."


def test_configured_prompt_and_extra_body_win(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """A config prompt replaces the default and extra_body is merged last."""
    _, chat = vllm
    ocr(
        make_backend(prompt="Free OCR.", extra_body={"top_p": 1.0, "temperature": 0.1}), make_page()
    )
    [body] = bodies(chat)
    assert body["messages"][0]["content"][1]["text"] == "Free OCR."
    assert body["top_p"] == 1.0
    assert body["temperature"] == 0.1


# --------------------------------------------------------------------------- max_tokens


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        ((1224, 1584), 903),  # Letter portrait at 144 dpi: grid 2x3
        ((1191, 1684), 903),  # A4 portrait at 144 dpi
        ((640, 640), 273),  # global view only
        ((600, 400), 273),
        ((100, 640), 273),
        ((1584, 1224), 893),  # landscape: grid 3x2
        ((2000, 1000), 273 + 10 * 1 * (10 * 2 + 1)),  # 2:1 -> grid 2x1
        ((700, 2000), 273 + 10 * 3 * (10 * 1 + 1)),  # tall -> grid 1x3
    ],
)
def test_image_tokens(size: tuple[int, int], tokens: int) -> None:
    """Vision tokens follow vLLM's Gundam tiling: 273 for the global view plus the tile grid."""
    assert image_tokens(*size) == tokens


def test_max_tokens_fitted_to_model_len(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """max_tokens = max_model_len - image tokens - safety margin (2048 - 903 - 64)."""
    _, chat = vllm
    ocr(make_backend(), make_page(size=LETTER_144DPI))
    assert bodies(chat)[0]["max_tokens"] == 2048 - 903 - 64


def test_max_tokens_capped_by_config(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """A large context leaves the configured max_tokens as the cap."""
    respx_mock.get(MODELS).mock(return_value=models_listing(32768))
    chat = respx_mock.post(CHAT).mock(return_value=answer())
    ocr(make_backend(max_tokens=4000), make_page())
    assert bodies(chat)[0]["max_tokens"] == 4000


@pytest.mark.parametrize(
    "models_answer",
    [
        pytest.param(httpx.Response(404, json={"error": "not found"}), id="404"),
        pytest.param(httpx.ConnectError("refused"), id="down"),
        pytest.param(models_listing(2048, model="other/model"), id="other-model"),
        pytest.param(httpx.Response(200, json={"data": [{"id": MODEL}]}), id="no-max-len"),
        pytest.param(httpx.Response(200, json=["odd"]), id="odd-shape"),
    ],
)
def test_model_len_defaults_to_8192(
    make_backend: MakeBackend,
    respx_mock: respx.MockRouter,
    models_answer: httpx.Response | Exception,
) -> None:
    """When /models cannot tell, the model length is taken as vLLM's default 8192."""
    route = respx_mock.get(MODELS)
    if isinstance(models_answer, Exception):
        route.mock(side_effect=models_answer)
    else:
        route.mock(return_value=models_answer)
    chat = respx_mock.post(CHAT).mock(return_value=answer())
    ocr(make_backend(), make_page())
    assert bodies(chat)[0]["max_tokens"] == 8192 - 903 - 64


def test_models_fetched_once_for_many_pages(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """/v1/models is asked once per backend, however many pages go out concurrently."""
    models, chat = vllm
    pages = [make_page(n, size=(300 + n, 400)) for n in range(1, 9)]
    results = ocr(make_backend(), *pages)
    assert len(results) == 8
    assert models.call_count == 1
    assert chat.call_count == 8


# --------------------------------------------------------------------------- repetition loops


LOOP = "loop loop loop"


@pytest.mark.parametrize("reason", ["length", "repetition"])
def test_cut_off_answer_climbs_the_loop_ladder(
    make_backend: MakeBackend, respx_mock: respx.MockRouter, reason: str
) -> None:
    """Recipe guard, then a wide guard, then a small temperature; the answer that finishes wins."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    chat = respx_mock.post(CHAT).mock(
        side_effect=[answer(LOOP, reason), answer(LOOP, reason), answer("# Fine\n\nDone.")]
    )
    [text] = ocr(make_backend(), make_page())
    first, second, third = bodies(chat)
    whitelist = [128821, 128822]
    assert first["vllm_xargs"] == {
        "ngram_size": 30,
        "window_size": 90,
        "whitelist_token_ids": whitelist,
    }
    assert second["vllm_xargs"] == {
        "ngram_size": 40,
        "window_size": 512,
        "whitelist_token_ids": whitelist,
    }
    assert third["vllm_xargs"] == second["vllm_xargs"]
    assert (first["temperature"], second["temperature"], third["temperature"]) == (0, 0, 0.2)
    assert first["max_tokens"] == second["max_tokens"] == third["max_tokens"]
    assert text.markdown == "# Fine\n\nDone."
    assert text.step == "guard 40/512, temperature 0.2"
    assert text.attempts == 3
    assert [(e.step, e.kind) for e in text.failed_steps] == [
        ("guard 30/90", "LoopedAnswer"),
        ("guard 40/512", "LoopedAnswer"),
    ]
    assert all(e.error.startswith("answer cut off") for e in text.failed_steps)


def test_persistent_loop_fails_after_the_last_step(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """Every step cut off: a LoopedAnswer carrying the earlier steps, and no fourth request."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    chat = respx_mock.post(CHAT).mock(return_value=answer(LOOP, "length"))
    with pytest.raises(LoopedAnswer) as info:
        ocr(make_backend(), make_page())
    assert chat.call_count == 3
    assert info.value.attempts == 3
    assert info.value.step == "guard 40/512, temperature 0.2"
    assert [e.step for e in info.value.earlier] == ["guard 30/90", "guard 40/512"]


def test_a_configured_ladder_replaces_the_default(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """A one-step ladder: a cut-off answer goes straight to the next backend."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    chat = respx_mock.post(CHAT).mock(return_value=answer(LOOP, "length"))
    backend = make_backend(loop_ladder=[{"ngram_size": 8, "window_size": 64, "temperature": 0.1}])
    with pytest.raises(LoopedAnswer):
        ocr(backend, make_page())
    [body] = bodies(chat)
    assert body["vllm_xargs"]["ngram_size"] == 8
    assert body["vllm_xargs"]["window_size"] == 64
    assert body["temperature"] == 0.1


@pytest.mark.parametrize(
    ("ladder", "words"),
    [
        ([], "at least 1"),
        ([{"ngram_size": 30, "window_size": 30}], "window_size must be larger"),
        ([{"ngram_size": 30}], "window_size"),
        ([{"ngram_size": 30, "window_size": 90, "penalty": 1}], "penalty"),
        ([{"ngram_size": 30, "window_size": 90}] * 9, "at most 8"),
    ],
)
def test_bad_ladders_are_config_errors(ladder: list[dict[str, Any]], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        backend_config(name="deepseek-vllm", kind="deepseek-vllm", loop_ladder=ladder)


def test_empty_answer_is_sent_once_more(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """An empty finished answer gets exactly one retry of the same request, then fails."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    chat = respx_mock.post(CHAT).mock(return_value=answer(""))
    with pytest.raises(EmptyAnswer) as info:
        ocr(make_backend(), make_page())
    assert chat.call_count == 2
    assert info.value.attempts == 2
    first, second = bodies(chat)
    assert first == second


def test_empty_then_text_converts(make_backend: MakeBackend, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    respx_mock.post(CHAT).mock(side_effect=[answer(""), answer("# Back")])
    [text] = ocr(make_backend(), make_page())
    assert text.markdown == "# Back"
    assert text.attempts == 2
    assert [e.kind for e in text.failed_steps] == ["EmptyAnswer"]


def test_a_loop_then_empty_answers_keeps_every_step(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """Cut off, then empty twice on the wide guard: the error carries all three failures."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    chat = respx_mock.post(CHAT).mock(side_effect=[answer(LOOP, "length"), answer(""), answer("")])
    with pytest.raises(EmptyAnswer) as info:
        ocr(make_backend(), make_page())
    assert chat.call_count == 3
    assert [type(e).__name__ for e in info.value.earlier] == ["LoopedAnswer", "EmptyAnswer"]
    assert info.value.attempts == 3


def test_transient_error_retried_then_succeeds(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """A 503 is retried on the same backend and the attempts are counted."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    respx_mock.post(CHAT).mock(side_effect=[httpx.Response(503), answer()])
    [text] = ocr(make_backend(), make_page())
    assert text.attempts == 2


# --------------------------------------------------------------------------- MLX


def test_mlx_uses_repetition_penalty(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """deepseek-mlx sends repetition_penalty instead of vllm_xargs and never asks /models."""
    chat = respx_mock.post(CHAT).mock(return_value=answer())
    ocr(make_backend("deepseek-mlx"), make_page())
    [body] = bodies(chat)
    assert "vllm_xargs" not in body
    assert body["repetition_penalty"] == pytest.approx(1.1)
    assert body["skip_special_tokens"] is False
    assert body["temperature"] == 0
    assert body["messages"][0]["content"][1]["text"] == DEEPSEEK_PROMPT
    assert body["max_tokens"] == 8192 - 903 - 64
    assert respx_mock.calls.call_count == 1  # no /models request


def test_mlx_ladder_raises_the_penalty_then_samples(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """On MLX the ladder raises the repetition penalty instead of widening an n-gram guard."""
    chat = respx_mock.post(CHAT).mock(
        side_effect=[answer("x x x", "length"), answer("x x x", "length"), answer()]
    )
    [text] = ocr(make_backend("deepseek-mlx"), make_page())
    first, second, third = bodies(chat)
    assert [b["repetition_penalty"] for b in (first, second, third)] == [1.1, 1.2, 1.2]
    assert [b["temperature"] for b in (first, second, third)] == [0, 0, 0.2]
    assert not any("vllm_xargs" in b for b in (first, second, third))
    assert text.step == "repetition_penalty 1.2, temperature 0.2"


# --------------------------------------------------------------------------- the answer


def test_grounding_removed_and_figures_linked(
    make_backend: MakeBackend, vllm: tuple[respx.Route, respx.Route]
) -> None:
    """Tags vanish, the image block becomes a figure crop linked under the page's figure_prefix."""
    [text] = ocr(make_backend(), make_page(7, size=(400, 600), prefix="doc_images/"))
    for tag in ("<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>", "<|grounding|>"):
        assert tag not in text.markdown
    assert "# Quarterly report" in text.markdown
    assert "<table>" in text.markdown
    [figure] = text.figures
    assert figure.name == "page-0007-fig-1.jpg"
    assert f"![](doc_images/{figure.name})" in text.markdown
    with Image.open(io.BytesIO(figure.data)) as crop:
        assert crop.size == (round(500 / 999 * 400) - round(100 / 999 * 400), 180)
    assert text.raw == RAW_PAGE
    assert text.backend == "deepseek-vllm"
    assert text.model == MODEL
    assert (text.prompt_tokens, text.completion_tokens) == (910, 12)


def test_answer_of_only_tags_is_an_empty_answer(
    make_backend: MakeBackend, respx_mock: respx.MockRouter
) -> None:
    """An answer of nothing but layout tags is an empty answer: tried once more, then failed."""
    respx_mock.get(MODELS).mock(return_value=models_listing(8192))
    tags_only = "<|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\n"
    chat = respx_mock.post(CHAT).mock(return_value=answer(tags_only))
    with pytest.raises(EmptyAnswer, match="layout tags") as info:
        ocr(make_backend(), make_page())
    assert chat.call_count == 2
    assert info.value.attempts == 2


@pytest.mark.parametrize("kind", ["deepseek-vllm", "deepseek-mlx"])
def test_the_ladder_shown_in_default_toml_is_the_default(kind: str) -> None:
    """default.toml shows each family's ladder commented out; it must be the one in force."""
    text = default_config_text()
    section = text[text.index(f"[backends.{kind}]") :]
    line = next(ln for ln in section.splitlines() if ln.startswith("# loop_ladder = "))
    shown = tomllib.loads(line.removeprefix("# "))["loop_ladder"]
    in_force = load_settings(environ={}).settings.backend(kind)
    assert isinstance(in_force, DeepSeekConfig | DeepSeekMlxConfig)
    assert backend_config(name=kind, kind=kind, loop_ladder=shown) == backend_config(
        name=kind, kind=kind, loop_ladder=in_force.loop_ladder
    )
    assert len(in_force.loop_ladder) == 3
