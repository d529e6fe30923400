"""The run's one actor: the shared request budget and the ledger of pages received.

Both must be single for the whole run -- the budget so that all workers
together respect a replica's limit, the ledger so that a retried task
learns what the driver already has -- and both are small, so one actor
process holds them (an actor costs a process on the cluster). It is an
async actor: a ``take`` waiting for a slot does not block the others.

The class is plain; :func:`.cluster.start_coordinator` makes it an actor,
so importing this module does not import Ray.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..endpoints import SlotOutcome
from .budget import SlotBook
from .ledger import StreamLedger, TaskStart

__all__ = ["Coordinator"]


class Coordinator:
    """Request slots per replica (:class:`SlotBook`) and pages per task (:class:`StreamLedger`)."""

    def __init__(self, limits: Mapping[str, int]) -> None:
        self.book = SlotBook(limits)
        self.ledger = StreamLedger()

    # ------------------------------------------------------------------ budget

    async def take(self, holder: str, ticket: int, keys: Sequence[str]) -> tuple[str, int]:
        return await self.book.take(holder, ticket, keys)

    async def give_back(self, lease: int, latency_s: float | None, outcome: SlotOutcome) -> None:
        self.book.give_back(lease, latency_s, outcome)

    async def abandon(self, holder: str, ticket: int) -> None:
        self.book.abandon(holder, ticket)

    async def budget_stats(self) -> dict[str, dict[str, Any]]:
        return self.book.stats()

    # ------------------------------------------------------------------ ledger

    async def start_task(self, task: str) -> TaskStart:
        """A task attempt begins: free what an earlier attempt of it still held."""
        start = self.ledger.start(task)
        if start.attempt > 0:
            self.book.release_holder(task)
        return start

    async def received(self, task: str, page: int) -> None:
        self.ledger.received(task, page)

    async def received_count(self, task: str) -> int:
        return self.ledger.count(task)

    async def finish_task(self, task: str) -> int:
        """The task's stream ended: free its slots, forget it; how many attempts it took."""
        self.book.release_holder(task)
        attempts = self.ledger.attempts(task)
        self.ledger.forget(task)
        return attempts
