"""Text to comparable words: what a page says, without how it is marked up.

A model answers in Markdown, HTML tables and LaTeX; the text layer is plain
text in whatever order the PDF drew it, with words hyphenated at line ends.
Both become the same bag of words: markup removed (tags, link targets,
comments, LaTeX commands, with Greek letters kept as the letters they
name), hyphenation at line ends mended, Unicode folded (NFKC, case), and the
text cut into runs of letters and runs of digits -- ``COVID-19`` and
``COVID 19`` both give ``covid``, ``19``. Chinese, Japanese and Korean
characters count one by one, since those scripts put no spaces between words.
"""

from __future__ import annotations

import html
import re
import unicodedata

from ..textlayer import HEADING_MARK

__all__ = ["normalise", "tokens"]

_HEADING_GUESS = re.compile(re.escape(HEADING_MARK) + r"\d ")
"""The text layer's mark of a line set large, with its level: not words of the page."""
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_TAG = re.compile(r"</?[A-Za-z][^<>]{0,2000}>")
_LINK_TARGET = re.compile(r"\]\([^()\s]*\)")
_HYPHEN_BREAK = re.compile("([^\\W\\d_])[-\u00ad\ufffe\x02\u2010]\\s*\n\\s*([^\\W\\d_])")
_SOFT_HYPHEN = re.compile("[\u00ad\ufffe\x02]")
_LATEX_COMMAND = re.compile(r"\\([A-Za-z]+)")
_WORD = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]|[^\W\d_]+|\d+")
_GREEK = {
    name: chr(code)
    for name, code in (
        ("alpha", 0x3B1), ("beta", 0x3B2), ("gamma", 0x3B3), ("delta", 0x3B4),
        ("epsilon", 0x3B5), ("varepsilon", 0x3B5), ("zeta", 0x3B6), ("eta", 0x3B7),
        ("theta", 0x3B8), ("vartheta", 0x3B8), ("iota", 0x3B9), ("kappa", 0x3BA),
        ("lambda", 0x3BB), ("mu", 0x3BC), ("nu", 0x3BD), ("xi", 0x3BE), ("pi", 0x3C0),
        ("rho", 0x3C1), ("sigma", 0x3C3), ("tau", 0x3C4), ("upsilon", 0x3C5),
        ("phi", 0x3C6), ("varphi", 0x3C6), ("chi", 0x3C7), ("psi", 0x3C8),
        ("omega", 0x3C9), ("Gamma", 0x393), ("Delta", 0x394), ("Theta", 0x398),
        ("Lambda", 0x39B), ("Xi", 0x39E), ("Pi", 0x3A0), ("Sigma", 0x3A3),
        ("Phi", 0x3A6), ("Psi", 0x3A8), ("Omega", 0x3A9),
    )
}  # fmt: skip
"""LaTeX names of Greek letters: the text layer has the letter itself."""


def normalise(text: str) -> str:
    """The words of ``text`` joined by single spaces (order kept, for edit distances)."""
    return " ".join(tokens(text))


def tokens(text: str) -> list[str]:
    """The words of ``text`` in order: markup gone, case and Unicode folded."""
    text = _HEADING_GUESS.sub(" ", text)
    text = _COMMENT.sub(" ", text)
    text = _LINK_TARGET.sub("] ", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text)
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _SOFT_HYPHEN.sub("", text)
    text = _LATEX_COMMAND.sub(lambda m: f" {_GREEK.get(m[1], '')} ", text)
    text = unicodedata.normalize("NFKC", text).casefold()
    return _WORD.findall(text)
