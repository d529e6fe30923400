"""The embedded fallback: the page's own text layer, no server needed.

A born-digital PDF already carries its text. When no OCR server answers (a
fresh machine, no vLLM, no key), that text is still far better than nothing,
so ``text-layer`` is the last server-free link of the shipped chain. The
renderer extracts the text in reading order with blank lines at paragraph
gaps (``textlayer.py``); this module turns it into Markdown paragraphs: wrapped
lines joined, words hyphenated at a line end mended, bullet lines made list
items. A page with no text at all (a scan) fails with that reason
(``NoTextFound``): the next backend may read the image, and only when a model
answered empty too is the page empty rather than failed.
"""

from __future__ import annotations

import re

from ..backend_configs import TextLayerConfig
from ..breaker import CircuitBreaker
from ..errors import BackendNotConfigured, NoTextFound
from ..pages import PageImage, PageText
from ..textlayer import HEADING_MARK
from .base import LocalBackend, Notify

__all__ = ["TextLayerBackend", "text_to_markdown"]

_SYMBOL_BULLET = re.compile(r"^[•●○◦▪▫■□‣∙·*\-–]\s+(?=\S)")
_NUMBER_BULLET = re.compile(r"^\(?(\d{1,3})[.)]\s+(?=\S)")
_LINE_END_HYPHENS = ("-", "\u00ad", "\x02", "\ufffe")
"""A hyphen, a soft hyphen, and the two codes pdfium uses for a soft hyphen at a line break."""
_MARKDOWN_LEAD = re.compile(r"^([#>|=+])")


def _join(text: str, line: str) -> str:
    """Append a wrapped line, mending a word that was hyphenated across the break."""
    for mark in _LINE_END_HYPHENS:
        if text.endswith(mark) and len(text) > 1 and text[-2].isalpha() and line[:1].islower():
            return text[: -len(mark)] + line
    return f"{text} {line}"


def _list_item(line: str) -> str | None:
    """``line`` as a Markdown list item, or None when it does not start like one."""
    if match := _SYMBOL_BULLET.match(line):
        return "- " + line[match.end() :]
    if match := _NUMBER_BULLET.match(line):
        return f"{match.group(1)}. " + line[match.end() :]
    return None


def text_to_markdown(text: str) -> str:
    """Plain page text → Markdown: paragraphs split at blank lines, list items kept apart.

    Lines the renderer marked with :data:`~docling_hybrid_cli.textlayer.HEADING_MARK`
    (set in a clearly larger font) become ``#``/``##`` headings.

    Characters that would start Markdown syntax at the beginning of a
    paragraph (``#``, ``>``, ``|`` …) are escaped, so a line of source text
    never turns into a heading or a table by accident.
    """
    blocks: list[list[str]] = []  # [kind, text]: "p" paragraph, "li" list item, "h" heading
    current: list[str] | None = None
    for raw in text.splitlines():
        line = " ".join(raw.replace("\x00", "").split())
        if not line:
            current = None
            continue
        if line.startswith(HEADING_MARK):
            level, _, title = line[len(HEADING_MARK) :].partition(" ")
            blocks.append(["h", "#" * int(level) + " " + title])
            current = None
            continue
        item = _list_item(line)
        if item is not None:
            current = ["li", item]
            blocks.append(current)
        elif current is None:
            current = ["p", _MARKDOWN_LEAD.sub(r"\\\1", line)]
            blocks.append(current)
        else:
            current[1] = _join(current[1], line)
    parts: list[str] = []
    for index, (kind, body) in enumerate(blocks):
        if index:
            tight = kind == "li" and blocks[index - 1][0] == "li"
            parts.append("\n" if tight else "\n\n")
        parts.append(body)
    return "".join(parts).strip()


class TextLayerBackend(LocalBackend):
    """Markdown from the PDF's embedded text; needs the renderer's ``extract_text``."""

    config: TextLayerConfig

    async def ocr_page(
        self,
        page: PageImage,
        notify: Notify | None = None,
        *,
        breaker: CircuitBreaker | None = None,
    ) -> PageText:
        if page.text_layer is None:
            raise BackendNotConfigured(
                f"{self.name}: the page's text layer was not extracted", backend=self.name
            )
        markdown = text_to_markdown(page.text_layer)
        if not markdown:
            raise NoTextFound(
                f"{self.name}: page {page.page} has no text layer (a scanned image?)",
                backend=self.name,
                hint="install tesseract-ocr or point the chain at an OCR server (--base-url)",
            )
        # The PDF's own text has no math markup: every $ in it is a dollar.
        return PageText(
            markdown=markdown, backend=self.name, model="pdf text layer", dollars_are_math=False
        )
