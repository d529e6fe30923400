"""One Markdown style: DeepSeek-OCR pages in the shape the model writes them, rendered readable.

The pages are the fixtures in ``tests/fixtures/deepseek`` (see its README): the checks are the
ones a reader makes -- no HTML or grounding tags left, every table cell's value present, pipe
tables with the same number of columns in every row and spans repeated, math in dollars but
never inside code, each caption next to its figure or above its table.
"""

from __future__ import annotations

import html
import io
import re
from pathlib import Path

import pytest
from PIL import Image

from docling_hybrid_cli.backends.deepseek_output import clean_deepseek_output
from docling_hybrid_cli.blocks import Block
from docling_hybrid_cli.markdown_math import code_pieces
from docling_hybrid_cli.markdown_style import MarkdownStyle, render_markdown, style_text
from docling_hybrid_cli.pages import PageImage

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "deepseek"
GROUNDED = ["paper_table_spans", "formulas", "figures_captions", "multi_column"]
DEFAULT = MarkdownStyle()
KEEP = MarkdownStyle(tables="html", math="latex")
LEFTOVER_TAGS = re.compile(r"</?(?:table|tr|td|th|center|div)\b|<\|", re.IGNORECASE)
LINK = re.compile(r"!\[(?:\\.|[^\]\\])*\]\([^)]*\)")


def page_image() -> PageImage:
    buffer = io.BytesIO()
    Image.new("RGB", (800, 1000), "white").save(buffer, format="PNG")
    return PageImage(page=7, data=buffer.getvalue(), mime="image/png", width=800, height=1000)


def raw(name: str) -> str:
    return (FIXTURES / f"{name}.txt").read_text("utf-8")


def blocks_of(name: str) -> tuple[Block, ...]:
    return clean_deepseek_output(raw(name), page_image()).blocks


def render(name: str, style: MarkdownStyle = DEFAULT) -> str:
    return render_markdown(blocks_of(name), style, "doc_images/", dollars_are_math=False)


def prose(markdown: str) -> str:
    """The Markdown outside code and outside image links."""
    return LINK.sub("", "".join(piece for code, piece in code_pieces(markdown) if not code))


def source_cells(text: str) -> list[str]:
    """Every cell value of the HTML tables in a raw answer, as a reader would read it."""
    cells = re.findall(r"<td[^>]*>(.*?)</td>", text, flags=re.S)
    values = [html.unescape(re.sub(r"<[^>]+>", " ", cell)) for cell in cells]
    return [" ".join(v.split()) for v in values if v.strip()]


def pipe_tables(markdown: str) -> list[list[list[str]]]:
    """Each pipe table of ``markdown`` as rows of cells (delimiter row included)."""
    tables: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        if line.startswith("|"):
            inner = line.strip()[1:-1]
            current.append([cell.strip() for cell in re.split(r"(?<!\\)\|", inner)])
        elif current:
            tables.append(current)
            current = []
    return tables


@pytest.mark.parametrize("name", GROUNDED)
def test_no_tags_are_left(name: str) -> None:
    assert not LEFTOVER_TAGS.search(render(name))


@pytest.mark.parametrize("name", GROUNDED)
def test_pipe_tables_are_well_formed_and_keep_every_cell_value(name: str) -> None:
    markdown = render(name)
    for table in pipe_tables(markdown):
        assert len({len(row) for row in table}) == 1, table
        assert set(table[1]) == {"---"}
    # Read back as a reader sees it: escapes undone, <br> a break, \( \) now dollars.
    shown = markdown.replace("\\|", "|").replace("\\$", "$").replace("&lt;", "<")
    shown = shown.replace("<br>", " ")
    for value in source_cells(raw(name)):
        assert re.sub(r"\\[()]", "$", value) in shown, value


def test_spanning_cells_are_repeated_and_the_header_row_kept() -> None:
    (table,) = pipe_tables(render("paper_table_spans"))
    assert table[0] == ["Renderer", "Batch &lt;b>", "Card A", "Card A", "Card B", "Card B"]
    assert table[2] == ["Renderer", "Batch &lt;b>", "text", "scan", "text", "scan"]
    assert table[3] == ["Pipeline renderers"] * 6
    assert table[5][0] == "Sparrow \\| v2"
    assert table[6][:3] == ["Heron & Co<br>(beta)", "8", "$\\approx 60$"]


def test_the_table_caption_is_above_its_table() -> None:
    lines = render("paper_table_spans").splitlines()
    caption = next(i for i, line in enumerate(lines) if line.startswith("Table 3 |"))
    assert lines[caption + 1] == ""
    assert lines[caption + 2].startswith("| Renderer |")


@pytest.mark.parametrize("name", GROUNDED)
def test_math_is_in_dollars_outside_code(name: str) -> None:
    outside = prose(render(name))
    for delimiter in ("\\(", "\\)", "\\[", "\\]"):
        assert delimiter not in outside


def test_formulas_page() -> None:
    markdown = render("formulas")
    assert "Let $x_1, \\dots, x_n$ be the measured latencies and $\\bar{x}$ their mean." in markdown
    assert "costs \\$12 per hour, so the average costs less than \\$1 per page" in markdown
    assert "$$\n\\bar{x} = \\frac{1}{n} \\sum_{i=1}^{n} x_i \\quad (1)\n$$" in markdown
    aligned = markdown.split("$$\n\\begin{aligned}")[1].split("\n$$")[0]
    assert "\n\n" not in aligned and aligned.endswith("\\end{aligned}")
    assert "\n\n$p_{95} \\leq \\bar{x} + 2s$\n\n" in markdown
    # Display math sits on lines of its own.
    assert all(line == "$$" for line in markdown.splitlines() if line.startswith("$$"))


def test_code_is_never_touched() -> None:
    source = raw("multi_column")
    fence = source[source.index("```bash") : source.index("```  ") + 3]
    markdown = render("multi_column")
    assert fence in markdown
    assert '`"$HOME"`' in markdown and "`$((7 % 2))`" in markdown
    assert "$7 / 2$ gives 3" in markdown
    assert "plain dollars such as \\$3.50 and US\\$ 4" in markdown
    assert "| \\$((1 + 2)) | 3 |" in markdown


def test_each_caption_is_next_to_its_figure_as_alt_text_and_text_below() -> None:
    markdown = render("figures_captions")
    assert (
        "![Figure 3: Harbour layout \\[north up\\] with both cranes.]"
        "(doc_images/page-0007-fig-1.jpg)"
        "\n\nFigure 3: Harbour layout [north up] with both cranes.\n\n"
    ) in markdown
    # Written above its image by the model, the caption still ends up below it.
    assert (
        "![Figure 4: Crane arm, side view](doc_images/page-0007-fig-2.jpg)"
        "\n\nFigure 4: Crane arm, side view\n\n"
        "![](doc_images/page-0007-fig-3.jpg)\n![](doc_images/page-0007-fig-4.jpg)"
    ) in markdown
    # A table caption written below its table moves above it.
    assert "Table 2: Crane reach\n\n| Crane | Reach (m) |" in markdown


def test_html_and_latex_styles_keep_the_models_markup() -> None:
    markdown = render("paper_table_spans", KEEP)
    assert '<table><tr><td rowspan="2">Renderer</td>' in markdown
    assert "the batch size \\(b\\) was tuned" in markdown
    assert "<center>" not in render("figures_captions", KEEP)
    assert "\\[\\bar{x} = " in render("formulas", KEEP)


@pytest.mark.parametrize("name", GROUNDED)
def test_every_style_keeps_every_word(name: str) -> None:
    """Whatever the style, the text of the page is all there (markup aside)."""

    def words(text: str) -> set[str]:
        return set(re.findall(r"[A-Za-z]{4,}", html.unescape(re.sub(r"<[^>]+>", " ", text))))

    content = re.sub(r"<\|ref\|>.*?<\|/det\|>", " ", raw(name))
    source = words(content) - {"rowspan", "colspan"}
    for style in (DEFAULT, KEEP, MarkdownStyle("markdown", "latex"), MarkdownStyle("html")):
        assert source <= words(render(name, style)) | {"sentence"}


def test_image_without_a_crop_leaves_its_caption_as_text() -> None:
    blocks = (Block("image", "", ((0, 0, 1, 1),)), Block("image_caption", "<center>Fig</center>"))
    assert render_markdown(blocks, DEFAULT) == "Fig"


def test_link_with_spaces_uses_angle_brackets() -> None:
    blocks = (Block("image", figures=("page-0001-fig-1.jpg",)),)
    assert render_markdown(blocks, DEFAULT, "my report_images/") == (
        "![](<my report_images/page-0001-fig-1.jpg>)"
    )


def test_a_caption_takes_one_image_only() -> None:
    blocks = (
        Block("image", figures=("a.jpg",)),
        Block("image_caption", "First"),
        Block("image", figures=("b.jpg",)),
    )
    assert render_markdown(blocks, DEFAULT) == "![First](a.jpg)\n\nFirst\n\n![](b.jpg)"


def test_text_style_leaves_fenced_tables_and_math_alone() -> None:
    text = "```html\n<table><tr><td>\\(x\\)</td></tr></table>\n```"
    assert style_text(text, DEFAULT) == text


def test_an_oversized_table_stays_html_and_the_page_still_renders() -> None:
    row = '<tr><td colspan="1000">x</td></tr>'
    table = f"<table>{row * 101}</table>"
    assert style_text(f"before {table} after", DEFAULT) == f"before {table} after"
