"""Reading vLLM's /metrics gauges into a replica's adaptive limit, and the pool feeding it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx
import pytest

from docling_hybrid_cli.client import ChatClient
from docling_hybrid_cli.concurrency import INITIAL_LIMIT, AdaptiveLimit, ServerLoad
from docling_hybrid_cli.endpoints import EndpointPool, Replica
from docling_hybrid_cli.errors import BackendRateLimited
from docling_hybrid_cli.server_load import (
    load_from_metrics,
    poll_server_load,
    scrape_interval,
    scrape_once,
)

VLLM = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 12.0
vllm:num_requests_waiting{model_name="m"} 3.0
vllm:{kv}{model_name="m"} 0.5
vllm:generation_tokens_total{model_name="m"} 999.0
"""


CLIENT_CAP = 64 * 1024
"""The test client's answer cap: a /metrics body past it is refused while read."""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(handler: Callable[[httpx.Request], httpx.Response]) -> ChatClient:
    return ChatClient.create(
        backend="ocr",
        base_url="http://gpu1.invalid:8000/v1",
        timeout_s=5,
        connect_timeout_s=1,
        max_connections=4,
        transport=httpx.MockTransport(handler),
        max_response_bytes=CLIENT_CAP,
    )


@pytest.mark.parametrize("kv", ["kv_cache_usage_perc", "gpu_cache_usage_perc"])
def test_the_gauges_under_either_kv_cache_name(kv: str) -> None:
    load = load_from_metrics(VLLM.replace("{kv}", kv))
    assert load == ServerLoad(running=12.0, waiting=3.0, kv_usage=0.5)


@pytest.mark.parametrize(
    "body",
    [
        "",
        "# nothing\n",
        'sglang:num_running_reqs{model_name="m"} 3\n',
        "vllm:num_requests_running 1\n",  # no waiting gauge: not enough to steer
        "vllm:num_requests_running 1\nvllm:num_requests_waiting NaN\n",
    ],
)
def test_a_body_without_vllm_queue_gauges_is_none(body: str) -> None:
    assert load_from_metrics(body) is None


def scrape(status: int, body: bytes) -> tuple[bool, AdaptiveLimit]:
    limit = AdaptiveLimit(clock=Clock())

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/metrics"  # the server root, not the API root
        return httpx.Response(status, content=body)

    async def go() -> bool:
        chat = client(handler)
        try:
            return await scrape_once(chat, limit)
        finally:
            await chat.aclose()

    return asyncio.run(go()), limit


def test_a_vllm_scrape_feeds_the_limit() -> None:
    going_on, limit = scrape(200, VLLM.replace("{kv}", "kv_cache_usage_perc").encode())
    assert going_on and limit.metrics == "on"


@pytest.mark.parametrize(
    ("status", "body"),
    [(404, b'{"detail": "Not Found"}'), (200, b"node_cpu_seconds_total 5\n"), (401, b"")],
)
def test_no_vllm_metrics_turns_scraping_off(status: int, body: bytes) -> None:
    going_on, limit = scrape(status, body)
    assert not going_on and limit.metrics == "off"


@pytest.mark.parametrize(
    ("status", "body"), [(500, b"engine down"), (200, b"x" * (CLIENT_CAP + 1))]
)
def test_passing_trouble_keeps_scraping(status: int, body: bytes) -> None:
    """A 5xx or an oversized body: this scrape is lost, the next one may work."""
    going_on, limit = scrape(status, body)
    assert going_on and limit.metrics == "unknown"


def test_the_poller_waits_an_interval_then_stops_at_a_404() -> None:
    calls: list[str] = []
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        return httpx.Response(200 if len(calls) < 3 else 404, content=VLLM.encode())

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(clock=Clock())
        chat = client(handler)
        try:
            await poll_server_load(chat, limit, interval_s=0.25, sleep=sleep)
        finally:
            await chat.aclose()
        return limit

    limit = asyncio.run(go())
    assert calls == ["/metrics"] * 3
    assert slept == [0.25] * 3  # before each scrape, the first included (no round trip)
    assert limit.metrics == "off"


def test_the_poller_turns_off_on_anything_unforeseen() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug in a transport")

    async def sleep(seconds: float) -> None:
        return None

    async def go() -> AdaptiveLimit:
        limit = AdaptiveLimit(clock=Clock())
        chat = client(handler)
        try:
            await poll_server_load(chat, limit, sleep=sleep)
        finally:
            await chat.aclose()
        return limit

    assert asyncio.run(go()).metrics == "off"


# ----------------------------------------------------------------- the pool feeding it


def adaptive_pool(answers: list[int]) -> tuple[EndpointPool, list[Replica]]:
    """Two adaptive replicas; each chat request answers the next status of ``answers``."""

    def handler(request: httpx.Request) -> httpx.Response:
        status = answers.pop(0) if answers else 200
        if status != 200:
            return httpx.Response(status, json={"error": {"message": "busy"}})
        body = {
            "model": "m",
            "choices": [{"message": {"content": "text"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 100},
        }
        return httpx.Response(200, json=body)

    clock = Clock()
    replicas = [
        Replica(
            f"http://{host}:8000/v1",
            ChatClient.create(
                backend="ocr",
                base_url=f"http://{host}:8000/v1",
                timeout_s=5,
                connect_timeout_s=1,
                max_connections=8,
                transport=httpx.MockTransport(handler),
            ),
            256,
            AdaptiveLimit(ceiling=256, clock=clock),
        )
        for host in ("gpu1.invalid", "gpu2.invalid")
    ]
    pool = EndpointPool("ocr", replicas, clock=clock, probe_in_background=False)
    return pool, replicas


def test_a_replicas_capacity_is_its_limit_and_the_pool_sums_the_live_ones() -> None:
    pool, (one, two) = adaptive_pool([])
    assert one.capacity == INITIAL_LIMIT and one.bound == 256
    assert pool.adaptive
    assert pool.capacity() == (2 * INITIAL_LIMIT, 512)
    pool.eject(two, "refuses connections")
    assert pool.capacity() == (INITIAL_LIMIT, 512)
    pool.eject(one, "refuses connections")
    assert pool.capacity() == (2 * INITIAL_LIMIT, 512)  # none live: all of them
    snapshot = one.snapshot()
    assert snapshot["capacity"] == INITIAL_LIMIT
    assert snapshot["concurrency"]["trace"][0]["reason"] == "start"


def test_answers_and_429s_reach_the_replicas_limit() -> None:
    pool, replicas = adaptive_pool([429])

    async def go() -> None:
        with pytest.raises(BackendRateLimited):
            await pool.call(b"{}")
        await pool.call(b"{}")
        await pool.aclose()

    asyncio.run(go())
    limits = [r.limit for r in replicas]
    assert all(limit is not None and limit.in_flight == 0 for limit in limits)
    reasons = [e.reason for r in replicas if r.limit for e in r.limit.trace]
    assert "429/503 from the server" in reasons
    assert min(r.capacity for r in replicas) == int(INITIAL_LIMIT * 0.7)


def test_scrapes_come_four_times_a_short_round_trip() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    assert scrape_interval(limit) == 0.25  # no round trip yet: soon
    for _ in range(limit.limit):
        limit.sent()
    clock.now += 0.4
    for _ in range(limit.limit):
        limit.done(0.4, "ok")
    assert limit.round_trip_s == pytest.approx(0.4)
    assert scrape_interval(limit) == pytest.approx(0.1)
    assert scrape_interval(limit, 0.05) == 0.05  # never beyond the most asked for
