"""A discrete-event model of a capacity-N server driven by an :class:`AdaptiveLimit`.

The server decodes at most ``capacity`` requests at once, each for
``seconds`` (times an optional per-request factor); later requests wait in a
FIFO queue. The client always has pages to send and sends while its
in-flight count is under the limit. Optionally the server's /metrics gauges
are read every ``poll_s``. Everything runs on a virtual clock: deterministic,
no sleeps, thousands of requests in milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from docling_hybrid_cli.concurrency import AdaptiveLimit, ServerLoad


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class ModelRun:
    """What the model's server saw: in-flight per event, latencies, and the limit over time."""

    in_flight: list[tuple[float, int]] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    limits: list[tuple[float, int]] = field(default_factory=list)
    completed: int = 0

    def in_flight_after(self, t: float) -> list[int]:
        return [n for when, n in self.in_flight if when >= t]

    def limits_after(self, t: float) -> list[int]:
        return [n for when, n in self.limits if when >= t]

    def latencies_after(self, t: float) -> list[float]:
        return [lat for when, lat in self.latencies if when >= t]

    def completed_between(self, start: float, end: float) -> int:
        return sum(1 for when, _ in self.latencies if start <= when < end)


def run_model(
    limit: AdaptiveLimit,
    clock: Clock,
    *,
    capacity: int,
    seconds: float,
    duration: float,
    poll_s: float | None = None,
    factor: Callable[[int], float] = lambda i: 1.0,
    tokens: Callable[[int], int | None] = lambda i: None,
    overload_at: int | None = None,
    pages: int | None = None,
) -> ModelRun:
    """Drive ``limit`` against the model for ``duration`` virtual seconds.

    ``overload_at``: the server answers 429 at once when this many are already in flight.
    ``pages``: send this many requests in all (a finite run, its ramp and final drain
    included) instead of always having one more to send.
    """
    run = ModelRun()
    events: list[tuple[float, int, str, int]] = []
    order = itertools.count()
    queue: deque[int] = deque()
    decoding = 0
    in_server = 0
    sent_at: dict[int, float] = {}
    ids = itertools.count()
    sent_count = [0]
    if poll_s is not None:
        heapq.heappush(events, (0.0, next(order), "poll", -1))

    def start_decode(rid: int) -> None:
        nonlocal decoding
        decoding += 1
        heapq.heappush(events, (clock.now + seconds * factor(rid), next(order), "done", rid))

    def fill() -> None:
        nonlocal in_server
        while limit.in_flight < limit.limit:
            if pages is not None and sent_count[0] >= pages:
                return
            sent_count[0] += 1
            rid = next(ids)
            limit.sent()
            if overload_at is not None and in_server >= overload_at:
                heapq.heappush(events, (clock.now + 0.001, next(order), "429", rid))
                sent_at[rid] = clock.now
                continue
            in_server += 1
            sent_at[rid] = clock.now
            run.in_flight.append((clock.now, in_server))
            if decoding < capacity:
                start_decode(rid)
            else:
                queue.append(rid)

    fill()
    while events:
        when, _, kind, rid = heapq.heappop(events)
        if when > duration:
            break
        clock.now = when
        if kind == "poll":
            limit.server_load(ServerLoad(running=decoding, waiting=len(queue), kv_usage=None))
            assert poll_s is not None
            heapq.heappush(events, (when + poll_s, next(order), "poll", -1))
        elif kind == "429":
            limit.done(when - sent_at.pop(rid), "overload")
        else:
            decoding -= 1
            in_server -= 1
            latency = when - sent_at.pop(rid)
            run.latencies.append((when, latency))
            run.completed += 1
            if queue:
                start_decode(queue.popleft())
            limit.done(latency, "ok", tokens(rid))
        run.limits.append((clock.now, limit.limit))
        fill()
    return run
