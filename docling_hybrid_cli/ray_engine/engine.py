"""The driver's side of one document: its pages as Ray tasks, streamed back in any order.

:class:`RayPages` is the :class:`~docling_hybrid_cli.pipeline.PageEngine` the
driver gives :func:`~docling_hybrid_cli.pipeline.convert_document`: that
function still opens the document here, holds the output's lock, reuses
and stores checkpoints and writes the Markdown in order; this engine only
gets the pages that are not checkpointed and calls ``finish`` for each one
a task streams back.

A document longer than ``ray.split_pages`` becomes several tasks, one per
range of that many pages, running wherever the cluster has room; its input
bytes go into the object store once, shared by its tasks. After each page
the driver tells the coordinator, so a retried task skips it. A page no
task delivered -- its task failed for good, or a retry lost a race with
the driver's bookkeeping -- gets one more task; then it is a failed page
saying why, and the run's exit code is 1 as for any failed page.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..pages import AttemptError, PageResult
from ..pipeline import DocumentJob, DocumentResult, figures_dir_for
from ..settings import Settings
from .items import PageDone, RangeSpec, RangeStats, Replayed, TaskHooks

__all__ = ["RayPages", "RunTally", "page_ranges"]

_ROUNDS = 2
"""Tasks per range at most: the first, and one for pages it did not deliver."""


def page_ranges(pages: list[int], page_count: int, split_pages: int) -> list[list[int]]:
    """The tasks of a document: all its pages, or ranges of ``split_pages`` if it is longer."""
    if page_count <= split_pages:
        return [pages]
    return [pages[i : i + split_pages] for i in range(0, len(pages), split_pages)]


@dataclass
class RunTally:
    """What the run did on the cluster, for the summary and the report."""

    tasks: int = 0
    retried_tasks: int = 0
    """Tasks Ray ran again after their worker or node died."""
    repair_tasks: int = 0
    nodes: set[str] = field(default_factory=set)
    """The Ray nodes that ran tasks of this run."""


class RayPages:
    """Converts a document's missing pages as Ray tasks; one instance serves the whole batch."""

    def __init__(
        self,
        remote: Any,
        coordinator: Any,
        settings: Settings,
        *,
        extract_text: bool,
        hooks: TaskHooks | None = None,
        notice: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self.remote = remote
        self.coordinator = coordinator
        self.settings = settings
        self.extract_text = extract_text
        self.hooks = hooks or TaskHooks()
        self.notice = notice
        self.tally = RunTally()
        self._documents = 0

    async def __call__(
        self,
        job: DocumentJob,
        pages: list[int],
        finish: Callable[[PageResult], None],
        result: DocumentResult,
    ) -> None:
        import ray

        self._documents += 1
        document = self._documents
        data = await asyncio.to_thread(job.source.read_bytes)
        data_ref = ray.put(data)
        del data
        split = self.settings.ray.split_pages
        figure_prefix = f"{figures_dir_for(job.output).name}/"
        async with asyncio.TaskGroup() as group:
            for pages_of_task in page_ranges(pages, result.page_count, split):
                spec = RangeSpec(
                    task=f"{document}:{pages_of_task[0]}",
                    name=job.source.name,
                    pages=tuple(pages_of_task),
                    figure_prefix=figure_prefix,
                    extract_text=self.extract_text,
                    password=job.password,
                    hooks=self.hooks,
                )
                group.create_task(self._range(spec, data_ref, finish, result))

    async def _range(
        self,
        spec: RangeSpec,
        data_ref: Any,
        finish: Callable[[PageResult], None],
        result: DocumentResult,
    ) -> None:
        """One range's tasks until every page is back (or given up, as failed pages)."""
        got: set[int] = set()
        error: AttemptError | None = None
        for round_no in range(_ROUNDS):
            todo = tuple(p for p in spec.pages if p not in got)
            if not todo:
                return
            if round_no:
                self.tally.repair_tasks += 1
                spec = _replace_spec(spec, task=f"{spec.task}:again", pages=todo)
            error = await self._stream(spec, data_ref, got, finish, result)
            if error is not None:
                break
        reason = error or AttemptError(
            "ray", "no task delivered this page", "RayPageLost", transient=True
        )
        for page in spec.pages:
            if page not in got:
                got.add(page)
                finish(PageResult(page=page, errors=[reason]))

    async def _stream(
        self,
        spec: RangeSpec,
        data_ref: Any,
        got: set[int],
        finish: Callable[[PageResult], None],
        result: DocumentResult,
    ) -> AttemptError | None:
        """Run one task, finishing each page it streams back; its failure, if it failed."""
        import ray

        self.tally.tasks += 1
        stream = self.remote.remote(spec, data_ref, self.settings, self.coordinator)
        wanted = set(spec.pages)
        try:
            async for ref in stream:
                item = await ref
                if isinstance(item, PageDone):
                    page = item.result
                    if page.page in wanted and page.page not in got:
                        got.add(page.page)
                        finish(page)  # checkpointed before the coordinator hears of it
                    self.coordinator.received.remote(spec.task, page.page)
                elif isinstance(item, Replayed):  # kept by Ray only if its index was free
                    self.coordinator.received.remote(spec.task, item.page)
                elif isinstance(item, RangeStats):
                    result.render_ms += item.render_ms
                    result.encode_ms += item.encode_ms
                    result.image_bytes += item.image_bytes
                    if item.node:
                        self.tally.nodes.add(item.node)
        except ray.exceptions.RayError as exc:
            await self._task_over(spec)
            return _task_error(exc)
        except BaseException:
            # Ctrl-C or SIGTERM (cancelled), or this document's output failed: stop the task
            # (what was finished is checkpointed) and free its slots, without waiting.
            with contextlib.suppress(Exception):
                ray.cancel(stream)
                self.coordinator.finish_task.remote(spec.task)
            raise
        await self._task_over(spec)
        return None

    async def _task_over(self, spec: RangeSpec) -> None:
        """Free what the task's attempts may still hold; tell the user if Ray retried it."""
        attempts = await self.coordinator.finish_task.remote(spec.task)
        if attempts > 1:
            self.tally.retried_tasks += 1
            self.notice(
                f"note: Ray ran task {spec.task} ({len(spec.pages)} pages) {attempts} times "
                "(its worker or node died); pages already back were not converted again"
            )
        return None


def _replace_spec(spec: RangeSpec, *, task: str, pages: tuple[int, ...]) -> RangeSpec:
    from dataclasses import replace

    return replace(spec, task=task, pages=pages, hooks=TaskHooks())


def _task_error(exc: BaseException) -> AttemptError:
    """A task that failed for good, as the error its undelivered pages carry."""
    from ..textclean import one_line

    cause = getattr(exc, "cause", None)
    shown = cause if isinstance(cause, BaseException) else exc
    text = one_line(str(shown).strip().splitlines()[-1] if str(shown).strip() else "", 300)
    kind = type(shown).__name__
    return AttemptError("ray", f"the task failed: {kind}" + (f": {text}" if text else ""), kind)
