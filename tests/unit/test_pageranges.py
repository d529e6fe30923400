"""Tests for docling_hybrid_cli.pageranges: ``--pages`` expressions."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.errors import PageRangeError
from docling_hybrid_cli.pageranges import parse_page_range


@pytest.mark.parametrize(
    ("spec", "count", "expected"),
    [
        (None, 3, [1, 2, 3]),
        ("", 3, [1, 2, 3]),
        ("all", 2, [1, 2]),
        (" ALL ", 2, [1, 2]),
        ("2", 5, [2]),
        ("1-3,7", 10, [1, 2, 3, 7]),
        (" 1 - 3 , 7 ", 10, [1, 2, 3, 7]),
        ("5-", 7, [5, 6, 7]),
        ("-3", 7, [1, 2, 3]),
        ("3,1,2-3,1", 5, [1, 2, 3]),
        ("4-4", 4, [4]),
    ],
)
def test_parse_page_range_valid(spec: str | None, count: int, expected: list[int]) -> None:
    """Valid --pages expressions give sorted, de-duplicated 1-based pages."""
    assert parse_page_range(spec, count) == expected


@pytest.mark.parametrize(
    ("spec", "bad_part"),
    [
        ("a", "a"),
        ("3-1", "3-1"),
        ("0", "0"),
        ("1-2-3", "1-2-3"),
        (",,", ""),
        ("1,", ""),
        ("-", "-"),
        ("1 0", "1 0"),
        ("11", "11"),
        ("11-", "11-"),
        ("-11", "-11"),
        ("2-12", "2-12"),
    ],
)
def test_parse_page_range_invalid(spec: str, bad_part: str) -> None:
    """Malformed or out-of-range parts raise one line naming the part and the page count."""
    with pytest.raises(PageRangeError) as info:
        parse_page_range(spec, 10)
    message = str(info.value)
    assert repr(bad_part) in message
    assert "10 pages" in message
    assert "\n" not in message


def test_parse_page_range_empty_document() -> None:
    """A document with no pages gives an error, not an empty work list."""
    with pytest.raises(PageRangeError):
        parse_page_range(None, 0)
