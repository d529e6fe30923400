"""What ``convert --ray`` calls: a session on the cluster that converts a batch.

The session is opened before the command installs its SIGTERM handler
(``ray.init`` installs one of its own) and closed after the batch, which
stops the local Ray instance if the command started one.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

from ..batch import BatchResult
from ..pipeline import ConvertObserver, DocumentJob
from ..settings import Settings
from .items import TaskHooks

__all__ = ["RayBatchRunner", "ray_session"]

RayBatchRunner = Callable[[Sequence[DocumentJob], ConvertObserver], Awaitable[BatchResult]]


@contextmanager
def ray_session(
    settings: Settings,
    address: str | None,
    *,
    verbose: bool = False,
    use_cache: bool = True,
    skip_existing: bool = False,
    cache_encrypted: bool = False,
    hooks: TaskHooks | None = None,
) -> Iterator[RayBatchRunner]:
    """Connect to Ray; yield the coroutine function that converts a batch there."""
    from . import require_ray

    require_ray()
    from .cluster import connect
    from .driver import convert_batch_ray

    if not (address or settings.ray.address):
        import os

        if not os.environ.get("RAY_ADDRESS"):
            sys.stderr.write(
                f"starting a local Ray instance ({settings.ray.local_cpus} CPUs); "
                "--ray-address or RAY_ADDRESS joins a cluster\n"
            )
    with connect(settings, address) as cluster:
        if verbose:
            sys.stderr.write(
                f"ray: {cluster.alive_nodes} nodes, {cluster.cpus} CPUs "
                f"(connected in {cluster.start_s:.1f} s)\n"
            )

        async def run(jobs: Sequence[DocumentJob], observer: ConvertObserver) -> BatchResult:
            batch = await convert_batch_ray(
                jobs,
                settings,
                observer,
                cluster,
                use_cache=use_cache,
                skip_existing=skip_existing,
                cache_encrypted=cache_encrypted,
                hooks=hooks,
            )
            batch.engine_detail["start_s"] = round(cluster.start_s, 3)
            return batch

        yield run
