"""The text layer as a reader sees it: right-to-left scripts, ligatures, text drawn twice.

The text layer is the embedded fallback and the reference that model output
is checked against, so these pages are made the way real generators make
them (HarfBuzz-shaped, see ``tests/fontpdf.py``) and the reading must give
back exactly the words that were typed, once each.
"""

from __future__ import annotations

import collections
import re
import unicodedata
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from fontpdf import Line, font_pdf, needs_font
from pdfgen import make_pdf

from docling_hybrid_cli.backends.text_layer import text_to_markdown
from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.textlayer import text_in_reading_order

ARABIC = "مرحبا بالعالم هذا نص عربي"
ARABIC_MIXED = "السعر 250 دولار في عام 2024 مع PDF"  # numbers, a Latin word, the lam-alef ligature
HEBREW_MIXED = "שלום עולם זה טקסט בעברית 123 עם Python"


def read_pages(path: Path) -> list[tuple[str, str]]:
    """(our reading-order text, pdfium's plain text) of every page."""

    def read() -> list[tuple[str, str]]:
        doc = pdfium.PdfDocument(str(path))
        try:
            out = []
            for index in range(len(doc)):
                page = doc[index]
                textpage = page.get_textpage()
                out.append((text_in_reading_order(textpage), str(textpage.get_text_range())))
                textpage.close()
                page.close()
            return out
        finally:
            doc.close()

    return run_pdfium(read)


def lines_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


@needs_font
@pytest.mark.parametrize("by_word", [False, True], ids=["one-object", "word-objects"])
def test_right_to_left_lines_read_in_logical_order(tmp_path: Path, by_word: bool) -> None:
    """Arabic and Hebrew, with numbers and Latin words inside: every word once, in order."""
    page = [
        Line(ARABIC, 20, script="arab", rtl=True, by_word=by_word),
        Line(ARABIC_MIXED, 30, script="arab", rtl=True, by_word=by_word),
        Line(HEBREW_MIXED, 40, script="hebr", rtl=True, by_word=by_word),
    ]
    ours, _ = read_pages(font_pdf(tmp_path / "rtl.pdf", [page]))[0]
    assert lines_of(ours) == [ARABIC, ARABIC_MIXED, HEBREW_MIXED]


@needs_font
def test_lam_alef_ligature_keeps_its_letters_in_order(tmp_path: Path) -> None:
    """One glyph for two letters: pdfium's reordering reverses them, the reading puts them back."""
    page = [Line("دولار لا", 20, script="arab", rtl=True)]
    ours, plain = read_pages(font_pdf(tmp_path / "la.pdf", [page]))[0]
    assert lines_of(ours) == ["دولار لا"]
    assert "دوالر" in plain  # what pdfium alone gives


@needs_font
def test_right_to_left_two_columns_read_right_column_first(tmp_path: Path) -> None:
    def column(words: str, x: float) -> list[Line]:
        return [Line(f"{words} {n}", 20 + 8 * n, x=x, script="arab", rtl=True) for n in range(6)]

    right, left = column("العمود الأيمن سطر", 120), column("العمود الأيسر سطر", 15)
    ours, _ = read_pages(font_pdf(tmp_path / "cols.pdf", [right + left]))[0]
    got = lines_of(ours)
    assert got == [f"العمود الأيمن سطر {n}" for n in range(6)] + [
        f"العمود الأيسر سطر {n}" for n in range(6)
    ]


@needs_font
def test_latin_ligatures_read_as_letters(tmp_path: Path) -> None:
    text = "The first official fluffy office workflow"
    ours, _ = read_pages(font_pdf(tmp_path / "lig.pdf", [[Line(text, 20)]]))[0]
    assert lines_of(ours) == [text]


@needs_font
def test_hyphen_at_a_line_end_mends_the_word(tmp_path: Path) -> None:
    """pdfium marks a line-end hyphen before a lower-case word as soft; Markdown joins the word."""
    page = [Line("An extra-", 20), Line("ordinary word and a hyphen-", 26), Line("ated one", 32)]
    ours, _ = read_pages(font_pdf(tmp_path / "shy.pdf", [page]))[0]
    assert text_to_markdown(ours) == "An extraordinary word and a hyphenated one"


@needs_font
@pytest.mark.parametrize(
    "line",
    [
        Line("Bold heading drawn twice", 20, times=2, shift=0.3),
        Line("Bold heading drawn three times", 20, times=3, shift=0.15),
        Line("Bold heading again twice", 20, times=2, shift=0.2, by_word=True),
        Line("عنوان عريض مكرر", 20, times=2, shift=0.2, script="arab", rtl=True, by_word=True),
    ],
    ids=["twice", "three-times", "word-objects", "arabic-word-objects"],
)
def test_text_drawn_twice_for_a_bold_effect_reads_once(tmp_path: Path, line: Line) -> None:
    page = [line, Line("Body text below it.", 40)]
    ours, _ = read_pages(font_pdf(tmp_path / "bold.pdf", [page]))[0]
    assert lines_of(ours) == [line.text, "Body text below it."]


def words(text: str) -> collections.Counter[str]:
    """Letters-and-digits words, hyphens at line ends mended, presentation forms unfolded."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub("[\ufffe\x02\u00ad-]\\s*", "", text)
    return collections.Counter(re.findall(r"\w+", text.casefold()))


def floor_holds(path: Path) -> None:
    """Our Markdown has every word pdfium's plain text has, and no word more often."""
    for number, (ours, plain) in enumerate(read_pages(path), start=1):
        have, want = words(text_to_markdown(ours)), words(plain)
        assert set(want) <= set(have), (number, set(want) - set(have))
        assert have <= want, (number, have - want)


@pytest.mark.parametrize(
    "name",
    [
        "minimal-document.pdf",
        "002-trivial-libre-office-writer.pdf",
        "pdflatex-4-pages.pdf",
        "pdflatex-outline.pdf",
        "pdflatex-image.pdf",
        "multicolumn.pdf",
        "google-doc-document.pdf",
    ],
)
def test_floor_real_born_digital_pages(corpus: Path, name: str) -> None:
    floor_holds(corpus / name)


def test_floor_generated_pages(tmp_path: Path) -> None:
    floor_holds(make_pdf(tmp_path / "gen.pdf", 4, rotate={2: 90, 3: 180, 4: 270}))


@needs_font
def test_floor_right_to_left_pages(tmp_path: Path) -> None:
    page = [
        Line(ARABIC, 20, script="arab", rtl=True),
        Line(HEBREW_MIXED, 30, script="hebr", rtl=True, by_word=True),
        Line("Plain English line", 40),
    ]
    floor_holds(font_pdf(tmp_path / "mixed.pdf", [page]))


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_line_boxes_are_where_the_rendered_page_shows_the_text(tmp_path: Path, rotate: int) -> None:
    """Each line's box, as fractions of the page as drawn, covers ink on the rendered image."""
    from PIL import ImageOps

    from docling_hybrid_cli.textlayer import read_page_text_and_boxes

    make_pdf(tmp_path / "doc.pdf", 1, rotate={1: rotate})

    def read() -> tuple[str, tuple[tuple[float, float, float, float] | None, ...], object]:
        doc = pdfium.PdfDocument(str(tmp_path / "doc.pdf"))
        try:
            page = doc[0]
            text, boxes = read_page_text_and_boxes(page)
            image = page.render(scale=2).to_pil().convert("L")
            page.close()
            return text, boxes, image
        finally:
            doc.close()

    text, boxes, image = run_pdfium(read)
    lines = text.split("\n")
    assert len(boxes) == len(lines) and lines[0] == "Page 1"
    assert [box is None for box in boxes] == [not line.strip() for line in lines]
    width, height = image.size  # type: ignore[attr-defined]
    inked = ImageOps.invert(image)  # type: ignore[arg-type]
    for box in boxes:
        if box is None:
            continue
        left, top, right, bottom = box
        assert 0 <= left < right <= 1 and 0 <= top < bottom <= 1
        region = (left * width, top * height, right * width, bottom * height)
        assert inked.crop(region).getbbox() is not None, f"no ink in {box}"
    title = boxes[0]  # drawn at the unrotated top-left corner; /Rotate turns it clockwise
    assert title is not None
    corner = {0: (0, 0), 90: (1, 0), 180: (1, 1), 270: (0, 1)}[rotate]
    centre = ((title[0] + title[2]) / 2, (title[1] + title[3]) / 2)
    assert abs(centre[0] - corner[0]) < 0.3 and abs(centre[1] - corner[1]) < 0.3
    mirror = (1 - title[2], 1 - title[3], 1 - title[0], 1 - title[1])  # across the centre
    blank = (mirror[0] * width, mirror[1] * height, mirror[2] * width, mirror[3] * height)
    assert inked.crop(blank).getbbox() is None, "the opposite corner holds no text"
