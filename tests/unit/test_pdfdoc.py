"""Tests for docling_hybrid_cli.pdfdoc: documents reopened over long runs, misuse refused."""

from __future__ import annotations

import functools
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from pdfgen import make_pdf

from docling_hybrid_cli import pdfdoc
from docling_hybrid_cli.errors import CorruptPdf
from docling_hybrid_cli.inputfile import InputFile
from docling_hybrid_cli.pdfdoc import Recycling, RecyclingDocument
from docling_hybrid_cli.pdfium_thread import run_pdfium

REOPEN_OFTEN = Recycling(pages=2, cost_share=0)
"""Reopen after every 2 pages whatever the open cost."""


def _first_line(doc: pdfium.PdfDocument, *, page_no: int) -> str:
    """The first line of a page's text (pdfgen writes "Heading {n}" there)."""
    page = doc[page_no - 1]
    textpage = page.get_textpage()
    try:
        return str(textpage.get_text_range()).splitlines()[0]
    finally:
        textpage.close()
        page.close()


def _read(doc: RecyclingDocument, pages: range) -> list[str]:
    return [run_pdfium(doc.run_page, functools.partial(_first_line, page_no=n)) for n in pages]


def _open(path: Path, recycling: Recycling) -> RecyclingDocument:
    return run_pdfium(RecyclingDocument, InputFile.open(path), None, recycling)


def _close(doc: RecyclingDocument) -> None:
    """Close the document, then the descriptor it reads."""
    run_pdfium(doc.close)
    doc.file.close()


def test_document_is_reopened_during_long_runs(tmp_path: Path) -> None:
    """pdfium's per-document cache is dropped by reopening; every page still reads right."""
    doc = _open(make_pdf(tmp_path / "doc.pdf", 7, text="Heading {n}"), REOPEN_OFTEN)
    try:
        assert _read(doc, range(1, 8)) == [f"Heading {n}" for n in range(1, 8)]
        assert doc.opens == 4  # the first open, then after pages 2, 4 and 6
    finally:
        _close(doc)


def test_reopen_is_skipped_when_it_would_cost_too_much(tmp_path: Path) -> None:
    """A slow open (a damaged file pdfium must rebuild) is not repeated for a small saving."""
    recycling = Recycling(pages=2, cost_share=10**9)
    doc = _open(make_pdf(tmp_path / "doc.pdf", 5, text="Heading {n}"), recycling)
    try:
        _read(doc, range(1, 6))
        assert doc.opens == 1
    finally:
        _close(doc)


@pytest.mark.parametrize("change", ["deleted", "replaced"])
def test_reopen_reads_the_file_first_opened(tmp_path: Path, change: str) -> None:
    """A file removed or replaced mid-run: every reopen still reads the original bytes.

    Reopens go through the descriptor opened at the start, never the name, so the
    pages rendered and the hash the page cache keyed them by stay the same document.
    """
    path = make_pdf(tmp_path / "doc.pdf", 5, text="Heading {n}")
    doc = _open(path, REOPEN_OFTEN)
    try:
        lines = _read(doc, range(1, 3))
        if change == "deleted":
            path.unlink()
        else:  # replaced atomically, as editors save
            make_pdf(tmp_path / "new.pdf", 2, text="Other {n}").replace(path)
        lines += _read(doc, range(3, 6))
        assert lines == [f"Heading {n}" for n in range(1, 6)]
        assert doc.opens == 3  # the first open, then after pages 2 and 4
    finally:
        _close(doc)


def test_failed_reopen_keeps_the_open_document(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reopen that fails leaves the open document in use, and recycling stops."""
    doc = _open(make_pdf(tmp_path / "doc.pdf", 5, text="Heading {n}"), REOPEN_OFTEN)
    try:
        lines = _read(doc, range(1, 3))

        def broken(file: InputFile, password: str | None) -> pdfium.PdfDocument:
            raise CorruptPdf(f"{file.path} is damaged")

        monkeypatch.setattr(pdfdoc, "open_document", broken)
        lines += _read(doc, range(3, 6))
        assert lines == [f"Heading {n}" for n in range(1, 6)]
        assert doc.opens == 2  # the first open and the one failed reopen, no more
    finally:
        _close(doc)


def test_closed_document_is_refused(tmp_path: Path) -> None:
    """Using a document after close is a ValueError, never a pdfium crash."""
    doc = _open(make_pdf(tmp_path / "doc.pdf", 1), Recycling())
    _close(doc)
    with pytest.raises(ValueError, match="is closed"):
        run_pdfium(lambda: doc.document)
    with pytest.raises(ValueError, match="is closed"):
        run_pdfium(doc.run_page, len)
