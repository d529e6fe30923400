"""Documents of one batch overlap (issue 17): the next document's pages fill the request
slots the previous one's tail leaves free, through the real batch against the simulated
server. Order is read from the server's event clock (``RequestRecord.started``/``finished``),
never from wall time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.batch import BatchResult, convert_batch
from docling_hybrid_cli.errors import EXIT_PAGES_FAILED, EXIT_USAGE, OutputWriteError, UsageError
from docling_hybrid_cli.jobs import plan_jobs
from docling_hybrid_cli.pages import PageResult
from docling_hybrid_cli.pipeline import DocumentJob, DocumentResult
from docling_hybrid_cli.settings import load_settings
from docling_hybrid_cli.sim import MockConfig, MockServer
from docling_hybrid_cli.sim.config import RequestRecord

PAGE_SIZE = re.compile(r"# Page (\d+)x\d+")


def doc_pdf(folder: Path, index: int, pages: int) -> Path:
    """Document ``index``: page n is (300 + 100 * index + n) pt wide, so an image's width
    names its document and page (rendered at 144 dpi: twice that in pixels)."""
    widths = [300.0 + 100 * index + n for n in range(1, pages + 1)]
    return make_pdf(folder / f"doc{index}.pdf", pages, widths=widths)


def whose(record: RequestRecord) -> tuple[int, int]:
    """(document index, page) of the image a request carried."""
    assert record.width is not None
    points = record.width // 2 - 300
    return points // 100, points % 100


def pages_written(markdown: Path) -> list[tuple[int, int]]:
    """(document index, page) of every page in a Markdown file, in file order."""
    widths = [int(w) for w in PAGE_SIZE.findall(markdown.read_text("utf-8"))]
    return [((w // 2 - 300) // 100, (w // 2 - 300) % 100) for w in widths]


class Recorder:
    """A ConvertObserver keeping which document each event named."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, int]] = []
        """(event, document, page): in the order the batch reported them."""

    def document_started(self, job: DocumentJob, pages: Sequence[int]) -> None:
        self.events.append(("started", job.source.name, 0))

    def page_state(self, job: DocumentJob, page: int, state: str, detail: str = "") -> None:
        self.events.append((state, job.source.name, page))

    def page_finished(self, job: DocumentJob, result: PageResult) -> None:
        self.events.append(("page finished", job.source.name, result.page))

    def document_finished(self, result: DocumentResult) -> None:
        self.events.append(("finished", result.job.source.name, 0))

    def notice(self, message: str) -> None: ...


@pytest.fixture
def server() -> Iterator[MockServer]:
    """Plain answers after 0.3 s each: slow enough that a document's tail is visible."""
    with MockServer(MockConfig(style="plain", latency_s=0.3)) as mock:
        yield mock


def batch(
    server: MockServer,
    inputs: Sequence[Path],
    out: Path,
    *,
    concurrency: int,
    observer: Recorder | None = None,
    skip_existing: bool = False,
    **convert: Any,
) -> BatchResult:
    overrides = {
        "backends.fallback_chain": ["deepseek-vllm"],
        "backends.deepseek-vllm.base_url": f"{server.url}/v1",
        "convert.concurrency": concurrency,
        **{f"convert.{key}": value for key, value in convert.items()},
    }
    settings = load_settings(overrides=overrides).settings
    jobs = plan_jobs(list(inputs), output=out)
    return asyncio.run(
        convert_batch(jobs, settings, observer or Recorder(), skip_existing=skip_existing)
    )


def chat(server: MockServer) -> list[RequestRecord]:
    return [r for r in server.stats.requests if r.path.endswith("/chat/completions")]


def test_second_document_starts_before_the_first_is_answered(
    server: MockServer, tmp_path: Path
) -> None:
    """The second document's first request reaches the server before the first document's
    last answer leaves it; both outputs hold their own pages, in page order."""
    inputs = [doc_pdf(tmp_path, 0, 5), doc_pdf(tmp_path, 1, 5)]
    observer = Recorder()
    result = batch(server, inputs, tmp_path / "md", concurrency=4, observer=observer)

    assert result.exit_code == 0
    records = chat(server)
    first = [r for r in records if whose(r)[0] == 0]
    second = [r for r in records if whose(r)[0] == 1]
    assert len(first) == len(second) == 5
    assert min(r.started for r in second if r.started is not None) < max(
        r.finished for r in first if r.finished is not None
    )
    assert server.stats.max_in_flight == 4
    for index in (0, 1):
        assert pages_written(tmp_path / "md" / f"doc{index}.md") == [
            (index, n) for n in range(1, 6)
        ]
    assert [d.job.source.name for d in result.documents] == ["doc0.pdf", "doc1.pdf"]
    # The observer is told which document each page belongs to, both being open at once.
    events = observer.events
    assert events.index(("started", "doc1.pdf", 0)) < events.index(("finished", "doc0.pdf", 0))
    assert events.index(("sent", "doc1.pdf", 1)) < events.index(("page finished", "doc0.pdf", 5))
    for name in ("doc0.pdf", "doc1.pdf"):
        done = [page for event, doc, page in events if event == "page finished" and doc == name]
        assert sorted(done) == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("concurrency", [3, 5])
def test_concurrency_bounds_the_whole_batch(
    server: MockServer, tmp_path: Path, concurrency: int
) -> None:
    """Six 2-page documents at -j N: the server never holds more than N requests, and holds
    N at some point -- more than any one document could fill."""
    inputs = [doc_pdf(tmp_path, index, 2) for index in range(6)]
    result = batch(server, inputs, tmp_path / "md", concurrency=concurrency)
    assert result.exit_code == 0
    assert server.stats.max_in_flight == concurrency
    assert len(chat(server)) == 12
    for index in range(6):
        assert pages_written(tmp_path / "md" / f"doc{index}.md") == [(index, 1), (index, 2)]


def test_earlier_documents_are_served_first(server: MockServer, tmp_path: Path) -> None:
    """With slots to spare only for the oldest document, its pages go out before a later
    document's: requests reach the server in (document, page) order at -j 1."""
    inputs = [doc_pdf(tmp_path, index, 3) for index in range(3)]
    result = batch(server, inputs, tmp_path / "md", concurrency=1)
    assert result.exit_code == 0
    sent = [whose(r) for r in sorted(chat(server), key=lambda r: r.started or 0)]
    assert sent == [(d, n) for d in range(3) for n in (1, 2, 3)]


def test_one_document_at_a_time_when_asked(server: MockServer, tmp_path: Path) -> None:
    """``open_documents = 1``: the old behaviour, the next document's first request only
    after the previous document's last answer."""
    inputs = [doc_pdf(tmp_path, 0, 5), doc_pdf(tmp_path, 1, 5)]
    result = batch(server, inputs, tmp_path / "md", concurrency=4, open_documents=1)
    assert result.exit_code == 0
    records = chat(server)
    last_answer = max(r.finished or 0 for r in records if whose(r)[0] == 0)
    assert all((r.started or 0) > last_answer for r in records if whose(r)[0] == 1)


def test_unreadable_middle_file_is_recorded_and_the_others_overlap(
    server: MockServer, tmp_path: Path
) -> None:
    """A broken file between two good ones: recorded (exit 2), the others converted, results
    in input order."""
    broken = tmp_path / "doc1.pdf"
    broken.write_bytes(b"%PDF-1.7 not really")
    inputs = [doc_pdf(tmp_path, 0, 3), broken, doc_pdf(tmp_path, 2, 3)]
    result = batch(server, inputs, tmp_path / "md", concurrency=4)
    assert result.exit_code == EXIT_USAGE
    assert [f.job.source.name for f in result.failures] == ["doc1.pdf"]
    assert isinstance(result.failures[0].error, UsageError)
    assert [d.job.source.name for d in result.documents] == ["doc0.pdf", "doc2.pdf"]
    assert pages_written(tmp_path / "md" / "doc2.md") == [(2, 1), (2, 2), (2, 3)]
    assert not (tmp_path / "md" / "doc1.md").exists()


def test_a_single_unreadable_file_raises(server: MockServer, tmp_path: Path) -> None:
    broken = tmp_path / "doc0.pdf"
    broken.write_bytes(b"%PDF-1.7 not really")
    with pytest.raises(UsageError):
        batch(server, [broken], tmp_path / "md", concurrency=4)


def test_unwritable_middle_output_is_recorded_and_the_others_written(tmp_path: Path) -> None:
    """The middle document's figures folder is a file (its output cannot be written): it
    is a write failure (exit 1), its pages stay checkpointed, the documents around it are
    written."""
    inputs = [doc_pdf(tmp_path, index, 3) for index in range(3)]
    out = tmp_path / "md"
    out.mkdir()
    (out / "doc1_images").write_text("a file where the figures folder goes")
    with MockServer(MockConfig(style="deepseek", latency_s=0.1)) as deepseek:
        result = batch(deepseek, inputs, out, concurrency=4)
    assert result.exit_code == EXIT_PAGES_FAILED
    assert [f.job.source.name for f in result.write_failures] == ["doc1.pdf"]
    assert isinstance(result.write_failures[0].error, OutputWriteError)
    assert "checkpointed" in str(result.write_failures[0].error)
    assert [d.job.source.name for d in result.documents] == ["doc0.pdf", "doc2.pdf"]
    assert (out / "doc0.md").exists() and (out / "doc2.md").exists()
    assert not (out / "doc1.md").exists()
    assert not list(out.glob(".doc1.md.*.partial"))


def test_skip_existing_converts_only_what_is_missing(server: MockServer, tmp_path: Path) -> None:
    """After a full batch, a re-run with --skip-existing sends nothing; with one output
    removed, only that document's pages."""
    inputs = [doc_pdf(tmp_path, index, 3) for index in range(4)]
    out = tmp_path / "md"
    assert batch(server, inputs, out, concurrency=4).exit_code == 0
    server.reset_stats()
    again = batch(server, inputs, out, concurrency=4, skip_existing=True)
    assert [j.source.name for j in again.skipped] == [p.name for p in inputs]
    assert chat(server) == []

    (out / "doc2.md").unlink()
    third = batch(server, inputs, out, concurrency=4, skip_existing=True)
    assert [j.source.name for j in third.skipped] == ["doc0.pdf", "doc1.pdf", "doc3.pdf"]
    assert [d.job.source.name for d in third.documents] == ["doc2.pdf"]
    assert sorted(whose(r) for r in chat(server)) == [(2, 1), (2, 2), (2, 3)]
    assert pages_written(out / "doc2.md") == [(2, 1), (2, 2), (2, 3)]


def test_cli_plain_progress_names_each_document(server: MockServer, tmp_path: Path) -> None:
    """``convert DIR`` with progress to a log: every page line names its document and counts
    that document's pages; the --json summary lists the documents in input order."""
    import json

    from typer.testing import CliRunner

    from docling_hybrid_cli.cli import app

    folder = tmp_path / "in"
    folder.mkdir()
    for index in range(3):
        doc_pdf(folder, index, 2)
    args = ["convert", str(folder), "-o", str(tmp_path / "md"), "-j", "3", "--json"]
    args += ["--backend", "deepseek-vllm", "--base-url", f"{server.url}/v1"]
    run = CliRunner().invoke(app, args)
    assert run.exit_code == 0, run.stderr
    page_lines = [line for line in run.stderr.splitlines() if " page " in line]
    assert len(page_lines) == 6
    for index in range(3):
        mine = [line for line in page_lines if line.startswith(f"{folder / f'doc{index}.pdf'} ")]
        assert len(mine) == 2 and "(2/2, " in mine[-1]
    summary = json.loads(run.stdout)
    assert [Path(d["input"]).name for d in summary["documents"]] == [
        "doc0.pdf",
        "doc1.pdf",
        "doc2.pdf",
    ]


def test_ctrl_c_mid_batch_keeps_finished_documents_and_the_rest_checkpointed(
    server: MockServer, tmp_path: Path
) -> None:
    """A real process stopped with SIGINT while the second document is under way: the first
    document is written and recorded, the second's answered pages are checkpointed, and a
    re-run with --skip-existing skips the first and sends only the second's missing pages."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    doc_pdf(folder, 0, 6)
    doc_pdf(folder, 1, 30)
    out = tmp_path / "md"
    args = [sys.executable, "-m", "docling_hybrid_cli", "convert", str(folder), "-o", str(out)]
    args += ["-j", "4", "--skip-existing", "--backend", "deepseek-vllm"]
    args += ["--base-url", f"{server.url}/v1"]
    env = {**os.environ, "NO_PROXY": "*"}

    def answered(index: int) -> int:
        return sum(1 for r in chat(server) if r.status == 200 and whose(r)[0] == index)

    with (tmp_path / "run1.log").open("wb") as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while answered(1) < 6:
            assert proc.poll() is None, (tmp_path / "run1.log").read_text()
            assert time.monotonic() < deadline, "the second document never got going"
            time.sleep(0.005)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in (tmp_path / "run1.log").read_text()
    assert pages_written(out / "doc0.md") == [(0, n) for n in range(1, 7)]
    assert not (out / "doc1.md").exists()
    stored = list((tmp_path / "xdg-cache").rglob("page-*.json"))
    # The second document's pages answered a wave before the signal are surely stored; the
    # last wave's answers may have been cut off with the connection.
    assert 2 <= len(stored) <= answered(1)

    server.reset_stats()
    rerun = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    sent = {whose(r) for r in chat(server)}
    assert all(doc == 1 for doc, _ in sent)
    assert len(sent) == 30 - len(stored)
    assert pages_written(out / "doc1.md") == [(1, n) for n in range(1, 31)]
    assert "skipped" in rerun.stderr
