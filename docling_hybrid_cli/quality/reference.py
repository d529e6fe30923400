"""Whether a page's text layer can serve as the reference for its OCR answer.

A text layer is only evidence when it is real text. Many are not: a scan
with an invisible OCR layer of poor quality, fonts embedded without a map to
Unicode (private-use code points, or glyph numbers that come out as shifted
letters), text decoded with the wrong encoding (UTF-8 read as Latin-1:
``Ã©``), or a page holding just a stamp or a page number. Comparing a model
with such a layer would flag good answers, so :func:`reference_problem` says
what is wrong with it, and the page gets no agreement score.
"""

from __future__ import annotations

import re

from .tokens import tokens

__all__ = ["MIN_REFERENCE_WORDS", "reference_problem"]

MIN_REFERENCE_WORDS = 12
"""Fewer words than this (a page number, a stamp, a figure's label) are too little to judge by."""

_REPLACEMENT = re.compile("[\ufffd]")
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_CONTROL = re.compile("[\x00\x03-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_MOJIBAKE = re.compile(
    "[\u00c2\u00c3][\u0080-\u00bf]|\u00e2\u20ac[\u0099\u009c\u009d\u201c\u201d\u2122]"
)
"""UTF-8 read as Latin-1 or cp1252: Ã© for é, â€™ for a right quote."""
_CID = re.compile(r"\(cid:\d+\)")
_LATIN = re.compile("[A-Za-z]")
_VOWELS = re.compile("[AEIOUYaeiouy]")
_MIN_LETTERS_FOR_VOWELS = 200
"""Latin letters needed before their vowel share says anything."""


def reference_problem(text: str | None) -> str | None:
    """Why ``text`` cannot be a reference, or None when it can.

    Thresholds are shares of the visible characters: more than 5 % U+FFFD or
    control characters, 10 % private-use code points, fewer than half of
    them letters or digits, three or more mojibake pairs making 1 % of the
    text, pdfminer-style ``(cid:N)`` glyph numbers, or Latin letters whose
    vowels are under 20 % or over 65 % of them (real words in European
    languages hold 30-45 %; letters shifted by a broken font encoding do not).
    """
    if text is None or not text.strip():
        return "no text layer"
    visible = [c for c in text if not c.isspace()]
    n = len(visible)
    if len(_REPLACEMENT.findall(text)) > 0.05 * n:
        return "text layer unusable: replacement characters (U+FFFD)"
    if len(_PRIVATE_USE.findall(text)) > 0.10 * n:
        return "text layer unusable: private-use characters (a font without a Unicode map)"
    if len(_CONTROL.findall(text)) > 0.05 * n:
        return "text layer unusable: control characters"
    if _CID.search(text):
        return "text layer unusable: glyph numbers instead of text"
    mojibake = len(_MOJIBAKE.findall(text))
    if mojibake >= 3 and mojibake > 0.01 * n:
        return "text layer unusable: mis-decoded text (UTF-8 read as Latin-1)"
    if sum(1 for c in visible if c.isalnum()) < 0.5 * n:
        return "text layer unusable: mostly symbols, few letters or digits"
    latin = len(_LATIN.findall(text))
    if latin >= _MIN_LETTERS_FOR_VOWELS:
        vowels = len(_VOWELS.findall(text)) / latin
        if not 0.2 <= vowels <= 0.65:
            return "text layer unusable: letters that do not form words (a broken font encoding)"
    if len(tokens(text)) < MIN_REFERENCE_WORDS:
        return "too little text in the text layer to compare"
    return None
