"""Regenerate ``samples/sample.pdf``, the small born-digital PDF ``make demo`` converts.

Run: ``.venv/bin/python scripts/make_sample_pdf.py [OUT]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from docling_hybrid_cli.samplepdf import A4_PT, SamplePage, wrap, write_pdf

FONT_SIZE = 11.0
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
    pages = []
    for title, paragraphs in PAGES:
        lines: list[str] = []
        for paragraph in paragraphs:
            lines += ["", *wrap(paragraph, A4_PT, FONT_SIZE)]
        pages.append(
            SamplePage(
                title=title, lines=lines[1:], size=A4_PT, title_size=18.0, font_size=FONT_SIZE
            )
        )
    write_pdf(out, pages)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("samples/sample.pdf"))
