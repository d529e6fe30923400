"""Answers that read the page: the simulated model knows a PDF and says what each page holds.

With ``MockConfig.reference_pdf`` the server loads that PDF once, keeping each
page's text layer and a 32 x 32 grey thumbnail. A request's image is shrunk
the same way and matched to the nearest thumbnail, so the server knows which
page it was sent -- at any DPI, in JPEG or PNG, in any order -- and answers:

* faithfully: the page's own text, as Markdown paragraphs (in DeepSeek style
  each wrapped in grounding tags), which is what a good model returns;
* ``invent_pages``: fluent text of about the page's length that the page
  does not hold, the hallucination the quality check must catch;
* ``halve_pages``: only the first half of the page's text, a truncated answer.

Pages are numbered from 1 as in the PDF.
"""

from __future__ import annotations

import base64
import io
import itertools
from dataclasses import dataclass
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image, ImageChops, ImageStat

from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.textlayer import HEADING_MARK, text_in_reading_order

__all__ = ["PageBook", "invented_text"]

_THUMB = (32, 32)
_INVENTED = (
    "Quarterly zephyr revenue climbed across the northern orchards while marmalade "
    "futures drifted sideways. Analysts credited the harbour committee with a bold "
    "lighthouse refurbishment, though several violinists questioned the budget. "
    "Meanwhile the glacier observatory reported unusual penguin migrations near the "
    "copper mines, prompting emergency tapestry auctions in three provinces."
)
"""Words for invented answers: none of them is likely on a test page."""


@dataclass(frozen=True, slots=True)
class _Page:
    paragraphs: tuple[str, ...]
    thumbnail: Image.Image


def invented_text(words: int) -> str:
    """About ``words`` words of fluent text that no page of the tests holds."""
    cycle = itertools.islice(itertools.cycle(_INVENTED.split(" ")), max(words, 12))
    return " ".join(cycle)


class PageBook:
    """The pages of one PDF: their text and what they look like, to recognise them."""

    def __init__(self, path: Path) -> None:
        try:
            self.pages = run_pdfium(_load, path)
        except (OSError, pdfium.PdfiumError) as exc:
            raise ValueError(f"reference PDF {path} cannot be read: {exc}") from None

    def page_of(self, image_url: str) -> int | None:
        """The 1-based page a ``data:`` image shows (the nearest look-alike); None if unreadable."""
        try:
            _, _, payload = image_url.partition(",")
            with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
                image.draft("L", (max(1, image.width // 8), max(1, image.height // 8)))
                thumb = _thumbnail(image)
        except Exception:
            return None
        distances = [
            sum(ImageStat.Stat(ImageChops.difference(thumb, page.thumbnail)).sum)
            for page in self.pages
        ]
        return 1 + min(range(len(distances)), key=distances.__getitem__) if distances else None

    def answer(self, number: int, style: str, *, invent: bool, halve: bool) -> str:
        """The page's text as Markdown (or invented, or its first half) in ``style``."""
        paragraphs = list(self.pages[number - 1].paragraphs)
        if invent:
            paragraphs = [invented_text(sum(len(p.split()) for p in paragraphs))]
        elif halve:
            words = " ".join(paragraphs).split()
            paragraphs = [" ".join(words[: len(words) // 2])]
        if style == "plain":
            return "\n\n".join(paragraphs)
        return "\n\n".join(
            f"<|ref|>text<|/ref|><|det|>[[80, {50 + 40 * i}, 920, {80 + 40 * i}]]<|/det|>\n{p}"
            for i, p in enumerate(paragraphs)
        )


def _thumbnail(image: Image.Image) -> Image.Image:
    return image.convert("L").resize(_THUMB, Image.Resampling.BILINEAR)


def _load(path: Path) -> tuple[_Page, ...]:
    """Every page's paragraphs and thumbnail; runs on the pdfium thread."""
    doc = pdfium.PdfDocument(str(path))
    try:
        pages = []
        for index in range(len(doc)):
            page = doc[index]
            textpage = page.get_textpage()
            text = text_in_reading_order(textpage)
            textpage.close()
            image = page.render(scale=0.25, fill_color=(255, 255, 255, 255)).to_pil()
            page.close()
            pages.append(_Page(_paragraphs(text), _thumbnail(image)))
        return tuple(pages)
    finally:
        doc.close()


def _paragraphs(text: str) -> tuple[str, ...]:
    """Blank-line separated blocks, each on one line; the text layer's headings as ``#``."""
    out = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        first = lines[0]
        if first.startswith(HEADING_MARK):
            level, _, title = first[len(HEADING_MARK) :].partition(" ")
            out.append("#" * int(level) + " " + title)
            lines = lines[1:]
        if lines:
            out.append(" ".join(" ".join(lines).split()))
    return tuple(out)
