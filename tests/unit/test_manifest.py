"""The finished-documents manifest: what makes a document count as done, and what does not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from docling_hybrid_cli.manifest import MANIFEST_NAME, FinishedDocuments, settings_fingerprint
from docling_hybrid_cli.pages import AttemptError, Figure, PageResult, PageText
from docling_hybrid_cli.pipeline import DocumentJob, DocumentResult
from docling_hybrid_cli.settings import Settings, load_settings


def settings(**overrides: Any) -> Settings:
    return load_settings(overrides=overrides).settings


@pytest.fixture
def job(tmp_path: Path) -> DocumentJob:
    source = tmp_path / "in" / "doc.pdf"
    source.parent.mkdir()
    source.write_bytes(b"%PDF-1.7 pretend")
    os.utime(source, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return DocumentJob(source=source, output=tmp_path / "out" / "doc.md")


def finish(job: DocumentJob, *, failed: bool = False, figures: int = 0) -> DocumentResult:
    """Write the job's Markdown (and figures) as a run would, and return its result."""
    job.output.parent.mkdir(parents=True, exist_ok=True)
    job.output.write_text("# Page 1\n")
    names = tuple(Figure(f"page-0001-fig-{i}.jpg", b"") for i in range(figures))
    if figures:
        images = job.output.with_name(f"{job.output.stem}_images")
        images.mkdir()
        for figure in names:
            (images / figure.name).write_bytes(b"jpeg")
    pages = [PageResult(page=1, text=PageText(markdown="# Page 1", figures=names))]
    if failed:
        pages.append(PageResult(page=2, errors=[AttemptError("ocr", "HTTP 503", "E")]))
    return DocumentResult(job=job, pages=pages)


# ----------------------------------------------------------------- the fingerprint


def test_the_fingerprint_ignores_where_and_how_fast() -> None:
    base = settings_fingerprint(settings(), None)
    assert settings_fingerprint(settings(**{"convert.concurrency": 64}), None) == base
    assert settings_fingerprint(settings(**{"convert.render_ahead": 9}), None) == base
    same_model_elsewhere = {
        "backends.deepseek-vllm.base_url": ["http://gpu1:8000/v1", "http://gpu2:8000/v1"],
        "backends.deepseek-vllm.max_concurrency": 8,
        "backends.deepseek-vllm.timeout_s": 60,
    }
    assert settings_fingerprint(settings(**same_model_elsewhere), None) == base


@pytest.mark.parametrize(
    "change",
    [
        {"convert.dpi": 200},
        {"convert.image_format": "png"},
        {"convert.page_separator": "\n---\n"},
        {"backends.deepseek-vllm.model": "deepseek-ai/DeepSeek-OCR-2"},
        {"backends.deepseek-vllm.prompt": "Free OCR."},
        {"backends.fallback_chain": ["deepseek-vllm", "text-layer"]},
    ],
)
def test_the_fingerprint_follows_what_shapes_the_markdown(change: dict[str, Any]) -> None:
    assert settings_fingerprint(settings(**change), None) != settings_fingerprint(settings(), None)


def test_the_page_range_is_part_of_the_fingerprint() -> None:
    assert settings_fingerprint(settings(), "1-3") != settings_fingerprint(settings(), None)


# ----------------------------------------------------------------- finished or not


def test_a_recorded_document_is_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    assert (job.output.parent / MANIFEST_NAME).is_file()
    assert FinishedDocuments(settings()).is_finished(job)  # read back from disk


def test_nothing_recorded_is_not_finished(job: DocumentJob) -> None:
    finish(job)
    assert not FinishedDocuments(settings()).is_finished(job)


def test_other_settings_are_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    assert not FinishedDocuments(settings(**{"convert.dpi": 200})).is_finished(job)
    other_pages = DocumentJob(source=job.source, output=job.output, pages="1")
    assert not FinishedDocuments(settings()).is_finished(other_pages)


def test_failed_pages_are_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job, failed=True))
    assert not FinishedDocuments(settings()).is_finished(job)


def test_an_input_newer_than_its_output_is_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    later = job.output.stat().st_mtime_ns + 1_000_000_000
    os.utime(job.source, ns=(later, later))
    assert not FinishedDocuments(settings()).is_finished(job)


def test_a_changed_input_size_is_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    stamp = job.source.stat().st_mtime_ns
    job.source.write_bytes(b"%PDF-1.7 another document")
    os.utime(job.source, ns=(stamp, stamp))  # same old mtime, other bytes
    assert not FinishedDocuments(settings()).is_finished(job)


def test_an_edited_or_missing_output_is_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    job.output.write_text("# Someone else's text\n")
    assert not FinishedDocuments(settings()).is_finished(job)
    job.output.unlink()
    assert not FinishedDocuments(settings()).is_finished(job)


def test_missing_figures_are_not_finished(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job, figures=2))
    assert FinishedDocuments(settings()).is_finished(job)
    next(job.output.with_name("doc_images").iterdir()).unlink()
    assert not FinishedDocuments(settings()).is_finished(job)


def test_the_last_line_wins(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    FinishedDocuments(settings()).record(finish(job, failed=True))
    assert not FinishedDocuments(settings()).is_finished(job)
    FinishedDocuments(settings()).record(finish(job))
    assert FinishedDocuments(settings()).is_finished(job)


def test_damaged_lines_are_ignored(job: DocumentJob) -> None:
    FinishedDocuments(settings()).record(finish(job))
    manifest = job.output.parent / MANIFEST_NAME
    good = manifest.read_bytes()
    junk = b'not json\n{"format": 1, "output": "doc.md"}\n[1, 2]\n' + b"x" * 70_000 + b"\n"
    manifest.write_bytes(junk + good + good[: len(good) // 2])  # a last line cut short
    assert FinishedDocuments(settings()).is_finished(job)


def test_an_unwritable_manifest_costs_only_the_skip(job: DocumentJob) -> None:
    (job.output.parent).mkdir(parents=True)
    (job.output.parent / MANIFEST_NAME).mkdir()  # a directory where the file should be
    FinishedDocuments(settings()).record(finish(job))
    assert not FinishedDocuments(settings()).is_finished(job)
