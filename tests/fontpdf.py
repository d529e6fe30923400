"""Small PDFs in scripts the sample writer cannot draw: Arabic, Hebrew, ligatures.

fpdf2 with a Unicode font (DejaVu Sans, in Debian's fonts-dejavu-core) and
HarfBuzz shaping (uharfbuzz) lays text out the way real generators do:
right-to-left glyphs placed right to left, joined Arabic forms, the lam-alef
and "fi" ligatures as single glyphs, each glyph mapped back to its letters.
Tests that need it skip when the font is not installed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from fpdf import FPDF

__all__ = ["FONT", "Line", "font_pdf", "needs_font"]

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

needs_font = pytest.mark.skipif(not FONT.is_file(), reason=f"{FONT} is not installed")


@dataclass(frozen=True)
class Line:
    """One line of text at ``(x, y)`` millimetres from the top left, drawn ``times`` times.

    ``script`` picks HarfBuzz's shaping ("arab", "hebr", "latn"); ``rtl`` its direction.
    ``shift`` is how far (mm) each repeated drawing is moved right: a bold effect.
    """

    text: str
    y: float
    x: float = 15.0
    size: float = 12.0
    script: str = "latn"
    rtl: bool = False
    times: int = 1
    shift: float = 0.2
    by_word: bool = False
    """Draw every word as its own text object (as some generators do)."""


def font_pdf(path: Path, pages: Sequence[Sequence[Line]]) -> Path:
    """Write one page per entry of ``pages``, each line shaped and placed as given."""
    pdf = FPDF()
    pdf.add_font("dejavu", fname=str(FONT))
    for lines in pages:
        pdf.add_page()
        for line in lines:
            pdf.set_font("dejavu", size=line.size)
            pdf.set_text_shaping(
                use_shaping_engine=True,
                direction="rtl" if line.rtl else "ltr",
                script=line.script,
            )
            for copy in range(line.times):
                x = line.x + copy * line.shift
                if not line.by_word:
                    _put(pdf, x, line.y, line.text)
                    continue
                space = pdf.get_string_width(" ")
                if line.rtl:  # the first word at the right end, then leftwards
                    x += pdf.get_string_width(line.text)
                for word in line.text.split():
                    width = pdf.get_string_width(word)
                    _put(pdf, x - width if line.rtl else x, line.y, word)
                    x += -(width + space) if line.rtl else width + space
    pdf.output(str(path))
    return path


def _put(pdf: FPDF, x: float, y: float, text: str) -> None:
    """Draw ``text`` from ``(x, y)``; ``cell`` because fpdf2's ``text`` does not shape."""
    pdf.set_xy(x, y)
    pdf.cell(w=pdf.get_string_width(text) + 1, text=text)
