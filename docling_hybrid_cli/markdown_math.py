"""LaTeX math in ``$`` delimiters, code left alone, and literal dollars escaped.

DeepSeek-OCR writes inline math as ``\\( … \\)`` and display math as
``\\[ … \\]``; GitHub (https://docs.github.com/en/get-started/writing-on-github/working-with-advanced-formatting/writing-mathematical-expressions),
GitLab, Obsidian, Typora and pandoc render ``$…$`` and ``$$…$$`` instead.
The conversion here:

* ``\\( x \\)`` becomes ``$x$`` (GitHub wants no space inside the dollars);
* ``\\[ x \\]`` becomes ``$$`` / ``x`` / ``$$`` on lines of their own, set
  apart by blank lines -- or ``$$x$$`` on one line where a line break is
  not allowed (a table cell);
* math already in dollars (a chat model asked for ``$``) is kept as it is;
* any other ``$`` is escaped as ``\\$``, so "from $5 to $10" is not read
  as math; dollars are told apart the way pandoc's ``tex_math_dollars``
  does it: an opening ``$`` has a non-space right after it, the closing one
  a non-space right before it and no digit after it;
* code -- fenced blocks and inline code spans -- is never touched.

Whether a page's own ``$`` can be math depends on who wrote it: a chat
model asked for ``$`` math, yes; DeepSeek-OCR (math only in ``\\( \\)``) or
OCR'd text, no -- there every ``$`` is a literal dollar and is escaped,
however it is placed ("$3.50 and US$ 4" would otherwise read as math).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

__all__ = ["code_pieces", "dollar_math", "fenced_pieces", "inline_code_pieces"]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)
_BACKTICKS = re.compile(r"`+")
_SPECIAL = re.compile(r"[\\$]")
# Backslashes then a closing bracket: it closes math when the run of backslashes is odd.
_BACKSLASHES_PAREN = re.compile(r"\\+\)")
_BACKSLASHES_BRACKET = re.compile(r"\\+\]")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_DOUBLE_DOLLAR = re.compile(r"(?<!\\)\$\$")
# A ``$`` that can close inline math: not escaped, a non-space before it, no digit after it.
_SINGLE_CLOSE = re.compile(r"(?<=[^\s\\])\$(?!\d)")


def code_pieces(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` cut into ``(is_code, piece)``: fenced code blocks and inline code spans are code.

    A fence runs to its closing fence (same character, at least as long) or
    to the end of the text; a code span opens at a run of backticks and
    closes at the next run of the same length (CommonMark's rules), and a
    run that never closes is plain text.
    """
    for fenced, piece in fenced_pieces(text):
        if fenced:
            yield True, piece
        else:
            yield from inline_code_pieces(piece)


def fenced_pieces(text: str) -> Iterator[tuple[bool, str]]:
    """``text`` cut into ``(is_fenced_code, piece)``."""
    pos = 0
    for start, end in _fenced_blocks(text):
        if start > pos:
            yield False, text[pos:start]
        yield True, text[start:end]
        pos = end
    if pos < len(text):
        yield False, text[pos:]


def _fenced_blocks(text: str) -> Iterator[tuple[int, int]]:
    pos = 0
    while (fence := _FENCE.search(text, pos)) is not None:
        marker = fence.group(1)
        closing = re.compile(
            rf"^ {{0,3}}{re.escape(marker[0])}{{{len(marker)},}}[ \t]*$", re.MULTILINE
        )
        line_end = text.find("\n", fence.end())
        close = closing.search(text, line_end + 1) if line_end != -1 else None
        end = len(text) if close is None else close.end()
        yield fence.start(), end
        pos = end
        if pos >= len(text):
            return


def inline_code_pieces(text: str) -> Iterator[tuple[bool, str]]:
    """Code spans in ``text``: each run of backticks is paired with the next run as long.

    Runs are indexed by length once, so pairing is linear however many
    unmatched runs a broken answer holds.
    """
    runs = list(_BACKTICKS.finditer(text))
    by_size: dict[int, list[int]] = {}
    for index, run in enumerate(runs):
        by_size.setdefault(len(run.group()), []).append(index)
    cursor = dict.fromkeys(by_size, 0)
    pos = k = 0
    while k < len(runs):
        size = len(runs[k].group())
        same, c = by_size[size], cursor[size]
        while c < len(same) and same[c] <= k:
            c += 1
        cursor[size] = c
        if c == len(same):
            k += 1
            continue
        close = runs[same[c]]
        if runs[k].start() > pos:
            yield False, text[pos : runs[k].start()]
        yield True, text[runs[k].start() : close.end()]
        pos, k = close.end(), same[c] + 1
    if pos < len(text):
        yield False, text[pos:]


def dollar_math(text: str, *, one_line: bool = False, dollars_are_math: bool = True) -> str:
    """``text`` (no code in it) with its math in dollars and its literal dollars escaped.

    ``one_line`` keeps everything on one line: display math becomes
    ``$$…$$`` in place and line breaks inside math become spaces. Without
    ``dollars_are_math`` the text's own ``$`` are all literal (its writer
    used only ``\\( \\)`` for math) and every one is escaped.
    """
    closers = _Closers(text)
    out: list[str] = []
    pos = 0
    length = len(text)
    while (special := _SPECIAL.search(text, pos)) is not None:
        i = special.start()
        out.append(text[pos:i])
        if text[i] == "$":
            end = closers.dollar_math_end(i) if dollars_are_math else None
            if end is None:
                out.append("\\$")
                pos = i + 1
            else:
                math = text[i:end]
                out.append(" ".join(math.split()) if one_line else math)
                pos = end
            continue
        run_end = i
        while run_end < length and text[run_end] == "\\":
            run_end += 1
        nxt = text[run_end] if run_end < length else ""
        odd = (run_end - i) % 2 == 1
        if odd and nxt in ("(", "["):
            out.append(text[i : run_end - 1])  # the escaped backslashes before the delimiter
            converted, pos = _delimited(text, run_end, closers, one_line)
            out.append(converted)
        else:
            # An escaped character (``\$`` stays an escaped dollar) or literal backslashes.
            pos = run_end + 1 if odd and nxt else run_end
            out.append(text[i:pos])
    out.append(text[pos:])
    return "".join(out)


class _Closers:
    """Every place math could close in one text, found once.

    Looking for each opening's closer afresh would rescan the rest of the
    text per opening -- quadratic on an answer full of unclosed ``\\(`` or
    stray dollars; sorted positions and a binary search keep it linear.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.inline = _odd_closers(_BACKSLASHES_PAREN, text)
        self.display = _odd_closers(_BACKSLASHES_BRACKET, text)
        self.double = [m.start() for m in _DOUBLE_DOLLAR.finditer(text)]
        self.single = [m.start() for m in _SINGLE_CLOSE.finditer(text)]
        self.breaks = [m.start() for m in _BLANK_LINES.finditer(text)]

    def bracket_close(self, bracket: str, after: int) -> int | None:
        """Where the ``\\)`` or ``\\]`` closing a bracket opened before ``after`` starts."""
        positions = self.inline if bracket == "(" else self.display
        index = bisect.bisect_left(positions, after)
        return positions[index] if index < len(positions) else None

    def dollar_math_end(self, start: int) -> int | None:
        """Where math that opens with the ``$`` at ``start`` ends; None: that ``$`` is literal."""
        text = self.text
        if text.startswith("$$", start):
            index = bisect.bisect_left(self.double, start + 2)
            if index == len(self.double):
                return None
            close = self.double[index]
            return close + 2 if text[start + 2 : close].strip() else None
        after = text[start + 1 : start + 2]
        if not after or after.isspace():
            return None
        index = bisect.bisect_left(self.single, start + 2)
        if index == len(self.single):
            return None
        close = self.single[index]
        brk = bisect.bisect_left(self.breaks, start)
        if brk < len(self.breaks) and self.breaks[brk] < close:
            return None  # inline math does not run across a blank line
        return close + 1


def _odd_closers(pattern: re.Pattern[str], text: str) -> list[int]:
    """Positions of the backslash of each unescaped ``\\)`` (or ``\\]``) matched by ``pattern``."""
    return [m.end() - 2 for m in pattern.finditer(text) if (m.end() - m.start() - 1) % 2 == 1]


def _delimited(text: str, bracket_at: int, closers: _Closers, one_line: bool) -> tuple[str, int]:
    """The math opened by ``\\(`` or ``\\[`` at ``bracket_at``, in dollars, and where it ends.

    Without its closing delimiter the opening one is kept as it was.
    """
    bracket = text[bracket_at]
    close = closers.bracket_close(bracket, bracket_at + 1)
    if close is None:
        return text[bracket_at - 1 : bracket_at + 1], bracket_at + 1
    inner, end = text[bracket_at + 1 : close], close + 2
    if bracket == "(" or one_line:
        body = " ".join(inner.split())
        if not body:
            return "", end
        marks = "$" if bracket == "(" else "$$"
        return f"{marks}{body}{marks}", end
    body = _BLANK_LINES.sub("\n", inner.strip("\n")).strip()
    if not body:
        return "", end
    return f"\n\n$$\n{body}\n$$\n\n", end
