"""The fallback chain under every fault, across backend kinds and chain orders (respx).

Each fault is tried two ways on the chain's first backend: *once* (the next
attempt succeeds) and *persistent* (every attempt fails). The expected
outcome follows docs/BACKENDS.md: transient faults are retried on the same
backend; 400/401/403/404 are not retried, and — the documented 4xx policy —
the page goes to the next backend; an empty answer is sent once more; a
cut-off answer climbs DeepSeek's loop ladder and otherwise goes to the next
backend. Either way every page ends converted or with every backend's error.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.chain import FallbackChain, build_chain
from docling_hybrid_cli.pages import PageImage, PageResult
from docling_hybrid_cli.retry import RetryPolicy
from docling_hybrid_cli.settings import load_settings

KEY = {"OPENROUTER_API_KEY": "sk-or-test"}
MODEL = "test-model"


def ok(content: str = "# Page\n\nConverted text.") -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 900, "completion_tokens": 10, "cost": 0.0},
        },
    )


def _error(status: int, message: str, **headers: str) -> Callable[[], httpx.Response]:
    return lambda: httpx.Response(status, headers=headers, json={"error": {"message": message}})


def _raise(exc: type[httpx.HTTPError], text: str) -> Callable[[], Any]:
    def fault() -> Any:
        raise exc(text)

    return fault


FAULTS: dict[str, Callable[[], Any]] = {
    "429": _error(429, "Rate limit exceeded"),
    "429-retry-after": _error(429, "Rate limit exceeded", **{"Retry-After": "0"}),
    "500": _error(500, "EngineCore encountered an issue"),
    "502": _error(502, "Bad gateway"),
    "503": _error(503, "Overloaded"),
    "refused": _raise(httpx.ConnectError, "Connection refused"),
    "reset": _raise(httpx.ReadError, "Connection reset by peer"),
    "read-timeout": _raise(httpx.ReadTimeout, "timed out"),
    "empty": lambda: ok(""),
    "length": lambda: httpx.Response(
        200,
        json={"choices": [{"message": {"content": "loop loop"}, "finish_reason": "length"}]},
    ),
    "200-with-error": lambda: httpx.Response(
        200, json={"error": {"code": 502, "message": "Provider returned error"}}
    ),
    "401": lambda: httpx.Response(401, json={"error": "Unauthorized"}),
    "404-unknown-model": _error(404, "The model `x` does not exist."),
}
NOT_RETRIED = {"401", "404-unknown-model"}
ABSORBED_BY_THE_BACKEND = {"empty", "length"}
"""Failures a backend retries with its own policy (not the transient retry loop)."""
EXPECTED_KIND = {
    "429": "BackendRateLimited",
    "429-retry-after": "BackendRateLimited",
    "500": "BackendServerError",
    "502": "BackendServerError",
    "503": "BackendServerError",
    "refused": "BackendConnectError",
    "reset": "BackendUnavailable",
    "read-timeout": "BackendTimeout",
    "empty": "EmptyAnswer",
    "length": "LoopedAnswer",
    "200-with-error": "BadModelOutput",
    "401": "BackendRejected",
    "404-unknown-model": "BackendRejected",
}
ORDERS = [
    ("deepseek-vllm", "openrouter"),
    ("openrouter", "openai-compatible"),
    ("openai-compatible", "deepseek-mlx"),
]


async def _no_sleep(_: float) -> None:
    return None


class _NoJitter(random.Random):
    def random(self) -> float:
        return 0.5  # the jitter factor 0.5 + random() is then exactly 1


def fast_policy() -> RetryPolicy:
    """Every wait exactly 1 s (slept in no time) and a deadline of 4.5 s: a persistent
    transient fault is tried :data:`DEADLINE_ATTEMPTS` times."""
    return RetryPolicy(
        sleep=_no_sleep, rng=_NoJitter(), deadline_s=4.5, backoff_initial_s=1.0, backoff_max_s=1.0
    )


DEADLINE_ATTEMPTS = 5
"""Attempts at 0, 1, 2, 3 and 4 s; a sixth would start at 5 s, past the deadline."""


def make_chain(kinds: tuple[str, ...], router: respx.MockRouter) -> FallbackChain:
    backends = []
    for index, kind in enumerate(kinds):
        config = backend_config(
            name=f"b{index}-{kind}", kind=kind, model=MODEL, base_url=f"https://b{index}.test/v1"
        )  # type: ignore[arg-type]
        backends.append(
            build_backend(
                config,
                retry=fast_policy(),
                transport=httpx.MockTransport(router.async_handler),
                environ=KEY,
            )
        )
        router.get(f"https://b{index}.test/v1/models").mock(
            return_value=httpx.Response(200, json={"data": [{"id": MODEL, "max_model_len": 8192}]})
        )
    return FallbackChain(backends, breaker_threshold=3, breaker_cooldown_s=30)


def page(n: int = 1) -> PageImage:
    buf = io.BytesIO()
    Image.new("RGB", (700, 900), "white").save(buf, "JPEG")
    return PageImage(page=n, data=buf.getvalue(), mime="image/jpeg", width=700, height=900)


def convert(chain: FallbackChain, *pages: PageImage) -> list[PageResult]:
    async def go() -> list[PageResult]:
        try:
            return [await chain.convert(p) for p in pages]
        finally:
            await chain.aclose()

    return asyncio.run(go())


@pytest.mark.parametrize("kinds", ORDERS, ids="→".join)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_once_then_recovery(fault: str, kinds: tuple[str, str]) -> None:
    """One fault on the primary: retried there, unless the policy says move on."""
    router = respx.MockRouter(assert_all_called=False)
    answers = iter([FAULTS[fault], ok])
    primary = router.post("https://b0.test/v1/chat/completions").mock(
        side_effect=lambda _: next(answers)()
    )
    second = router.post("https://b1.test/v1/chat/completions").mock(return_value=ok())
    [result] = convert(make_chain(kinds, router), page())

    assert result.ok and result.text is not None
    moves_on = fault in NOT_RETRIED or (fault == "length" and not kinds[0].startswith("deepseek"))
    if moves_on:
        assert result.text.backend == f"b1-{kinds[1]}"
        assert primary.call_count == 1
        assert [e.kind for e in result.errors] == [EXPECTED_KIND[fault]]
        assert second.call_count == 1
    else:
        assert result.text.backend == f"b0-{kinds[0]}"
        assert primary.call_count == 2
        assert result.attempts == 2
        assert not second.called
        if fault in ABSORBED_BY_THE_BACKEND:
            # An empty answer's retry and a loop ladder's step are the backend's own
            # moves: the failure it recovered from is in the page's record.
            assert [(e.backend, e.kind) for e in result.errors] == [
                (f"b0-{kinds[0]}", EXPECTED_KIND[fault])
            ]
        else:
            assert result.errors == []


@pytest.mark.parametrize("kinds", ORDERS, ids="→".join)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_persistent_fault_falls_back_with_the_error_recorded(
    fault: str, kinds: tuple[str, str]
) -> None:
    """The primary always fails: the page comes from the second backend, the error is kept."""
    router = respx.MockRouter(assert_all_called=False)
    make = FAULTS[fault]
    primary = router.post("https://b0.test/v1/chat/completions").mock(side_effect=lambda _: make())
    router.post("https://b1.test/v1/chat/completions").mock(return_value=ok())
    [result] = convert(make_chain(kinds, router), page())

    assert result.ok and result.text is not None
    assert result.text.backend == f"b1-{kinds[1]}"
    ladder = 3 if kinds[0].startswith("deepseek") else 1
    expected_calls = {
        "refused": 3,  # the breaker opens after three refused connections and cuts the loop
        "read-timeout": 2,  # one retry, then the next backend rather than a third wait
        "empty": 2,
        "200-with-error": 3,
        "length": ladder,
    }.get(fault, 1 if fault in NOT_RETRIED else DEADLINE_ATTEMPTS)
    # One record per request the backend changed or repeated on its own; one for the rest.
    records = expected_calls if fault in ABSORBED_BY_THE_BACKEND else 1
    assert [(e.backend, e.kind) for e in result.errors] == [
        (f"b0-{kinds[0]}", EXPECTED_KIND[fault])
    ] * records
    assert primary.call_count == expected_calls
    assert result.attempts == expected_calls + 1


@pytest.mark.parametrize("kinds", ORDERS, ids="→".join)
def test_every_backend_failing_fails_the_page_with_every_error(kinds: tuple[str, str]) -> None:
    router = respx.MockRouter(assert_all_called=False)
    router.post("https://b0.test/v1/chat/completions").mock(return_value=FAULTS["503"]())
    router.post("https://b1.test/v1/chat/completions").mock(return_value=FAULTS["401"]())
    [result] = convert(make_chain(kinds, router), page())
    assert not result.ok
    assert [(e.backend, e.status) for e in result.errors] == [
        (f"b0-{kinds[0]}", 503),
        (f"b1-{kinds[1]}", 401),
    ]


def test_dead_primary_is_skipped_after_the_breaker_opens() -> None:
    """Ten pages, primary refusing: three refused connections in all, then it is skipped."""
    router = respx.MockRouter(assert_all_called=False)
    primary = router.post("https://b0.test/v1/chat/completions").mock(
        side_effect=httpx.ConnectError("Connection refused")
    )
    router.post("https://b1.test/v1/chat/completions").mock(return_value=ok())
    results = convert(
        make_chain(("deepseek-vllm", "openrouter"), router), *(page(n) for n in range(1, 11))
    )
    assert all(r.ok and r.text and r.text.backend == "b1-openrouter" for r in results)
    assert primary.call_count == 3
    assert all("skipped" in r.errors[0].error for r in results[1:])


def test_build_chain_uses_configured_order_and_breaker_settings() -> None:
    env = {
        "DOCLING_HYBRID_BACKENDS__FALLBACK_CHAIN": '["text-layer", "deepseek-vllm"]',
        "DOCLING_HYBRID_RETRY__BREAKER_THRESHOLD": "5",
        "DOCLING_HYBRID_RETRY__BREAKER_COOLDOWN_S": "2.5",
    }
    settings = load_settings(environ=env).settings
    chain = build_chain(settings)
    try:
        assert [b.name for b in chain.backends] == ["text-layer", "deepseek-vllm"]
        breaker = chain.breakers["deepseek-vllm"]
        assert (breaker.threshold, breaker.cooldown_s) == (5, 2.5)
    finally:
        asyncio.run(chain.aclose())


class _Exploding:
    """A backend with a bug: raises something outside the tool's exception tree."""

    name = "exploding"

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    async def ocr_page(self, page: PageImage, notify: Any = None, *, breaker: Any = None) -> Any:
        raise self.exc

    async def aclose(self) -> None:
        return None


class _Fine:
    name = "fine"

    async def ocr_page(self, page: PageImage, notify: Any = None, *, breaker: Any = None) -> Any:
        from docling_hybrid_cli.pages import PageText

        return PageText(markdown="# ok", backend="fine")

    async def aclose(self) -> None:
        return None


class _Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("'int' object is not iterable"),
        RecursionError(),
        OverflowError("\x1b[2J"),
        _Unprintable(),
    ],
    ids=["TypeError", "RecursionError", "OverflowError", "unprintable"],
)
def test_an_unexpected_exception_costs_one_attempt_not_the_run(exc: Exception) -> None:
    """The last line of defence: recorded with its type, and the next backend converts."""
    page = PageImage(page=1, data=b"x", mime="image/png", width=1, height=1)
    chain = FallbackChain([_Exploding(exc), _Fine()])  # type: ignore[list-item]
    result = asyncio.run(chain.convert(page))
    assert result.ok and result.text is not None and result.text.markdown == "# ok"
    [error] = result.errors
    assert error.backend == "exploding" and error.kind == type(exc).__name__
    assert error.error.startswith(f"unexpected {type(exc).__name__}")
    assert "\x1b" not in error.error
