"""Regenerate ``samples/sample.pdf``, the small born-digital PDF ``make demo`` converts.

Run: ``.venv/bin/python scripts/make_sample_pdf.py`` (needs the dev extra's fpdf2).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fpdf import FPDF

PAGES = [
    (
        "docling-hybrid-ocr sample",
        [
            "This three-page document ships with the project so that the demo has "
            "something to convert on a machine with no OCR server.",
            "Each page is rendered, sent to the configured backend chain, and the "
            "Markdown of every page is written in order, even when the answers "
            "arrive out of order.",
        ],
    ),
    (
        "How pages travel",
        [
            "Pages are rendered with pdfium on one dedicated thread, a few pages ahead "
            "of the requests in flight, so memory stays flat on long documents.",
            "A page that no backend can convert is never dropped silently: its place in "
            "the Markdown holds a comment naming every backend's error.",
        ],
    ),
    (
        "Where to go next",
        [
            "Point the tool at a DeepSeek-OCR server with --base-url, or check one with "
            "docling-hybrid-ocr check-server.",
            "See docs/QUICK_START.md for a served model and docs/BACKENDS.md for the chain.",
        ],
    ),
]


def main(out: Path) -> None:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=20)
    for title, paragraphs in PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 18)
        pdf.multi_cell(0, 10, title)
        pdf.ln(4)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf.output(str(out))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("samples/sample.pdf"))
