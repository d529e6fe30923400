"""The document pipeline: ordered output from out-of-order pages, and its two bounds."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from pdfgen import make_encrypted_pdf, make_pdf

from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.checkpoint import Checkpoints, document_key
from docling_hybrid_cli.errors import CorruptPdf, OutputBusy, OutputWriteError, PageRangeError
from docling_hybrid_cli.outputlock import OutputLock
from docling_hybrid_cli.pages import AttemptError, Figure, PageImage, PageResult, PageText
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
        self.notices: list[str] = []
        self.alive = 0
        self.max_alive = 0
        self._rendered: set[int] = set()

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self.started = list(pages)

    def page_state(self, job: DocumentJob, page: int, state: str, detail: str = "") -> None:
        self.states.append((page, state))
        if state == "queued":  # rendered, image now held in memory
            self._rendered.add(page)
            self.alive += 1
            self.max_alive = max(self.max_alive, self.alive)

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        self.finished.append(result)
        if result.page in self._rendered:
            self.alive -= 1

    def document_finished(self, result: DocumentResult) -> None:
        self.documents.append(result)

    def notice(self, message: str) -> None:
        self.notices.append(message)


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
    checkpoints: Checkpoints | None = None,
    password: str | None = None,
    **convert: object,
) -> tuple[DocumentResult, Recorder]:
    """Convert ``source`` into ``out`` with the fake chain."""
    recorder = observer or Recorder()
    settings = ConvertSettings(page_separator="\n<!-- {page} -->\n", **convert)  # type: ignore[arg-type]
    job = DocumentJob(source=source, output=out, pages=pages, password=password)
    result = asyncio.run(
        convert_document(job, chain, settings, recorder, checkpoints=checkpoints)  # type: ignore[arg-type]
    )
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
    assert not list(out.parent.glob(".report.md.*"))


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
    assert len(list(tmp_path.glob(".doc.md.*.partial"))) == 1
    assert not (tmp_path / ".doc.md.lock").exists()


# --------------------------------------------------------------------------- files and checkpoints


class FigureChain(FakeChain):
    """Page 1 carries a figure linked under the page's prefix; pages in ``fail`` fail."""

    def __init__(self, *, fail: Sequence[int] = (), **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.fail = set(fail)

    async def convert(self, page: PageImage, notify: Notify | None = None) -> PageResult:
        result = await super().convert(page, notify)
        if page.page in self.fail:
            error = AttemptError("fake", "HTTP 500", "BackendServerError")
            return PageResult(page=page.page, errors=[error], attempts=1)
        if page.page == 1 and result.text is not None:
            link = f"\n\n![]({page.figure_prefix}{FIGURE})\n"
            result.text = replace(
                result.text,
                markdown=result.text.markdown + link,
                figures=(Figure(FIGURE, FIGURE_BYTES),),
            )
        return result


FIGURE = "page-0001-fig-1.jpg"
FIGURE_BYTES = b"the figure of page 1"


def checkpoints_in(root: Path, recorder: Recorder, **options: bool) -> Checkpoints:
    return Checkpoints(root, ConvertSettings(), [], warn=recorder.notice, **options)


def entries(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("page-*.json"))


def test_resume_into_another_output_links_to_its_own_figures(pdf6: Path, tmp_path: Path) -> None:
    """The checkpoint stores a placeholder: a re-run with another -o name links (and writes)
    the figures into that output's own ``<name>_images/``."""
    recorder = Recorder()
    first = tmp_path / "first.md"
    run(pdf6, first, FigureChain(fail=[2]), checkpoints=checkpoints_in(tmp_path / "c", recorder))
    assert f"![](first_images/{FIGURE})" in first.read_text("utf-8")

    second = tmp_path / "second.md"
    chain = FigureChain()
    run(pdf6, second, chain, checkpoints=checkpoints_in(tmp_path / "c", recorder))
    assert 1 not in chain.calls and 2 in chain.calls
    markdown = second.read_text("utf-8")
    assert f"![](second_images/{FIGURE})" in markdown
    assert "first_images" not in markdown
    assert (tmp_path / "second_images" / FIGURE).read_bytes() == FIGURE_BYTES
    assert recorder.notices == []


def test_doctored_checkpoint_cannot_write_outside_the_output(pdf6: Path, tmp_path: Path) -> None:
    """A figure name ``../../x`` in a checkpoint refuses that page's entry: it is converted
    again and nothing is written outside the output folder."""
    recorder = Recorder()
    out = tmp_path / "out" / "doc.md"
    run(pdf6, out, FigureChain(fail=[2]), checkpoints=checkpoints_in(tmp_path / "c", recorder))
    [entry] = list((tmp_path / "c").rglob("page-00001.json"))
    record = json.loads(entry.read_text("utf-8"))
    record["figures"] = ["../../escaped.jpg"]
    entry.write_text(json.dumps(record), "utf-8")
    (tmp_path / "c" / "escaped.jpg").write_bytes(b"planted")  # what the name would read

    chain = FigureChain()
    run(pdf6, out, chain, checkpoints=checkpoints_in(tmp_path / "c", recorder))
    assert 1 in chain.calls
    assert not (tmp_path / "escaped.jpg").exists()
    assert sorted(p.name for p in (tmp_path / "out" / "doc_images").iterdir()) == [FIGURE]
    assert f"![](doc_images/{FIGURE})" in out.read_text("utf-8")


@pytest.mark.parametrize("cached", [True, False], ids=["checkpoints", "no-checkpoints"])
def test_write_error_fails_the_document_and_keeps_its_checkpoints(
    pdf6: Path, tmp_path: Path, cached: bool
) -> None:
    """An output that cannot be written mid-run: OutputWriteError (exit 1), the partial file
    removed, the lock released, converted pages checkpointed for the re-run."""
    recorder = Recorder()
    checkpoints = checkpoints_in(tmp_path / "c", recorder) if cached else None
    out = tmp_path / "doc.md"
    (tmp_path / "doc_images").write_text("a file where the figures folder goes")
    with pytest.raises(OutputWriteError, match="cannot write") as info:
        run(pdf6, out, FigureChain(), checkpoints=checkpoints, concurrency=1)
    assert info.value.exit_code == 1
    assert ("checkpointed" in str(info.value)) is cached
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["c", "doc_images"] if cached else ["doc_images"]
    )
    if not cached:
        return
    assert "page-00001.json" in entries(tmp_path / "c")
    (tmp_path / "doc_images").unlink()
    chain = FigureChain()
    run(pdf6, out, chain, checkpoints=checkpoints_in(tmp_path / "c", recorder))
    assert 1 not in chain.calls
    assert page_numbers_in(out.read_text("utf-8")) == [1, 2, 3, 4, 5, 6]
    assert (tmp_path / "doc_images" / FIGURE).read_bytes() == FIGURE_BYTES


def test_checkpoint_write_failure_warns_and_the_document_goes_on(
    pdf6: Path, tmp_path: Path
) -> None:
    """A checkpoint that cannot be written turns the cache off with one warning; every page
    is still converted and written."""
    recorder = Recorder()
    key = document_key(hashlib.sha256(pdf6.read_bytes()).hexdigest(), ConvertSettings(), [])
    (tmp_path / "c" / key / "page-00003.json").mkdir(parents=True, mode=0o700)
    (tmp_path / "c").chmod(0o700)
    result, _ = run(
        pdf6, tmp_path / "doc.md", FakeChain(), checkpoints=checkpoints_in(tmp_path / "c", recorder)
    )
    assert result.failed == []
    assert page_numbers_in((tmp_path / "doc.md").read_text("utf-8")) == [1, 2, 3, 4, 5, 6]
    assert len(recorder.notices) == 1 and recorder.notices[0].startswith("warning: cannot write")


@pytest.mark.parametrize("allow", [False, True], ids=["default", "cache-encrypted"])
def test_encrypted_pages_are_checkpointed_only_when_asked(tmp_path: Path, allow: bool) -> None:
    """A PDF opened with its password keeps no plain text in the cache unless allowed."""
    secret = make_encrypted_pdf(tmp_path / "secret.pdf", "pw", pages=3)
    recorder = Recorder()
    checkpoints = checkpoints_in(tmp_path / "c", recorder, cache_encrypted=allow)
    run(secret, tmp_path / "secret.md", FakeChain(), checkpoints=checkpoints, password="pw")
    run(
        secret, tmp_path / "again.md", FigureChain(fail=[2]), checkpoints=checkpoints, password="pw"
    )
    assert entries(tmp_path / "c") == (["page-00001.json", "page-00003.json"] if allow else [])
    assert [n.split(":")[0] for n in recorder.notices] == ([] if allow else ["note"])


def test_a_password_for_an_unencrypted_pdf_does_not_stop_checkpoints(
    pdf6: Path, tmp_path: Path
) -> None:
    """The one password of a batch is tried on every input; plain PDFs are cached as usual."""
    recorder = Recorder()
    checkpoints = checkpoints_in(tmp_path / "c", recorder)
    run(pdf6, tmp_path / "doc.md", FigureChain(fail=[2]), checkpoints=checkpoints, password="pw")
    assert len(entries(tmp_path / "c")) == 5
    assert recorder.notices == []


def test_busy_output_is_refused_before_any_request(pdf6: Path, tmp_path: Path) -> None:
    """Another holder of the output's lock: OutputBusy (exit 2), no page sent, nothing written."""
    out = tmp_path / "doc.md"
    chain = FakeChain()
    with OutputLock(out), pytest.raises(OutputBusy, match=f"pid {os.getpid()}") as info:
        run(pdf6, out, chain)
    assert info.value.exit_code == 2
    assert chain.calls == []
    assert not out.exists()


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
