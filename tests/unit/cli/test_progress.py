"""Progress lines say how each page ended: converted, empty (and why), or failed (and why)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from docling_hybrid_cli.cli.progress import PlainProgress, RichProgress, describe_limits
from docling_hybrid_cli.pages import AttemptError, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob, DocumentResult


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_plain_progress_names_empty_and_failed_pages(capsys: pytest.CaptureFixture[str]) -> None:
    progress = PlainProgress()
    job = DocumentJob(Path("in.pdf"), Path("out.md"))
    progress.document_started(job, [1, 2, 3])
    progress.page_finished(job, PageResult(page=1, text=PageText(markdown="# One", backend="ds")))
    progress.page_finished(
        job,
        PageResult(page=2, text=PageText(markdown="", empty_reason="blank page: nothing on it")),
    )
    progress.page_finished(
        job,
        PageResult(
            page=3,
            errors=[
                AttemptError("ds", "answer cut off", "LoopedAnswer", step="guard 30/90"),
                AttemptError("text-layer", "page 3 has no text layer", "NoTextFound"),
            ],
        ),
    )
    _, one, two, three = _lines(capsys)
    assert "converted by ds" in one
    assert two.endswith("empty: blank page: nothing on it")
    assert three.endswith("FAILED: ds: answer cut off; text-layer: page 3 has no text layer")


def test_rich_progress_counts_empty_and_failed_pages() -> None:
    progress = RichProgress()
    job = DocumentJob(Path("in.pdf"), Path("out.md"))
    progress.document_started(job, [1, 2, 3])
    progress.page_finished(job, PageResult(page=1, text=PageText(markdown="", empty_reason="b")))
    progress.page_finished(job, PageResult(page=2, errors=[AttemptError("ds", "HTTP 401", "X")]))
    progress.page_finished(job, PageResult(page=3, text=PageText(markdown="x", backend="ds")))
    assert progress.tally(job) == "1 empty, [red]1 failed[/]"
    progress.close()


def test_plain_progress_names_the_document_of_every_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Two documents in flight: each line names its document and counts that document's
    pages only."""
    progress = PlainProgress()
    first = DocumentJob(Path("a/one.pdf"), Path("one.md"))
    second = DocumentJob(Path("b/two.pdf"), Path("two.md"))
    progress.document_started(first, [1, 2])
    progress.document_started(second, [1, 2, 3])
    progress.page_finished(second, PageResult(page=1, text=PageText(markdown="x", backend="ds")))
    progress.page_state(first, 2, "retrying", "HTTP 503")
    progress.page_finished(first, PageResult(page=2, text=PageText(markdown="x", backend="ds")))
    lines = _lines(capsys)
    assert lines[2].startswith("b/two.pdf page 1 (1/3, ")
    assert lines[3] == "a/one.pdf page 2: retrying: HTTP 503"
    assert lines[4].startswith("a/one.pdf page 2 (1/2, ")


def test_rich_progress_shows_a_bar_per_open_document() -> None:
    """Two open documents: two bars, pages in flight named by document (oldest first); a
    finished document's bar gives way to one line."""
    from rich.console import Console

    progress = RichProgress()
    progress.console = Console(file=io.StringIO(), width=120, force_terminal=False)
    first = DocumentJob(Path("one.pdf"), Path("one.md"))
    second = DocumentJob(Path("two.pdf"), Path("two.md"))
    progress.document_started(first, [1, 2])
    progress.document_started(second, [1, 2, 3])
    progress.page_state(second, 1, "sent", "vllm")
    progress.page_state(first, 2, "sent", "vllm")

    def screen() -> str:
        probe = Console(file=io.StringIO(), width=120, force_terminal=False)
        probe.print(progress._render())
        text = probe.file.getvalue()  # type: ignore[attr-defined]
        assert isinstance(text, str)
        return text

    shown = screen()
    assert "one.pdf" in shown and "0/3" in shown and "0/2" in shown
    assert shown.index("one.pdf p. 2") < shown.index("two.pdf p. 1")

    progress.page_finished(first, PageResult(page=1, text=PageText(markdown="x", backend="ds")))
    progress.page_finished(first, PageResult(page=2, text=PageText(markdown="x", backend="ds")))
    progress.document_finished(DocumentResult(job=first, seconds=1.5))
    shown = screen()
    assert "0/3" in shown and "2/2" not in shown and "one.pdf" not in shown
    assert "page 1" in shown  # one document open again: rows need no document name
    progress.close()
    printed = progress.console.file.getvalue()  # type: ignore[attr-defined]
    assert "one.pdf 2/2 pages in 1.5 s" in printed


@pytest.mark.parametrize(
    ("limits", "text"),
    [
        ({}, ""),
        ({"deepseek-vllm": {"http://gpu1:8000/v1": 42}}, "deepseek-vllm 42"),
        (
            {"ds": {"http://gpu1:8000/v1": 21, "https://gpu2.example/v1": 19}},
            "ds 40 (gpu1:8000 21, gpu2.example 19)",
        ),
    ],
)
def test_adaptive_limits_are_described_per_backend_and_replica(
    limits: dict[str, dict[str, int]], text: str
) -> None:
    assert describe_limits(limits) == text


def test_plain_progress_shows_the_current_limits(capsys: pytest.CaptureFixture[str]) -> None:
    progress = PlainProgress()
    job = DocumentJob(Path("in.pdf"), Path("out.md"))
    progress.document_started(job, [1, 2])
    progress.page_finished(job, PageResult(page=1, text=PageText(markdown="# One", backend="ds")))
    progress.concurrency({"ds": {"http://gpu1:8000/v1": 24}})
    progress.page_finished(job, PageResult(page=2, text=PageText(markdown="# Two", backend="ds")))
    _, one, two = _lines(capsys)
    assert "limit" not in one
    assert "pages/s, limit ds 24)" in two


def test_rich_progress_shows_the_current_limits() -> None:
    progress = RichProgress()
    progress.document_started(DocumentJob(Path("in.pdf"), Path("out.md")), [1])
    progress.concurrency({"ds": {"http://gpu1:8000/v1": 24}})
    with progress.console.capture() as captured:
        progress.console.print(progress._render())
    progress.close()
    assert "in flight at most: ds 24" in captured.get()
