"""Text from outside made safe to print, store and embed.

A server's answer or error message can carry terminal control sequences
(ESC ``[2J`` clears the screen, OSC 8 forges links, BEL rings) and NULs that
break tools reading the Markdown. Control characters are removed where such
text enters (the client) and again wherever text is shown (the CLI's error
line, the failed-page comment), so no path depends on another having done it.
Format characters (Unicode category Cf, e.g. right-to-left marks) are kept:
right-to-left scripts need them.
"""

from __future__ import annotations

import re

__all__ = ["clean_text", "html_comment_text", "one_line"]

_NEWLINES = re.compile(r"\r\n?")
_CONTROLS_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
"""Unicode's control characters (category Cc) are exactly C0, DEL and C1."""
_DASH_RUN = re.compile(r"-(?=-)")


def clean_text(text: str) -> str:
    """``text`` without control characters; tabs and newlines kept (CR LF and CR become LF)."""
    return _CONTROLS_BUT_LINES.sub("", _NEWLINES.sub("\n", text))


def one_line(text: str, limit: int = 2000) -> str:
    """``text`` on one line without control characters, whitespace collapsed, ≤ ``limit`` chars."""
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


def html_comment_text(text: str) -> str:
    """``text`` safe inside ``<!-- ... -->``: one line, and no ``--`` that could end the comment."""
    return _DASH_RUN.sub("- ", one_line(text))
