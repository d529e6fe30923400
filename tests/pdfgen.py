"""Make small PDFs for tests, so no test depends on a binary fixture.

By default page ``n`` is ``300 + n`` points wide and 400 high: every page has a
unique width, so a test can tell from a rendered image which page it got.
Pages come from the tool's own sample-PDF writer (pypdfium2); only the
encrypted PDF needs fpdf2, because pdfium cannot encrypt.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
from fpdf import FPDF

from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.samplepdf import SamplePage, wrap, write_pdf

__all__ = [
    "PAGE_HEIGHT",
    "make_empty_pdf",
    "make_encrypted_pdf",
    "make_pdf",
    "make_text_pdf",
    "page_width",
]

PAGE_HEIGHT = 400.0
PARAGRAPHS = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
    "Sphinx of black quartz, judge my vow. How vexingly quick daft zebras jump.",
)


def page_width(n: int) -> float:
    """Default width in points of 1-based page ``n``."""
    return 300.0 + n


def make_pdf(
    path: Path,
    pages: int = 3,
    *,
    widths: Sequence[float] | None = None,
    text: str = "Page {n}",
    rotate: dict[int, int] | None = None,
    scanned: set[int] | None = None,
    blank: set[int] | None = None,
) -> Path:
    """Write a ``pages``-page PDF to ``path`` and return the path.

    Each page carries ``text.format(n=n)`` and two paragraphs as a real text
    layer, except pages in ``scanned`` (1-based), which hold only an image,
    and pages in ``blank``, which hold nothing at all.
    ``rotate`` maps 1-based page numbers to a ``/Rotate`` of 90, 180 or 270.
    """
    if widths is not None and len(widths) != pages:
        raise ValueError(f"widths has {len(widths)} entries for {pages} pages")
    scanned = scanned or set()
    blank = blank or set()
    rotate = rotate or {}
    specs = []
    for n in range(1, pages + 1):
        width = widths[n - 1] if widths is not None else page_width(n)
        size = (width, PAGE_HEIGHT)
        if n in blank:  # no title, no lines: nothing drawn on the page
            specs.append(SamplePage("", size=size, rotate=rotate.get(n, 0)))
            continue
        lines: list[str] = []
        for paragraph in PARAGRAPHS:
            lines += ["", *wrap(paragraph, size, 12.0, margin=20.0)]
        specs.append(
            SamplePage(
                title="\n".join(wrap(text.format(n=n), size, 12.0, margin=20.0)),
                lines=lines,
                size=size,
                title_size=12.0,
                font_size=12.0,
                title_font="Helvetica",
                margin=20.0,
                rotate=rotate.get(n, 0),
                scan=n in scanned,
            )
        )
    return write_pdf(path, specs)


def make_encrypted_pdf(path: Path, password: str, pages: int = 1) -> Path:
    """Write a PDF that opens only with user password ``password``."""
    pdf = FPDF(unit="pt")
    pdf.set_font("Helvetica", size=12)
    for n in range(1, pages + 1):
        pdf.add_page(format=(page_width(n), PAGE_HEIGHT))
        pdf.text(20, 40, f"Secret page {n}")
    pdf.set_encryption(owner_password=password + "-owner", user_password=password)
    path = Path(path)
    pdf.output(str(path))
    return path


def _save_empty(path: Path) -> None:
    doc = pdfium.PdfDocument.new()
    try:
        doc.save(str(path))
    finally:
        doc.close()


def make_empty_pdf(path: Path) -> Path:
    """Write a syntactically valid PDF with zero pages."""
    path = Path(path)
    run_pdfium(_save_empty, path)
    return path


_TOPICS = (
    "Rainfall in the valley was measured at twelve stations during the spring season.",
    "The committee approved a budget for repairing the old stone bridge near the mill.",
    "Students compared three methods for estimating the height of a tall building.",
    "A new railway timetable shortens the journey between the coast and the capital.",
    "Farmers reported that the barley harvest ripened two weeks earlier than usual.",
    "The museum opened a gallery of maps drawn by sailors in the eighteenth century.",
    "Engineers tested how quickly concrete cures when the air is cold and damp.",
    "The library extended its opening hours on weekdays for the examination period.",
)


def make_text_pdf(path: Path, pages: int = 5) -> Path:
    """Pages that look and read differently: page ``n`` has its own title and ``2 + n`` lines.

    The simulated server recognises a page by its look (``sim/pagebook.py``), so
    no two pages may look alike; each line is a sentence no other page holds.
    """
    specs = []
    for n in range(1, pages + 1):
        lines: list[str] = []
        for k in range(2 + n):
            sentence = _TOPICS[(n + k) % len(_TOPICS)]
            lines += wrap(f"{k + 1}. {sentence}", (400.0, 500.0), 11.0, margin=30.0)
        specs.append(
            SamplePage(
                title=f"Report section {n}",
                lines=lines,
                size=(400.0, 500.0),
                title_size=16.0,
                font_size=11.0,
                margin=30.0,
            )
        )
    return write_pdf(path, specs)
