"""A replica's request budget shared with other clients, as an endpoint pool sees it.

``convert --ray`` runs many clients (one per task) against the same replicas;
each pool's own ``max_concurrency`` would let them together overload a
server, so the slots live in one place (:mod:`~docling_hybrid_cli.ray_engine.budget`)
and a pool takes each request's slot there. This module is the pool's side
of that contract: the budget's interface and how a request's end is told.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from .concurrency import Outcome

__all__ = ["ReplicaBudget", "SlotOutcome", "slot_outcome"]

SlotOutcome = Literal["ok", "overloaded", "timeout", "failed", "unused"]
"""How a request that held a slot ended: answered, the server said it is too busy (429, 503),
it timed out, any other failure, or the slot was given back unused (its replica was lost).
The first four are the adaptive controller's signals (:func:`slot_outcome`)."""

_SLOT_OUTCOMES: dict[Outcome, SlotOutcome] = {
    "ok": "ok",
    "overload": "overloaded",
    "timeout": "timeout",
    "other": "failed",
}


def slot_outcome(outcome: Outcome) -> SlotOutcome:
    """A controller's outcome as a shared budget hears it (and back: :data:`_SLOT_OUTCOMES`)."""
    return _SLOT_OUTCOMES[outcome]


class ReplicaBudget(Protocol):
    """Request slots shared with other processes: a replica's budget kept in one place.

    Several clients on several machines (``convert --ray``) send to the same
    replicas; each pool's own ``max_concurrency`` would let them together
    overload a server. With a budget, a pool takes a slot from it before every
    request and gives it back after, telling how the request went, how long it
    took and how many tokens it answered -- what a controller that adapts the
    limit needs (with ``"auto"`` it runs in the budget, once for all clients).
    """

    async def take(self, backend: str, replicas: Sequence[str]) -> tuple[str, object]:
        """Wait for a slot on one of ``replicas`` (labels, best first); its label and lease."""
        ...

    def give_back(
        self,
        lease: object,
        latency_s: float | None,
        outcome: SlotOutcome,
        completion_tokens: int | None = None,
    ) -> None:
        """Return the slot of ``lease``; never blocks."""
        ...

    def granted(self, backend: str, replica: str) -> int | None:
        """The replica's limit as the budget last said; None when it does not limit it."""
        ...
