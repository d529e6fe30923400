"""One Markdown style whatever the backend: a page's blocks rendered as the output shows them.

Every backend's page reaches the output through :func:`render_markdown`, when
the Markdown file is written, so pages converted by DeepSeek-OCR (HTML
tables, ``\\(``-math, ``<center>`` captions) and by a chat model asked for
pipe tables and ``$`` read alike. The style is configurable
(``convert.tables``, ``convert.math``) and is applied to the checkpointed
blocks, never baked into them: a re-run with another style re-renders the
pages without a request.

What the style does, outside code (fenced blocks and code spans are left
exactly as they are):

* tables (``"markdown"``): HTML tables become GFM pipe tables
  (:mod:`~docling_hybrid_cli.html_tables`); ``"html"`` keeps them;
* math (``"dollars"``): ``\\( \\)`` and ``\\[ \\]`` become ``$`` and ``$$``,
  literal dollars are escaped (:mod:`~docling_hybrid_cli.markdown_math`);
  ``"latex"`` keeps the model's delimiters;
* captions: ``<center>`` wrappers go; an image caption next to an image
  block becomes the image's alt text and stays as text right below it; a
  table caption written just after its table moves above it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

from .blocks import IMAGE_CAPTIONS, TABLE, TABLE_CAPTIONS, Block
from .html_tables import table_spans, table_to_markdown
from .markdown_math import dollar_math, fenced_pieces, inline_code_pieces

__all__ = [
    "MATH_STYLES",
    "TABLE_STYLES",
    "MarkdownStyle",
    "MathStyle",
    "TableStyle",
    "render_markdown",
    "style_text",
]

TableStyle = Literal["markdown", "html"]
MathStyle = Literal["dollars", "latex"]
TABLE_STYLES: tuple[str, ...] = get_args(TableStyle)
MATH_STYLES: tuple[str, ...] = get_args(MathStyle)

_WRAPPERS = re.compile(r"</?(?:center|div)\b[^>]*>", re.IGNORECASE)
"""Layout wrappers a model puts around captions and titles; their content is kept."""
_TAGS = re.compile(r"<[^<>]*>")
_EXTRA_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")
_IDLE_TRAILING_SPACE = re.compile(r"[ \t]+(?=\n[ \t]*\n|\n?\Z)")
"""Spaces ending a paragraph (DeepSeek ends blocks with two): not a line break, just noise."""
_LINK_UNSAFE = re.compile(r"[\s()<>]")
_ALT_SPECIAL = re.compile(r"[\[\]]|\\(?=[\[\]]|$)")
"""What would end an alt text early: brackets, and a backslash that would escape one."""


@dataclass(frozen=True, slots=True)
class MarkdownStyle:
    """How pages are written: pipe or HTML tables, ``$`` or LaTeX math delimiters."""

    tables: TableStyle = "markdown"
    math: MathStyle = "dollars"


def render_markdown(blocks: Sequence[Block], style: MarkdownStyle, figure_prefix: str = "") -> str:
    """A page's Markdown: its blocks in reading order, captions placed, each block styled.

    ``figure_prefix`` goes before each figure's name in its link (the
    figures directory beside the output, e.g. ``"report_images/"``).
    """
    alts: dict[int, str] = {}
    order = _arrange(blocks, alts, style)
    parts: list[str] = []
    for index in order:
        block = blocks[index]
        text = style_text(block.text, style) if block.text.strip() else ""
        if block.is_image and block.figures:
            alt = alts.get(index, "")
            links = "\n".join(f"![{alt}]({_link(figure_prefix + f)})" for f in block.figures)
            text = f"{links}\n\n{text}" if text else links
        text = text.strip("\n")
        if text.strip():
            parts.append(text)
    return "\n\n".join(parts)


def _arrange(blocks: Sequence[Block], alts: dict[int, str], style: MarkdownStyle) -> list[int]:
    """The order blocks are written in, with each caption next to what it captions.

    An image caption belongs to the image just before it, else to the image
    just after it (one caption per image); it gives that image its alt text
    (into ``alts``) and is written right below it. A table caption just
    after a table whose own caption is not right above it moves above it.
    """
    count = len(blocks)
    taken: set[int] = set()
    after: dict[int, int] = {}
    before: dict[int, int] = {}
    moved: set[int] = set()
    for i, block in enumerate(blocks):
        if block.label in IMAGE_CAPTIONS:
            for j in (i - 1, i + 1):
                if 0 <= j < count and blocks[j].is_image and j not in taken:
                    taken.add(j)
                    alts[j] = _alt_text(block.text, style)
                    if j == i + 1:
                        after[j] = i
                        moved.add(i)
                    break
        elif block.label in TABLE_CAPTIONS:
            if i + 1 < count and blocks[i + 1].label == TABLE:
                taken.add(i + 1)
            elif i > 0 and blocks[i - 1].label == TABLE and i - 1 not in taken:
                taken.add(i - 1)
                before[i - 1] = i
                moved.add(i)
    order: list[int] = []
    for k in range(count):
        if k in moved:
            continue
        if k in before:
            order.append(before[k])
        order.append(k)
        if k in after:
            order.append(after[k])
    return order


def _alt_text(caption: str, style: MarkdownStyle) -> str:
    """A caption as an image's alt text: one line of plain text, brackets escaped."""
    text = " ".join(_TAGS.sub(" ", caption).split())
    if style.math == "dollars":
        text = dollar_math(text, one_line=True)
    return _ALT_SPECIAL.sub(r"\\\g<0>", text)


def _link(target: str) -> str:
    """A link destination; one with spaces or brackets in it goes in ``<…>`` (CommonMark)."""
    return f"<{target}>" if _LINK_UNSAFE.search(target) else target


def style_text(text: str, style: MarkdownStyle) -> str:
    """One block's text in ``style``: wrappers gone, tables and math converted, code untouched."""
    pieces: list[str] = []
    for fenced, chunk in fenced_pieces(text):
        if fenced:
            pieces.append(chunk)
            continue
        pos = 0
        for start, end in table_spans(chunk):
            pieces.append(_prose(chunk[pos:start], style))
            pieces.append(_table(chunk[start:end], style))
            pos = end
        pieces.append(_prose(chunk[pos:], style))
    return _tidy("".join(pieces))


def _prose(text: str, style: MarkdownStyle, *, one_line: bool = False) -> str:
    text = _WRAPPERS.sub("", text)
    if style.math != "dollars":
        return text
    return "".join(
        piece if code else dollar_math(piece, one_line=one_line)
        for code, piece in inline_code_pieces(text)
    )


def _table(html: str, style: MarkdownStyle) -> str:
    """An HTML table in the table style; kept as HTML when it cannot be a pipe table."""
    if style.tables == "html":
        return html
    markdown = table_to_markdown(html, cell=lambda text: _prose(text, style, one_line=True))
    return html if markdown is None else f"\n\n{markdown}\n\n"


def _tidy(text: str) -> str:
    """Outside fenced code: runs of blank lines become one, spaces ending a paragraph go."""
    return "".join(
        piece if fenced else _IDLE_TRAILING_SPACE.sub("", _EXTRA_BLANK_LINES.sub("\n\n", piece))
        for fenced, piece in fenced_pieces(text)
    )
