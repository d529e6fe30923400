"""RequestSlots: pages at work bounded, slots lent out while a page sleeps, served by priority."""

from __future__ import annotations

import asyncio

import pytest

from docling_hybrid_cli.slots import RequestSlots, wait_without_slot


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
