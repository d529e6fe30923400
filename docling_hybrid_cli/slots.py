"""Request slots: a page holds one while it works and lends it out while it waits.

``convert.concurrency`` bounds the requests in flight. A page that sleeps
before its next attempt (backoff, ``Retry-After``) holds nothing a server can
use, so during that sleep its slot goes to another page that is ready to send
-- otherwise a 20 % fault rate would leave a fifth of the slots idle, asleep.

The pipeline takes a slot per page (:meth:`RequestSlots.hold`); the retry
loop, deep below it in a backend, sleeps through :func:`wait_without_slot`,
which finds the page's slot through a context variable (each asyncio task
carries its own context, so every page sees only its own slot) and takes it
back before the next attempt. Code that runs outside any pipeline (a
``check-server`` probe, a unit test) holds no slot and simply sleeps.

Free slots go to the waiting page with the lowest priority number -- the
pipeline passes the document's rank in the batch and the page number, folded
into one int (:mod:`~docling_hybrid_cli.turns`) -- so a page coming back from
a backoff is served before pages that have not started yet, and an earlier
document's pages before a later one's: the ordered output is held back by the
earliest unfinished page, and that is usually the one retrying.

The number of slots can change while pages hold them (:meth:`RequestSlots.resize`):
with ``convert.concurrency = "auto"`` it follows the adaptive limits of the
first backend's replicas. Growing hands the new slots to waiters at once;
shrinking takes slots as they come back, never from a page that holds one.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Literal

__all__ = ["RequestSlots", "SlotLease", "request_slots", "slot_counts", "wait_without_slot"]

MAX_AUTO_SLOTS = 1024
"""The most slots ``convert.concurrency = "auto"`` makes, whatever the ceilings say."""


def slot_counts(setting: int | Literal["auto"], capacity: tuple[int, int, bool]) -> tuple[int, int]:
    """(Slots now, the most there may be) for ``convert.concurrency`` and the chain's first backend.

    ``capacity`` is that backend's (requests in flight allowed now, the most
    ever, adaptive?): ``FallbackChain.request_capacity()``. ``"auto"`` follows
    it; a number N is a cap on an adaptive backend (``min(N, its limits)``)
    and, as it always was, the count itself on a fixed one -- fallback
    backends keep their own caps either way.
    """
    now, most, adaptive = max(1, capacity[0]), max(1, capacity[1]), capacity[2]
    if setting == "auto":
        return min(now, MAX_AUTO_SLOTS), min(max(now, most), MAX_AUTO_SLOTS)
    if adaptive:
        return min(setting, now), min(setting, max(now, most))
    return setting, setting


def request_slots(setting: int | Literal["auto"], capacity: tuple[int, int, bool]) -> RequestSlots:
    """A run's request slots, as many as :func:`slot_counts` says for now."""
    return RequestSlots(slot_counts(setting, capacity)[0])


@dataclass(slots=True)
class SlotLease:
    """One page's claim on a slot; ``held`` is False while the page is asleep.

    ``priority`` may be lowered once the holder knows which page it works on:
    it orders the page's next wait for a slot, after a backoff.
    """

    slots: RequestSlots
    priority: int
    held: bool = False


_LEASE: ContextVar[SlotLease | None] = ContextVar("docling_hybrid_request_slot", default=None)


class RequestSlots:
    """A counting semaphore whose waiters are served lowest priority number first."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("at least one request slot is needed")
        self.size = size
        self._free = size
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @property
    def free(self) -> int:
        """Slots free now; negative after a shrink while more pages hold slots than fit."""
        return self._free

    def resize(self, size: int) -> None:
        """Make ``size`` slots in all: new ones go to waiters now, removed ones as they return."""
        size = max(1, size)
        grown = size - self.size
        self.size = size
        self._free += grown
        while self._free > 0 and self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                self._free -= 1
                future.set_result(None)

    async def acquire(self, priority: int) -> None:
        """Take a slot, waiting behind every waiter with a lower (or equal, earlier) priority."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._order), future))
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # handed a slot in the same instant we were cancelled
            raise

    def release(self) -> None:
        """Give a slot back: straight to the most urgent live waiter, else to the pool.

        After a shrink the slot first pays off the excess (``free`` below zero).
        """
        if self._free < 0:
            self._free += 1
            return
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                return
        self._free += 1

    @asynccontextmanager
    async def hold(self, priority: int) -> AsyncIterator[SlotLease]:
        """Hold a slot for the block's body; it is lent out during :func:`wait_without_slot`."""
        lease = SlotLease(self, priority)
        await self.acquire(priority)
        lease.held = True
        token = _LEASE.set(lease)
        try:
            yield lease
        finally:
            _LEASE.reset(token)
            if lease.held:
                lease.held = False
                self.release()


async def wait_without_slot(sleep: Callable[[float], Awaitable[None]], seconds: float) -> None:
    """``await sleep(seconds)`` with the current page's slot (if any) lent out meanwhile."""
    lease = _LEASE.get()
    if lease is None or not lease.held:
        await sleep(seconds)
        return
    lease.held = False
    lease.slots.release()
    await sleep(seconds)
    await lease.slots.acquire(lease.priority)
    lease.held = True
