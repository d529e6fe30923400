"""The text runs of a page: pdfium's text, cut where the page leaves a gap.

A run is a stretch of one line's text with its box and font size; the
layout in :mod:`.textlayer` orders runs into lines, columns and paragraphs.

Asking pdfium for the text *inside each of its rectangles* (how this used to
work) loses what pdfium knows: right-to-left rectangles come one or two
glyphs at a time, their bounded text overlaps the neighbours' (duplicated
fragments) and sorting them left to right scrambles the words. So runs are
cut from pdfium's own character list instead:

* left-to-right pages: each of pdfium's lines, split only where two words
  lie far apart (a column gutter, a table cell); the text is pdfium's, in
  its order, ligatures already expanded to their letters;
* pages holding right-to-left script: read from the glyph positions
  (:mod:`.textbidi`), because pdfium's bidi pass can cut words and mix lines.

Text drawn twice for a bold effect is read once: repeated characters on the
same spot (pdfium interleaves the copies, "BBoolldd") and runs repeating an
earlier run's text over the same spot are dropped.

Everything here takes a live ``PdfTextPage`` and runs on the pdfium thread.
"""

from __future__ import annotations

import ctypes
import re

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .textbidi import (
    GAP_EM,
    RTL_CHAR,
    SAME_SPOT,
    BoxOf,
    Run,
    drawn_again,
    overlap_share,
    visual_runs,
)

__all__ = ["MAX_CHARS", "page_runs"]

MAX_CHARS = 200_000
"""Pages with more characters keep pdfium's own text order (one linear read).

Reading runs costs two box queries a word; a crafted page of millions of
characters must not stall rendering (docs/SECURITY.md has the figures)."""

_DOUBLED = re.compile(r"(\S)\1+")
_DROPPED = "\x00"
"""Stands in for a character drawn again on the spot of the one before it, until runs are cut."""
_LINE = re.compile("[^\r\n\ufffe]+\ufffe?")
"""One of pdfium's lines. It joins a word hyphenated at a line end into one, marking the
break with U+FFFE: the line ends there (the Markdown step mends the word)."""
_WORD = re.compile(r"\S+")
_SPOT_PT = 4.0
"""How far apart (points) the centres of a run drawn twice may be: a bold effect shifts by less."""
_CELL_KEEP = 8
"""Runs of one text kept per grid cell for comparison (a crafted page may pile up thousands)."""


def page_runs(textpage: pdfium.PdfTextPage) -> list[Run] | None:
    """The page's runs in pdfium's order; None for a page over :data:`MAX_CHARS`."""
    count = textpage.count_chars()
    if count <= 0:
        return []
    if count > MAX_CHARS:
        return None
    raw = textpage.raw
    text = str(textpage.get_text_range(0, count))
    if len(text) != count:  # pdfium left out or added characters: read them one by one
        text = "".join(_char(pdfium_c.FPDFText_GetUnicode(raw, i)) for i in range(count))
    box = _BoxReader(raw)
    if RTL_CHAR.search(text):
        runs = visual_runs(text, box.of, lambda i: pdfium_c.FPDFText_GetFontSize(raw, i))
    else:
        runs = _line_runs(_drop_overdrawn(text, box.of), box, raw)
    return _without_repeats(runs)


def _line_runs(text: str, box: _BoxReader, raw: pdfium_c.FPDF_TEXTPAGE) -> list[Run]:
    """Runs cut from pdfium's lines of left-to-right text, where two words lie far apart."""
    runs: list[Run] = []
    for line in _LINE.finditer(text):
        at = line.start()
        words = [(m.start() + at, m.end() + at) for m in _WORD.finditer(line[0])]
        if not words:
            continue
        em = max(float(pdfium_c.FPDFText_GetFontSize(raw, words[0][0])), 1.0)
        first = 0
        boxes = [box.union(start, end - 1) for start, end in words]
        for index in range(1, len(words) + 1):
            if index < len(words) and _gap(boxes[index - 1], boxes[index]) <= GAP_EM * em:
                continue
            start, end = words[first][0], words[index - 1][1]
            left = min(b[0] for b in boxes[first:index])
            bottom = min(b[1] for b in boxes[first:index])
            right = max(b[2] for b in boxes[first:index])
            top = max(b[3] for b in boxes[first:index])
            size = float(pdfium_c.FPDFText_GetFontSize(raw, start))
            runs.append((left, bottom, right, top, text[start:end].replace(_DROPPED, ""), size))
            first = index
    return runs


class _BoxReader:
    """Character boxes from pdfium, with the ctypes out-parameters made once."""

    def __init__(self, raw: pdfium_c.FPDF_TEXTPAGE) -> None:
        self._raw = raw
        self._values = [ctypes.c_double() for _ in range(4)]
        self._refs = [ctypes.byref(v) for v in self._values]

    def of(self, index: int) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) of one character."""
        left, right, bottom, top = self._refs
        pdfium_c.FPDFText_GetCharBox(self._raw, index, left, right, bottom, top)
        lv, rv, bv, tv = self._values
        return lv.value, bv.value, rv.value, tv.value

    def union(self, first: int, last: int) -> tuple[float, float, float, float]:
        """The box around a word's first and last character (enough for the layout)."""
        a, b = self.of(first), self.of(last)
        return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _char(code: int) -> str:
    """One character of pdfium's list; a lone surrogate or bad code point becomes U+FFFD."""
    if 0 < code < 0x110000 and not 0xD800 <= code <= 0xDFFF:
        return chr(code)
    return "\ufffd"


def _gap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Horizontal space between two word boxes (0 when they overlap), either order."""
    return max(0.0, max(a[0], b[0]) - min(a[2], b[2]))


def _drop_overdrawn(text: str, box_of: BoxOf) -> str:
    """Mark characters drawn again on the spot of the same character just before them.

    A bold effect draws a line twice, shifted by a fraction of a point; when
    pdfium cannot tell the copies apart it interleaves them ("BBoolldd").
    Only repeated letters are looked at, so a page without any costs nothing.
    """
    if not _DOUBLED.search(text):
        return text
    chars = list(text)
    for repeat in _DOUBLED.finditer(text):
        kept = box_of(repeat.start())
        for index in range(repeat.start() + 1, repeat.end()):
            here = box_of(index)
            if drawn_again(here, kept):
                chars[index] = _DROPPED
            else:
                kept = here
    return "".join(chars)


def _without_repeats(runs: list[Run]) -> list[Run]:
    """Drop runs that repeat an earlier run's text over the same spot (text drawn twice).

    Runs are filed by text and by where their centre falls on a grid of
    :data:`_SPOT_PT` cells, so each run is compared only with the same text in
    its cell and the eight around it, and a cell keeps at most
    :data:`_CELL_KEEP` of them: linear, however many runs share a text.
    """
    seen: dict[tuple[str, int, int], list[Run]] = {}
    kept: list[Run] = []
    for run in runs:
        col = int((run[0] + run[2]) / 2 // _SPOT_PT)
        row = int((run[1] + run[3]) / 2 // _SPOT_PT)
        near = (
            other
            for dx in (-1, 0, 1)
            for dy in (-1, 0, 1)
            for other in seen.get((run[4], col + dx, row + dy), ())
        )
        if any(overlap_share(run[:4], other[:4]) >= SAME_SPOT for other in near):
            continue
        cell = seen.setdefault((run[4], col, row), [])
        if len(cell) < _CELL_KEEP:
            cell.append(run)
        kept.append(run)
    return kept
