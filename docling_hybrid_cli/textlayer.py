"""The PDF's own text: reading order, paragraphs, headings.

A born-digital page carries its text, but pdfium hands it out in content-stream
order, without paragraph breaks and without any notion of a heading. This
module rebuilds what a reader sees from pdfium's text rectangles: lines top to
bottom, a two-column page column by column, a blank line at each paragraph gap,
and lines set in a clearly larger font marked as headings (:data:`HEADING_MARK`).
The renderer calls it while the page is open; the text-layer backend turns the
result into Markdown.

Everything here takes a live ``PdfTextPage``, so it runs on the pdfium thread
(see :mod:`docling_hybrid_cli.pdfium_thread`) like every other pdfium call.
"""

from __future__ import annotations

import itertools

import pypdfium2 as pdfium

from .textbidi import Run, is_rtl_line
from .textruns import page_runs

__all__ = [
    "HEADING_MARK",
    "LineBox",
    "page_has_text",
    "read_page_text",
    "read_page_text_and_boxes",
    "text_in_reading_order",
]

LineBox = tuple[float, float, float, float]
"""A text line's box as (left, top, right, bottom) fractions of the page as drawn (0-1)."""

_PARAGRAPH_GAP = 1.3
"""A gap between lines this many times the usual line pitch starts a new paragraph."""
HEADING_MARK = "\x01"
"""Prefixes a text-layer line set in a larger font, followed by its level (1 or 2) and a space.

A control character no PDF text carries, so the text-layer backend can tell
this module's heading guess apart from text that merely starts with ``#``.
"""
_HEADING_1_RATIO = 1.8
_HEADING_2_RATIO = 1.3
"""A line's font size over the body text's that makes it a level-1 or level-2 heading."""
_HEADING_MAX_CHARS = 120
"""Longer lines are body text set large (a pull quote), not headings."""
_COLUMN_MIN_BOXES = 8
"""Fewer text runs than this are read as one column: too few to find a gutter."""
_COLUMN_SHARE = 0.2
"""Each column of a two-column page holds at least this share of the page's text runs."""
_SPANNING_SHARE = 0.3
"""At most this share may cross the gutter (titles, abstracts) on a two-column page."""


def page_has_text(doc: pdfium.PdfDocument, page_no: int) -> bool:
    """Whether 1-based page ``page_no`` carries any text, visible or not.

    The renderer asks only about pages whose image looks blank. A page pdfium
    cannot read counts as having text: it is then sent, never called blank.
    """
    try:
        page = doc[page_no - 1]
    except pdfium.PdfiumError:
        return True
    try:
        textpage = page.get_textpage()
        try:
            return bool(str(textpage.get_text_range()).strip())
        finally:
            textpage.close()
    except pdfium.PdfiumError:
        return True
    finally:
        page.close()


def read_page_text(page: pdfium.PdfPage, *, reading_order: bool) -> str:
    """A live page's text layer: in reading order, or pdfium's plain text in content order.

    The plain text costs pdfium's text page and one copy (about a millisecond
    on a dense page): enough where only the words count. Runs on the pdfium thread.
    """
    textpage = page.get_textpage()
    try:
        return text_in_reading_order(textpage) if reading_order else str(textpage.get_text_range())
    finally:
        textpage.close()


def read_page_text_and_boxes(page: pdfium.PdfPage) -> tuple[str, tuple[LineBox | None, ...]]:
    """The page's text in reading order and, for each of its lines, where it is on the page.

    ``boxes[i]`` is line ``i`` of ``text.split("\n")``: the union of its runs'
    rectangles as fractions of the page as drawn -- the frame of the rendered
    image, so ``/Rotate`` and the crop box are accounted for -- or None for a
    blank line (and for every line when pdfium's own order had to be kept).
    Runs on the pdfium thread.
    """
    textpage = page.get_textpage()
    try:
        text, unrotated = _reading_order(textpage)
    finally:
        textpage.close()
    if not any(unrotated):
        return text, unrotated
    left, bottom, right, top = page.get_bbox()
    frame = _Frame(left, bottom, right - left, top - bottom, page.get_rotation())
    return text, tuple(None if box is None else frame.fractions(box) for box in unrotated)


class _Frame:
    """Unrotated page space (points, y up) to fractions of the page as drawn (y down)."""

    def __init__(self, left: float, bottom: float, width: float, height: float, rotation: int):
        self.left, self.bottom = left, bottom
        self.width, self.height = max(width, 1e-6), max(height, 1e-6)
        self.rotation = rotation % 360

    def fractions(self, box: tuple[float, float, float, float]) -> LineBox:
        corners = [self._point(box[0], box[1]), self._point(box[2], box[3])]
        xs, ys = sorted(c[0] for c in corners), sorted(c[1] for c in corners)
        return (
            round(min(max(xs[0], 0.0), 1.0), 4),
            round(min(max(ys[0], 0.0), 1.0), 4),
            round(min(max(xs[1], 0.0), 1.0), 4),
            round(min(max(ys[1], 0.0), 1.0), 4),
        )

    def _point(self, x: float, y: float) -> tuple[float, float]:
        """Where an unrotated point lands on the drawn page; /Rotate turns it clockwise."""
        u = (x - self.left) / self.width  # 0 at the unrotated left edge
        v = (self.bottom + self.height - y) / self.height  # 0 at the unrotated top edge
        if self.rotation == 90:
            return 1.0 - v, u
        if self.rotation == 180:
            return 1.0 - u, 1.0 - v
        if self.rotation == 270:
            return v, 1.0 - u
        return u, v


def text_in_reading_order(textpage: pdfium.PdfTextPage) -> str:
    """The page's text in reading order, blank lines at paragraph gaps, headings marked.

    pdfium's own text order follows the content stream, which for pages with
    a ``/Rotate`` comes out bottom-to-top, and has no paragraph breaks. Its
    runs (:mod:`.textruns`: pdfium's lines cut at wide gaps, with boxes in
    unrotated page space, y up) give both: lines are ordered by their top
    edge, and a vertical gap well above the typical line pitch marks a new
    paragraph. A two-column page is read column by column (full-width text
    above and below them in place), right column first on a right-to-left
    page. Pages whose text runs vertically in that space (set sideways in the
    content itself) keep pdfium's order. Runs on the pdfium thread.
    """
    return _reading_order(textpage)[0]


_UnrotatedBox = tuple[float, float, float, float]
"""(left, bottom, right, top) in unrotated page space, points, y up: pdfium's frame."""


def _reading_order(textpage: pdfium.PdfTextPage) -> tuple[str, tuple[_UnrotatedBox | None, ...]]:
    """The text in reading order, and each line's box in pdfium's frame (None: blank or unknown)."""
    boxes = page_runs(textpage)
    if boxes is None:
        return _content_order(textpage)
    if not boxes:
        return "", ()
    sideways = sum(1 for b in boxes if len(b[4]) > 2 and (b[3] - b[1]) > (b[2] - b[0]))
    if sideways * 2 > len(boxes):
        return _content_order(textpage)
    sizes = sorted(b[5] for b in boxes)
    body = sizes[(len(sizes) - 1) // 2]  # lower median: the body text's size
    rtl = is_rtl_line(" ".join(b[4] for b in boxes))
    lines: list[str] = []
    line_boxes: list[_UnrotatedBox | None] = []
    for group in _columns(boxes, rtl=rtl):
        if not group:
            continue
        text, group_boxes = _block_text(group, body)
        if not text:
            continue
        if lines:
            lines.append("")
            line_boxes.append(None)
        lines.append(text)
        line_boxes.extend(group_boxes)
    return "\n".join(lines), tuple(line_boxes)


def _content_order(textpage: pdfium.PdfTextPage) -> tuple[str, tuple[None, ...]]:
    """pdfium's text in content-stream order, newlines normalised; no line boxes."""
    text = str(textpage.get_text_range()).replace("\r\n", "\n").replace("\r", "\n")
    return text, (None,) * (text.count("\n") + 1)


def _columns(boxes: list[Run], *, rtl: bool = False) -> list[list[Run]]:
    """Split a two-column page at its gutter; any other page is one group.

    The gutter is the x in the middle of the text area that the fewest
    runs cross. Returned in reading order: full-width text above the
    columns, the first column (the left one, or the right one on a
    right-to-left page), the other, full-width text below.
    """
    left_edge = min(b[0] for b in boxes)
    width = max(b[2] for b in boxes) - left_edge
    if width <= 0 or len(boxes) < _COLUMN_MIN_BOXES:
        return [boxes]
    bins = 100
    cover = [0] * bins
    for b in boxes:
        first = int((b[0] - left_edge) / width * bins)
        last = min(bins - 1, int((b[2] - left_edge) / width * bins))
        for i in range(first, last + 1):
            cover[i] += 1
    gutter_bin = min(range(30, 71), key=lambda i: (cover[i], abs(i - 50)))
    gutter = left_edge + (gutter_bin + 0.5) / bins * width
    left = [b for b in boxes if b[2] <= gutter]
    right = [b for b in boxes if b[0] >= gutter]
    spanning = [b for b in boxes if b[0] < gutter < b[2]]
    n = len(boxes)
    if min(len(left), len(right)) < _COLUMN_SHARE * n or len(spanning) > _SPANNING_SHARE * n:
        return [boxes]
    columns_top = max(b[3] for b in left + right)
    above = [b for b in spanning if (b[1] + b[3]) / 2 > columns_top]
    below = [b for b in spanning if (b[1] + b[3]) / 2 <= columns_top]
    return [above, right, left, below] if rtl else [above, left, right, below]


def _block_text(boxes: list[Run], body: float) -> tuple[str, list[_UnrotatedBox | None]]:
    """One column (or a whole page): lines top to bottom, paragraphs and headings marked.

    Also each output line's box (the union of its runs), None for a blank line.
    """
    boxes = sorted(boxes, key=lambda b: (-b[3], b[0]))
    lines: list[list[Run]] = []
    low = high = 0.0  # the current line's vertical extent, kept as boxes join it
    for box in boxes:
        middle = (box[1] + box[3]) / 2
        if lines and low <= middle <= high:
            lines[-1].append(box)
            low, high = min(low, box[1]), max(high, box[3])
            continue
        lines.append([box])
        low, high = box[1], box[3]
    tops = [max(b[3] for b in line) for line in lines]
    pitches = sorted(a - b for a, b in itertools.pairwise(tops) if a > b)
    usual = pitches[(len(pitches) - 1) // 2] if pitches else 0.0  # lower median: body text
    # Font sizes, not rectangle heights: pdfium's rectangles hug the glyphs, so a
    # heading without descenders can be shorter than a line of body text.
    sizes = [min(b[5] for b in line) for line in lines]  # every part of the line large
    out: list[str] = []
    out_boxes: list[_UnrotatedBox | None] = []
    for index, line in enumerate(lines):
        text = _line_text(line)
        level = _heading_level(sizes[index], body, text)
        gap = index and usual and tops[index - 1] - tops[index] > usual * _PARAGRAPH_GAP
        if gap or (index and (level or out[-1].startswith(HEADING_MARK))):
            out.append("")
            out_boxes.append(None)
        out.append(f"{HEADING_MARK}{level} {text}" if level else text)
        out_boxes.append(
            (
                min(b[0] for b in line),
                min(b[1] for b in line),
                max(b[2] for b in line),
                max(b[3] for b in line),
            )
        )
    return "\n".join(out), out_boxes


def _line_text(line: list[Run]) -> str:
    """A line's runs left to right, or right to left when the line is mostly RTL script."""
    ordered = sorted(line, key=lambda b: b[0])
    if is_rtl_line(" ".join(b[4] for b in ordered)):
        ordered.reverse()
    return " ".join(b[4] for b in ordered)


def _heading_level(height: float, body: float, text: str) -> int:
    """1 or 2 for a short line set in a clearly larger font than the page's body text, else 0."""
    if body <= 0 or len(text) > _HEADING_MAX_CHARS or not any(c.isalpha() for c in text):
        return 0
    ratio = height / body
    if ratio >= _HEADING_1_RATIO:
        return 1
    return 2 if ratio >= _HEADING_2_RATIO else 0
