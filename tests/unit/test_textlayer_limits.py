"""A page with an absurd number of characters is read in pdfium's order, not laid out."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from docling_hybrid_cli import textruns
from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.samplepdf import SamplePage, write_pdf
from docling_hybrid_cli.textlayer import text_in_reading_order


def _read(path: Path) -> tuple[int, str]:
    def read() -> tuple[int, str]:
        doc = pdfium.PdfDocument(str(path))
        try:
            page = doc[0]
            textpage = page.get_textpage()
            return textpage.count_chars(), text_in_reading_order(textpage)
        finally:
            doc.close()

    return run_pdfium(read)


def test_page_over_the_character_cap_keeps_every_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the cap the page is read once in content order, every word kept."""
    words = [f"w{i}" for i in range(3_100)]
    path = write_pdf(
        tmp_path / "runs.pdf", [SamplePage("T", words, font_size=0.05, title_size=1.0)]
    )
    monkeypatch.setattr(textruns, "MAX_CHARS", 5_000)
    chars, text = _read(path)
    assert chars > textruns.MAX_CHARS
    assert text.split()[:3] == ["T", "w0", "w1"]
    assert len(text.split()) == len(words) + 1


def test_thousands_of_tiny_runs_of_one_text_are_all_kept(tmp_path: Path) -> None:
    """The check for text drawn twice compares only neighbours: identical words far apart stay."""
    words = ["w"] * 3_000
    path = write_pdf(
        tmp_path / "same.pdf", [SamplePage("T", words, font_size=0.05, title_size=1.0)]
    )
    chars, text = _read(path)
    assert chars < textruns.MAX_CHARS
    assert text.split().count("w") == len(words)
