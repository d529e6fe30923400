"""Write small PDFs of known content: benchmark input, health-probe pages, test files.

One generator for everything that needs a PDF it did not get from the user,
built on pypdfium2 (already a runtime dependency), so ``benchmark`` and
``check-server`` work from a plain install. A page is either *born digital*
(real text objects, so the text layer reads back what was written) or a
*scan* (the same lines drawn into a grey image by Pillow, no text layer), which
is what an OCR backend is for.

pypdfium2 has no high-level text API, so text objects are made through the
raw pdfium calls (``FPDFPageObj_NewTextObj`` with one of the 14 standard
fonts); every call runs on the process's pdfium thread, like all pdfium use.
"""

from __future__ import annotations

import ctypes
import random
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .pdfium_thread import run_pdfium

__all__ = [
    "A4_PT",
    "LETTER_PT",
    "SamplePage",
    "write_benchmark_pdf",
    "write_pdf",
    "write_probe_pdf",
    "write_repeated_pdf",
    "wrap",
]

LETTER_PT = (612.0, 792.0)
A4_PT = (595.0, 842.0)
_MARGIN_PT = 56.0
_SCAN_DPI = 144


@dataclass(frozen=True)
class SamplePage:
    """One page: a title (``\n`` breaks it), then body lines, top-left aligned.

    ``title_font``/``font`` are PDF standard-14 font names. ``rotate`` sets
    ``/Rotate`` (0, 90, 180, 270). A ``scan`` page carries the same lines as
    an image only, so it has no text layer.
    """

    title: str
    lines: Sequence[str] = ()
    size: tuple[float, float] = LETTER_PT
    title_size: float = 16.0
    font_size: float = 10.0
    title_font: str = "Helvetica-Bold"
    font: str = "Helvetica"
    margin: float = _MARGIN_PT
    rotate: int = 0
    scan: bool = False
    paragraph_gap: float = 0.0
    """Extra space before each line that starts a paragraph (an empty line in ``lines``)."""

    def layout(self) -> list[tuple[str, float, float, bool]]:
        """(text, size, baseline y from the bottom, is title) per drawn line."""
        out: list[tuple[str, float, float, bool]] = []
        y = self.size[1] - self.margin - self.title_size
        for line in self.title.split("\n"):
            out.append((line, self.title_size, y, True))
            y -= self.title_size * 1.3
        y -= self.title_size * 0.3
        for line in self.lines:
            if not line:
                y -= self.paragraph_gap or self.font_size * 0.7
                continue
            out.append((line, self.font_size, y, False))
            y -= self.font_size * 1.4
        return out


def wrap(
    paragraph: str, size: tuple[float, float], font_size: float, *, margin: float = _MARGIN_PT
) -> list[str]:
    """Break ``paragraph`` into lines that fit the page width in Helvetica at ``font_size``.

    Helvetica's mean advance is about half an em, so the width in characters
    is a close, slightly safe estimate without font metrics.
    """
    usable = size[0] - 2 * margin
    width = max(10, int(usable / (font_size * 0.5)))
    return textwrap.wrap(paragraph, width=width, break_on_hyphens=False) or [""]


def write_pdf(path: Path, pages: Sequence[SamplePage]) -> Path:
    """Write ``pages`` to ``path`` (parents created) and return the path."""
    if not pages:
        raise ValueError("a sample PDF needs at least one page")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    run_pdfium(_write_on_pdfium_thread, path, list(pages))
    return path


def write_benchmark_pdf(path: Path, pages: int, *, seed: int = 0) -> Path:
    """A ``pages``-page PDF of dense text (US Letter, Helvetica 10 pt, 47 lines a page).

    Text pages are the common case the render target is stated for; the
    words are seeded, so runs are comparable.
    """
    if pages < 1:
        raise ConfigError(f"--pages must be at least 1, got {pages}")
    rng = random.Random(seed)
    words = _VOCABULARY.split()
    return write_pdf(
        path,
        [
            SamplePage(
                title=f"Benchmark page {number}",
                lines=[" ".join(rng.choice(words) for _ in range(13)) for _ in range(46)],
                title_font="Helvetica",
            )
            for number in range(1, pages + 1)
        ],
    )


def write_probe_pdf(path: Path) -> Path:
    """The one-page scan check-server sends when the user names no PDF.

    A scan, not born-digital text, so every backend has to read pixels: the
    probe then exercises the same render path and the same model work as a
    scanned page in a real run.
    """
    return write_pdf(
        path,
        [
            SamplePage(
                title="docling-hybrid-ocr probe page",
                lines=[
                    "This page checks that the OCR backend answers with text.",
                    "It has a heading, two paragraphs and a short list.",
                    "",
                    "The quick brown fox jumps over the lazy dog. 0123456789",
                    "",
                    "- first item",
                    "- second item",
                ],
                title_size=22.0,
                font_size=13.0,
                scan=True,
            )
        ],
    )


def write_repeated_pdf(source: Path, target: Path, times: int) -> int:
    """``source``'s pages ``times`` over in one PDF; returns its page count.

    A benchmark's iterations become one long document rather than ``times``
    runs, so the pipeline reaches steady state once and the drain at the end
    is paid once.
    """
    return run_pdfium(_repeat_on_pdfium_thread, Path(source), Path(target), times)


_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from at or an which "
    "have not document converter markdown table figure section vision language model server "
    "page render encode request latency throughput client pipeline backend benchmark"
)


# --------------------------------------------------------------------------- pdfium thread


def _write_on_pdfium_thread(path: Path, pages: list[SamplePage]) -> None:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    try:
        for spec in pages:
            page = pdf.new_page(*spec.size)
            if spec.scan:
                _draw_scan(pdf, page, spec)
            else:
                for text, size, y, is_title in spec.layout():
                    if not text:
                        continue
                    font = spec.title_font if is_title else spec.font
                    _insert_text(pdf, page, text, font, size, spec.margin, y)
            page.gen_content()
            if spec.rotate:
                page.set_rotation(spec.rotate)
            page.close()
        pdf.save(str(path))
    finally:
        pdf.close()


def _repeat_on_pdfium_thread(source: Path, target: Path, times: int) -> int:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(str(source))
    out = pdfium.PdfDocument.new()
    try:
        for _ in range(times):
            out.import_pages(src)
        out.save(str(target))
        return len(out)
    finally:
        out.close()
        src.close()


def _insert_text(
    pdf: object, page: object, text: str, font: str, size: float, x: float, y: float
) -> None:
    import pypdfium2.raw as pdfium_c

    obj = pdfium_c.FPDFPageObj_NewTextObj(
        pdf.raw,  # type: ignore[attr-defined]
        font.encode("ascii"),
        ctypes.c_float(size),
    )
    buffer = ctypes.create_string_buffer((text + "\0").encode("utf-16-le"))
    pdfium_c.FPDFText_SetText(obj, ctypes.cast(buffer, ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
    pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, x, y)
    pdfium_c.FPDFPage_InsertObject(page.raw, obj)  # type: ignore[attr-defined]


def _draw_scan(pdf: object, page: object, spec: SamplePage) -> None:
    """The page's lines drawn by Pillow on a light-grey image that fills the page."""
    import pypdfium2 as pdfium
    from PIL import Image, ImageDraw, ImageFont

    scale = _SCAN_DPI / 72
    width, height = spec.size
    image = Image.new("L", (round(width * scale), round(height * scale)), 235)
    draw = ImageDraw.Draw(image)
    for text, size, y, _ in spec.layout():
        font = ImageFont.load_default(size=size * scale)
        top = (height - y - size) * scale
        draw.text((spec.margin * scale, top), text, fill=20, font=font)
    picture = pdfium.PdfImage.new(pdf)
    bitmap = pdfium.PdfBitmap.from_pil(image)
    try:
        picture.set_bitmap(bitmap)
    finally:
        bitmap.close()
    picture.set_matrix(pdfium.PdfMatrix().scale(width, height))
    page.insert_obj(picture)  # type: ignore[attr-defined]
