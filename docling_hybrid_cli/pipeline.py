"""Convert one document: bounded rendering, bounded requests, ordered output.

Shape of a run::

    renderer (one pdfium thread) ──► queue (render_ahead) ──► N workers ──► chain ──► writer
                                                                             │
                                                          out of order ──────┘ in order to disk

The queue bound is the backpressure: the renderer stays at most
``render_ahead`` pages ahead of the requests in flight (``convert.concurrency``
slots; ``"auto"``: the first backend's limits, which move), so memory depends
on those and not on the page count. Twice as many workers as the most slots:
a page asleep before a retry lends its slot to one ready to send
(:mod:`~docling_hybrid_cli.slots`). A worker takes a slot before a page, so
images in memory are at most the slots held, as many asleep in a backoff,
``render_ahead`` queued and two being rendered. The writer puts pages on disk
in order as soon as the prefix is complete.

In a batch the request slots belong to the batch, not the document
(:class:`DocumentTurn`): once a document has handed every page to its
workers, the scheduler opens the next one, whose pages take the slots the
first one's last pages leave free; earlier documents keep priority.

A page that failed on every backend only for transient reasons (5xx, 429,
dropped connections, timeouts) is not written yet: once every other page is
done it is rendered again and gets one more pass through the chain, and the
ordered output simply waits for it. Deterministic failures (rejections,
empty or cut-off answers) are final at once: trying again would repeat them
and spend quota.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from .chain import FallbackChain
from .checkpoint import Checkpoints, PageCache
from .documents import DocumentJob, DocumentResult
from .errors import DoclingHybridError, OutputWriteError
from .formats import DOCLING_FORMATS, output_paths
from .memory import tune_glibc_malloc
from .output import MarkdownWriter
from .outputlock import OutputLock
from .page_engine import PageEngine, pages_by_engine
from .pageranges import parse_page_range
from .pages import AttemptError, Figure, PageImage, PageResult, PageState
from .render import PageSource, RenderOptions
from .settings import ConvertSettings
from .slots import request_slots, slot_counts
from .sources import open_source
from .turns import NOT_STARTED, DocumentTurn

if TYPE_CHECKING:
    from .docling_document import DoclingCollector

__all__ = [
    "ConvertObserver",
    "DocumentJob",
    "DocumentResult",
    "QuietObserver",
    "convert_document",
    "convert_pages",
    "figures_dir_for",
    "first_error",
    "render_options",
]


class ConvertObserver(Protocol):
    """What the pipeline tells the outside world; the CLI draws progress from it."""

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None: ...

    def page_state(self, job: DocumentJob, page: int, state: PageState, detail: str = "") -> None:
        """Page ``page`` of ``job`` moved on; several documents may have pages in flight."""

    def page_finished(self, job: DocumentJob, result: PageResult) -> None: ...

    def document_finished(self, result: DocumentResult) -> None: ...

    def notice(self, message: str) -> None:
        """A ``warning: ...`` or ``note: ...`` line for the user (the cache turned off, say)."""

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        """Adaptive backends' replica limits changed: ``{backend: {replica URL: limit}}``."""


class QuietObserver:
    """A :class:`ConvertObserver` that shows nothing: for callers that read the results instead.

    The benchmark reads each DocumentResult; a Ray worker's pages go to the
    driver, whose own observer draws the progress.
    """

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        return None

    def page_state(self, job: DocumentJob, page: int, state: PageState, detail: str = "") -> None:
        return None

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        return None

    def document_finished(self, result: DocumentResult) -> None:
        return None

    def notice(self, message: str) -> None:
        return None

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        return None


def figures_dir_for(output: Path) -> Path:
    """Figures cropped from ``report.md`` go to ``report_images/`` beside it."""
    return output.with_name(f"{output.stem}_images")


def render_options(convert: ConvertSettings, *, extract_text: bool) -> RenderOptions:
    return RenderOptions(
        dpi=convert.dpi,
        max_side=convert.max_side,
        image_format=convert.image_format,
        jpeg_quality=convert.jpeg_quality,
        jpeg_subsampling=convert.jpeg_subsampling,
        extract_text=extract_text,
        skip_blank=convert.skip_blank_pages,
        reference_text=convert.text_agreement,  # the reference for quality/review.py
    )


async def convert_document(
    job: DocumentJob,
    chain: FallbackChain | None,
    convert: ConvertSettings,
    observer: ConvertObserver,
    *,
    extract_text: bool = False,
    checkpoints: Checkpoints | None = None,
    turn: DocumentTurn | None = None,
    engine: PageEngine | None = None,
) -> DocumentResult:
    """Convert ``job`` and write its Markdown; failed pages become placeholders.

    ``turn`` places the document in an overlapping batch (shared request
    slots, its rank among the documents); without one the document has
    ``convert.concurrency`` slots of its own.

    Raises the input errors of :mod:`docling_hybrid_cli.errors` before any
    request is sent, and :class:`OutputBusy` if another run is writing the
    same output. Pages found in the run's ``checkpoints`` are reused without
    rendering; every newly converted page is checkpointed as it finishes, so
    after Ctrl-C (cancellation) a re-run sends only what is missing, and the
    partial file beside the output keeps the pages written so far. A write
    error on the output mid-run is an :class:`OutputWriteError`: its partial
    file is removed, its checkpoints stay. With an ``engine`` the pages not
    checkpointed are converted by it instead of here (``chain`` may then be None).
    """
    started = time.perf_counter()
    tune_glibc_malloc()  # flat RSS on long documents (memory.py)
    figures_dir = figures_dir_for(job.output)
    figure_prefix = f"{figures_dir.name}/"
    renderer = open_source(
        job.source,
        render_options(convert, extract_text=extract_text),
        password=job.password,
        figure_prefix=figure_prefix,
    )
    result = DocumentResult(job=job)
    if turn is None:
        turn = DocumentTurn(request_slots(convert.concurrency, _capacity(chain)))
    async with renderer:
        result.page_count = await renderer.open()
        pages = parse_page_range(job.pages, result.page_count)
        # Locked before anything is written beside the output; an unusable input never gets here.
        with OutputLock(job.output):
            cache = None
            if checkpoints is not None:
                cache = await checkpoints.for_source(renderer, figure_prefix)
            writer = MarkdownWriter(
                job.output,
                pages,
                separator=convert.page_separator,
                figures_dir=figures_dir,
                style=convert.markdown_style,
            )
            writer.open()
            observer.document_started(job, pages)
            turn.opened(len(pages))
            run = _DocumentRun(renderer, chain, convert, observer, writer.add, result, cache, turn)
            run.engine = engine
            if DOCLING_FORMATS.intersection(convert.to):
                from .docling_document import DoclingCollector

                paths = output_paths(job.output, convert.to)
                run.docling = DoclingCollector(paths, figures_dir, convert.json_images)
            try:
                done = await run.pages(pages)
                result.pages = [done[p] for p in pages]
                if run.docling is not None:
                    await run.docling.write(renderer, pages)
                if "md" in convert.to:
                    writer.commit()
                else:
                    writer.discard()
            except OutputWriteError as exc:
                writer.discard()
                if cache is not None and cache.active:
                    raise OutputWriteError(
                        f"{exc}; its converted pages are checkpointed: "
                        "run the same command again to resume"
                    ) from None
                raise
            finally:
                writer.close()
    if cache is not None and not result.failed and len(result.pages) == result.page_count:
        # Only a whole document done lets go of its pages: after ``--pages 1-2`` the
        # checkpoints of the other pages (an interrupted full run's) are still wanted.
        cache.clear()
    result.seconds = time.perf_counter() - started
    observer.document_finished(result)
    return result


async def convert_pages(
    renderer: PageSource,
    pages: list[int],
    chain: FallbackChain,
    convert: ConvertSettings,
    observer: ConvertObserver,
    deliver: Callable[[PageResult], None],
) -> DocumentResult:
    """The page work of :func:`convert_document` alone, for a Ray task (:mod:`.ray_engine`).

    No output, lock or checkpoint: ``deliver`` gets each final page as it
    finishes (then the page's figures and blocks are dropped here: copy it).
    """
    result = DocumentResult(job=DocumentJob(source=Path("-"), output=Path("-")))
    result.page_count = len(pages)
    turn = DocumentTurn(request_slots(convert.concurrency, chain.request_capacity()))
    turn.opened(len(pages))
    run = _DocumentRun(renderer, chain, convert, observer, deliver, result, None, turn)
    done = await run.pages(pages)
    result.pages = [done[p] for p in pages]
    return result


_RENDERS_IN_FLIGHT = 2
_WORKERS_PER_SLOT = 2
"""Pages in progress per request slot: the spare ones use the slots of pages asleep in a backoff."""


class _DocumentRun:
    """The moving parts of one document's conversion, shared by its tasks."""

    def __init__(
        self,
        renderer: PageSource,
        chain: FallbackChain | None,
        convert: ConvertSettings,
        observer: ConvertObserver,
        sink: Callable[[PageResult], None],
        result: DocumentResult,
        cache: PageCache | None,
        turn: DocumentTurn,
    ) -> None:
        self.renderer = renderer
        self.chain = chain
        self.convert = convert
        self.observer = observer
        self.sink = sink  # the ordered writer, or a task's driver (convert_pages)
        self.engine: PageEngine | None = None
        self.result = result
        self.cache = cache
        self.done: dict[int, PageResult] = {}
        self.turn = turn
        self.slots = turn.slots
        self.deferred: dict[int, PageResult] = {}
        """Pages that failed only for transient reasons in the first pass, kept for the last."""
        self.last_pass = False
        self.docling: DoclingCollector | None = None
        """Keeps the pages' blocks for the DoclingDocument (``--to json|html|text|doctags``)."""
        self._limits: dict[str, dict[str, int]] = {}

    def finish(self, page: PageResult) -> None:
        """Record a page's final state: checkpoint, output, progress.

        The checkpoint comes first: if the output cannot be written (disk
        full), the page is still there for the re-run.
        """
        if (first_pass := self.deferred.pop(page.page, None)) is not None:
            page = _merge_passes(first_pass, page)
        self.done[page.page] = page
        if self.cache is not None and not page.from_cache:
            self.cache.store(page)
        self.sink(page)
        if self.docling is not None:
            self.docling.add(page)
        if page.text is not None and (page.text.figures or page.text.blocks):
            # Written now (and checkpointed): keep only the figures' names and drop
            # the blocks, so memory does not grow with the page count.
            names = tuple(Figure(name=f.name, data=b"") for f in page.text.figures)
            page.text = replace(page.text, figures=names, blocks=())
        self.observer.page_finished(self.result.job, page)
        self.turn.report(finished=1)

    def _slot_counts(self) -> tuple[int, int]:
        return slot_counts(self.convert.concurrency, _capacity(self.chain))

    def _follow_limits(self) -> None:
        """Resize the request slots to the adaptive limits, and show them when they moved."""
        self.slots.resize(self._slot_counts()[0])
        limits = self.chain.concurrency_limits() if self.chain is not None else {}
        if limits != self._limits:
            self._limits = limits
            self.observer.concurrency(limits)

    async def pages(self, pages: list[int]) -> dict[int, PageResult]:
        """Every page through the chain, then the transient failures once more."""
        if self.engine is not None:
            await pages_by_engine(self.engine, pages, self.cache, self.finish, self.result)
            return self.done
        await self._pass(pages)
        if self.deferred:
            self.last_pass = True
            await self._pass(sorted(self.deferred))
        return self.done

    async def _pass(self, pages: list[int]) -> None:
        queue: asyncio.Queue[PageImage | None] = asyncio.Queue(maxsize=self.convert.render_ahead)
        workers = max(1, min(self._slot_counts()[1] * _WORKERS_PER_SLOT, len(pages)))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._produce(pages, queue, workers))
                for _ in range(workers):
                    group.create_task(self._work(queue))
        except BaseExceptionGroup as group_error:
            raise first_error(group_error) from None

    async def _produce(
        self, pages: list[int], queue: asyncio.Queue[PageImage | None], workers: int
    ) -> None:
        """Render pages in order, two at a time, into the bounded queue.

        Two renders overlap so that page N+1 is rasterised on the pdfium
        thread while page N is JPEG-encoded on another thread (both release
        the GIL): the renderer then keeps up with ~1/max(render, encode)
        pages/s instead of 1/(render + encode).
        """
        window: deque[tuple[int, asyncio.Task[PageImage]]] = deque()
        try:
            for page_no in pages:
                if self.cache is not None and (cached := self.cache.load(page_no)) is not None:
                    self.finish(cached)
                    continue
                self.observer.page_state(self.result.job, page_no, "rendering")
                window.append((page_no, asyncio.create_task(self.renderer.render(page_no))))
                if len(window) >= _RENDERS_IN_FLIGHT:
                    await self._enqueue(*window.popleft(), queue)
            while window:
                await self._enqueue(*window.popleft(), queue)
        finally:
            for _, task in window:
                task.cancel()
        self.turn.report(handed_off=True)
        for _ in range(workers):
            await queue.put(None)

    async def _enqueue(
        self,
        page_no: int,
        rendering: asyncio.Task[PageImage],
        queue: asyncio.Queue[PageImage | None],
    ) -> None:
        try:
            image = await rendering
        except DoclingHybridError as exc:
            error = AttemptError("render", str(exc), type(exc).__name__)
            self.finish(PageResult(page=page_no, errors=[error]))
            return
        self.result.render_ms += image.render_ms
        self.result.encode_ms += image.encode_ms
        self.result.image_bytes += len(image.data)
        self.observer.page_state(self.result.job, page_no, "queued")
        await queue.put(image)

    async def _work(self, queue: asyncio.Queue[PageImage | None]) -> None:
        """Take a request slot, then a page; convert it; repeat until the queue says stop.

        The slot comes first so that a worker without one holds no page image:
        only pages asleep before a retry add to the images in memory.
        """
        while True:
            self._follow_limits()
            async with self.slots.hold(priority=self.turn.priority(NOT_STARTED)) as lease:
                if (image := await queue.get()) is None:
                    return
                page_no = image.page
                lease.priority = self.turn.priority(page_no)

                def notify(state: PageState, detail: str = "", _page: int = page_no) -> None:
                    self.observer.page_state(self.result.job, _page, state, detail)

                assert self.chain is not None  # only an engine run has none, and it renders nothing
                page_result = await self.chain.convert(image, notify)
            del image
            if not self.last_pass and _only_transient(page_result):
                self.deferred[page_no] = page_result
                notify("retrying", "server trouble on every backend; one more pass at the end")
                continue
            self.finish(page_result)


def _capacity(chain: FallbackChain | None) -> tuple[int, int, bool]:
    """The chain's first backend's (limit now, most, adaptive?); one slot when an engine works."""
    return chain.request_capacity() if chain is not None else (1, 1, False)


def _only_transient(result: PageResult) -> bool:
    """Failed, and every backend failed for a reason that may be gone a little later."""
    return not result.ok and bool(result.errors) and all(e.transient for e in result.errors)


def _merge_passes(first: PageResult, last: PageResult) -> PageResult:
    """One page's record over both passes: the errors and attempts of each, in order."""
    last.errors = [*first.errors, *last.errors]
    last.attempts += first.attempts
    last.latency_s += first.latency_s
    return last


def first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """A task group wraps failures; callers want the one that mattered, unwrapped."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            return first_error(exc)
        return exc
    return group
