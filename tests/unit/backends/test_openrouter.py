"""OpenRouter/Nemotron backend: request shape, key handling, image fitting, quota, rate limit.

The respx router is handed to the backend as its transport, so these tests do
not depend on which connection pool the client uses by default.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from typing import Any

import httpx
import pytest
import respx
from PIL import Image

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.openrouter import (
    NEMOTRON_PROMPT,
    OpenRouterBackend,
    fit_to_tiles,
)
from docling_hybrid_cli.errors import BackendRateLimited, BackendRejected, BadModelOutput
from docling_hybrid_cli.pages import PageImage, PageText
from docling_hybrid_cli.ratelimit import TokenBucket
from docling_hybrid_cli.retry import RetryPolicy

BASE = "https://openrouter.test/api/v1"
CHAT = f"{BASE}/chat/completions"
MODEL = "nvidia/nemotron-nano-12b-v2-vl:free"
KEY = {"OPENROUTER_API_KEY": "sk-or-test"}


def answer(content: str = "# Title\n\nBody.", cost: float | None = 0.0) -> httpx.Response:
    usage: dict[str, Any] = {"prompt_tokens": 800, "completion_tokens": 20}
    if cost is not None:
        usage["cost"] = cost
    return httpx.Response(
        200,
        json={
            "model": MODEL,
            "choices": [{"message": {"content": content}, "finish_reason": "stop"}],
            "usage": usage,
        },
    )


def make_page(width: int = 1224, height: int = 1584) -> PageImage:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (240, 240, 240)).save(buf, format="JPEG")
    return PageImage(page=1, data=buf.getvalue(), mime="image/jpeg", width=width, height=height)


async def _no_sleep(_: float) -> None:
    return None


ROUTER = respx.MockRouter(assert_all_called=False)


@pytest.fixture(autouse=True)
def _fresh_router() -> None:
    ROUTER.clear()
    ROUTER.reset()


def make_backend(environ: dict[str, str] | None = None, **fields: Any) -> OpenRouterBackend:
    config = backend_config(
        name="nemotron-openrouter", kind="openrouter", model=MODEL, base_url=BASE, **fields
    )
    backend = build_backend(
        config,
        retry=RetryPolicy(sleep=_no_sleep),
        transport=httpx.MockTransport(ROUTER.async_handler),
        environ=KEY if environ is None else environ,
    )
    assert isinstance(backend, OpenRouterBackend)
    return backend


def ocr(backend: OpenRouterBackend, page: PageImage | None = None) -> PageText:
    async def go() -> PageText:
        try:
            return await backend.ocr_page(page or make_page())
        finally:
            await backend.aclose()

    return asyncio.run(go())


def sent_json(route: respx.Route, index: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(route.calls[index].request.content)
    return body


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1224, 1584), 1.0),  # Letter at 144 dpi: 3×4 tiles already
        ((1536, 2048), 1.0),  # exactly the portrait limit
        ((2048, 1536), 1.0),  # exactly the landscape limit
        ((3072, 4096), 0.5),  # twice the portrait limit
        ((1000, 6000), 0.512),  # a long strip: 1 × 12 tiles → 6144 px tall
    ],
)
def test_fit_to_tiles(size: tuple[int, int], expected: float) -> None:
    """The scale keeps the image within 12 tiles of 512 px and never enlarges it."""
    scale = fit_to_tiles(*size)
    assert scale == pytest.approx(expected, rel=1e-3)
    w, h = size[0] * scale, size[1] * scale
    assert -(-int(w) // 512) * -(-int(h) // 512) <= 12


def test_request_has_prompt_no_reasoning_key_and_attribution() -> None:
    """One image + Nemotron's instruction, reasoning off, bearer key and attribution headers."""
    route = ROUTER.post(CHAT).mock(return_value=answer(cost=0.00042))
    text = ocr(make_backend(referer="https://example.org", title="docling-hybrid-ocr"))
    body = sent_json(route)
    assert body["model"] == MODEL
    assert body["reasoning"] == {"enabled": False}
    assert body["temperature"] == 0.0
    parts = body["messages"][0]["content"]
    assert parts[0]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    assert parts[1]["text"] == NEMOTRON_PROMPT
    headers = route.calls[0].request.headers
    assert headers["authorization"] == "Bearer sk-or-test"
    assert headers["http-referer"] == "https://example.org"
    assert headers["x-title"] == "docling-hybrid-ocr"
    assert text.markdown == "# Title\n\nBody."
    assert text.cost == pytest.approx(0.00042)
    assert text.backend == "nemotron-openrouter"


def test_config_prompt_and_extra_body_override_defaults() -> None:
    """A configured prompt and extra_body (e.g. OpenRouter's model fallback list) are sent."""
    route = ROUTER.post(CHAT).mock(return_value=answer())
    extra = {"models": [MODEL, "nvidia/nemotron-nano-12b-v2-vl"], "reasoning": {"exclude": True}}
    ocr(make_backend(prompt="OCR this.", extra_body=extra))
    body = sent_json(route)
    assert body["messages"][0]["content"][1]["text"] == "OCR this."
    assert body["models"] == extra["models"]
    assert body["reasoning"] == {"exclude": True}


def test_missing_key_fails_before_any_request() -> None:
    """No OPENROUTER_API_KEY: a rejection naming the variable, and nothing sent."""
    route = ROUTER.post(CHAT).mock(return_value=answer())
    with pytest.raises(BackendRejected, match="OPENROUTER_API_KEY is not set"):
        ocr(make_backend(environ={}))
    assert not route.called


def test_key_variable_defaults_for_openrouter_and_is_configurable() -> None:
    """An openrouter backend without api_key_env reads OPENROUTER_API_KEY; another name works."""
    assert make_backend(environ={}).config.api_key_env == "OPENROUTER_API_KEY"
    backend = make_backend(environ={"MY_OR_KEY": "k"}, api_key_env="MY_OR_KEY")
    assert backend.api_key == "k"


def test_large_page_is_scaled_to_twelve_tiles() -> None:
    """A page larger than 1536×2048 is resized (and re-encoded) before it is sent."""
    route = ROUTER.post(CHAT).mock(return_value=answer())
    ocr(make_backend(), make_page(2448, 3168))
    url = sent_json(route)["messages"][0]["content"][0]["image_url"]["url"]
    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        assert image.width <= 1536 and image.height <= 2048
        assert image.width == 1536  # the binding limit is met exactly, not undershot


def test_200_with_error_then_success_is_retried() -> None:
    """OpenRouter's 200 carrying an error counts as a failed attempt and is retried."""
    error_body = {"error": {"code": 502, "message": "Provider returned error"}}
    route = ROUTER.post(CHAT).mock(
        side_effect=[httpx.Response(200, json=error_body), httpx.Response(200, json={}), answer()]
    )
    text = ocr(make_backend())
    assert route.call_count == 3
    assert text.attempts == 3


def test_daily_free_quota_is_not_waited_out() -> None:
    """429 free-models-per-day: rejected at once (the chain moves on), not retried six times."""
    body = {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day"}}
    route = ROUTER.post(CHAT).mock(return_value=httpx.Response(429, json=body))
    with pytest.raises(BackendRejected, match="daily request quota"):
        ocr(make_backend())
    assert route.call_count == 1


def test_per_minute_429_is_retried_on_its_own_budget() -> None:
    """An ordinary 429 is retried (rate-limit budget), honouring Retry-After."""
    limited = httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": 429}})
    route = ROUTER.post(CHAT).mock(side_effect=[limited, limited, answer()])
    assert ocr(make_backend()).attempts == 3
    assert route.call_count == 3
    route.mock(return_value=limited)
    with pytest.raises(BackendRateLimited):
        ocr(make_backend())


def test_reasoning_eating_the_budget_is_a_bad_answer() -> None:
    """Empty content (e.g. reasoning used every token) is a failed attempt, never an empty page."""
    ROUTER.post(CHAT).mock(return_value=answer(content=""))
    with pytest.raises(BadModelOutput, match="empty answer"):
        ocr(make_backend())


def test_rate_limit_takes_a_token_per_attempt() -> None:
    """requests_per_minute builds a token bucket and every attempt, retries too, takes one."""
    ROUTER.post(CHAT).mock(side_effect=[httpx.Response(503), answer()])
    backend = make_backend(requests_per_minute=60_000)
    assert backend.limiter is not None
    taken: list[int] = []
    original = backend.limiter.acquire

    async def counting() -> float:
        taken.append(1)
        return await original()

    backend.limiter.acquire = counting  # type: ignore[method-assign]
    ocr(backend)
    assert len(taken) == 2


def test_token_bucket_spaces_requests_to_the_rate() -> None:
    """20/min with a burst of 1: the first goes at once, then one every 3 s, in order."""
    now = [0.0]
    started: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    async def go() -> None:
        bucket = TokenBucket(20, clock=lambda: now[0], sleep=fake_sleep)
        for _ in range(4):
            await bucket.acquire()
            started.append(now[0])

    asyncio.run(go())
    assert started == pytest.approx([0.0, 3.0, 6.0, 9.0])


def test_token_bucket_burst_and_idle_refill() -> None:
    """A burst allowance is spent at once and refills while idle, up to the burst only."""
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    async def go() -> list[float]:
        bucket = TokenBucket(60, burst=3, clock=lambda: now[0], sleep=fake_sleep)
        waits = [await bucket.acquire() for _ in range(4)]
        now[0] += 100.0  # idle far longer than needed to refill
        waits += [await bucket.acquire() for _ in range(4)]
        return waits

    assert asyncio.run(go()) == pytest.approx([0, 0, 0, 1.0, 0, 0, 0, 1.0])


@pytest.mark.parametrize("bad", [{"rate_per_minute": 0}, {"rate_per_minute": 5, "burst": 0.5}])
def test_token_bucket_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        TokenBucket(bad["rate_per_minute"], burst=bad.get("burst", 1.0))
