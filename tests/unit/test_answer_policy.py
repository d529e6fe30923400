"""The answer policy: finish reason x backend kind x chain position -> what happens to the page.

The first tests read the policy's functions directly; the table at the end
drives real backends through a real chain (respx answers every request the
same way) and checks the outcome the policy promises: converted by the
backend, given to the next backend, an empty page, or a failed page, after
exactly the requests the policy allows.
"""

from __future__ import annotations

import asyncio
import io
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from docling_hybrid_cli.answer_policy import (
    BAD_ENDINGS,
    answer_error,
    next_move,
    page_is_empty,
)
from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.chain import BLANK_PAGE, FallbackChain
from docling_hybrid_cli.errors import (
    BackendConnectError,
    BackendError,
    BackendNotConfigured,
    BackendRejected,
    BackendServerError,
    BadModelOutput,
    EmptyAnswer,
    LoopedAnswer,
    NoTextFound,
    WithheldAnswer,
)
from docling_hybrid_cli.pages import PageImage, PageResult
from docling_hybrid_cli.retry import RetryPolicy

# --------------------------------------------------------------------------- the functions

FINISHED = ["stop", None, "eos_token", "end_turn", "tool_calls", "STOP"]


@pytest.mark.parametrize("reason", FINISHED)
def test_other_reasons_with_text_are_page_text(reason: str | None) -> None:
    assert answer_error("b", reason, "# Page") is None


@pytest.mark.parametrize("reason", FINISHED)
@pytest.mark.parametrize("content", ["", " \n\t"])
def test_a_finished_answer_without_text_is_an_empty_answer(
    reason: str | None, content: str
) -> None:
    error = answer_error("b", reason, content)
    assert isinstance(error, EmptyAnswer)
    assert str(error) == "b: empty answer"
    assert error.finish_reason == reason


@pytest.mark.parametrize(
    ("reason", "error"),
    [
        ("length", LoopedAnswer),
        ("repetition", LoopedAnswer),
        ("content_filter", WithheldAnswer),
        ("abort", BadModelOutput),
        ("error", BadModelOutput),
    ],
)
@pytest.mark.parametrize("content", ["some text", ""])
def test_bad_reasons_win_over_the_content(
    reason: str, error: type[BadModelOutput], content: str
) -> None:
    found = answer_error("b", reason, content)
    assert type(found) is error
    assert found.finish_reason == reason
    assert str(found) == f"b: {BAD_ENDINGS[reason].message}"


def test_the_table_names_exactly_the_five_bad_reasons() -> None:
    assert set(BAD_ENDINGS) == {"length", "repetition", "content_filter", "abort", "error"}


@pytest.mark.parametrize(
    ("exc", "empty_left", "steps_left", "move"),
    [
        (EmptyAnswer("e"), 1, 0, "retry"),
        (EmptyAnswer("e"), 0, 2, "next backend"),
        (LoopedAnswer("l"), 1, 1, "next step"),
        (LoopedAnswer("l"), 1, 0, "next backend"),
        (WithheldAnswer("w"), 1, 2, "next backend"),
        (BadModelOutput("aborted"), 1, 2, "next backend"),
        (BackendServerError("503"), 1, 2, "next backend"),
        (BackendRejected("401"), 1, 2, "next backend"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BackendError) else str(v),
)
def test_next_move(exc: BackendError, empty_left: int, steps_left: int, move: str) -> None:
    assert next_move(exc, empty_retries_left=empty_left, steps_left=steps_left) == move


@pytest.mark.parametrize(
    ("failures", "empty"),
    [
        ([EmptyAnswer("e")], True),
        ([EmptyAnswer("e"), EmptyAnswer("e")], True),
        ([EmptyAnswer("e"), NoTextFound("no text layer"), NoTextFound("no chars")], True),
        ([EmptyAnswer("e"), BackendNotConfigured("key not set")], True),
        ([NoTextFound("no text layer"), NoTextFound("no chars")], False),  # no model looked
        ([BackendNotConfigured("key not set")], False),
        ([EmptyAnswer("e"), LoopedAnswer("loop")], False),  # a loop may hide text
        ([LoopedAnswer("loop"), EmptyAnswer("e")], False),
        ([EmptyAnswer("e"), BackendServerError("503")], False),  # could not look
        ([EmptyAnswer("e"), BackendConnectError("refused")], False),
        ([EmptyAnswer("e"), BackendRejected("HTTP 403")], False),
        ([EmptyAnswer("e"), WithheldAnswer("filtered")], False),
        ([], False),
    ],
)
def test_page_is_empty(failures: list[BackendError], empty: bool) -> None:
    assert page_is_empty(failures) is empty


# --------------------------------------------------------------------------- through a chain

MODEL = "test-model"
KINDS = ["deepseek-vllm", "deepseek-mlx", "openrouter", "openai-compatible"]
LADDER = {"deepseek-vllm": 3, "deepseek-mlx": 3}
"""Requests a persistent loop costs: the shipped loop ladders; other kinds have one step."""
MAX_ATTEMPTS = 3
REASONS: list[str | None] = [
    "stop",
    None,
    "eos_token",
    "end_turn",
    "length",
    "repetition",
    "content_filter",
    "abort",
    "error",
]
POSITIONS = ["only", "first", "last"]
"""only: a chain of one. first: a second backend that converts follows.
last: after text-layer, which finds no text layer on this scanned page."""


def expected(reason: str | None, content: str, kind: str, position: str) -> tuple[str, int]:
    """(outcome, requests to the backend under test), as the policy states it."""
    if reason in ("length", "repetition"):
        calls, moves_on = LADDER.get(kind, 1), True
    elif reason == "content_filter":
        calls, moves_on = 1, True
    elif reason in ("abort", "error"):
        calls, moves_on = MAX_ATTEMPTS, True
    elif not content:
        calls, moves_on = 2, True  # one retry of an empty answer
        if position != "first":
            return "empty page", calls
    else:
        return "converted", 1
    assert moves_on
    return ("next backend" if position == "first" else "failed"), calls


async def _no_sleep(_: float) -> None:
    return None


def scanned_page() -> PageImage:
    buf = io.BytesIO()
    Image.new("RGB", (700, 900), (250, 250, 250)).save(buf, "JPEG")
    return PageImage(
        page=1, data=buf.getvalue(), mime="image/jpeg", width=700, height=900, text_layer=""
    )


def make(config: dict[str, Any], router: respx.MockRouter) -> Any:
    return build_backend(
        backend_config(**config),
        retry=RetryPolicy(max_attempts=MAX_ATTEMPTS, sleep=_no_sleep),
        transport=httpx.MockTransport(router.async_handler),
        environ={"OPENROUTER_API_KEY": "sk-or-test"},
    )


def run_chain(kind: str, position: str, reply: httpx.Response) -> tuple[PageResult, int]:
    router = respx.MockRouter(assert_all_called=False)
    router.get("https://x.test/v1/models").mock(
        return_value=httpx.Response(200, json={"data": [{"id": MODEL, "max_model_len": 8192}]})
    )
    under_test = router.post("https://x.test/v1/chat/completions").mock(return_value=reply)
    router.post("https://next.test/v1/chat/completions").mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": "# Next"}, "finish_reason": "stop"}]}
        )
    )
    server = {"model": MODEL, "base_url": "https://x.test/v1"}
    backends = [make({"name": "x", "kind": kind, **server}, router)]
    if position == "first":
        backends.append(
            make(
                {
                    "name": "next",
                    "kind": "openai-compatible",
                    "model": MODEL,
                    "base_url": "https://next.test/v1",
                },
                router,
            )
        )
    elif position == "last":
        backends.insert(0, make({"name": "text-layer", "kind": "text-layer"}, router))
    chain = FallbackChain(backends)

    async def go() -> PageResult:
        try:
            return await chain.convert(scanned_page())
        finally:
            await chain.aclose()

    return asyncio.run(go()), under_test.call_count


@pytest.mark.parametrize("position", POSITIONS)
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("content", ["Page text.", ""], ids=["text", "empty"])
@pytest.mark.parametrize("reason", REASONS, ids=str)
def test_policy_table(reason: str | None, content: str, kind: str, position: str) -> None:
    reply = httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [{"message": {"content": content}, "finish_reason": reason}],
        },
    )
    result, calls = run_chain(kind, position, reply)
    outcome, expected_calls = expected(reason, content, kind, position)
    assert calls == expected_calls
    if outcome == "converted":
        assert result.text is not None and result.text.backend == "x"
        assert result.text.markdown == "Page text."
        assert not result.empty
    elif outcome == "next backend":
        assert result.text is not None and result.text.backend == "next"
        assert {e.backend for e in result.errors} == {"x"}
    elif outcome == "empty page":
        assert result.ok and result.empty and result.text is not None
        assert result.text.markdown == ""
        assert result.text.empty_reason is not None
        assert "x: empty answer" in result.text.empty_reason
    else:
        assert not result.ok
        assert result.errors[-1].backend == "x"
    # Whatever the outcome, a cut-off or withheld answer's text is never the page's text.
    if reason in BAD_ENDINGS and result.text is not None:
        assert "Page text." not in result.text.markdown


def test_a_blank_page_asks_no_backend() -> None:
    router = respx.MockRouter(assert_all_called=False)
    route = router.post("https://x.test/v1/chat/completions")
    backend = make(
        {"name": "x", "kind": "deepseek-vllm", "model": MODEL, "base_url": "https://x.test/v1"},
        router,
    )
    chain = FallbackChain([backend])
    page = PageImage(page=3, data=b"", mime="image/jpeg", width=10, height=10, blank=True)

    async def go() -> PageResult:
        try:
            return await chain.convert(page)
        finally:
            await chain.aclose()

    result = asyncio.run(go())
    assert result.ok and result.empty
    assert result.text is not None and result.text.empty_reason == BLANK_PAGE
    assert result.attempts == 0 and result.errors == []
    assert not route.called


def test_an_unset_key_says_nothing_about_the_page() -> None:
    """DeepSeek answers empty, OpenRouter has no key: the page is empty, not failed."""
    router = respx.MockRouter(assert_all_called=False)
    router.get("https://x.test/v1/models").mock(return_value=httpx.Response(404))
    router.post("https://x.test/v1/chat/completions").mock(
        return_value=httpx.Response(
            200, json={"choices": [{"message": {"content": ""}, "finish_reason": "stop"}]}
        )
    )
    first = make(
        {"name": "x", "kind": "deepseek-vllm", "model": MODEL, "base_url": "https://x.test/v1"},
        router,
    )
    keyless = build_backend(
        backend_config(name="or", kind="openrouter", model=MODEL, base_url="https://or.test/v1"),
        retry=RetryPolicy(sleep=_no_sleep),
        transport=httpx.MockTransport(router.async_handler),
        environ={},
    )
    chain = FallbackChain([first, keyless])

    async def go() -> PageResult:
        try:
            return await chain.convert(scanned_page())
        finally:
            await chain.aclose()

    result = asyncio.run(go())
    assert result.empty
    assert [(e.backend, e.kind) for e in result.errors] == [
        ("x", "EmptyAnswer"),
        ("x", "EmptyAnswer"),
        ("or", "BackendNotConfigured"),
    ]
    assert result.text is not None
    assert result.text.empty_reason == (
        "no backend found text (x: empty answer; or: OPENROUTER_API_KEY is not set)"
    )
