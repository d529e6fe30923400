"""OpenRouter/Nemotron backend: request shape, key handling, image fitting, quota, rate limit.

The respx router is handed to the backend as its transport, so these tests do
not depend on which connection pool the client uses by default.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import time
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
from docling_hybrid_cli.sim import MockConfig, MockServer
from docling_hybrid_cli.spending import SpendingCap

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
    system, user = body["messages"]
    assert system == {"role": "system", "content": "/no_think"}
    parts = user["content"]
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
    assert body["messages"][-1]["content"][1]["text"] == "OCR this."
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
    url = sent_json(route)["messages"][-1]["content"][0]["image_url"]["url"]
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


# --------------------------------------------------------------------------- 429s read by headers


def _recording_backend(waits: list[float], **fields: Any) -> OpenRouterBackend:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    config = backend_config(
        name="nemotron-openrouter", kind="openrouter", model=MODEL, base_url=BASE, **fields
    )
    backend = build_backend(
        config,
        retry=RetryPolicy(sleep=sleep),
        transport=httpx.MockTransport(ROUTER.async_handler),
        environ=KEY,
    )
    assert isinstance(backend, OpenRouterBackend)
    return backend


def rate_limited(
    reset_in_s: float, *, remaining: int = 0, in_body: bool = False, message: str = "Rate limit"
) -> httpx.Response:
    """OpenRouter's 429: X-RateLimit-* as headers, or only inside error.metadata.headers."""
    headers = {
        "X-RateLimit-Limit": "50",
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(int((time.time() + reset_in_s) * 1000)),
    }
    error: dict[str, Any] = {"code": 429, "message": message}
    if in_body:
        error["metadata"] = {"headers": headers}
        return httpx.Response(429, json={"error": error})
    return httpx.Response(429, headers=headers, json={"error": error})


@pytest.mark.parametrize("in_body", [False, True], ids=["headers", "body-metadata"])
def test_daily_cap_is_recognised_by_its_headers_not_its_wording(in_body: bool) -> None:
    """Nothing remaining until a reset hours away is the daily cap, whatever the message says."""
    route = ROUTER.post(CHAT).mock(return_value=rate_limited(5 * 3600, in_body=in_body))
    with pytest.raises(BackendRejected, match=r"daily request quota is used up \(resets in 5"):
        ocr(make_backend())
    assert route.call_count == 1


@pytest.mark.parametrize(
    "message",
    ["Rate limit exceeded: free-models-per-day", "Rate limit exceeded: free-models-per-day-high"],
)
def test_daily_cap_wordings_without_headers_still_move_on(message: str) -> None:
    body = {"error": {"code": 429, "message": message}}
    route = ROUTER.post(CHAT).mock(return_value=httpx.Response(429, json=body))
    with pytest.raises(BackendRejected, match="daily request quota"):
        ocr(make_backend())
    assert route.call_count == 1


def test_per_minute_429_waits_for_x_ratelimit_reset() -> None:
    """No Retry-After: the reset time is honoured instead of a guessed backoff."""
    waits: list[float] = []
    ROUTER.post(CHAT).mock(side_effect=[rate_limited(12), answer()])
    text = ocr(_recording_backend(waits))
    assert text.attempts == 2
    assert len(waits) == 1 and 9 <= waits[0] <= 12


def test_retry_after_wins_over_x_ratelimit_reset() -> None:
    waits: list[float] = []
    limited = rate_limited(12)
    limited.headers["Retry-After"] = "3"
    ROUTER.post(CHAT).mock(side_effect=[limited, answer()])
    ocr(_recording_backend(waits))
    assert waits == [3.0]


@pytest.mark.parametrize("reset", ["soon", "nan", "-5", "1e400", ""])
def test_unreadable_reset_falls_back_to_backoff(reset: str) -> None:
    waits: list[float] = []
    limited = httpx.Response(
        429,
        headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset},
        json={"error": {"code": 429, "message": "Rate limit"}},
    )
    ROUTER.post(CHAT).mock(side_effect=[limited, answer()])
    assert ocr(_recording_backend(waits)).attempts == 2
    assert len(waits) == 1 and 0 < waits[0] <= 30


# --------------------------------------------------------------------------- 403, 404 hints


def test_403_speaks_of_moderation_and_guardrails() -> None:
    body = {"error": {"code": 403, "message": "Your input was flagged", "metadata": {}}}
    ROUTER.post(CHAT).mock(return_value=httpx.Response(403, json=body))
    with pytest.raises(BackendRejected) as info:
        ocr(make_backend())
    assert info.value.hint is not None
    assert "moderation" in info.value.hint and "guardrail" in info.value.hint


def test_401_still_speaks_of_the_key() -> None:
    ROUTER.post(CHAT).mock(return_value=httpx.Response(401, json={"error": {"code": 401}}))
    with pytest.raises(BackendRejected) as info:
        ocr(make_backend())
    assert info.value.hint is not None and "API key" in info.value.hint


def test_404_for_the_data_policy_points_at_the_privacy_settings() -> None:
    message = "No endpoints found matching your data policy (Free model publication)."
    body = {"error": {"code": 404, "message": message}}
    ROUTER.post(CHAT).mock(return_value=httpx.Response(404, json=body))
    with pytest.raises(BackendRejected) as info:
        ocr(make_backend())
    assert info.value.hint is not None and "settings/privacy" in info.value.hint


# --------------------------------------------------------------------------- --max-cost


def _capped_backend(cap: SpendingCap, model: str) -> OpenRouterBackend:
    config = backend_config(
        name="nemotron-openrouter", kind="openrouter", model=model, base_url=BASE
    )
    backend = build_backend(
        config,
        retry=RetryPolicy(sleep=_no_sleep),
        transport=httpx.MockTransport(ROUTER.async_handler),
        environ=KEY,
        spending=cap,
    )
    assert isinstance(backend, OpenRouterBackend)
    return backend


def _pages(backend: OpenRouterBackend, count: int) -> list[PageText | BackendRejected]:
    async def go() -> list[PageText | BackendRejected]:
        out: list[PageText | BackendRejected] = []
        try:
            for _ in range(count):
                try:
                    out.append(await backend.ocr_page(make_page()))
                except BackendRejected as exc:
                    out.append(exc)
        finally:
            await backend.aclose()
        return out

    return asyncio.run(go())


def test_paid_model_sends_nothing_once_the_cap_is_reached() -> None:
    cap = SpendingCap(0.003)
    route = ROUTER.post(CHAT).mock(return_value=answer(cost=0.002))

    results = _pages(_capped_backend(cap, "nvidia/nemotron-nano-12b-v2-vl"), 4)

    assert [isinstance(r, PageText) for r in results] == [True, True, False, False]
    assert route.call_count == 2
    assert cap.total == pytest.approx(0.004)
    refused = results[2]
    assert isinstance(refused, BackendRejected)
    assert "spending cap reached" in str(refused) and "--max-cost 0.003" in str(refused)


def test_a_cap_of_zero_allows_free_models_only() -> None:
    route = ROUTER.post(CHAT).mock(return_value=answer(cost=0.0))

    free = _pages(_capped_backend(SpendingCap(0.0), MODEL), 2)
    paid = _pages(_capped_backend(SpendingCap(0.0), "nvidia/nemotron-nano-12b-v2-vl"), 1)

    assert all(isinstance(r, PageText) for r in free)
    assert isinstance(paid[0], BackendRejected)
    assert route.call_count == 2


def test_a_cut_off_answer_is_billed_too() -> None:
    """A paid answer that is rejected (cut off at max_tokens) still counts against the cap."""
    cap = SpendingCap(1.0)
    cut = httpx.Response(
        200,
        json={
            "choices": [{"message": {"content": "loop loop"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 800, "completion_tokens": 8192, "cost": 0.25},
        },
    )
    ROUTER.post(CHAT).mock(return_value=cut)

    with pytest.raises(BadModelOutput):
        _pages(_capped_backend(cap, "nvidia/nemotron-nano-12b-v2-vl"), 1)

    assert cap.total == pytest.approx(0.25)


def test_daily_cap_from_the_simulated_openrouter_moves_on_at_once() -> None:
    """Over real HTTP: the sim's daily-cap 429 is one request, then a rejection."""
    with MockServer(MockConfig(model=MODEL, style="plain")) as server:
        server.inject("429-daily", "429-daily")
        config = backend_config(
            name="nemotron-openrouter", kind="openrouter", model=MODEL, base_url=f"{server.url}/v1"
        )
        backend = build_backend(config, retry=RetryPolicy(sleep=_no_sleep), environ=KEY)
        with pytest.raises(BackendRejected, match=r"daily request quota is used up \(resets in"):
            asyncio.run(_one_page(backend))
        assert server.stats.chat_requests == 1


async def _one_page(backend: Any) -> PageText:
    try:
        page: PageText = await backend.ocr_page(make_page())
        return page
    finally:
        await backend.aclose()
