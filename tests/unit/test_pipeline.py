"""The document pipeline: ordered output from out-of-order pages, and its two bounds."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.errors import CorruptPdf, PageRangeError
from docling_hybrid_cli.pages import Figure, PageImage, PageResult, PageText
from docling_hybrid_cli.pipeline import (
    DocumentJob,
    DocumentResult,
    convert_document,
    figures_dir_for,
)
from docling_hybrid_cli.render import PdfRenderer
from docling_hybrid_cli.settings import ConvertSettings

Notify = Callable[[str, str], None]


class FakeChain:
    """Answers every page with its number and pixel size after a random short sleep.

    Records how many convert() calls overlap. With ``gate`` set, calls wait until
    that many are in flight at once (or the pages run out), so reaching the
    concurrency limit does not depend on timing.
    """

    def __init__(self, *, seed: int = 0, max_sleep_s: float = 0.01, gate: int = 0) -> None:
        self.rng = random.Random(seed)
        self.max_sleep_s = max_sleep_s
        self.gate = gate
        self.in_flight = 0
        self.max_in_flight = 0
        self.calls: list[int] = []
        self.finish_order: list[int] = []
        self._gate_open = asyncio.Event() if gate else None

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        self.calls.append(page.page)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if notify is not None:
            notify("sent", "fake")
        try:
            if self._gate_open is not None:
                if self.in_flight >= self.gate:
                    self._gate_open.set()
                try:
                    await asyncio.wait_for(self._gate_open.wait(), timeout=5)
                except TimeoutError:
                    self._gate_open.set()  # the assertion on max_in_flight will say why
            await asyncio.sleep(self.rng.uniform(0, self.max_sleep_s))
        finally:
            self.in_flight -= 1
        self.finish_order.append(page.page)
        text = PageText(
            markdown=f"page {page.page} is {page.width}x{page.height}", backend="fake", model="m"
        )
        return PageResult(page=page.page, text=text, attempts=1)

    async def aclose(self) -> None:
        return None


class Recorder:
    """A ConvertObserver that tracks how many rendered pages are alive at once."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.states: list[tuple[int, str]] = []
        self.finished: list[PageResult] = []
        self.documents: list[DocumentResult] = []
        self.alive = 0
        self.max_alive = 0
        self._rendered: set[int] = set()

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self.started = list(pages)

    def page_state(self, page: int, state: str, detail: str = "") -> None:
        self.states.append((page, state))
        if state == "queued":  # rendered, image now held in memory
            self._rendered.add(page)
            self.alive += 1
            self.max_alive = max(self.max_alive, self.alive)

    def page_finished(self, result: PageResult) -> None:
        self.finished.append(result)
        if result.page in self._rendered:
            self.alive -= 1

    def document_finished(self, result: DocumentResult) -> None:
        self.documents.append(result)


@pytest.fixture(scope="module")
def pdf20(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 20-page PDF; page n renders (600+2n) px wide at 144 dpi."""
    return make_pdf(tmp_path_factory.mktemp("pdf") / "doc20.pdf", 20)


@pytest.fixture(scope="module")
def pdf6(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 6-page PDF."""
    return make_pdf(tmp_path_factory.mktemp("pdf") / "doc6.pdf", 6)


def run(
    source: Path,
    out: Path,
    chain: FakeChain,
    *,
    pages: str | None = None,
    observer: Recorder | None = None,
    **convert: object,
) -> tuple[DocumentResult, Recorder]:
    """Convert ``source`` into ``out`` with the fake chain."""
    recorder = observer or Recorder()
    settings = ConvertSettings(page_separator="\n<!-- {page} -->\n", **convert)  # type: ignore[arg-type]
    job = DocumentJob(source=source, output=out, pages=pages)
    result = asyncio.run(convert_document(job, chain, settings, recorder))  # type: ignore[arg-type]
    return result, recorder


def page_numbers_in(markdown: str) -> list[int]:
    """The page numbers the fake chain wrote, in file order; checks each size too."""
    found = [(int(n), int(w)) for n, w in re.findall(r"page (\d+) is (\d+)x800", markdown)]
    for n, width in found:
        assert width == 600 + 2 * n, f"page {n} got the image of another page"
    return [n for n, _ in found]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_markdown_in_page_order_when_pages_finish_out_of_order(
    pdf20: Path, tmp_path: Path, seed: int
) -> None:
    """Pages completing in random order still land in page order, each exactly once."""
    chain = FakeChain(seed=seed, max_sleep_s=0.02)
    result, recorder = run(pdf20, tmp_path / "doc.md", chain, concurrency=8)
    markdown = (tmp_path / "doc.md").read_text("utf-8")
    assert page_numbers_in(markdown) == list(range(1, 21))
    assert sorted(chain.calls) == list(range(1, 21))
    assert [p.page for p in result.pages] == list(range(1, 21))
    assert all(p.ok for p in result.pages)
    assert result.page_count == 20
    assert "<!-- 2 -->" in markdown
    assert recorder.documents == [result]
    assert len(recorder.finished) == 20


def test_out_of_order_completion_really_happens(pdf20: Path, tmp_path: Path) -> None:
    """The fake chain does finish pages out of order, so the ordering test means something."""
    chain = FakeChain(seed=7, max_sleep_s=0.03, gate=8)
    run(pdf20, tmp_path / "doc.md", chain, concurrency=8)
    assert chain.finish_order != sorted(chain.finish_order)


@pytest.mark.parametrize("concurrency", [1, 3, 6])
def test_concurrency_limit_reached_and_never_exceeded(
    pdf20: Path, tmp_path: Path, concurrency: int
) -> None:
    """With concurrency N, exactly N pages are in the chain at once at the peak."""
    chain = FakeChain(gate=concurrency, max_sleep_s=0.005)
    run(pdf20, tmp_path / "doc.md", chain, concurrency=concurrency, render_ahead=2)
    assert chain.max_in_flight == concurrency


@pytest.mark.parametrize(("concurrency", "render_ahead"), [(1, 1), (2, 2), (4, 1), (3, 5)])
def test_render_ahead_bounds_images_in_memory(
    pdf20: Path, tmp_path: Path, concurrency: int, render_ahead: int
) -> None:
    """Rendered-but-unfinished pages never exceed concurrency + render_ahead + 1."""
    chain = FakeChain(max_sleep_s=0.02)
    _, recorder = run(
        pdf20, tmp_path / "doc.md", chain, concurrency=concurrency, render_ahead=render_ahead
    )
    assert recorder.max_alive <= concurrency + render_ahead + 1
    assert recorder.alive == 0


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("2-3,5", [2, 3, 5]), ("5-", [5, 6]), ("-2", [1, 2]), ("4", [4]), ("all", [1, 2, 3, 4, 5, 6])],
)
def test_page_selection(pdf6: Path, tmp_path: Path, spec: str, expected: list[int]) -> None:
    """--pages selects exactly those pages, rendered and written in order."""
    chain = FakeChain()
    result, recorder = run(pdf6, tmp_path / "doc.md", chain, pages=spec)
    assert sorted(chain.calls) == expected
    assert recorder.started == expected
    assert [p.page for p in result.pages] == expected
    assert page_numbers_in((tmp_path / "doc.md").read_text("utf-8")) == expected


@pytest.mark.parametrize("spec", ["9-1", "0", "7", "2-x"])
def test_bad_page_selection_fails_before_any_request(pdf6: Path, tmp_path: Path, spec: str) -> None:
    """A bad --pages is a PageRangeError; nothing is sent and no output is written."""
    chain = FakeChain()
    with pytest.raises(PageRangeError):
        run(pdf6, tmp_path / "doc.md", chain, pages=spec)
    assert chain.calls == []
    assert not (tmp_path / "doc.md").exists()


def test_render_failure_is_one_failed_page(
    pdf6: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A page that cannot be rendered becomes a failed page with a placeholder; the rest convert."""
    original = PdfRenderer.render

    async def render(self: PdfRenderer, page_no: int) -> PageImage:
        if page_no == 2:
            raise CorruptPdf(f"{self.path}: page 2 cannot be loaded (bad xref)")
        return await original(self, page_no)

    monkeypatch.setattr(PdfRenderer, "render", render)
    chain = FakeChain()
    result, recorder = run(pdf6, tmp_path / "doc.md", chain)
    assert 2 not in chain.calls
    assert [p.page for p in result.failed] == [2]
    [error] = result.failed[0].errors
    assert (error.backend, error.kind) == ("render", "CorruptPdf")
    assert [p.page for p in result.converted] == [1, 3, 4, 5, 6]
    markdown = (tmp_path / "doc.md").read_text("utf-8")
    assert "<!-- page 2 failed: render: " in markdown
    assert "bad xref" in markdown
    assert page_numbers_in(markdown) == [1, 3, 4, 5, 6]
    assert len(recorder.finished) == 6


def test_figure_prefix_and_output_location(pdf6: Path, tmp_path: Path) -> None:
    """Pages carry the figures dir name as their link prefix; output dirs are created."""
    seen: list[str] = []

    class PrefixChain(FakeChain):
        async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
            seen.append(page.figure_prefix)
            return await super().convert(page, notify)

    out = tmp_path / "nested" / "dir" / "report.md"
    run(pdf6, out, PrefixChain(), pages="1-2")
    assert set(seen) == {"report_images/"}
    assert figures_dir_for(out) == out.parent / "report_images"
    assert out.exists()
    assert not out.with_name(".report.md.partial").exists()


def test_result_accounting(pdf6: Path, tmp_path: Path) -> None:
    """The DocumentResult counts bytes, render time and backends for the summary."""
    result, _ = run(pdf6, tmp_path / "doc.md", FakeChain())
    assert result.image_bytes > 0
    assert result.render_ms > 0
    assert result.by_backend == {"fake": 6}
    assert result.failed == []
    assert result.seconds > 0


def test_page_states_reported(pdf6: Path, tmp_path: Path) -> None:
    """Each page goes rendering -> queued -> sent, in that order, through the observer."""
    _, recorder = run(pdf6, tmp_path / "doc.md", FakeChain(), pages="3")
    assert [s for p, s in recorder.states if p == 3] == ["rendering", "queued", "sent"]


def test_chain_crash_aborts_and_keeps_partial(pdf6: Path, tmp_path: Path) -> None:
    """A bug in the chain surfaces as itself (not an ExceptionGroup); no final file is written."""

    class Boom(FakeChain):
        async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
            if page.page == 3:
                raise RuntimeError("boom")
            return await super().convert(page, notify)

    out = tmp_path / "doc.md"
    with pytest.raises(RuntimeError, match="boom"):
        run(pdf6, out, Boom(), concurrency=1)
    assert not out.exists()
    assert out.with_name(".doc.md.partial").exists()


class BlocksChain(FakeChain):
    """Answers with a structured page: a heading, an HTML table, a figure with its caption."""

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        result = await super().convert(page, notify)
        assert result.text is not None
        name = f"page-{page.page:04d}-fig-1.jpg"
        blocks = (
            Block("title", f"# page {page.page}"),
            Block("image", "", ((0.1, 0.1, 0.5, 0.5),), (name,)),
            Block("image_caption", "<center>Figure</center>"),
            Block("table", "<table><tr><td>\\(x\\)</td></tr></table>"),
        )
        figures = (Figure(name=name, data=b"\xff\xd8jpeg"),)
        result.text = replace(result.text, blocks=blocks, figures=figures)
        return result


@pytest.mark.parametrize(
    ("style", "table"),
    [({}, "| $x$ |\n| --- |"), ({"tables": "html", "math": "latex"}, "<td>\\(x\\)</td>")],
)
def test_pages_are_written_in_the_runs_style_and_their_blocks_let_go(
    pdf6: Path, tmp_path: Path, style: dict[str, str], table: str
) -> None:
    """The writer renders the blocks in convert's style; finished pages keep no blocks."""
    out = tmp_path / "styled.md"
    result, _ = run(pdf6, out, BlocksChain(), pages="1-2", **style)
    markdown = out.read_text("utf-8")
    assert markdown.count(table) == 2
    assert "![Figure](styled_images/page-0002-fig-1.jpg)\n\nFigure" in markdown
    assert (tmp_path / "styled_images" / "page-0002-fig-1.jpg").read_bytes() == b"\xff\xd8jpeg"
    for page in result.pages:
        assert page.text is not None
        assert page.text.blocks == ()
        assert [f.data for f in page.text.figures] == [b""]
