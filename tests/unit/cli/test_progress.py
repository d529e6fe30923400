"""Progress lines say how each page ended: converted, empty (and why), or failed (and why)."""

from __future__ import annotations

from pathlib import Path

import pytest

from docling_hybrid_cli.cli.progress import PlainProgress, RichProgress, describe_limits
from docling_hybrid_cli.pages import AttemptError, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_plain_progress_names_empty_and_failed_pages(capsys: pytest.CaptureFixture[str]) -> None:
    progress = PlainProgress()
    progress.document_started(DocumentJob(Path("in.pdf"), Path("out.md")), [1, 2, 3])
    progress.page_finished(PageResult(page=1, text=PageText(markdown="# One", backend="ds")))
    progress.page_finished(
        PageResult(page=2, text=PageText(markdown="", empty_reason="blank page: nothing on it"))
    )
    progress.page_finished(
        PageResult(
            page=3,
            errors=[
                AttemptError("ds", "answer cut off", "LoopedAnswer", step="guard 30/90"),
                AttemptError("text-layer", "page 3 has no text layer", "NoTextFound"),
            ],
        )
    )
    _, one, two, three = _lines(capsys)
    assert "converted by ds" in one
    assert two.endswith("empty: blank page: nothing on it")
    assert three.endswith("FAILED: ds: answer cut off; text-layer: page 3 has no text layer")


def test_rich_progress_counts_empty_and_failed_pages() -> None:
    progress = RichProgress()
    progress.page_finished(PageResult(page=1, text=PageText(markdown="", empty_reason="blank")))
    progress.page_finished(PageResult(page=2, errors=[AttemptError("ds", "HTTP 401", "X")]))
    progress.page_finished(PageResult(page=3, text=PageText(markdown="x", backend="ds")))
    assert progress._tally() == "1 empty, [red]1 failed[/]"
    progress.close()


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
    progress.document_started(DocumentJob(Path("in.pdf"), Path("out.md")), [1, 2])
    progress.page_finished(PageResult(page=1, text=PageText(markdown="# One", backend="ds")))
    progress.concurrency({"ds": {"http://gpu1:8000/v1": 24}})
    progress.page_finished(PageResult(page=2, text=PageText(markdown="# Two", backend="ds")))
    _, one, two = _lines(capsys)
    assert "in flight" not in one
    assert "in flight ds 24)" in two


def test_rich_progress_shows_the_current_limits() -> None:
    progress = RichProgress()
    progress.document_started(DocumentJob(Path("in.pdf"), Path("out.md")), [1])
    progress.concurrency({"ds": {"http://gpu1:8000/v1": 24}})
    with progress.console.capture() as captured:
        progress.console.print(progress._render())
    progress.close()
    assert "in flight at most: ds 24" in captured.get()
