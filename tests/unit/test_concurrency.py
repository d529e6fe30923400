"""AdaptiveLimit: its answers to latency, overload, timeouts and /metrics, on a fake clock.

The closed-loop tests drive it against a discrete-event model of a capacity-N
server (tests/capacity_model.py): deterministic, no sleeps.
"""

from __future__ import annotations

import random
import statistics

import pytest
from capacity_model import Clock, run_model

from docling_hybrid_cli.concurrency import (
    INITIAL_LIMIT,
    TRACE_HEAD,
    TRACE_TAIL,
    AdaptiveLimit,
    ServerLoad,
    queue_target,
)


def fill(limit: AdaptiveLimit) -> None:
    """Send until the limit is reached, as the endpoint pool does."""
    while limit.in_flight < limit.limit:
        limit.sent()


def round_trip(
    limit: AdaptiveLimit, clock: Clock, latency: float, tokens: int | None = None
) -> None:
    """Every request in flight comes back after ``latency``; the freed places are refilled."""
    fill(limit)
    clock.now += latency
    for _ in range(limit.in_flight):
        limit.done(latency, "ok", tokens)
        fill(limit)


def jitter(seed: int = 1, spread: float = 0.2) -> dict[int, float]:
    rng = random.Random(seed)
    return {i: rng.uniform(1 - spread, 1 + spread) for i in range(200_000)}


def test_flat_latency_ramps_fast_to_the_ceiling() -> None:
    """An unloaded server, latency alone: x1.5 per round trip, up to the ceiling."""
    clock = Clock()
    limit = AdaptiveLimit(ceiling=100, clock=clock)
    assert limit.limit == INITIAL_LIMIT
    limits = []
    for _ in range(7):
        round_trip(limit, clock, 2.0)
        limits.append(limit.limit)
    assert limits[0] >= 1.5 * INITIAL_LIMIT - 1
    assert limits[5] == 100
    assert limits[-1] == 100  # the ceiling holds


def test_with_gauges_showing_no_queue_it_ramps_faster() -> None:
    """/metrics that show no queue: x3 per round trip."""
    clock = Clock()
    limit = AdaptiveLimit(ceiling=1000, clock=clock)
    limit.server_load(ServerLoad(running=0, waiting=0, kv_usage=0.1))
    round_trip(limit, clock, 1.0)
    assert limit.limit >= 3 * INITIAL_LIMIT - 1


def test_the_ceiling_below_the_start_and_a_floor_of_one() -> None:
    clock = Clock()
    assert AdaptiveLimit(ceiling=3, clock=clock).limit == 3
    limit = AdaptiveLimit(ceiling=8, clock=clock)
    for _ in range(20):  # every request overloaded, each after the last reaction
        limit.sent()
        clock.now += 1.0
        limit.done(0.5, "overload")
    assert limit.limit == 1
    with pytest.raises(ValueError):
        AdaptiveLimit(ceiling=0)


def test_rising_latency_ends_slow_start_and_backs_off() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    round_trip(limit, clock, 2.0)
    grown = limit.limit
    round_trip(limit, clock, 5.0)  # 2.5x the floor: a queue
    assert limit.phase == "steady"
    assert limit.limit < grown
    assert "floor" in limit.trace[-1].reason


@pytest.mark.parametrize(("outcome", "factor"), [("overload", 0.7), ("timeout", 0.5)])
def test_a_burst_of_errors_backs_off_once_per_round_trip(outcome: str, factor: float) -> None:
    """20 errors from requests sent before the reaction are one step down, not a collapse."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    round_trip(limit, clock, 2.0)
    before = limit.limit
    fill(limit)
    clock.now += 2.0
    for _ in range(20):
        limit.done(2.0, outcome)  # type: ignore[arg-type]
    assert limit.limit == int(before * factor)
    assert limit.phase == "steady"
    # A request sent after the reaction that fails again is a new signal.
    limit.sent()
    clock.now += 2.0
    limit.done(1.0, outcome)  # type: ignore[arg-type]
    assert limit.limit == int(int(before * factor) * factor)


def test_errors_that_are_not_overload_are_no_signal() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    fill(limit)
    clock.now += 1.0
    limit.done(1.0, "other")
    assert limit.limit == INITIAL_LIMIT and limit.in_flight == INITIAL_LIMIT - 1


def test_a_server_queue_cuts_slow_start_at_once() -> None:
    """/metrics shows the queue before any latency rises: the limit leaves just the target."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    fill(limit)
    clock.now += 0.5
    limit.server_load(ServerLoad(running=10, waiting=6))
    assert limit.metrics == "on"
    assert limit.phase == "steady"
    assert limit.limit == INITIAL_LIMIT - (6 - queue_target(10))
    # The same queue on the next scrape, within the round trip: no second cut.
    clock.now += 0.1
    limit.server_load(ServerLoad(running=10, waiting=6))
    assert limit.limit == INITIAL_LIMIT - (6 - queue_target(10))


def test_a_full_kv_cache_stops_slow_start() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    round_trip(limit, clock, 1.0)
    limit.server_load(ServerLoad(running=30, waiting=0, kv_usage=0.99))
    held = limit.limit
    round_trip(limit, clock, 1.0)
    assert limit.limit == held


def test_without_metrics_latency_alone_steers() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    limit.metrics_unavailable()
    assert limit.metrics == "off"
    round_trip(limit, clock, 1.0)
    assert limit.limit > INITIAL_LIMIT


def test_long_pages_are_not_queueing_when_latency_is_per_token() -> None:
    """Ten times the tokens, ten times the time: no queue, so slow start goes on."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    round_trip(limit, clock, 1.0, tokens=300 - 64)
    round_trip(limit, clock, 10.0, tokens=3000 - 64)
    assert limit.phase == "slow start"
    assert limit.floor("tok") == pytest.approx(1.0 / 300)


def test_the_trace_is_bounded_and_keeps_the_ramp() -> None:
    clock = Clock()
    limit = AdaptiveLimit(ceiling=1000, clock=clock)
    for _ in range(150):  # grow for a round trip, then one 429: two changes at least
        round_trip(limit, clock, 1.0)
        limit.sent()
        clock.now += 5
        limit.done(1.0, "overload")
    trace = limit.trace
    assert len(trace) == TRACE_HEAD + TRACE_TAIL
    assert limit.changes > len(trace)
    assert trace[0].reason == "start"
    snapshot = limit.snapshot()
    assert snapshot["limit"] == limit.limit and len(snapshot["trace"]) == len(trace)
    assert snapshot["trace"][0] == {
        "t": 0.0,
        "limit": INITIAL_LIMIT,
        "in_flight": 0,
        "reason": "start",
    }


@pytest.mark.parametrize("poll_s", [None, 0.5], ids=["latency only", "with /metrics"])
@pytest.mark.parametrize("capacity", [8, 40, 200])
def test_settles_near_capacity_without_oscillating(capacity: int, poll_s: float | None) -> None:
    """Closed loop against a capacity-N model: full throughput, a small queue, a steady limit."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    factors = jitter()
    run = run_model(
        limit,
        clock,
        capacity=capacity,
        seconds=2.0,
        duration=600,
        poll_s=poll_s,
        factor=factors.__getitem__,
    )
    steady = 60.0
    ideal = capacity / 2.0
    assert run.completed_between(steady, 600) / (600 - steady) >= 0.95 * ideal
    in_flight = run.in_flight_after(steady)
    assert statistics.median(in_flight) >= capacity
    assert statistics.median(in_flight) <= 1.3 * capacity + 2
    latencies = sorted(run.latencies_after(steady))
    assert latencies[int(0.95 * len(latencies))] <= 1.5 * 2.0 * 1.2  # p95 within 1.5x floor
    # No oscillation: the limit stays in a narrow band (the 5 % outside it are
    # the latency-only floor probes, one round trip at 75 % in thirty).
    limits = sorted(run.limits_after(steady))
    spread = limits[int(0.95 * len(limits))] - limits[int(0.05 * len(limits))]
    assert spread <= max(6, 0.3 * capacity)
    if poll_s is not None:
        assert max(n for _, n in run.in_flight) < 2 * capacity + INITIAL_LIMIT


def test_capacity_eight_never_sees_sixty_four() -> None:
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    run = run_model(limit, clock, capacity=8, seconds=2.0, duration=300, poll_s=1.0)
    assert max(n for _, n in run.in_flight) < 32


def test_429s_from_a_busy_server_hold_the_limit_near_its_capacity() -> None:
    """A server that refuses past 30 in flight: the limit stays near 30, not at 1 or the ceiling."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    run_model(limit, clock, capacity=100, seconds=2.0, duration=300, overload_at=30)
    assert 10 <= limit.limit <= 45


def test_app_limited_does_not_grow() -> None:
    """A limit nobody reaches (few pages to send) is not raised."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    for _ in range(10):
        limit.sent()
        clock.now += 1.0
        limit.done(1.0, "ok")
    assert limit.limit <= INITIAL_LIMIT + 1


def test_with_gauges_an_empty_queue_regrows_after_a_backoff() -> None:
    """After a 429 halves the limit, an idle server's gauges let it grow 10 % a round trip."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    round_trip(limit, clock, 1.0)
    fill(limit)
    clock.now += 1.0
    limit.done(1.0, "overload")
    after_cut = limit.limit
    for _ in range(5):
        limit.server_load(ServerLoad(running=limit.in_flight, waiting=0, kv_usage=0.3))
        round_trip(limit, clock, 1.0)
    assert limit.phase == "steady"
    assert limit.limit >= int(after_cut * 1.1**5) - 1


def test_latency_alone_slow_start_stops_at_the_servers_delivery() -> None:
    """Capacity 40: the answers per round trip stop at 40, so the limit stops near 1.5 x 40.

    Without the cap the limit grew half a request per answer until the queued
    answers came back (peak 77 in flight), a round trip after the overshoot.
    """
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    limit.metrics_unavailable()
    run = run_model(limit, clock, capacity=40, seconds=2.0, duration=120, pages=400)
    assert max(n for _, n in run.in_flight) <= 1.5 * 40 + 4
    assert limit.phase == "steady"
    ends = [e for e in limit.trace if "slow start ends" in e.reason]
    assert len(ends) == 1 and 40 <= ends[0].limit <= 1.2 * 40


def test_the_delivery_cap_does_not_slow_the_ramp_below_capacity() -> None:
    """On an unloaded server every round trip's answers are the last round's requests."""
    clock = Clock()
    limit = AdaptiveLimit(ceiling=1000, clock=clock)
    limit.metrics_unavailable()
    for _ in range(4):
        round_trip(limit, clock, 2.0)
    assert limit.limit >= int(INITIAL_LIMIT * 1.5**4) - 2
    assert limit.phase == "slow start"


def test_a_late_answer_grows_nothing_in_slow_start() -> None:
    """Capacity 8, starting at 16: the 8 queued answers come back late and add no request."""
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    limit.metrics_unavailable()
    run = run_model(limit, clock, capacity=8, seconds=2.0, duration=60, factor=jitter().__getitem__)
    assert max(n for _, n in run.in_flight) <= INITIAL_LIMIT + 2  # latency-only used to reach 25
    assert limit.phase == "steady"


@pytest.mark.parametrize("capacity", [40, 200])
def test_a_page_mix_does_not_stall_the_ramp(capacity: int) -> None:
    """Pages of very different lengths (a lognormal mix, tokens reported): full throughput.

    The delivery count is scaled to the mean latency: counted over a short page's time
    alone, such a mix would read as a fraction of the real rate and hold slow start down.
    """
    rng = random.Random(3)
    factors = [min(5.0, rng.lognormvariate(0, 0.7)) for _ in range(40_000)]
    clock = Clock()
    limit = AdaptiveLimit(clock=clock)
    limit.metrics_unavailable()
    run = run_model(
        limit,
        clock,
        capacity=capacity,
        seconds=2.0,
        duration=120,
        factor=factors.__getitem__,
        tokens=lambda i: max(0, int(300 * factors[i]) - 64),
    )
    ideal = capacity / (2.0 * statistics.fmean(factors))
    assert run.completed_between(30, 120) / 90 >= 0.95 * ideal
    assert limit.limit >= capacity
