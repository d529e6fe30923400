"""The batch scheduler: when the next document opens, what stays bounded, and what a
cancellation or a crash leaves, with a fake chain that can hold chosen pages forever."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.checkpoint import Checkpoints
from docling_hybrid_cli.pages import PageImage, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob, DocumentResult, convert_document
from docling_hybrid_cli.scheduler import convert_overlapping
from docling_hybrid_cli.settings import ConvertSettings
from docling_hybrid_cli.slots import RequestSlots
from docling_hybrid_cli.turns import NOT_STARTED, DocumentTurn

Notify = Callable[[str, str], None]


def doc_pdf(folder: Path, index: int, pages: int) -> Path:
    """Page n of document ``index`` is (300 + 100 * index + n) pt wide: its image names both."""
    widths = [300.0 + 100 * index + n for n in range(1, pages + 1)]
    return make_pdf(folder / f"doc{index}.pdf", pages, widths=widths)


def checkpoints_in(root: Path) -> Checkpoints:
    """Checkpoints that fail the test on any warning (a checkpoint that could not be kept)."""

    def warn(message: str) -> None:
        pytest.fail(message)

    return Checkpoints(root, ConvertSettings(), [], warn=warn)


def whose(page: PageImage) -> tuple[int, int]:
    points = page.width // 2 - 300
    return points // 100, points % 100


class HoldingChain:
    """Answers at once, except the pages in ``hold`` (document, page), which wait forever;
    ``crash`` pages raise. Records the requests in flight across documents."""

    def __init__(
        self, hold: Sequence[tuple[int, int]] = (), crash: Sequence[tuple[int, int]] = ()
    ) -> None:
        self.hold = set(hold)
        self.crash = set(crash)
        self.in_flight = 0
        self.max_in_flight = 0
        self.sent: list[tuple[int, int]] = []

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        key = whose(page)
        self.sent.append(key)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if key in self.crash:
                raise RuntimeError(f"bug on {key}")
            if key in self.hold:
                await asyncio.Event().wait()
            await asyncio.sleep(0)
        finally:
            self.in_flight -= 1
        return PageResult(page=page.page, text=PageText(markdown=f"p{key}", backend="fake"))

    async def aclose(self) -> None:
        return None


class Log:
    """A ConvertObserver keeping the documents open and the pages finished."""

    def __init__(self) -> None:
        self.open: set[str] = set()
        self.most_open = 0
        self.finished: dict[str, list[int]] = {}
        self.on_page: Callable[[Log], None] = lambda log: None

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self.open.add(job.source.name)
        self.most_open = max(self.most_open, len(self.open))

    def page_state(self, job: DocumentJob, page: int, state: str, detail: str = "") -> None: ...

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        self.finished.setdefault(job.source.name, []).append(result.page)
        self.on_page(self)

    def document_finished(self, result: DocumentResult) -> None:
        self.open.discard(result.job.source.name)

    def notice(self, message: str) -> None: ...


async def run_batch(
    pdfs: Sequence[Path],
    out: Path,
    chain: HoldingChain,
    log: Log,
    *,
    concurrency: int = 4,
    open_documents: int = 8,
    checkpoints: Checkpoints | None = None,
) -> list[DocumentResult]:
    settings = ConvertSettings(concurrency=concurrency, render_ahead=2)
    jobs = [DocumentJob(pdf, out / pdf.with_suffix(".md").name) for pdf in pdfs]

    async def one(job: DocumentJob, turn: DocumentTurn) -> DocumentResult:
        return await convert_document(
            job,
            chain,  # type: ignore[arg-type]
            settings,
            log,
            checkpoints=checkpoints,
            turn=turn,
        )

    return await convert_overlapping(
        jobs,
        one,
        RequestSlots(concurrency),
        open_documents=open_documents,
        render_ahead=settings.render_ahead,
    )


def test_priority_orders_documents_then_pages() -> None:
    slots = RequestSlots(1)
    first, second = DocumentTurn(slots, rank=0), DocumentTurn(slots, rank=1)
    order = [
        first.priority(3),
        first.priority(NOT_STARTED),
        second.priority(1),
        second.priority(NOT_STARTED),
    ]
    assert order == sorted(order) and len(set(order)) == 4


async def settle(task: asyncio.Task[object], ticks: int = 100) -> None:
    """Let the batch run as far as it can (its held pages never answer), then cancel it."""
    for _ in range(ticks):
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("open_documents", [1, 2, 3])
def test_open_documents_are_bounded(tmp_path: Path, open_documents: int) -> None:
    """Ten 1-page documents whose pages never answer: exactly ``open_documents`` open, the
    rest wait, though slots are free."""
    pdfs = [doc_pdf(tmp_path, index, 1) for index in range(10)]
    log = Log()
    chain = HoldingChain(hold=[(index, 1) for index in range(10)])

    async def main() -> None:
        batch = run_batch(pdfs, tmp_path, chain, log, concurrency=8, open_documents=open_documents)
        await settle(asyncio.create_task(batch))

    asyncio.run(main())
    assert log.most_open == open_documents
    assert sorted(chain.sent) == [(index, 1) for index in range(open_documents)]


def test_results_come_back_in_input_order(tmp_path: Path) -> None:
    """The first document is the slowest to finish; results still list it first."""
    pdfs = [doc_pdf(tmp_path, 0, 6), *(doc_pdf(tmp_path, index, 1) for index in range(1, 4))]
    results = asyncio.run(run_batch(pdfs, tmp_path, HoldingChain(), Log(), concurrency=8))
    assert [r.job.source.name for r in results] == [p.name for p in pdfs]
    assert [len(r.converted) for r in results] == [6, 1, 1, 1]


def test_next_document_waits_while_enough_pages_are_pending(tmp_path: Path) -> None:
    """A document whose pages are held keeps the next one closed while its unfinished pages
    fill the slots and the render-ahead (here 2 slots + 2 rendered = 4 pages)."""
    pdfs = [doc_pdf(tmp_path, 0, 4), doc_pdf(tmp_path, 1, 1)]
    log, chain = Log(), HoldingChain(hold=[(0, 1), (0, 2)])

    async def main() -> None:
        await settle(asyncio.create_task(run_batch(pdfs, tmp_path, chain, log, concurrency=2)))

    asyncio.run(main())
    assert log.open == {"doc0.pdf"}
    assert chain.sent == [(0, 1), (0, 2)]


def test_cancel_mid_overlap_keeps_checkpoints_of_both_documents(tmp_path: Path) -> None:
    """Ctrl-C while two documents are open: neither output is final, both keep the pages
    they finished as checkpoints, and a re-run sends only the rest."""
    pdfs = [doc_pdf(tmp_path, 0, 5), doc_pdf(tmp_path, 1, 4)]
    out = tmp_path / "md"
    out.mkdir()
    cache = tmp_path / "cache"
    log = Log()
    chain = HoldingChain(hold=[(0, 5), (1, 4)])

    async def main() -> None:
        task = asyncio.create_task(
            run_batch(pdfs, out, chain, log, checkpoints=checkpoints_in(cache))
        )

        def stop_when_both_partial(seen: Log) -> None:
            if (
                len(seen.finished.get("doc0.pdf", [])) == 4
                and len(seen.finished.get("doc1.pdf", [])) == 3
            ):
                task.cancel()

        log.on_page = stop_when_both_partial
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert sorted(log.finished["doc0.pdf"]) == [1, 2, 3, 4]
    assert sorted(log.finished["doc1.pdf"]) == [1, 2, 3]
    assert not (out / "doc0.md").exists() and not (out / "doc1.md").exists()
    stored = sorted(p.name for p in cache.rglob("page-*.json"))
    assert stored == sorted(
        [f"page-{n:05d}.json" for n in (1, 2, 3, 4)] + [f"page-{n:05d}.json" for n in (1, 2, 3)]
    )

    again = HoldingChain()
    results = asyncio.run(run_batch(pdfs, out, again, Log(), checkpoints=checkpoints_in(cache)))
    assert sorted(again.sent) == [(0, 5), (1, 4)]
    assert [len(r.converted) for r in results] == [5, 4]
    assert not list(cache.rglob("page-*.json"))  # whole documents done: checkpoints let go


def test_a_crash_in_one_document_stops_the_batch_and_is_raised_unwrapped(tmp_path: Path) -> None:
    """A bug (not a document's own error) cancels every open document and surfaces as itself."""
    pdfs = [doc_pdf(tmp_path, 0, 3), doc_pdf(tmp_path, 1, 3)]
    chain = HoldingChain(hold=[(0, 3)], crash=[(1, 2)])
    with pytest.raises(RuntimeError, match=r"bug on \(1, 2\)"):
        asyncio.run(run_batch(pdfs, tmp_path, chain, Log()))
    assert not (tmp_path / "doc0.md").exists() and not (tmp_path / "doc1.md").exists()


def test_slots_are_shared_across_documents(tmp_path: Path) -> None:
    """Held pages of two documents: together never more than the batch's slots."""
    pdfs = [doc_pdf(tmp_path, index, 3) for index in range(4)]
    chain = HoldingChain()
    results = asyncio.run(run_batch(pdfs, tmp_path, chain, Log(), concurrency=3))
    assert chain.max_in_flight <= 3
    assert [len(r.converted) for r in results] == [3, 3, 3, 3]
