"""A table block's grid as docling's ``TableData``: from the model's HTML or a GFM pipe table.

DeepSeek-OCR writes tables as HTML with ``rowspan``/``colspan``; chat models
answer with GFM pipe tables. Both become the same cells, spans kept as
docling stores them (``row_span``/``col_span`` and offset ranges), header
cells marked ``column_header``. docling-core is imported only when a table
is built (the ``[docling]`` extra).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .html_tables import table_cells

if TYPE_CHECKING:
    from docling_core.types.doc import TableData

__all__ = ["table_data"]

_PIPE_DELIMITER = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")


def table_data(text: str) -> TableData | None:
    """The table's grid with spans, from HTML or a GFM pipe table; None if it is neither."""
    from docling_core.types.doc import TableCell, TableData

    if "<table" in text.lower():
        parsed = table_cells(text)
        if parsed is None:
            return None
        rows, cols, spans = parsed
        cells = [
            TableCell(
                text=cell.text,
                row_span=cell.rowspan,
                col_span=cell.colspan,
                start_row_offset_idx=cell.row,
                end_row_offset_idx=cell.row + cell.rowspan,
                start_col_offset_idx=cell.col,
                end_col_offset_idx=cell.col + cell.colspan,
                column_header=cell.header,
            )
            for cell in spans
        ]
        return TableData(num_rows=rows, num_cols=cols, table_cells=cells)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if len(lines) < 2 or not _PIPE_DELIMITER.match(lines[1]):
        return None
    grid = [_pipe_row(line) for line in lines[:1] + lines[2:]]
    cols = max(len(row) for row in grid)
    cells = [
        TableCell(
            text=value,
            start_row_offset_idx=r,
            end_row_offset_idx=r + 1,
            start_col_offset_idx=c,
            end_col_offset_idx=c + 1,
            column_header=r == 0,
        )
        for r, row in enumerate(grid)
        for c, value in enumerate(row)
    ]
    return TableData(num_rows=len(grid), num_cols=cols, table_cells=cells)


def _pipe_row(line: str) -> list[str]:
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [cell.strip().replace("\\|", "|") for cell in cells]
