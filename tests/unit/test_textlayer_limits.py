"""A page with an absurd number of text runs is read in pdfium's order, not laid out."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium

from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.samplepdf import SamplePage, write_pdf
from docling_hybrid_cli.textlayer import _MAX_RECTS, text_in_reading_order


def _read(path: Path) -> tuple[int, str]:
    def read() -> tuple[int, str]:
        doc = pdfium.PdfDocument(str(path))
        try:
            page = doc[0]
            textpage = page.get_textpage()
            return textpage.count_rects(), text_in_reading_order(textpage)
        finally:
            doc.close()

    return run_pdfium(read)


def test_page_over_the_rectangle_cap_keeps_every_word(tmp_path: Path) -> None:
    words = [f"w{i}" for i in range(_MAX_RECTS + 100)]
    path = write_pdf(
        tmp_path / "runs.pdf", [SamplePage("T", words, font_size=0.05, title_size=1.0)]
    )
    rects, text = _read(path)
    assert rects > _MAX_RECTS
    assert text.split()[:3] == ["T", "w0", "w1"]
    assert len(text.split()) == len(words) + 1
