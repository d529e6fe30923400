"""``--max-cost`` on Ray: the run's spending counted once, in the coordinator, by every worker.

Locally one :class:`~docling_hybrid_cli.spending.SpendingCap` records what
the paid backends cost and refuses new paid requests once the total reaches
the cap. On a cluster each worker would count only its own spending, so the
record lives in the coordinator: a worker *charges* it with every cost a
server reports and *checks* it before every paid request
(:class:`SharedSpending`, the worker's cap). The check is one round trip to
the actor (a millisecond on a cluster's network) against a paid request's
seconds; it is made only for paid backends (and those that reported a cost
from this worker), so the free ones pay nothing.

The overshoot bound is the local one: requests already in flight finish and
are recorded, and the replicas' shared budget keeps a paid backend's
requests in flight to its ``max_concurrency`` across all workers. A
coordinator that cannot be asked refuses the paid request (the page goes
down the chain): the cap is not spent blind.
"""

from __future__ import annotations

import math
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
        self._get = get or _ray_get

    def record(self, backend: str, cost: float) -> None:
        """Charge the run's record (and keep this worker's share, for its own checks)."""
        if not math.isfinite(cost) or cost <= 0:
            return
        super().record(backend, cost)
        self.coordinator.charge.remote(backend, cost)

    def refusal(self, backend: str, *, paid: bool) -> BackendRejected | None:
        """The local rule applied to the whole run's record, asked of the coordinator now."""
        if self.limit is None or (not paid and self.spent_by(backend) <= 0):
            return None
        try:
            spent = self._get(self.coordinator.spent.remote())
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
