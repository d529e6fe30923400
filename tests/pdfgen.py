"""Make small PDFs for tests, so no test depends on a binary fixture.

By default page ``n`` is ``300 + n`` points wide and 400 high: every page has a
unique width, so a test can tell from a rendered image which page it got.
``/Rotate`` is set (and the zero-page PDF made) with pypdfium2, because fpdf2
cannot write either; those calls go through the renderer's pdfium thread like
every other pdfium call in the process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pypdfium2 as pdfium
from fpdf import FPDF
from PIL import Image, ImageDraw

from docling_hybrid_cli.render import run_pdfium

__all__ = ["PAGE_HEIGHT", "make_empty_pdf", "make_encrypted_pdf", "make_pdf", "page_width"]

PAGE_HEIGHT = 400.0
PARAGRAPHS = (
    "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs.",
    "Sphinx of black quartz, judge my vow. How vexingly quick daft zebras jump.",
)


def page_width(n: int) -> float:
    """Default width in points of 1-based page ``n``."""
    return 300.0 + n


def _scan_image(width_pt: float, height_pt: float, label: str) -> Image.Image:
    """A grey 'scan' with drawn (not real) text, so the page has no text layer."""
    image = Image.new("L", (round(width_pt * 2), round(height_pt * 2)), 235)
    ImageDraw.Draw(image).text((40, 40), label, fill=20)
    return image


def _set_rotations(path: Path, rotate: dict[int, int]) -> None:
    doc = pdfium.PdfDocument(str(path))
    try:
        for page_no, degrees in rotate.items():
            page = doc[page_no - 1]
            page.set_rotation(degrees)
            page.close()
        tmp = path.with_suffix(".rotated.pdf")
        doc.save(str(tmp))
    finally:
        doc.close()
    tmp.replace(path)


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
    pdf = FPDF(unit="pt")
    pdf.set_auto_page_break(False)
    pdf.set_font("Helvetica", size=12)
    for n in range(1, pages + 1):
        width = widths[n - 1] if widths is not None else page_width(n)
        pdf.add_page(format=(width, PAGE_HEIGHT))
        label = text.format(n=n)
        if n in blank:
            continue
        if n in scanned:
            pdf.image(_scan_image(width, PAGE_HEIGHT, label), x=0, y=0, w=width, h=PAGE_HEIGHT)
            continue
        pdf.set_xy(20, 20)
        pdf.multi_cell(width - 40, 16, label)
        for paragraph in PARAGRAPHS:
            pdf.ln(8)
            pdf.set_x(20)
            pdf.multi_cell(width - 40, 16, paragraph)
    path = Path(path)
    pdf.output(str(path))
    if rotate:
        run_pdfium(_set_rotations, path, rotate)
    return path


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
