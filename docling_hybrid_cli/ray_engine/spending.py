"""``--max-cost`` on Ray: the run's spending counted once, in the coordinator, by every worker.

Locally one :class:`~docling_hybrid_cli.spending.SpendingCap` records what
the paid backends cost and refuses new paid requests once the total reaches
the cap. On a cluster each worker would count only its own spending, so the
record lives in the coordinator: a worker *charges* it with every cost a
server reports and *checks* it before every paid request
(:class:`SharedSpending`, the worker's cap). Both carry the worker's own
spending so far, not increments: an async actor may run one caller's calls
out of order, and a check must never miss the worker's own last charge.
The check is one round trip to
the actor (a millisecond on a cluster's network) against a paid request's
seconds; it is made only for paid backends (and those that reported a cost
from this worker), so the free ones pay nothing.

Requests already past the check finish and are recorded, so the total can
end above the cap by what they cost: those in flight on the paid backend
(its ``max_concurrency``, which the replicas' shared budget holds across all
workers) and, per worker, the pages that passed the check while waiting for
a slot, and other workers' charges still on their way. A coordinator that
cannot be asked refuses the paid request (the page goes down the chain):
the cap is not spent blind.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from typing import Any

from ..errors import BackendRejected
from ..spending import SpendingCap

__all__ = ["SharedSpending"]


class SharedSpending(SpendingCap):
    """A worker's spending cap whose record and total are the coordinator's (the whole run's)."""

    def __init__(
        self,
        coordinator: Any,
        limit: float | None,
        get: Callable[[Any], dict[str, float]] | None = None,
    ) -> None:
        """``get`` waits for an actor call's answer (``ray.get``; tests pass their own)."""
        super().__init__(limit)
        self.coordinator = coordinator
        self.payer = uuid.uuid4().hex
        """This worker's name in the run's record (each task attempt pays under its own)."""
        self._get = get or _ray_get

    def record(self, backend: str, cost: float) -> None:
        """Charge the run's record (and keep this worker's share, for its own checks)."""
        if not math.isfinite(cost) or cost <= 0:
            return
        super().record(backend, cost)
        self.coordinator.charge.remote(self.payer, self.by_backend())

    def refusal(self, backend: str, *, paid: bool) -> BackendRejected | None:
        """The local rule applied to the whole run's record, asked of the coordinator now."""
        if self.limit is None or (not paid and self.spent_by(backend) <= 0):
            return None
        try:
            spent = self._get(self.coordinator.spent.remote(self.payer, self.by_backend()))
        except Exception as exc:  # an actor that cannot answer: do not spend blind
            return BackendRejected(
                f"{backend}: cannot check the run's spending ({type(exc).__name__}); "
                "no new paid requests",
                backend=backend,
            )
        run = SpendingCap(self.limit)
        for name, cost in spent.items():
            run.record(name, cost)
        return run.refusal(backend, paid=True)


def _ray_get(ref: Any) -> dict[str, float]:
    import ray

    answer: dict[str, float] = ray.get(ref, timeout=30)
    return answer
