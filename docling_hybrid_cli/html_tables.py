"""HTML tables as GitHub-flavoured pipe tables, every cell value kept.

DeepSeek-OCR writes tables as HTML (``<table><tr><td rowspan="2">…``, no
``<th>``), which GitHub draws but most Markdown viewers and editors show as
raw tags. A GFM pipe table (https://github.github.com/gfm/#tables-extension-)
has no spans and exactly one header row, so:

* a cell spanning rows or columns has its text repeated in every row and
  column it covers, and every row gets the same number of columns;
* the table's first row is the header row (a second header row, as in a
  two-level header, becomes the first body row: nothing is lost);
* ``|`` in a cell is escaped, a line break (``<br>``, or a paragraph
  inside the cell) is written ``<br>`` -- the one tag a GFM cell needs for
  it -- and a ``<`` or ``&`` that Markdown would read as a tag or an entity
  is escaped.

The markup comes from a model, so it is parsed with the standard library's
:mod:`html.parser`, which never raises on broken HTML (unclosed cells and
rows, stray text, nested tables), and the grid is bounded: a table whose
spans would fill more than :data:`MAX_CELLS` cells is left as HTML rather
than expanded without limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser

__all__ = [
    "MAX_CELLS",
    "MAX_SPAN",
    "TableCellSpan",
    "table_cells",
    "table_spans",
    "table_to_markdown",
]

MAX_SPAN = 1000
"""A rowspan or colspan above this is read as this: no real table spans further."""
MAX_CELLS = 100_000
"""Grid cells a table may expand to; beyond it the table stays HTML."""

_OPEN = re.compile(r"<table\b[^>]*>", re.IGNORECASE)
_CLOSE = re.compile(r"</table\s*>", re.IGNORECASE)
_TAG_OR_CLOSE = re.compile(r"<(/?)table\b[^>]*>", re.IGNORECASE)
_SPACES = re.compile(r"[^\S\n]+")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY_START = re.compile(r"&(?=#?\w+;)")
_BREAKS = frozenset({"br"})
_BLOCKS_IN_CELL = frozenset({"p", "div", "li", "tr"})


def table_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of every outermost ``<table>…</table>`` in ``text``, in order.

    Nested tables belong to the table around them; a table never closed (an
    answer cut off mid-table) runs to the end of the text.
    """
    spans: list[tuple[int, int]] = []
    pos = 0
    while (opening := _OPEN.search(text, pos)) is not None:
        depth, end = 0, len(text)
        for tag in _TAG_OR_CLOSE.finditer(text, opening.start()):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                end = tag.end()
                break
        spans.append((opening.start(), end))
        pos = end
    return spans


@dataclass(slots=True)
class _Cell:
    rowspan: int = 1
    colspan: int = 1
    parts: list[str] = field(default_factory=list)
    header: bool = False


@dataclass(slots=True)
class _Table:
    rows: list[list[_Cell]] = field(default_factory=list)
    caption: list[str] = field(default_factory=list)
    loose: list[str] = field(default_factory=list)
    """Text inside the table but in no cell: kept, written below the table."""


class _TableParser(HTMLParser):
    """Collects the rows and cells of one table; tables nested in a cell become its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.table = _Table()
        self._depth = 0
        self._row: list[_Cell] | None = None
        self._cell: _Cell | None = None
        self._in_caption = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._depth += 1
            if self._depth > 1:
                self._text(" ")
            return
        if self._depth > 1 or tag in _BREAKS:
            if tag in _BREAKS or tag in _BLOCKS_IN_CELL:
                self._text("\n")
            elif tag in ("td", "th"):
                self._text(" ")
            return
        if tag == "tr":
            self._row = []
            self.table.rows.append(self._row)
            self._cell = None
        elif tag in ("td", "th"):
            if self._row is None:
                self._row = []
                self.table.rows.append(self._row)
            values = dict(attrs)
            self._cell = _Cell(
                _span(values.get("rowspan")), _span(values.get("colspan")), header=tag == "th"
            )
            self._row.append(self._cell)
        elif tag == "caption":
            self._in_caption = True
        elif tag in _BLOCKS_IN_CELL:
            self._text("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._depth -= 1
            return
        if self._depth > 1:
            return
        if tag in ("td", "th"):
            self._cell = None
        elif tag == "tr":
            self._row, self._cell = None, None
        elif tag == "caption":
            self._in_caption = False

    def handle_data(self, data: str) -> None:
        # A newline in HTML text is a space; line breaks are <br> (and paragraphs).
        self._text(data.replace("\r", " ").replace("\n", " "))

    def _text(self, data: str) -> None:
        if self._in_caption:
            self.table.caption.append(data)
        elif self._cell is not None:
            self._cell.parts.append(data)
        elif data.strip():
            self.table.loose.append(data)


def _span(value: str | None) -> int:
    """A rowspan/colspan attribute as a count in 1..MAX_SPAN (0, junk or missing: 1)."""
    try:
        number = int((value or "1").strip())
    except ValueError:
        return 1
    return min(max(number, 1), MAX_SPAN)


def _grid(rows: list[list[_Cell]], text: Callable[[_Cell], str]) -> list[list[str]] | None:
    """The table as a full rectangle of cell texts, spans repeated; None if it is too big.

    Row spans stop at the last row, as browsers draw them. Rows with nothing
    in them (a ``<tr></tr>`` that only closes a span) are dropped.
    """
    height = len(rows)
    filled: dict[tuple[int, int], str] = {}
    width = 0
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in filled:
                c += 1
            value = text(cell)
            rows_down = min(cell.rowspan, height - r)
            if len(filled) + rows_down * cell.colspan > MAX_CELLS:
                return None
            for dr in range(rows_down):
                for dc in range(cell.colspan):
                    filled[(r + dr, c + dc)] = value
            c += cell.colspan
            width = max(width, c)
    if width * height > MAX_CELLS:
        return None
    grid = [[filled.get((r, c), "") for c in range(width)] for r in range(height)]
    return [row for row in grid if any(row)]


def _cell_text(parts: list[str]) -> str:
    """A cell's text on its lines: runs of spaces collapsed, empty lines dropped."""
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _pipe_cell(text: str) -> str:
    """Text safe inside a pipe-table cell: one line, ``|`` escaped, no stray tag or entity."""
    text = _TAG_START.sub("&lt;", _ENTITY_START.sub("&amp;", text))
    return text.replace("|", "\\|").replace("\n", "<br>")


def table_to_markdown(html: str, cell: Callable[[str], str] = lambda text: text) -> str | None:
    """One HTML table as a GFM pipe table, or None when it cannot be one.

    ``cell`` restyles each cell's text first (the math conversion, made to
    stay on one line). The table's ``<caption>`` comes first, on its own
    line; text found outside any cell comes after the table. None when the
    grid would exceed :data:`MAX_CELLS` -- the caller keeps the HTML then.
    A table without a single cell is written as its text alone.
    """
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    table = parser.table
    grid = _grid(table.rows, lambda c: _pipe_cell(cell(_cell_text(c.parts))))
    if grid is None:
        return None
    pieces: list[str] = []
    caption = " ".join(_cell_text(table.caption).split())
    if caption:
        pieces.append(caption)
    if grid:
        width = len(grid[0])
        lines = [_row(grid[0]), "|" + " --- |" * width]
        lines.extend(_row(row) for row in grid[1:])
        pieces.append("\n".join(lines))
    loose = _cell_text(table.loose)
    if loose:
        pieces.append(loose)
    return "\n\n".join(pieces)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


@dataclass(frozen=True, slots=True)
class TableCellSpan:
    """One cell of a table where it sits in the grid: its first row and column and its spans.

    ``header`` marks a ``<th>`` cell or a cell of the first row (DeepSeek-OCR
    writes no ``<th>``; its first row is the header, as in the pipe table).
    """

    text: str
    row: int
    col: int
    rowspan: int
    colspan: int
    header: bool


def table_cells(html: str) -> tuple[int, int, list[TableCellSpan]] | None:
    """``(rows, cols, cells)`` of one HTML table with spans kept, or None when it is too big.

    The same parse as :func:`table_to_markdown`: row spans stop at the last
    row, and a grid beyond :data:`MAX_CELLS` is refused.
    """
    parser = _TableParser()
    parser.feed(html)
    parser.close()
    rows = parser.table.rows
    height = len(rows)
    taken: set[tuple[int, int]] = set()
    cells: list[TableCellSpan] = []
    width = 0
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            rows_down = min(cell.rowspan, height - r)
            if len(taken) + rows_down * cell.colspan > MAX_CELLS:
                return None
            taken.update((r + dr, c + dc) for dr in range(rows_down) for dc in range(cell.colspan))
            text = " ".join(_cell_text(cell.parts).split("\n"))
            cells.append(TableCellSpan(text, r, c, rows_down, cell.colspan, cell.header or r == 0))
            c += cell.colspan
            width = max(width, c)
    if width * height > MAX_CELLS:
        return None
    return height, width, cells
