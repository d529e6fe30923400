"""The structured page: what a backend found on a page, block by block, before any styling.

A backend returns a page as blocks -- each with a layout label, where it sits
on the page when the model says so, and its raw text (Markdown, HTML tables,
LaTeX as the model wrote them) -- and that is what the checkpoint stores.
The Markdown file is rendered from the blocks when it is written
(:mod:`~docling_hybrid_cli.markdown_style`), so changing a style option
re-renders a page without asking any server again, and a docling document
can later be built from the same labels and boxes.

The labels are DeepSeek-OCR's layout vocabulary (``title``, ``sub_title``,
``text``, ``table``, ``table_caption``, ``table_footnote``, ``image``,
``image_caption``, ``equation``, ...), kept as the model spelled them
(lower-cased). Backends that answer in plain Markdown get their answer split
into blocks with the same labels (:func:`markdown_blocks`) and no boxes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CODE",
    "EQUATION",
    "IMAGE",
    "IMAGE_CAPTIONS",
    "IMAGES",
    "TABLE",
    "TABLE_CAPTIONS",
    "TEXT",
    "Block",
    "Box",
    "blocks_from_records",
    "blocks_to_records",
    "markdown_blocks",
    "page_fractions",
]

Box = tuple[float, float, float, float]
"""(left, top, right, bottom) as fractions of the page image's width and height, 0-1."""

TEXT = "text"
TITLE = "title"
SUB_TITLE = "sub_title"
TABLE = "table"
IMAGE = "image"
EQUATION = "equation"
CODE = "code"
IMAGES = frozenset({IMAGE, "figure"})
"""Labels of a picture on the page (DeepSeek-OCR says ``image``; ``figure`` is read the same)."""
IMAGE_CAPTIONS = frozenset({"image_caption", "figure_caption", "figure_title"})
TABLE_CAPTIONS = frozenset({"table_caption"})

_MAX_LABEL = 64
_BOX_DIGITS = 4
"""Fractions are stored to 1/10,000 of the page: finer than any model's 0-999 grid."""


@dataclass(frozen=True, slots=True)
class Block:
    """One layout block of a page.

    ``text`` is the block's content as the model wrote it, grounding tags
    removed; ``boxes`` where it is on the page (empty when the backend does
    not say); ``figures`` the names of the images cropped from an image
    block's boxes, in order (the Markdown links them at write time, so the
    link prefix follows the output file, not the run that made the crop).
    """

    label: str
    text: str = ""
    boxes: tuple[Box, ...] = ()
    figures: tuple[str, ...] = ()

    @property
    def is_image(self) -> bool:
        return self.label in IMAGES


# --------------------------------------------------------------------------- Markdown into blocks

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
_TABLE_OPEN = re.compile(r"<table\b", re.IGNORECASE)
_TABLE_CLOSE = re.compile(r"</table\s*>", re.IGNORECASE)
_PIPE_DELIMITER = re.compile(r"^\s*\|?\s*:?-{1,}:?\s*(?:\|\s*:?-{1,}:?\s*)*\|?\s*$")


def markdown_blocks(markdown: str) -> tuple[Block, ...]:
    """Split a Markdown answer into labelled blocks, keeping every character of its content.

    Paragraphs end at blank lines, except inside fenced code, ``$$``/``\\[``
    display math and HTML tables, which may hold blank lines and become one
    block each (an unclosed one runs to the end). ATX headings are blocks of
    their own: ``#`` a ``title``, ``##``-``######`` a ``sub_title``.
    """
    lines = markdown.replace("\r\n", "\n").split("\n")
    blocks: list[Block] = []
    paragraph: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in paragraph):
            text = "\n".join(paragraph).strip("\n")
            blocks.append(Block(_paragraph_label(paragraph), text))
        paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        end = _construct_end(lines, i)
        if end is not None:
            flush()
            label = CODE if _FENCE.match(line) else TABLE if _TABLE_OPEN.search(line) else EQUATION
            blocks.append(Block(label, "\n".join(lines[i : end + 1]).strip("\n")))
            i = end + 1
            continue
        if not stripped:
            flush()
        elif heading := _HEADING.match(line):
            flush()
            blocks.append(Block(TITLE if len(heading.group(1)) == 1 else SUB_TITLE, stripped))
        else:
            paragraph.append(line)
        i += 1
    flush()
    return tuple(blocks)


def _construct_end(lines: Sequence[str], start: int) -> int | None:
    """The last line of the multi-line construct opening at ``start``; None if none opens there."""
    line = lines[start]
    stripped = line.strip()
    if fence := _FENCE.match(line):
        marker = fence.group(1)
        closing = re.compile(rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}\s*$")
        return _first(lines, start + 1, closing.match)
    if stripped.startswith("$$"):
        if stripped.count("$$") >= 2:
            return start
        return _first(lines, start + 1, lambda text: "$$" in text)
    if stripped.startswith("\\["):
        if "\\]" in stripped:
            return start
        return _first(lines, start + 1, lambda text: "\\]" in text)
    if _TABLE_OPEN.search(line):
        depth = 0
        for index in range(start, len(lines)):
            line = lines[index]
            depth += len(_TABLE_OPEN.findall(line)) - len(_TABLE_CLOSE.findall(line))
            if depth <= 0:
                return index
        return len(lines) - 1
    return None


def _first(lines: Sequence[str], start: int, found: Callable[[str], object]) -> int:
    for index in range(start, len(lines)):
        if found(lines[index]):
            return index
    return len(lines) - 1


def _paragraph_label(lines: Sequence[str]) -> str:
    """``table`` for a GFM pipe table (rows of ``|`` with a delimiter row), else ``text``."""
    rows = [line for line in lines if line.strip()]
    if (
        len(rows) >= 2
        and all(row.lstrip().startswith("|") for row in rows)
        and _PIPE_DELIMITER.match(rows[1])
    ):
        return TABLE
    return TEXT


# --------------------------------------------------------------------------- checkpoint records


def blocks_to_records(blocks: Iterable[Block]) -> list[dict[str, Any]]:
    """Blocks as JSON-ready dicts (the checkpoint's ``blocks``)."""
    return [
        {
            "label": block.label,
            "text": block.text,
            "boxes": [list(box) for box in block.boxes],
            "figures": list(block.figures),
        }
        for block in blocks
    ]


def blocks_from_records(value: Any, figures: Iterable[str]) -> tuple[Block, ...]:
    """Blocks read back from a checkpoint; TypeError or ValueError if they are not well formed.

    A checkpoint is a file anyone with access to the cache could have edited,
    so every field is checked: a label is a short string, a box four finite
    fractions, and a figure name one of the entry's own ``figures``.
    """
    if not isinstance(value, list):
        raise TypeError("blocks must be a list")
    known = set(figures)
    out: list[Block] = []
    for item in value:
        if not isinstance(item, dict):
            raise TypeError("a block must be an object")
        label, text = item.get("label"), item.get("text")
        boxes, names = item.get("boxes", []), item.get("figures", [])
        if not isinstance(label, str) or not 0 < len(label) <= _MAX_LABEL:
            raise ValueError("a block's label must be a short string")
        if not isinstance(text, str):
            raise TypeError("a block's text must be a string")
        if not isinstance(names, list) or not all(isinstance(n, str) and n in known for n in names):
            raise ValueError("a block names a figure the entry does not hold")
        if not isinstance(boxes, list):
            raise TypeError("a block's boxes must be a list")
        out.append(Block(label, text, tuple(_box(box) for box in boxes), tuple(names)))
    return tuple(out)


def _box(value: Any) -> Box:
    if not isinstance(value, list) or len(value) != 4:
        raise ValueError("a box has four numbers")
    numbers: list[float] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ValueError("a box holds finite numbers")
        if not 0.0 <= v <= 1.0:
            raise ValueError("a box is a fraction of the page")
        numbers.append(float(v))
    return numbers[0], numbers[1], numbers[2], numbers[3]


def page_fractions(box: tuple[float, float, float, float], scale: float) -> Box:
    """A box on a ``0..scale`` grid as page fractions, clamped and ordered (left < right)."""
    x1, y1, x2, y2 = (min(max(v / scale, 0.0), 1.0) for v in box)
    left, right = sorted((x1, x2))
    top, bottom = sorted((y1, y2))
    return (
        round(left, _BOX_DIGITS),
        round(top, _BOX_DIGITS),
        round(right, _BOX_DIGITS),
        round(bottom, _BOX_DIGITS),
    )
