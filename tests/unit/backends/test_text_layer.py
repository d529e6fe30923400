"""text-layer backend: readable paragraphs from the PDF's own text, and scans refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.text_layer import (
    TextLayerBackend,
    located_blocks,
    text_to_markdown,
)
from docling_hybrid_cli.blocks import markdown_blocks
from docling_hybrid_cli.errors import BackendRejected
from docling_hybrid_cli.pages import PageImage, PageText
from docling_hybrid_cli.render import PdfRenderer, RenderOptions
from docling_hybrid_cli.textlayer import HEADING_MARK


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("one line", "one line"),
        ("wrapped across\ntwo lines", "wrapped across two lines"),
        ("first para\n\nsecond para", "first para\n\nsecond para"),
        ("hyphen-\nated word", "hyphenated word"),
        ("soft\u00ad\nhyphen", "softhyphen"),
        ("pdfium\x02\nbreak", "pdfiumbreak"),
        ("well-\nKnown", "well- Known"),  # a capital after the hyphen: a real compound, kept
        ("• apples\n• pears", "- apples\n- pears"),
        ("Intro:\n\n- first\n- second item\ncontinued\n\nAfter.", None),
        ("1. one\n2) two", "1. one\n2. two"),
        ("# not a heading\n\n> not a quote", "\\# not a heading\n\n\\> not a quote"),
        ("  spaced   out  \n\n\n\n  text  ", "spaced out\n\ntext"),
        ("", ""),
        ("\n \n\t\n", ""),
    ],
)
def test_text_to_markdown(text: str, expected: str | None) -> None:
    result = text_to_markdown(text)
    if expected is None:
        assert result == "Intro:\n\n- first\n- second item continued\n\nAfter."
    else:
        assert result == expected


def page(text: str | None, n: int = 1) -> PageImage:
    return PageImage(page=n, data=b"", mime="image/jpeg", width=1, height=1, text_layer=text)


def convert(text: str | None) -> PageText:
    backend = build_backend(backend_config(name="text-layer"))
    assert isinstance(backend, TextLayerBackend)
    return asyncio.run(backend.ocr_page(page(text)))


def test_backend_turns_the_text_layer_into_markdown() -> None:
    text = convert("Title\n\nA para-\ngraph that wraps.")
    assert text.markdown == "Title\n\nA paragraph that wraps."
    assert text.backend == "text-layer"
    assert text.attempts == 1


@pytest.mark.parametrize("layer", ["", "  \n\n "])
def test_scanned_page_is_a_failure_with_its_reason(layer: str) -> None:
    """No text layer is a failed page (so the chain tries OCR), never an empty page."""
    with pytest.raises(BackendRejected, match="no text layer") as caught:
        convert(layer)
    assert caught.value.hint is not None and "tesseract" in caught.value.hint


def test_text_not_extracted_is_a_failure() -> None:
    with pytest.raises(BackendRejected, match="not extracted"):
        convert(None)


async def _layers(path: Path, count: int) -> list[str | None]:
    async with PdfRenderer(path, RenderOptions(extract_text=True)) as renderer:
        return [(await renderer.render(n)).text_layer for n in range(1, count + 1)]


def test_rendered_text_is_in_reading_order_with_paragraphs(tmp_path: Path) -> None:
    """Pages with /Rotate read top to bottom like unrotated ones, with paragraph gaps kept."""
    path = make_pdf(tmp_path / "doc.pdf", 4, rotate={2: 90, 3: 180, 4: 270}, text="Head {n}")
    for n, layer in enumerate(asyncio.run(_layers(path, 4)), start=1):
        assert layer is not None
        markdown = text_to_markdown(layer)
        paragraphs = markdown.split("\n\n")
        assert paragraphs[0] == f"Head {n}", markdown
        assert paragraphs[1].startswith("The quick brown fox")
        assert paragraphs[2].endswith("vexingly quick daft zebras jump.")
        assert len(paragraphs) == 3


def test_wrapped_lines_are_joined_into_one_paragraph(tmp_path: Path) -> None:
    """fpdf2 wraps a long heading over two lines in a narrow page; Markdown gets one line."""
    long = "Heading {n} with a long enough line that wraps in the narrow page"
    path = make_pdf(tmp_path / "doc.pdf", 1, text=long)
    layer = asyncio.run(_layers(path, 1))[0]
    assert layer is not None and "\n" in layer.split("\n\n")[0]
    assert text_to_markdown(layer).split("\n\n")[0] == long.format(n=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{HEADING_MARK}1 Big title\nBody text.", "# Big title\n\nBody text."),
        (f"Intro.\n\n{HEADING_MARK}2 Section\n\nBody.", "Intro.\n\n## Section\n\nBody."),
        ("# literal hash\n\nBody.", "\\# literal hash\n\nBody."),
    ],
)
def test_renderer_heading_marks_become_headings(text: str, expected: str) -> None:
    """Only the renderer's mark makes a heading; a '#' in the PDF's own text stays text."""
    assert text_to_markdown(text) == expected


def _sized_pdf(path: Path, title_size: int) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=title_size)
    pdf.multi_cell(0, title_size * 0.6, "Quarterly results", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for _ in range(3):
        pdf.multi_cell(
            0,
            6,
            "Body text of ordinary size, long enough to fill a line.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.ln(3)
    pdf.output(str(path))
    return path


@pytest.mark.parametrize(("title_size", "prefix"), [(24, "# "), (16, "## "), (11, "")])
def test_larger_font_lines_become_headings(tmp_path: Path, title_size: int, prefix: str) -> None:
    """A short line in a clearly larger font is a heading (level by size); body size is not."""
    layer = asyncio.run(_layers(_sized_pdf(tmp_path / "t.pdf", title_size), 1))[0]
    assert layer is not None
    markdown = text_to_markdown(layer)
    if prefix:
        assert markdown.split("\n\n")[0] == f"{prefix}Quarterly results"
    else:
        assert markdown.startswith("Quarterly results") and "#" not in markdown


def _two_column_pdf(path: Path) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, "A title across both columns", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 4
    for x, word in ((10, "left"), (110, "right")):
        pdf.set_xy(x, top)
        for n in range(1, 13):
            pdf.set_x(x)
            pdf.cell(85, 6, f"{word} column line {n}", new_x="LEFT", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_two_column_page_reads_column_by_column(tmp_path: Path) -> None:
    """The left column comes whole before the right one, the full-width title first."""
    layer = asyncio.run(_layers(_two_column_pdf(tmp_path / "cols.pdf"), 1))[0]
    assert layer is not None
    markdown = text_to_markdown(layer)
    assert markdown.startswith("A title across both columns")
    words = [w for w in markdown.split() if w in ("left", "right")]
    assert words == ["left"] * 12 + ["right"] * 12


def test_located_blocks_are_the_markdown_blocks_with_their_lines_boxes() -> None:
    """Same blocks as the Markdown's (so the same output), each with the union of its lines."""
    text = f"{HEADING_MARK}1 Title\n\nA paragraph that\nwraps here.\n- one\n- two\n\nEnd."
    boxes = (
        (0.1, 0.05, 0.5, 0.08),
        None,
        (0.1, 0.2, 0.9, 0.22),
        (0.1, 0.23, 0.6, 0.25),
        (0.12, 0.3, 0.4, 0.32),
        (0.12, 0.33, 0.45, 0.35),
        None,
        (0.1, 0.5, 0.2, 0.52),
    )
    blocks = located_blocks(text, boxes)
    assert (
        [b.text for b in blocks]
        == [b.text for b in markdown_blocks(text_to_markdown(text))]
        == ["# Title", "A paragraph that wraps here.", "- one\n- two", "End."]
    )
    assert [b.boxes for b in blocks] == [
        ((0.1, 0.05, 0.5, 0.08),),
        ((0.1, 0.2, 0.9, 0.25),),
        ((0.12, 0.3, 0.4, 0.32), (0.12, 0.33, 0.45, 0.35)),  # one box per list item
        ((0.1, 0.5, 0.2, 0.52),),
    ]


@pytest.mark.parametrize(
    ("text", "boxes"),
    [
        ("One line.", ()),  # no boxes measured (an image page, pdfium's own order)
        ("One.\nTwo.", ((0.1, 0.1, 0.2, 0.2),)),  # lines and boxes do not pair up
        ("One.", (None,)),  # a line without a box
        ("$$ x\n\nmore\n\ntext", ((0, 0, 1, 0.1), None, (0, 0.2, 1, 0.3), None, (0, 0.4, 1, 0.5))),
    ],
    ids=["none", "count", "unknown", "swallowed"],
)
def test_blocks_that_cannot_be_located_are_left_without_boxes(
    text: str, boxes: tuple[tuple[float, float, float, float] | None, ...]
) -> None:
    assert located_blocks(text, boxes) == ()
