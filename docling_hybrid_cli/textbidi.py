"""Right-to-left text layers, read from where the glyphs stand.

For pages holding Arabic or Hebrew, pdfium's character order cannot be
trusted: its bidi pass reorders what it takes for one line, and when the
content stream draws lines or columns in an unusual order that "line" spans
several, so words come out cut in two and lines interleaved. The glyph
positions are reliable, so such pages are read from them: characters grouped
into visual lines, each line sorted left to right, cut into runs at wide
gaps, and every run turned from visual into logical order -- a right-to-left
line reversed, with its numbers and Latin words turned back to read left to
right (the simple inverse of the Unicode bidi algorithm that holds for
running text). A glyph that stands for several letters (the lam-alef
ligature) gives all of them its box; pdfium lists them reversed, so the
reversal restores them.

Arabic presentation forms (U+FB50-U+FDFF, U+FE70-U+FEFF) become the letters
they draw (NFKC), so the text compares and searches like typed text.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

__all__ = [
    "GAP_EM",
    "RTL_CHAR",
    "SAME_SPOT",
    "Box",
    "BoxOf",
    "drawn_again",
    "Run",
    "is_rtl_line",
    "overlap_share",
    "plain_letters",
    "visual_runs",
]

Run = tuple[float, float, float, float, str, float]
"""left, bottom, right, top (page space, y up), text, font size."""
Box = tuple[float, float, float, float]
BoxOf = Callable[[int], Box]
"""The (left, bottom, right, top) box of character ``index``."""

RTL_CHAR = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufefc]")
"""Hebrew, Arabic, Syriac, Thaana, NKo and their presentation forms: strong right-to-left."""
_PRESENTATION_FORMS = re.compile("[\ufb50-\ufdff\ufe70-\ufefc]+")
GAP_EM = 1.0
"""Words further apart than this many font sizes start a new run (a gutter, a table cell).

Word spaces are a quarter to a third of an em, justified ones rarely past
two thirds; a column gutter or the gap between table cells is wider."""
SAME_SPOT = 0.5
"""Two glyphs or runs of the same text overlapping by this share of the smaller box are one
drawn twice (a bold effect)."""
_COPY_SHIFT = 0.15
"""A copy starts at most this share of the glyph's height to the side (a 12 pt "l": 1.4 pt)."""
_SPACE_EM = 0.3
"""A gap this many font sizes wide between two glyphs of a run is a word space."""
_LEFT_TO_RIGHT = frozenset({"L", "EN", "AN"})
"""Latin letters and numbers: read left to right inside a right-to-left line."""
_RIGHT_TO_LEFT = frozenset({"R", "AL"})

_Char = tuple[float, float, float, float, int, str]
"""left, bottom, right, top, index in pdfium's list, character."""


def is_rtl_line(text: str) -> bool:
    """Whether a line is mostly right-to-left script: its runs then read right to left."""
    if not RTL_CHAR.search(text):
        return False
    rtl = ltr = 0
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in _RIGHT_TO_LEFT:
            rtl += 1
        elif direction == "L":
            ltr += 1
    return rtl > ltr


def plain_letters(text: str) -> str:
    """Arabic presentation forms as the letters they draw (NFKC); all else unchanged."""
    return _PRESENTATION_FORMS.sub(lambda m: unicodedata.normalize("NFKC", m[0]), text)


def overlap_share(a: Box, b: Box) -> float:
    """Intersection area of two (left, bottom, right, top, ...) boxes over the smaller one's."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return width * height / smaller if smaller > 0 else 0.0


def drawn_again(a: Box, b: Box) -> bool:
    """Whether two boxes of the same character are one glyph drawn twice, shifted a little.

    Identical boxes are one glyph standing for several letters (a ligature),
    not a copy. A bold effect's copy starts a fraction of a point from the
    first; the same letter twice in a word ("ll") starts a whole advance
    further, never less than a fifth of the glyph's height.
    """
    if all(abs(x - y) < 0.01 for x, y in zip(a, b, strict=True)):
        return False
    tall = max(a[3] - a[1], b[3] - b[1])
    down = min(a[3], b[3]) - max(a[1], b[1])
    short = min(a[3] - a[1], b[3] - b[1])
    shift = abs(a[0] - b[0])
    return short > 0 and down >= 0.5 * short and shift <= max(_COPY_SHIFT * tall, 0.5)


def visual_runs(text: str, box_of: BoxOf, size_of: Callable[[int], float]) -> list[Run]:
    """Runs of a page holding right-to-left text, from the glyphs' positions.

    ``text`` is pdfium's character list (one character per index), ``box_of``
    and ``size_of`` read a character's box and font size.
    """
    chars: list[_Char] = []
    for index, char in enumerate(text):
        if char in "\r\n\ufffe\x02":
            continue  # pdfium's line breaks, sometimes in place of a space: gaps tell those
        left, bottom, right, top = box_of(index)
        chars.append((left, bottom, right, top, index, char))
    runs: list[Run] = []
    for line in _visual_lines(chars):
        rtl = is_rtl_line("".join(c[5] for c in line))
        for piece in _split_at_gaps(line, size_of):
            glyphs = [c for c in piece if not c[5].isspace()]
            if not glyphs:
                continue
            logical = _logical("".join(c[5] for c in piece), rtl=rtl)
            runs.append(
                (
                    min(c[0] for c in glyphs),
                    min(c[1] for c in glyphs),
                    max(c[2] for c in glyphs),
                    max(c[3] for c in glyphs),
                    plain_letters(" ".join(logical.split())),
                    float(size_of(glyphs[0][4])),
                )
            )
    return runs


def _visual_lines(chars: list[_Char]) -> list[list[_Char]]:
    """Characters grouped into lines (top to bottom), each sorted left to right.

    A space has no height: it joins the line its baseline falls in. Equal
    positions keep pdfium's order, so a ligature's letters stay together.
    """
    glyphs = sorted((c for c in chars if c[3] > c[1]), key=lambda c: -c[3])
    lines: list[list[_Char]] = []
    extents: list[tuple[float, float]] = []
    low = high = 0.0
    for char in glyphs:
        middle = (char[1] + char[3]) / 2
        if lines and low <= middle <= high:
            lines[-1].append(char)
            low, high = min(low, char[1]), max(high, char[3])
            extents[-1] = (low, high)
            continue
        lines.append([char])
        low, high = char[1], char[3]
        extents.append((low, high))
    for space in (c for c in chars if c[3] <= c[1]):
        for line, (low, high) in zip(lines, extents, strict=True):
            if low <= space[1] <= high:
                line.append(space)
                break
    return [sorted(line, key=lambda c: ((c[0] + c[2]) / 2, c[4])) for line in lines]


def _split_at_gaps(line: list[_Char], size_of: Callable[[int], float]) -> list[list[_Char]]:
    """A visual line cut where two glyphs lie more than :data:`GAP_EM` apart; doubled glyphs go."""
    pieces: list[list[_Char]] = [[]]
    last: _Char | None = None
    em = 1.0
    for char in line:
        if char[5].isspace():
            pieces[-1].append(char)
            continue
        if last is not None:
            if char[5] == last[5] and drawn_again(char[:4], last[:4]):
                continue  # the same glyph drawn again on the spot
            gap = char[0] - last[2]
            if gap > GAP_EM * em:
                pieces.append([])
            elif gap > _SPACE_EM * em and not pieces[-1][-1][5].isspace():
                pieces[-1].append((last[2], char[1], char[0], char[1], -1, " "))
        else:
            em = max(float(size_of(char[4])), 1.0)
        pieces[-1].append(char)
        last = char
    return pieces


def _logical(visual: str, *, rtl: bool) -> str:
    """Visual (left-to-right) order to reading order.

    In a right-to-left line the whole text is reversed, then every stretch
    that begins and ends with a Latin letter or a digit (and holds no
    right-to-left letter) is turned back. In a left-to-right line only the
    stretches of right-to-left letters are reversed.
    """
    if rtl:
        text = visual[::-1]
        return _turn_back(text, _LEFT_TO_RIGHT, _RIGHT_TO_LEFT)
    return _turn_back(visual, _RIGHT_TO_LEFT, _LEFT_TO_RIGHT)


def _turn_back(text: str, inner: frozenset[str], outer: frozenset[str]) -> str:
    """Reverse each maximal stretch that starts and ends in ``inner`` and holds no ``outer``."""
    classes = [unicodedata.bidirectional(c) for c in text]
    out = list(text)
    index = 0
    while index < len(text):
        if classes[index] not in inner:
            index += 1
            continue
        end = last = index
        while end < len(text) and classes[end] not in outer:
            if classes[end] in inner:
                last = end
            end += 1
        out[index : last + 1] = out[index : last + 1][::-1]
        index = last + 1
    return "".join(out)
