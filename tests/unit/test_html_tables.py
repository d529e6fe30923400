"""HTML tables as GFM pipe tables: spans repeated, one header row, every value kept, bounded."""

from __future__ import annotations

import re

import pytest

from docling_hybrid_cli.html_tables import MAX_CELLS, table_spans, table_to_markdown


def rows_of(markdown: str) -> list[list[str]]:
    """The cells of every pipe-table row (the delimiter row included), unescaped ``|`` kept."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            inner = line.strip()[1:-1]
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", inner)])
    return rows


def assert_well_formed(markdown: str) -> list[list[str]]:
    """Every row has the same number of cells and the second line is the delimiter row."""
    rows = rows_of(markdown)
    assert len(rows) >= 2
    assert len({len(row) for row in rows}) == 1, rows
    assert all(cell == "---" for cell in rows[1])
    return [rows[0], *rows[2:]]


def convert(html: str) -> str:
    markdown = table_to_markdown(html)
    assert markdown is not None
    return markdown


def test_simple_table_first_row_is_the_header() -> None:
    markdown = convert("<table><tr><td>a</td><td>b</td></tr><tr><td>1</td><td>2</td></tr></table>")
    assert markdown == "| a | b |\n| --- | --- |\n| 1 | 2 |"


def test_rowspan_and_colspan_are_repeated_into_every_cell_they_cover() -> None:
    html = (
        '<table><tr><td rowspan="2">Model</td><td colspan="2">Score</td></tr>'
        "<tr><td>dev</td><td>test</td></tr>"
        '<tr><td>A</td><td colspan="2">91.1</td></tr></table>'
    )
    header, *body = assert_well_formed(convert(html))
    assert header == ["Model", "Score", "Score"]
    assert body == [["Model", "dev", "test"], ["A", "91.1", "91.1"]]


def test_a_span_in_the_middle_shifts_later_cells_right() -> None:
    html = (
        '<table><tr><td>a</td><td rowspan="3">tall</td><td>c</td></tr>'
        "<tr><td>d</td><td>f</td></tr><tr><td>g</td><td>i</td></tr></table>"
    )
    _, *body = assert_well_formed(convert(html))
    assert body == [["d", "tall", "f"], ["g", "tall", "i"]]


def test_short_rows_are_padded_to_the_widest() -> None:
    html = "<table><tr><td>a</td></tr><tr><td>b</td><td>c</td><td>d</td></tr></table>"
    header, *body = assert_well_formed(convert(html))
    assert header == ["a", "", ""]
    assert body == [["b", "c", "d"]]


def test_rowspan_past_the_last_row_stops_there() -> None:
    html = '<table><tr><td rowspan="9">a</td><td>b</td></tr><tr><td>c</td></tr></table>'
    header, *body = assert_well_formed(convert(html))
    assert (header, body) == (["a", "b"], [["a", "c"]])


@pytest.mark.parametrize("span", ["0", "-3", "two", "", "1.5"])
def test_unusable_span_counts_as_one(span: str) -> None:
    html = f'<table><tr><td colspan="{span}">a</td><td>b</td></tr></table>'
    assert convert(html).splitlines()[0] == "| a | b |"


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ("a | b", "a \\| b"),
        ("line one<br>line two", "line one<br>line two"),
        ("line one<br/>line two", "line one<br>line two"),
        ("first\nsecond", "first second"),
        ("&lt;tag&gt; &amp; more", "&lt;tag> & more"),
        ("&amp;amp; stays visible", "&amp;amp; stays visible"),
        ("  spaced   out  ", "spaced out"),
        ("<b>bold</b> and <sup>2</sup>", "bold and 2"),
        ("<p>para one</p><p>para two</p>", "para one<br>para two"),
    ],
)
def test_cell_text_is_escaped_for_a_pipe_table(cell: str, written: str) -> None:
    """``|`` escaped, line breaks as <br>, no stray tag or entity, inline markup flattened."""
    markdown = convert(f"<table><tr><td>{cell}</td><td>x</td></tr></table>")
    assert markdown.splitlines()[0] == f"| {written} | x |"


def test_header_cells_and_sections_are_read_like_any_row() -> None:
    html = (
        "<table><thead><tr><th>k</th><th>v</th></tr></thead>"
        "<tbody><tr><td>a</td><td>1</td></tr></tbody></table>"
    )
    assert convert(html) == "| k | v |\n| --- | --- |\n| a | 1 |"


def test_caption_goes_above_and_loose_text_below() -> None:
    html = "<table><caption>Table 9: Sizes</caption><tr><td>a</td></tr>stray words</table>"
    caption, table, loose = convert(html).split("\n\n")
    assert caption == "Table 9: Sizes"
    assert table.startswith("| a |")
    assert loose == "stray words"


def test_nested_table_becomes_text_of_its_cell() -> None:
    html = (
        "<table><tr><td>outer</td><td><table><tr><td>in1</td><td>in2</td></tr></table></td></tr>"
        "<tr><td>x</td><td>y</td></tr></table>"
    )
    header, *body = assert_well_formed(convert(html))
    assert header == ["outer", "in1 in2"]
    assert body == [["x", "y"]]


@pytest.mark.parametrize(
    "html",
    [
        "<table><tr><td>a<td>b<tr><td>c<td>d",
        "<table><td>a</td><td>b</td><tr><td>c</td><td>d</td></tr></table>",
        "<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td>",
        "<TABLE><TR><TD>a</TD><TD>b</TD></TR><TR><TD>c</TD><TD>d</TD></TR></TABLE>",
    ],
    ids=["unclosed-cells", "cells-before-a-row", "cut-off", "upper-case"],
)
def test_broken_markup_still_gives_every_value(html: str) -> None:
    rows = assert_well_formed(convert(html))
    assert sorted(v for row in rows for v in row) == ["a", "b", "c", "d"]


def test_table_without_cells_is_its_text() -> None:
    assert table_to_markdown("<table></table>") == ""
    assert table_to_markdown("<table>just words</table>") == "just words"


def test_a_grid_too_large_stays_html() -> None:
    """A hostile span product is not expanded: the caller keeps the HTML."""
    html = '<table><tr><td rowspan="1000" colspan="1000">x</td></tr>' + "<tr></tr>" * 999
    html += "</table>"
    assert MAX_CELLS < 1000 * 1000
    assert table_to_markdown(html) is None


def test_cell_callback_restyles_each_cell() -> None:
    markdown = table_to_markdown("<table><tr><td>a</td></tr></table>", cell=str.upper)
    assert markdown is not None and markdown.startswith("| A |")


def test_empty_rows_that_only_close_spans_are_dropped() -> None:
    html = '<table><tr><td rowspan="2">a</td><td>b</td></tr><tr></tr><tr><td>c</td></tr></table>'
    header, *body = assert_well_formed(convert(html))
    assert header == ["a", "b"]
    assert body == [["a", ""], ["c", ""]]


@pytest.mark.parametrize(
    ("text", "spans"),
    [
        ("no table here", []),
        ("x <table><tr><td>1</td></tr></table> y", [(2, 36)]),
        ("<table><tr><td><table></table></td></tr></table>tail", [(0, 48)]),
        ("<table><tr><td>1", [(0, 16)]),
        ("<table></table><Table border=1></TABLE >", [(0, 15), (15, 40)]),
    ],
    ids=["none", "inline", "nested", "unclosed", "two"],
)
def test_table_spans(text: str, spans: list[tuple[int, int]]) -> None:
    assert table_spans(text) == spans


def test_table_cells_keep_spans_and_positions() -> None:
    from docling_hybrid_cli.html_tables import TableCellSpan, table_cells

    html = (
        '<table><tr><td rowspan="2">a</td><th colspan="2">b</th></tr>'
        '<tr><td>c</td><td>d<br>e</td></tr><tr><td colspan="3">f</td></tr></table>'
    )
    assert table_cells(html) == (
        3,
        3,
        [
            TableCellSpan("a", 0, 0, 2, 1, True),
            TableCellSpan("b", 0, 1, 1, 2, True),
            TableCellSpan("c", 1, 1, 1, 1, False),
            TableCellSpan("d e", 1, 2, 1, 1, False),
            TableCellSpan("f", 2, 0, 1, 3, False),
        ],
    )


def test_table_cells_refuse_a_grid_beyond_the_cap() -> None:
    from docling_hybrid_cli.html_tables import table_cells

    rows = '<tr><td colspan="1000">x</td></tr>' * (MAX_CELLS // 1000 + 1)
    assert table_cells(f"<table>{rows}</table>") is None
    assert table_cells('<table><tr><td rowspan="999">x</td></tr></table>') == (
        1,
        1,
        [table_cells("<table><tr><td>x</td></tr></table>")[2][0]],  # type: ignore[index]
    )
