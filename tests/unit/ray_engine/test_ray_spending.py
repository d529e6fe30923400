"""``--max-cost`` on Ray: workers charge the coordinator's record, and check it before paying."""

from __future__ import annotations

import asyncio
from typing import Any

from docling_hybrid_cli.ray_engine.coordinator import Coordinator
from docling_hybrid_cli.ray_engine.spending import SharedSpending


class _Call:
    """An actor method as a worker sees it: ``.remote()`` runs it (here, at once)."""

    def __init__(self, method: Any) -> None:
        self.method = method

    def remote(self, *args: Any) -> Any:
        return asyncio.run(self.method(*args))


class _Actor:
    """The plain coordinator behind the ``.remote()`` calls a worker makes."""

    def __init__(self, coordinator: Coordinator, *, down: bool = False) -> None:
        self.charge = _Call(coordinator.charge)
        self.spent = _Call(self._down if down else coordinator.spent)

    @staticmethod
    async def _down(payer: str, own: dict[str, float]) -> dict[str, float]:
        raise ConnectionError("actor died")


def workers(coordinator: Coordinator, limit: float | None, n: int = 2) -> list[SharedSpending]:
    return [SharedSpending(_Actor(coordinator), limit, get=lambda x: x) for _ in range(n)]


def test_the_cap_counts_every_workers_spending() -> None:
    coordinator = Coordinator([])
    first, second = workers(coordinator, 0.0025)
    first.record("paid", 0.001)
    second.record("paid", 0.001)
    assert first.refusal("paid", paid=True) is None  # 0.002 of 0.0025 for the whole run
    second.record("paid", 0.001)
    refused = first.refusal("paid", paid=True)  # this worker spent 0.001, the run 0.003
    assert refused is not None and "spending cap reached (0.0030" in str(refused)
    assert asyncio.run(coordinator.spent()) == {"paid": 0.003}


def test_a_free_backend_is_not_checked_and_bad_costs_are_not_charged() -> None:
    coordinator = Coordinator([])
    (worker,) = workers(coordinator, 0.0, n=1)
    worker.record("paid", float("nan"))
    worker.record("paid", -1.0)
    assert asyncio.run(coordinator.spent()) == {}
    assert worker.refusal("vllm", paid=False) is None
    assert worker.refusal("paid", paid=True) is not None  # a cap of 0: no paid request at all


def test_without_a_cap_nothing_is_refused_but_the_cost_is_recorded() -> None:
    coordinator = Coordinator([])
    (worker,) = workers(coordinator, None, n=1)
    worker.record("paid", 5.0)
    assert worker.refusal("paid", paid=True) is None
    assert asyncio.run(coordinator.spent()) == {"paid": 5.0}


def test_a_coordinator_that_cannot_answer_refuses_the_paid_request() -> None:
    worker = SharedSpending(_Actor(Coordinator([]), down=True), 1.0, get=lambda x: x)
    refused = worker.refusal("paid", paid=True)
    assert refused is not None and "cannot check the run's spending" in str(refused)


def test_a_workers_figures_are_cumulative_so_calls_run_out_of_order_lose_nothing() -> None:
    """An async actor may run one caller's charge after its check, or an old charge last."""

    async def scenario() -> dict[str, float]:
        coordinator = Coordinator([])
        await coordinator.charge("w1", {"paid": 0.003})
        await coordinator.charge("w1", {"paid": 0.002})  # older, arriving late
        await coordinator.charge("w2", {"paid": 0.001})
        return await coordinator.spent("w2", {"paid": 0.002})  # its own newest charge first

    assert run_and_round(scenario) == {"paid": 0.005}


def run_and_round(scenario: Any) -> dict[str, float]:
    return {name: round(cost, 6) for name, cost in asyncio.run(scenario()).items()}
