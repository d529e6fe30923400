"""The run's one actor: the shared request budget and the ledger of pages received.

Both must be single for the whole run -- the budget so that all workers
together respect a replica's limit, the ledger so that a retried task
learns what the driver already has -- and both are small, so one actor
process holds them (an actor costs a process on the cluster). It is an
async actor: a ``take`` waiting for a slot does not block the others.

With ``max_concurrency = "auto"`` the budget's limits are the replicas'
adaptive controllers, and their ``/metrics`` pollers run here too
(:mod:`.adaptive`); :meth:`Coordinator.start` starts them.

The class is plain; :func:`.cluster.start_coordinator` makes it an actor,
so importing this module does not import Ray.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..concurrency import AdaptiveLimit
from ..endpoints import SlotOutcome
from ..settings import Settings
from .adaptive import AdaptivePolicy, MetricsPollers, ReplicaEntry, make_policy
from .budget import SlotBook, SlotPolicy
from .ledger import StreamLedger, TaskStart

__all__ = ["Coordinator"]


class Coordinator:
    """Request slots per replica (:class:`SlotBook`) and pages per task (:class:`StreamLedger`)."""

    def __init__(self, entries: Sequence[ReplicaEntry], settings: Settings | None = None) -> None:
        self.entries = {entry.key: entry for entry in entries}
        self.controllers: dict[str, AdaptiveLimit] = {}

        def policy_for(key: str, _limit: int) -> SlotPolicy:
            policy = make_policy(self.entries[key])
            if isinstance(policy, AdaptivePolicy):
                self.controllers[key] = policy.controller
            return policy

        self.book = SlotBook({e.key: e.limit for e in entries}, policy_for=policy_for)
        self.ledger = StreamLedger()
        self.settings = settings
        self.pollers: MetricsPollers | None = None
        self.payers: dict[str, dict[str, float]] = {}
        """What each task attempt's requests cost, by backend, as it last said (cumulative)."""

    async def start(self) -> int:
        """Start the adaptive replicas' ``/metrics`` pollers; how many run."""
        if self.settings is None or not self.controllers or self.pollers is not None:
            return 0
        self.pollers = MetricsPollers(self.settings, self.controllers)
        return self.pollers.start()

    async def stop(self) -> None:
        """Stop the pollers and close their connections (the run is over)."""
        if self.pollers is not None:
            await self.pollers.aclose()

    # ------------------------------------------------------------------ budget

    async def take(self, holder: str, ticket: int, keys: Sequence[str]) -> tuple[str, int, int]:
        """A slot on one of ``keys``: its key, its lease, and that replica's limit now."""
        key, lease = await self.book.take(holder, ticket, keys)
        return key, lease, self.book.limit(key) or 0

    async def give_back(
        self,
        lease: int,
        latency_s: float | None,
        outcome: SlotOutcome,
        completion_tokens: int | None = None,
    ) -> None:
        self.book.give_back(lease, latency_s, outcome, completion_tokens)

    async def abandon(self, holder: str, ticket: int) -> None:
        self.book.abandon(holder, ticket)

    async def limits(self) -> dict[str, int]:
        """Every replica's limit now, by budget key."""
        return self.book.limits()

    async def adaptive_limits(self) -> dict[str, dict[str, int]]:
        """The adaptive replicas' limits now, as progress shows them: ``{backend: {url: n}}``."""
        shown: dict[str, dict[str, int]] = {}
        for key, controller in self.controllers.items():
            entry = self.entries[key]
            shown.setdefault(entry.backend, {})[entry.label] = controller.limit
        return shown

    async def budget_stats(self) -> dict[str, dict[str, Any]]:
        return self.book.stats()

    async def concurrency_report(self) -> dict[str, list[dict[str, Any]]]:
        """Each adaptive replica's controller with its bounded trace, as the local engine's."""
        report: dict[str, list[dict[str, Any]]] = {}
        for key, controller in self.controllers.items():
            entry = self.entries[key]
            report.setdefault(entry.backend, []).append(
                {"url": entry.label, **controller.snapshot()}
            )
        return report

    # ------------------------------------------------------------------ spending

    async def charge(self, payer: str, spent: dict[str, float]) -> None:
        """A task attempt's spending so far, by backend.

        Cumulative figures, not increments: an async actor may run two calls
        of one caller out of order, and an older figure must not win.
        """
        mine = self.payers.setdefault(payer, {})
        for backend, cost in spent.items():
            mine[backend] = max(mine.get(backend, 0.0), cost)

    async def spent(
        self, payer: str | None = None, own: dict[str, float] | None = None
    ) -> dict[str, float]:
        """What each backend has cost the run so far (counting the asker's ``own`` figures)."""
        if payer is not None and own:
            await self.charge(payer, own)
        total: dict[str, float] = {}
        for spent in self.payers.values():
            for backend, cost in spent.items():
                total[backend] = total.get(backend, 0.0) + cost
        return total

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
