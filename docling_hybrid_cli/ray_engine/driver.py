"""The batch on Ray: many documents at once, each written by the driver alone.

The driver keeps what must stay single: progress, the summary and report,
the outputs (written atomically, in page order, by the ordinary
:func:`~docling_hybrid_cli.pipeline.convert_document`) and the page
checkpoints. Ray runs the page work (:class:`.engine.RayPages`). Up to
``ray.documents_in_flight`` documents are open at once (default twice the
cluster's CPUs, so every CPU has a task and the next one is ready); each
holds its input in the object store and its ordered writer in memory.

Everything else reads as :func:`~docling_hybrid_cli.batch.convert_batch`:
an unusable file is recorded and skipped (raised when it is the only
one), an output that cannot be written is recorded, finished documents go
to the manifest, ``--skip-existing`` skips them.

With ``max_concurrency = "auto"`` the replicas' controllers run in the
coordinator (:mod:`.adaptive`); the driver shows their limits in the
progress (asking every :data:`LIMITS_EVERY_S`) and puts their traces in the
summary and the report, as a local run does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from ..batch import BatchResult, FileFailure, open_checkpoints
from ..errors import OutputWriteError, UsageError
from ..manifest import FinishedDocuments
from ..pipeline import (
    ConvertObserver,
    DocumentJob,
    DocumentResult,
    convert_document,
    first_error,
)
from ..settings import Settings
from ..spending import SpendingCap
from .adaptive import budget_entries
from .cluster import RayCluster
from .engine import RayPages
from .items import TaskHooks

__all__ = ["LIMITS_EVERY_S", "convert_batch_ray"]

LIMITS_EVERY_S = 0.5
"""How often the driver asks the coordinator for the adaptive limits, for the progress."""


async def convert_batch_ray(
    jobs: Sequence[DocumentJob],
    settings: Settings,
    observer: ConvertObserver,
    cluster: RayCluster,
    *,
    use_cache: bool = True,
    skip_existing: bool = False,
    cache_encrypted: bool = False,
    hooks: TaskHooks | None = None,
) -> BatchResult:
    """Convert every job on the cluster; the result says ``engine="ray"`` and the nodes used."""
    started = time.perf_counter()
    result = BatchResult(spending=SpendingCap(settings.convert.max_cost), engine="ray", nodes=0)
    coordinator = cluster.coordinator(budget_entries(settings), settings)
    await coordinator.start.remote()
    engine = RayPages(
        cluster.range_task(settings.ray.max_task_retries),
        coordinator,
        settings,
        extract_text=any(config.needs_text_layer for config in settings.chain),
        hooks=hooks,
        notice=observer.notice,
    )
    finished = FinishedDocuments(settings)
    checkpoints = open_checkpoints(
        settings, observer, use_cache=use_cache, cache_encrypted=cache_encrypted
    )
    room = asyncio.Semaphore(settings.ray.documents_in_flight or 2 * cluster.cpus)
    done: dict[int, DocumentResult] = {}

    async def one(index: int, job: DocumentJob) -> None:
        try:
            document = await convert_document(
                job,
                None,
                settings.convert,
                observer,
                checkpoints=checkpoints,
                engine=engine,
            )
        except UsageError as exc:
            if len(jobs) == 1:
                raise
            result.failures.append(FileFailure(job, exc))
            return
        except OutputWriteError as exc:
            result.write_failures.append(FileFailure(job, exc))
            return
        finally:
            room.release()
        done[index] = document
        finished.record(document)

    follower = asyncio.create_task(_follow_limits(coordinator, observer))
    try:
        async with asyncio.TaskGroup() as group:
            for index, job in enumerate(jobs):
                if skip_existing and finished.is_finished(job):
                    result.skipped.append(job)
                    continue
                await room.acquire()  # a task per document in flight, not per document
                group.create_task(one(index, job))
    except BaseExceptionGroup as group_error:
        raise first_error(group_error) from None
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
    result.concurrency = await coordinator.concurrency_report.remote()
    for backend, cost in (await coordinator.spent.remote()).items():
        result.spending.record(backend, cost)
    await coordinator.stop.remote()
    result.documents = [done[i] for i in sorted(done)]
    result.nodes = len(engine.tally.nodes)
    result.engine_detail = {
        "tasks": engine.tally.tasks,
        "retried_tasks": engine.tally.retried_tasks,
        "repair_tasks": engine.tally.repair_tasks,
        "cluster_cpus": cluster.cpus,
        "budget": await coordinator.budget_stats.remote(),
    }
    result.seconds = time.perf_counter() - started
    return result


async def _follow_limits(coordinator: Any, observer: ConvertObserver) -> None:
    """Show the adaptive limits in the progress when they change (until cancelled).

    Only the progress depends on it: if the coordinator cannot answer, the
    tasks learn it themselves and the progress simply stops showing limits.
    """
    shown: dict[str, dict[str, int]] = {}
    while True:
        try:
            limits = await coordinator.adaptive_limits.remote()
        except Exception:
            return
        if limits and limits != shown:
            shown = limits
            observer.concurrency(limits)
        await asyncio.sleep(LIMITS_EVERY_S)
