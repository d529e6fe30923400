"""Progress lines say how each page ended: converted, empty (and why), or failed (and why)."""

from __future__ import annotations

from pathlib import Path

import pytest

from docling_hybrid_cli.cli.progress import PlainProgress, RichProgress
from docling_hybrid_cli.pages import AttemptError, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob


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
