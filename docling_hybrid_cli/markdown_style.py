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


def render_markdown(
    blocks: Sequence[Block],
    style: MarkdownStyle,
    figure_prefix: str = "",
    *,
    dollars_are_math: bool = True,
) -> str:
    """A page's Markdown: its blocks in reading order, captions placed, each block styled.

    ``figure_prefix`` goes before each figure's name in its link (the
    figures directory beside the output, e.g. ``"report_images/"``).
    ``dollars_are_math`` says whether a ``$`` in the page's text may be
    math (a chat model asked for ``$``), or is always a literal dollar
    (DeepSeek-OCR writes math only as ``\\( \\)``; OCR'd text has none).
    """
    styler = _Styler(style, dollars_are_math)
    alts: dict[int, str] = {}
    order = _arrange(blocks, alts, styler)
    parts: list[str] = []
    for index in order:
        block = blocks[index]
        text = styler.text(block.text) if block.text.strip() else ""
        if block.is_image and block.figures:
            alt = alts.get(index, "")
            links = "\n".join(f"![{alt}]({_link(figure_prefix + f)})" for f in block.figures)
            text = f"{links}\n\n{text}" if text else links
        text = text.strip("\n")
        if text.strip():
            parts.append(text)
    return "\n\n".join(parts)


def style_text(text: str, style: MarkdownStyle, *, dollars_are_math: bool = True) -> str:
    """One block's text in ``style``: wrappers gone, tables and math converted, code untouched."""
    return _Styler(style, dollars_are_math).text(text)


def _arrange(blocks: Sequence[Block], alts: dict[int, str], styler: _Styler) -> list[int]:
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
                    alts[j] = styler.alt_text(block.text)
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


def _link(target: str) -> str:
    """A link destination; one with spaces or brackets in it goes in ``<…>`` (CommonMark)."""
    return f"<{target}>" if _LINK_UNSAFE.search(target) else target


@dataclass(frozen=True, slots=True)
class _Styler:
    """The style of one page: the run's options and what the page's ``$`` mean."""

    style: MarkdownStyle
    dollars_are_math: bool

    def text(self, text: str) -> str:
        pieces: list[str] = []
        for fenced, chunk in fenced_pieces(text):
            if fenced:
                pieces.append(chunk)
                continue
            pos = 0
            for start, end in table_spans(chunk):
                pieces.append(self.prose(chunk[pos:start]))
                pieces.append(self.table(chunk[start:end]))
                pos = end
            pieces.append(self.prose(chunk[pos:]))
        return _tidy("".join(pieces))

    def prose(self, text: str, *, one_line: bool = False) -> str:
        """Text outside tables and fenced code: wrappers gone, math restyled beside code spans."""
        text = _WRAPPERS.sub("", text)
        if self.style.math != "dollars":
            return text
        return "".join(
            piece if code else self.math(piece, one_line)
            for code, piece in inline_code_pieces(text)
        )

    def math(self, text: str, one_line: bool) -> str:
        return dollar_math(text, one_line=one_line, dollars_are_math=self.dollars_are_math)

    def table(self, html: str) -> str:
        """An HTML table in the table style; kept as HTML when it cannot be a pipe table."""
        if self.style.tables == "html":
            return html
        markdown = table_to_markdown(html, cell=lambda text: self.prose(text, one_line=True))
        return html if markdown is None else f"\n\n{markdown}\n\n"

    def alt_text(self, caption: str) -> str:
        """A caption as an image's alt text: one line of plain text, brackets escaped."""
        text = " ".join(_TAGS.sub(" ", caption).split())
        if self.style.math == "dollars":
            text = self.math(text, True)
        return _ALT_SPECIAL.sub(r"\\\g<0>", text)


def _tidy(text: str) -> str:
    """Outside fenced code: runs of blank lines become one, spaces ending a paragraph go."""
    return "".join(
        piece if fenced else _IDLE_TRAILING_SPACE.sub("", _EXTRA_BLANK_LINES.sub("\n\n", piece))
        for fenced, piece in fenced_pieces(text)
    )
