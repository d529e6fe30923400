"""RequestSlots: pages at work bounded, slots lent out while a page sleeps, served by priority."""

from __future__ import annotations

import asyncio

import pytest

from docling_hybrid_cli.slots import RequestSlots, slot_counts, wait_without_slot


def test_waiters_are_served_lowest_priority_number_first() -> None:
    async def go() -> list[int]:
        slots = RequestSlots(1)
        served: list[int] = []
        await slots.acquire(0)

        async def wait_for(priority: int) -> None:
            await slots.acquire(priority)
            served.append(priority)
            slots.release()

        tasks = [asyncio.create_task(wait_for(p)) for p in (9, 3, 7, 1)]
        await asyncio.sleep(0)  # every task now waits
        slots.release()
        await asyncio.gather(*tasks)
        return served

    assert asyncio.run(go()) == [1, 3, 7, 9]


def test_a_sleeping_holder_lends_its_slot_and_takes_it_back() -> None:
    """While page 1 sleeps before a retry, page 2 gets its slot; page 1 resumes afterwards."""

    async def go() -> list[str]:
        slots = RequestSlots(1)
        events: list[str] = []

        async def page_one() -> None:
            async with slots.hold(priority=1):
                events.append("1 sends")
                await wait_without_slot(asyncio.sleep, 0.05)
                events.append("1 sends again")

        async def page_two() -> None:
            await asyncio.sleep(0.01)
            async with slots.hold(priority=2):
                events.append("2 sends")
                assert slots.free == 0

        await asyncio.gather(page_one(), page_two())
        assert slots.free == 1
        return events

    assert asyncio.run(go()) == ["1 sends", "2 sends", "1 sends again"]


def test_without_a_slot_the_wait_is_a_plain_sleep() -> None:
    """A check-server probe or a unit test outside any pipeline holds no slot."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    asyncio.run(wait_without_slot(sleep, 0.25))
    assert slept == [0.25]


@pytest.mark.parametrize("where", ["asleep", "waiting for the slot back"])
def test_cancellation_never_leaks_or_doubles_a_slot(where: str) -> None:
    """Ctrl-C while a page sleeps (or queues to get its slot back) leaves the count exact."""

    async def go() -> int:
        slots = RequestSlots(1)
        asleep = asyncio.Event()

        async def sleep(seconds: float) -> None:
            asleep.set()
            await asyncio.sleep(seconds)

        async def page() -> None:
            async with slots.hold(priority=1):
                await wait_without_slot(sleep, 0.01 if where != "asleep" else 10)

        task = asyncio.create_task(page())
        await asleep.wait()
        if where != "asleep":
            await slots.acquire(0)  # someone else takes the lent slot, so the page must queue
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        if where != "asleep":
            slots.release()
        return slots.free

    assert asyncio.run(go()) == 1


def test_a_slot_handed_over_to_a_cancelled_waiter_is_not_lost() -> None:
    async def go() -> int:
        slots = RequestSlots(1)
        await slots.acquire(0)
        waiter = asyncio.create_task(slots.acquire(1))
        await asyncio.sleep(0)
        slots.release()  # handed to the waiter...
        waiter.cancel()  # ...which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        return slots.free

    assert asyncio.run(go()) == 1


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RequestSlots(0)


def test_growing_hands_new_slots_to_waiters_at_once() -> None:
    async def go() -> tuple[int, int]:
        slots = RequestSlots(1)
        await slots.acquire(0)
        waiting = [asyncio.create_task(slots.acquire(p)) for p in (1, 2, 3)]
        await asyncio.sleep(0)
        slots.resize(3)
        await asyncio.sleep(0)
        served = sum(t.done() for t in waiting)
        slots.resize(4)
        await asyncio.gather(*waiting)
        return served, slots.free

    assert asyncio.run(go()) == (2, 0)


def test_shrinking_takes_slots_back_as_they_return_never_from_a_holder() -> None:
    async def go() -> list[int]:
        slots = RequestSlots(3)
        for p in range(3):
            await slots.acquire(p)
        slots.resize(1)
        seen = [slots.free]  # two held beyond the size: a debt
        slots.release()
        seen.append(slots.free)
        waiter = asyncio.create_task(slots.acquire(9))
        await asyncio.sleep(0)
        slots.release()  # pays the debt: the waiter still waits
        await asyncio.sleep(0)
        seen.append(int(waiter.done()))
        slots.release()  # now a real free slot: the waiter gets it
        await waiter
        seen.append(slots.free)
        return seen

    assert asyncio.run(go()) == [-2, -1, 0, 0]


def test_a_size_below_one_is_one() -> None:
    slots = RequestSlots(4)
    slots.resize(0)
    assert slots.size == 1


@pytest.mark.parametrize(
    ("setting", "capacity", "adaptive", "expected"),
    [
        ("auto", (42, 256), True, (42, 256)),  # follows the adaptive limits
        ("auto", (32, 32), False, (32, 32)),  # follows a fixed backend's cap
        ("auto", (0, 0), False, (1, 1)),  # never below one
        ("auto", (600, 5000), True, (600, 1024)),  # bounded whatever the ceilings
        (16, (42, 256), True, (16, 16)),  # -j N caps an adaptive backend
        (64, (42, 256), True, (42, 64)),  # ... at its current limits
        (16, (1, 1), False, (16, 16)),  # and is the count itself on a fixed one
    ],
)
def test_slot_counts(
    setting: int | str, capacity: tuple[int, int], adaptive: bool, expected: tuple[int, int]
) -> None:
    assert slot_counts(setting, (*capacity, adaptive)) == expected  # type: ignore[arg-type]
