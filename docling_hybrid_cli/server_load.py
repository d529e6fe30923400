"""What feeds a replica's adaptive concurrency: vLLM's ``/metrics``, and failed requests.

vLLM's gauges say what latency says only a round trip later: how many
requests run in the batch and how many wait for a place
(``vllm:num_requests_running``, ``vllm:num_requests_waiting``), and how full
the KV cache is (``vllm:gpu_cache_usage_perc``, renamed
``vllm:kv_cache_usage_perc`` in vLLM 0.10). :func:`poll_server_load` scrapes
them every :data:`METRICS_INTERVAL_S` for one replica and feeds its
:class:`~docling_hybrid_cli.concurrency.AdaptiveLimit`.

A server without them turns the scraping off for good: a 404 (no
``/metrics``), or a body without the running/waiting gauges (another kind of
server). A scrape that fails otherwise (a timeout, a refused connection, a
5xx) is skipped; the controller ignores gauges older than a few intervals,
so it falls back on latency alone until they come back. Bodies are read
under the client's own answer cap (the backend's ``max_response_mb``, 8 MiB
by default): vLLM's is tens to hundreds of KB.

A failed request is a signal too (:func:`outcome_of`): a 429 or 503 says
the server is overloaded, a timeout that its queue is far too long.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from .client import ChatClient
from .concurrency import AdaptiveLimit, Outcome, ServerLoad
from .errors import BackendError, BackendRateLimited, BackendTimeout
from .keyguard import public_url
from .prometheus import parse_prometheus

__all__ = [
    "METRICS_INTERVAL_S",
    "load_from_metrics",
    "outcome_of",
    "poll_server_load",
    "scrape_interval",
    "scrape_once",
    "start_pollers",
]

METRICS_INTERVAL_S = 1.0
"""Seconds between scrapes at most: well under a real page's latency, cheap for the server."""
MIN_INTERVAL_S = 0.1
"""Seconds between scrapes at least, however short the round trips (a fast simulated server)."""
FIRST_INTERVAL_S = 0.25
"""Before the first round trip ends: soon, as slow start's first requests may already queue."""
METRICS_TIMEOUT_S = 2.0

_RUNNING = "vllm:num_requests_running"
_WAITING = "vllm:num_requests_waiting"
_KV = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
_NAMES = frozenset({_RUNNING, _WAITING, *_KV})


def load_from_metrics(text: str) -> ServerLoad | None:
    """The gauges in a ``/metrics`` body, or None when it has no vLLM queue gauges."""
    values = parse_prometheus(text, _NAMES)
    if _RUNNING not in values or _WAITING not in values:
        return None
    kv = next((values[name] for name in _KV if name in values), None)
    if kv is not None:
        kv = min(1.0, max(0.0, kv))
    return ServerLoad(running=values[_RUNNING], waiting=values[_WAITING], kv_usage=kv)


def scrape_interval(limit: AdaptiveLimit, most_s: float = METRICS_INTERVAL_S) -> float:
    """Seconds to the next scrape: a quarter round trip, within [MIN_INTERVAL_S, most_s]."""
    rtt = limit.round_trip_s
    if rtt is None:
        return min(FIRST_INTERVAL_S, most_s)
    return max(min(MIN_INTERVAL_S, most_s), min(most_s, rtt / 4))


async def scrape_once(client: ChatClient, limit: AdaptiveLimit) -> bool:
    """One scrape into ``limit``; False once the server is known to have no vLLM gauges."""
    url = f"{client.server_root}/metrics"
    try:
        response = await client.get(url, timeout_s=METRICS_TIMEOUT_S)
    except BackendError as exc:
        if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 429):
            limit.metrics_unavailable()
            return False
        return True  # passing trouble: the gauges go stale, latency steers meanwhile
    load = load_from_metrics(response.content.decode("utf-8", "replace"))
    if load is None:
        limit.metrics_unavailable()
        return False
    limit.server_load(load)
    return True


async def poll_server_load(
    client: ChatClient,
    limit: AdaptiveLimit,
    *,
    interval_s: float = METRICS_INTERVAL_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Scrape every ``interval_s`` until the server shows it has no gauges (or cancelled).

    The first scrape waits :data:`FIRST_INTERVAL_S`: before any page is sent
    there is no load to see. Scrapes come four times a round trip when round trips are
    shorter than four intervals (never more often than :data:`MIN_INTERVAL_S`),
    so slow start's overshoot is seen within a quarter of a round trip.
    Anything unforeseen turns the scraping off rather than end the run: the
    gauges are an aid, latency alone still steers.
    """
    try:
        while True:
            await sleep(scrape_interval(limit, interval_s))
            if not await scrape_once(client, limit):
                return
    except Exception:
        limit.metrics_unavailable()


def start_pollers(replicas: Iterable[tuple[ChatClient, AdaptiveLimit]]) -> list[asyncio.Task[None]]:
    """One background scraper per adaptive replica (its client, its limit); cancel to stop."""
    return [
        asyncio.create_task(
            poll_server_load(client, limit), name=f"metrics {public_url(client.base_url)}"
        )
        for client, limit in replicas
    ]


def outcome_of(error: BackendError) -> Outcome:
    """What a failed request tells its replica's limit: overload (429/503), timeout, or nothing."""
    if isinstance(error, BackendRateLimited) or error.status == 503:
        return "overload"
    if isinstance(error, BackendTimeout):
        return "timeout"
    return "other"
