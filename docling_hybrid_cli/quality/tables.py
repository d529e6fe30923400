"""Tables in page Markdown, and a cell-level score of one page's tables against another's.

Both table forms models answer with are read: Markdown pipe tables and HTML
``<table>`` (DeepSeek-OCR's form, with ``rowspan``/``colspan``). The score
matches cells by content -- each cell's normalised words -- as a multiset,
and reports precision, recall and F1 over non-empty cells: a table whose
cells were all read right scores 1 whatever its layout, a cell misread or
shifted into its neighbour costs that cell. It does not check structure
(which row a cell is in); TEDS does, but the Python packages for it on PyPI
are unmaintained (``apted``, last released 2017) or in early alpha, so the
structure is left to a look at the page.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .tokens import normalise

__all__ = ["CellScores", "cell_scores", "table_cells"]

_HTML_TABLE = re.compile(r"<table\b.*?</table\s*>", re.S | re.I)
_HTML_CELL = re.compile(r"<t([dh])\b[^>]*>(.*?)</t\1\s*>", re.S | re.I)
_PIPE_ROW = re.compile(r"^\s*\|(.+)\|\s*$", re.M)
_RULE_CELL = re.compile(r"^\s*:?-{2,}:?\s*$")


@dataclass(frozen=True, slots=True)
class CellScores:
    precision: float
    recall: float
    f1: float
    answer_cells: int
    reference_cells: int


def table_cells(markdown: str) -> list[str]:
    """The normalised text of every non-empty table cell of a page, in order."""
    cells: list[str] = []
    for table in _HTML_TABLE.findall(markdown):
        cells += [normalise(body) for _, body in _HTML_CELL.findall(table)]
    rest = _HTML_TABLE.sub("\n", markdown)
    for row in _PIPE_ROW.findall(rest):
        parts = row.split("|")
        if all(_RULE_CELL.match(p) for p in parts):
            continue  # the | --- | --- | line under the header
        cells += [normalise(p) for p in parts]
    return [c for c in cells if c]


def cell_scores(answer: str, reference: str) -> CellScores | None:
    """Cell precision/recall/F1 of ``answer``'s tables; None when ``reference`` has no table."""
    want = Counter(table_cells(reference))
    if not want:
        return None
    got = Counter(table_cells(answer))
    n_got, n_want = sum(got.values()), sum(want.values())
    matched = sum((got & want).values())
    precision = matched / n_got if n_got else 0.0
    recall = matched / n_want
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return CellScores(precision, recall, f1, n_got, n_want)
