"""The worker side: one Ray task converts a page range with the ordinary pipeline.

The task gets the input's bytes from the object store (no shared
filesystem), writes them to a private temporary file on its node, and runs
:func:`~docling_hybrid_cli.pipeline.convert_pages` -- render → request slots
→ chain, the same code as a local run -- in a thread with its own event
loop. Each page is yielded as it finishes, so the driver checkpoints and
writes it at once; a task that dies loses only the pages it had in flight.

Its pools take request slots from the run's coordinator actor
(:class:`ActorBudget`), so the replicas' limits hold across all tasks; with
``max_concurrency = "auto"`` they run no controller of their own, the
coordinator's one per replica sets the limit (:mod:`.adaptive`). A
retried attempt first asks the coordinator which pages the driver already
has, replays one placeholder for each (see :mod:`.ledger`) and converts
the rest.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
import queue
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..chain import build_chain
from ..endpoints import SlotOutcome
from ..pages import PageResult
from ..pipeline import QuietObserver, convert_pages, render_options
from ..settings import Settings
from ..sources import open_source
from .budget import replica_key
from .items import PageDone, RangeSpec, RangeStats, Replayed
from .spending import SharedSpending

__all__ = ["ActorBudget", "convert_range"]

Item = PageDone | Replayed | RangeStats


class ActorBudget:
    """A pool's :class:`~docling_hybrid_cli.endpoints.ReplicaBudget` kept by the coordinator actor.

    ``holder`` is the task's key: a later attempt of the same task frees what
    this one still held if it dies mid-request. ``limits`` are the replicas'
    limits as the coordinator last said (at the task's start, then with
    every slot granted): a shared adaptive replica's capacity in this worker.
    """

    def __init__(self, coordinator: Any, holder: str, limits: dict[str, int]) -> None:
        self.coordinator = coordinator
        self.holder = holder
        self.limits = dict(limits)
        self._tickets = itertools.count()

    async def take(self, backend: str, replicas: Sequence[str]) -> tuple[str, object]:
        ticket = next(self._tickets)
        keys = [replica_key(backend, label) for label in replicas]
        try:
            key, lease, limit = await self.coordinator.take.remote(self.holder, ticket, keys)
        except asyncio.CancelledError:
            self.coordinator.abandon.remote(self.holder, ticket)
            raise
        if limit:
            self.limits[key] = limit
        return replicas[keys.index(key)], lease

    def give_back(
        self,
        lease: object,
        latency_s: float | None,
        outcome: SlotOutcome,
        completion_tokens: int | None = None,
    ) -> None:
        self.coordinator.give_back.remote(lease, latency_s, outcome, completion_tokens)

    def granted(self, backend: str, replica: str) -> int | None:
        return self.limits.get(replica_key(backend, replica))


_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def convert_range(
    spec: RangeSpec, data: bytes, settings: Settings, coordinator: Any
) -> Iterator[Item]:
    """The body of the Ray task (a streaming generator): pages as they finish, then stats."""
    import ray

    start = ray.get(coordinator.start_task.remote(spec.task))
    for page in start.received:
        yield Replayed(page)
    done = set(start.received)
    todo = [p for p in spec.pages if p not in done]
    if not todo:
        yield RangeStats(0.0, 0.0, 0, _node_id())
        return
    exit_after = spec.hooks.exit_after_pages if start.attempt == 0 else None
    with tempfile.TemporaryDirectory(prefix="docling-hybrid-ray-") as tmp:
        path = Path(tmp) / (Path(spec.name).name or "input")
        path.write_bytes(data)
        del data
        yield from _Runner(spec, path, settings, coordinator, todo, exit_after).items()


def _node_id() -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


class _Runner:
    """The pipeline on its own loop thread, its pages handed to the generator by a queue."""

    def __init__(
        self,
        spec: RangeSpec,
        path: Path,
        settings: Settings,
        coordinator: Any,
        todo: list[int],
        exit_after: int | None,
    ) -> None:
        self.spec = spec
        self.path = path
        self.settings = settings
        self.coordinator = coordinator
        self.todo = todo
        self.exit_after = exit_after
        self.out: queue.Queue[object] = queue.Queue()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.main: asyncio.Task[Any] | None = None
        self.ready = threading.Event()
        self.delivered = 0

    def items(self) -> Iterator[Item]:
        thread = threading.Thread(target=self._thread, name=f"convert {self.spec.task}")
        thread.start()
        try:
            while (item := self.out.get()) is not _END:
                if isinstance(item, _Failed):
                    raise item.error
                assert isinstance(item, PageDone | RangeStats)
                yield item
        finally:
            # Cancelled (ray.cancel, Ctrl-C on the driver) or done: stop the pipeline's loop.
            self.ready.wait()
            if self.loop is not None and self.main is not None and not self.main.done():
                self.loop.call_soon_threadsafe(self.main.cancel)
            thread.join()

    def _thread(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # the generator re-raises it: Ray reports the task failed
            self.out.put(_Failed(exc))
        finally:
            self.ready.set()
            self.out.put(_END)

    async def _run(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.main = asyncio.current_task()
        self.ready.set()
        settings = self.settings
        limits = await self.coordinator.limits.remote()
        budget = ActorBudget(self.coordinator, self.spec.task, limits)
        spending = SharedSpending(self.coordinator, settings.convert.max_cost)
        chain = build_chain(settings, spending=spending)
        for backend in chain.backends:
            pool = getattr(backend, "pool", None)
            if pool is not None:
                pool.use_budget(budget)
        try:
            renderer = open_source(
                self.path,
                render_options(settings.convert, extract_text=self.spec.extract_text),
                password=self.spec.password,
                figure_prefix=self.spec.figure_prefix,
            )
            async with renderer:
                await renderer.open()
                result = await convert_pages(
                    renderer, self.todo, chain, settings.convert, QuietObserver(), self._deliver
                )
            self.out.put(
                RangeStats(result.render_ms, result.encode_ms, result.image_bytes, _node_id())
            )
        finally:
            await chain.aclose()

    def _deliver(self, page: PageResult) -> None:
        # A copy: the pipeline drops the page's figures and blocks once it is delivered.
        self.out.put(PageDone(copy.copy(page)))
        self.delivered += 1
        if self.exit_after is not None and self.delivered >= self.exit_after:
            self._die_for_test()

    def _die_for_test(self) -> None:
        """The ``exit_after_pages`` hook: exit like a killed worker once the driver has them.

        It blocks the pipeline's loop on purpose, so no further request is sent.
        """
        import time

        import ray

        while ray.get(self.coordinator.received_count.remote(self.spec.task)) < self.delivered:
            time.sleep(0.05)
        os._exit(17)
