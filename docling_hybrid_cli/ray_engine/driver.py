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
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from ..batch import BatchResult, FileFailure, cache_root
from ..checkpoint import Checkpoints
from ..errors import OutputWriteError, UsageError
from ..manifest import FinishedDocuments
from ..pipeline import ConvertObserver, DocumentJob, DocumentResult, convert_document
from ..settings import Settings
from ..spending import SpendingCap
from .cluster import RayCluster, replica_limits
from .engine import RayPages
from .items import TaskHooks

__all__ = ["convert_batch_ray"]


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
    coordinator = cluster.coordinator(replica_limits(settings))
    engine = RayPages(
        cluster.range_task(settings.ray.max_task_retries),
        coordinator,
        settings,
        extract_text=any(config.needs_text_layer for config in settings.chain),
        hooks=hooks,
        notice=observer.notice,
    )
    finished = FinishedDocuments(settings)
    checkpoints = None
    if use_cache and settings.cache.enabled:
        checkpoints = Checkpoints(
            cache_root(settings),
            settings.convert,
            settings.chain,
            warn=observer.notice,
            cache_encrypted=cache_encrypted,
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

    try:
        async with asyncio.TaskGroup() as group:
            for index, job in enumerate(jobs):
                if skip_existing and finished.is_finished(job):
                    result.skipped.append(job)
                    continue
                await room.acquire()  # a task per document in flight, not per document
                group.create_task(one(index, job))
    except BaseExceptionGroup as group_error:
        raise _first_error(group_error) from None
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


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A task group wraps failures; the caller wants the one that mattered, unwrapped."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return _first_error(exc)
        return exc
    return group
