"""One adaptive controller per replica, hosted by the shared budget: what the workers' reports do
to the slots it grants. A fake clock; reports arrive as the workers' give-backs would."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

from docling_hybrid_cli.concurrency import AdaptiveLimit
from docling_hybrid_cli.endpoints import SlotOutcome
from docling_hybrid_cli.ray_engine.adaptive import (
    AdaptivePolicy,
    ReplicaEntry,
    budget_entries,
    make_policy,
)
from docling_hybrid_cli.ray_engine.budget import FixedLimit, SlotBook, replica_key
from docling_hybrid_cli.ray_engine.coordinator import Coordinator
from docling_hybrid_cli.settings import load_settings

T = TypeVar("T")
A = replica_key("deepseek-vllm", "http://gpu1:8000/v1")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def adaptive_book(clock: Clock, *, initial: int = 4) -> tuple[SlotBook, AdaptiveLimit]:
    controller = AdaptiveLimit(ceiling=64, initial=initial, clock=clock)
    return SlotBook({A: 64}, policy_for=lambda _k, _n: AdaptivePolicy(controller)), controller


async def fill(book: SlotBook, holder: str, start: int) -> list[int]:
    """Take every slot the book grants now (as many workers' pages would); their leases."""
    leases: list[int] = []
    while book.stats()[A]["in_use"] < book.stats()[A]["limit"]:
        leases.append((await book.take(holder, start + len(leases), [A]))[1])
    return leases


def test_good_reports_grow_what_the_book_grants() -> None:
    """Answers at the floor while the limit is in use: slow start grows it, x1.5 a round trip."""

    async def scenario() -> list[int]:
        clock = Clock()
        book, controller = adaptive_book(clock)
        granted: list[int] = []
        for round_trip in range(4):
            leases = await fill(book, f"w{round_trip % 2}", 100 * round_trip)
            granted.append(len(leases))
            clock.now += 1.0
            for lease in leases:
                book.give_back(lease, 1.0, "ok", 300)
        assert controller.in_flight == 0
        assert controller.floor("tok") is not None  # the tokens reached the controller
        return granted

    granted = run(scenario)
    assert granted[0] == 4
    assert granted == sorted(granted) and granted[-1] >= 2 * granted[0], granted


@pytest.mark.parametrize(("outcome", "factor"), [("overloaded", 0.7), ("timeout", 0.5)])
def test_an_overload_or_a_timeout_shrinks_it_and_holders_beyond_it_drain_without_new_grants(
    outcome: SlotOutcome, factor: float
) -> None:
    async def scenario() -> None:
        clock = Clock()
        book, controller = adaptive_book(clock, initial=10)
        leases = await fill(book, "w1", 0)
        assert len(leases) == 10
        clock.now += 1.0
        book.give_back(leases.pop(), 1.0, outcome)
        shrunk = book.stats()[A]["limit"]
        assert shrunk == int(10 * factor)
        assert book.stats()[A]["in_use"] == 9  # nothing is taken back from the holders
        waiting = asyncio.create_task(book.take("w2", 0, [A]))
        while book.stats()[A]["in_use"] > shrunk:
            book.give_back(leases.pop(), None, "failed")
            await asyncio.sleep(0)
            assert not waiting.done()  # no new grant while the holders are at or over the limit
        book.give_back(leases.pop(), None, "failed")  # under the limit: the waiter's turn
        await asyncio.wait_for(waiting, 1)
        assert book.stats()[A]["in_use"] == shrunk
        assert controller.in_flight == shrunk

    run(scenario)


def test_an_unused_slot_only_leaves_the_count_in_flight() -> None:
    async def scenario() -> None:
        clock = Clock()
        book, controller = adaptive_book(clock)
        _, lease = await book.take("w", 0, [A])
        assert controller.in_flight == 1
        book.give_back(lease, None, "unused")
        assert (controller.in_flight, controller.limit, controller.changes) == (0, 4, 1)

    run(scenario)


def test_auto_replicas_get_a_controller_fixed_ones_their_number() -> None:
    settings = load_settings(
        overrides={
            "backends.fallback_chain": ["deepseek-vllm", "olmocr-vllm"],
            "backends.deepseek-vllm.base_url": ["http://gpu1:8000/v1", "http://u:pw@gpu2:8000/v1"],
            "backends.deepseek-vllm.max_concurrency": "auto",
            "backends.deepseek-vllm.max_concurrency_ceiling": 96,
            "backends.olmocr-vllm.base_url": "http://gpu3:8000/v1",
            "backends.olmocr-vllm.max_concurrency": 6,
        }
    ).settings
    entries = budget_entries(settings)
    assert [(e.backend, e.limit, e.adaptive) for e in entries] == [
        ("deepseek-vllm", 96, True),
        ("deepseek-vllm", 96, True),
        ("olmocr-vllm", 6, False),
    ]
    assert not any("pw" in e.key for e in entries)
    policies = [make_policy(e) for e in entries]
    assert isinstance(policies[0], AdaptivePolicy) and policies[0].controller.ceiling == 96
    assert isinstance(policies[2], FixedLimit) and policies[2].limit == 6


def test_the_coordinator_reports_each_controller_as_the_local_engine_does() -> None:
    auto = ReplicaEntry("deepseek-vllm", "http://gpu1:8000/v1", 256, adaptive=True)
    fixed = ReplicaEntry("olmocr-vllm", "http://gpu2:8000/v1", 3, adaptive=False)

    async def scenario() -> dict[str, Any]:
        coordinator = Coordinator([auto, fixed])
        assert await coordinator.start() == 0  # no settings: no /metrics pollers
        key, lease, limit = await coordinator.take("t", 0, [auto.key])
        assert (key, limit) == (auto.key, 16)
        await coordinator.give_back(lease, 0.5, "ok", 120)
        assert await coordinator.limits() == {auto.key: 16, fixed.key: 3}
        assert await coordinator.adaptive_limits() == {"deepseek-vllm": {auto.label: 16}}
        return await coordinator.concurrency_report()

    report = run(scenario)
    assert list(report) == ["deepseek-vllm"]
    (replica,) = report["deepseek-vllm"]
    assert replica["url"] == auto.label
    assert (replica["limit"], replica["ceiling"], replica["metrics"]) == (16, 256, "unknown")
    assert replica["trace"][0]["reason"] == "start"
