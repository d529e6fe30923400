"""The run's spending cap (``--max-cost USD``): what paid backends have cost so far.

Paid APIs (OpenRouter's non-free models) report what each completion cost in
``usage.cost``; the client hands every such figure here, including those of
answers that were later rejected (a cut-off answer is billed in full). Once the
recorded total reaches the cap, a paid backend refuses to send *new* requests
with :class:`~docling_hybrid_cli.errors.BackendRejected`, so the fallback chain
moves the page on to the next (free or local) backend. Requests already in
flight finish and are recorded, so the total can end above the cap by at most
what those requests cost -- ``max_concurrency`` of the paid backend times the
cost of one page.

A backend counts as paid when its family says so (:attr:`Backend.may_cost_money`,
e.g. an OpenRouter model without ``:free``) or once it has reported a cost
above zero in this run, whatever its family.
"""

from __future__ import annotations

import math
import threading

from .errors import BackendRejected

__all__ = ["SpendingCap"]


class SpendingCap:
    """One run's recorded cost, in the currency the servers report (USD for OpenRouter).

    ``limit`` None records without capping. Thread-safe: the client records
    from the event loop, reports read it from any thread.
    """

    def __init__(self, limit: float | None = None) -> None:
        if limit is not None and (not math.isfinite(limit) or limit < 0):
            raise ValueError(f"the spending cap must be a finite amount >= 0, not {limit!r}")
        self.limit = limit
        self._by_backend: dict[str, float] = {}
        self._lock = threading.Lock()

    def record(self, backend: str, cost: float) -> None:
        """Add one completion's reported cost; NaN, infinities and negatives are ignored."""
        if not math.isfinite(cost) or cost <= 0:
            return
        with self._lock:
            self._by_backend[backend] = self._by_backend.get(backend, 0.0) + cost

    @property
    def total(self) -> float:
        with self._lock:
            return sum(self._by_backend.values())

    def to_dict(self) -> dict[str, object]:
        """The record as reports carry it: total, cap, and what each backend cost."""
        with self._lock:
            by_backend = {name: round(cost, 6) for name, cost in self._by_backend.items()}
        return {
            "recorded": round(sum(by_backend.values()), 6),
            "max_cost": self.limit,
            "by_backend": by_backend,
        }

    def by_backend(self) -> dict[str, float]:
        """What each backend has cost so far (unrounded: a Ray worker's record travels as this)."""
        with self._lock:
            return dict(self._by_backend)

    def spent_by(self, backend: str) -> float:
        with self._lock:
            return self._by_backend.get(backend, 0.0)

    def refusal(self, backend: str, *, paid: bool) -> BackendRejected | None:
        """The error that stops a new request to ``backend``, or None to let it go out.

        ``paid`` is the family's own judgement; a backend that has already
        reported a cost in this run is paid regardless.
        """
        if self.limit is None:
            return None
        if not paid and self.spent_by(backend) <= 0:
            return None
        total = self.total
        if total < self.limit:
            return None
        return BackendRejected(
            f"{backend}: spending cap reached ({total:.4f} of --max-cost {self.limit:g} "
            "recorded this run); no new paid requests",
            backend=backend,
            hint="raise --max-cost, or let the remaining pages go to the free backends",
        )
