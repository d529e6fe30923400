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

The page's blocks carry where their lines are on the page (pdfium's text
rectangles, as the renderer measured them), so a DoclingDocument built from
a text-layer page has real boxes, not the whole page.
"""

from __future__ import annotations

import re

from ..backend_configs import TextLayerConfig
from ..blocks import Block, Box, markdown_blocks
from ..breaker import CircuitBreaker
from ..errors import BackendNotConfigured, NoTextFound
from ..pages import PageImage, PageText
from ..textlayer import HEADING_MARK
from .base import LocalBackend, Notify

__all__ = ["TextLayerBackend", "located_blocks", "text_to_markdown"]

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
    pieces = _pieces(text)
    parts: list[str] = []
    for index, piece in enumerate(pieces):
        if index:
            parts.append("\n" if _tight(pieces, index) else "\n\n")
        parts.append(piece.body)
    return "".join(parts).strip()


class _Piece:
    """A paragraph, list item or heading of the page, and the text lines it was made of."""

    __slots__ = ("body", "kind", "lines")

    def __init__(self, kind: str, body: str, line: int) -> None:
        self.kind, self.body, self.lines = kind, body, [line]


def _pieces(text: str) -> list[_Piece]:
    """``p`` paragraphs, ``li`` list items and ``h`` headings, in order."""
    pieces: list[_Piece] = []
    current: _Piece | None = None
    for index, raw in enumerate(text.splitlines()):
        line = " ".join(raw.replace("\x00", "").split())
        if not line:
            current = None
            continue
        if line.startswith(HEADING_MARK):
            level, _, title = line[len(HEADING_MARK) :].partition(" ")
            pieces.append(_Piece("h", "#" * int(level) + " " + title, index))
            current = None
            continue
        item = _list_item(line)
        if item is not None:
            current = _Piece("li", item, index)
            pieces.append(current)
        elif current is None:
            current = _Piece("p", _MARKDOWN_LEAD.sub(r"\\\1", line), index)
            pieces.append(current)
        else:
            current.body = _join(current.body, line)
            current.lines.append(index)
    return pieces


def _tight(pieces: list[_Piece], index: int) -> bool:
    """List items one after the other are one list: no blank line between them."""
    return pieces[index].kind == "li" and pieces[index - 1].kind == "li"


def located_blocks(text: str, boxes: tuple[Box | None, ...]) -> tuple[Block, ...]:
    """The blocks of :func:`text_to_markdown`'s Markdown, each with the box of its lines.

    ``boxes[i]`` is where line ``i`` of ``text`` is (page fractions, None for
    a blank line). The blocks are exactly :func:`~docling_hybrid_cli.blocks.markdown_blocks`
    of the Markdown -- so the Markdown rendered from them is the same -- and
    a block's box is the union of its lines' boxes -- a list's block has one
    box per item, in order. Empty when the lines and
    the blocks cannot be matched one to one (no boxes measured, or a
    paragraph that opens a fence or display math and swallows the next):
    the page then has no boxes, as before.
    """
    if not boxes or len(boxes) != len(text.splitlines()):
        return ()
    pieces = _pieces(text)
    groups: list[list[_Piece]] = []  # a tight list's items are one Markdown block
    for index, piece in enumerate(pieces):
        if index and _tight(pieces, index):
            groups[-1].append(piece)
        else:
            groups.append([piece])
    blocks = markdown_blocks(text_to_markdown(text))
    if len(blocks) != len(groups):
        return ()
    located: list[Block] = []
    for block, group in zip(blocks, groups, strict=True):
        if group[0].kind == "li":
            piece_boxes = [_union(boxes, piece.lines) for piece in group]
        else:
            piece_boxes = [_union(boxes, [line for piece in group for line in piece.lines])]
        if None in piece_boxes:
            return ()
        located.append(Block(block.label, block.text, tuple(b for b in piece_boxes if b)))
    return tuple(located)


def _union(boxes: tuple[Box | None, ...], lines: list[int]) -> Box | None:
    """The box around the given lines' boxes; None if none of them has one."""
    found = [box for box in (boxes[i] for i in lines) if box is not None]
    if not found:
        return None
    return (
        min(b[0] for b in found),
        min(b[1] for b in found),
        max(b[2] for b in found),
        max(b[3] for b in found),
    )


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
            markdown=markdown,
            backend=self.name,
            model="pdf text layer",
            dollars_are_math=False,
            blocks=located_blocks(page.text_layer, page.text_boxes),
        )
