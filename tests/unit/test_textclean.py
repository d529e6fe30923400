"""Text from servers is made safe for terminals, Markdown and HTML comments."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.textclean import clean_text, html_comment_text, one_line

HOSTILE = "a\x1b[2Jb\x07c\x00d\x9be\x7ff\x1b]8;;http://x.invalid\x1b\\g"


def test_clean_text_removes_every_control_but_lines_and_tabs() -> None:
    assert clean_text("row\tcell\r\nnext\rlast\n") == "row\tcell\nnext\nlast\n"
    cleaned = clean_text(HOSTILE)
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in cleaned)
    assert cleaned.startswith("a[2Jbcde")


def test_clean_text_keeps_right_to_left_marks_and_unicode() -> None:
    text = "שלום\u200f world — ü ∑ 中文"
    assert clean_text(text) == text


def test_one_line_collapses_and_bounds() -> None:
    assert one_line("a\n\n b\x1b c\t") == "a b c"
    assert one_line("x" * 50, limit=10) == "x" * 7 + "..."
    assert len(one_line("y" * 5000)) == 2000


@pytest.mark.parametrize("bad", ["-->", "--->", "--!>", "a--b", "----", "-", "x-\n->"])
def test_html_comment_text_cannot_close_the_comment(bad: str) -> None:
    comment = f"<!-- page 1 failed: {html_comment_text(bad)} -->"
    assert comment.count("--") == 2  # the opening and the closing, nothing between
    assert "\n" not in comment
