"""Tests for DeepSeek-OCR raw output post-processing (tags, figures, text fixes)."""

from __future__ import annotations

import io
from dataclasses import replace
from typing import Any

import pytest
from PIL import Image, ImageDraw

from docling_hybrid_cli.backends.deepseek_output import clean_deepseek_output
from docling_hybrid_cli.blocks import Block, markdown_blocks
from docling_hybrid_cli.pages import PageImage

WIDTH, HEIGHT = 1000, 1400
RED = (220, 30, 30)
BLUE = (30, 60, 220)
EOS = "<\uff5cend\u2581of\u2581sentence\uff5c>"
"""DeepSeek's end-of-sentence token, spelled with fullwidth bars."""
RED_BOX = (100, 100, 500, 400)
BLUE_BOX = (600, 500, 900, 800)


def to_pixels(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Map a 0-999 box to page pixels the way DeepSeek does."""
    x1, y1, x2, y2 = box
    return (
        round(x1 / 999 * WIDTH),
        round(y1 / 999 * HEIGHT),
        round(x2 / 999 * WIDTH),
        round(y2 / 999 * HEIGHT),
    )


def block(label: str, coords: str) -> str:
    """One grounding block as DeepSeek emits it."""
    return f"<|ref|>{label}<|/ref|><|det|>{coords}<|/det|>"


@pytest.fixture(scope="module")
def page_png() -> bytes:
    """A white page with a red and a blue rectangle at known 0-999 boxes."""
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle(to_pixels(RED_BOX), fill=RED)
    draw.rectangle(to_pixels(BLUE_BOX), fill=BLUE)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def page(page_png: bytes) -> PageImage:
    """The test page as the renderer would hand it over."""
    return PageImage(
        page=3,
        data=page_png,
        mime="image/png",
        width=WIDTH,
        height=HEIGHT,
        figure_prefix="doc_images/",
    )


@pytest.fixture
def no_decode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if the page image is decoded at all."""

    def forbidden(*args: Any, **kwargs: Any) -> Image.Image:
        raise AssertionError("page image must not be decoded")

    monkeypatch.setattr(Image, "open", forbidden)


def decode(data: bytes) -> Image.Image:
    """Open a figure's JPEG bytes fully."""
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_colour(image: Image.Image, expected: tuple[int, int, int]) -> None:
    """The centre pixel of a crop matches a colour within JPEG noise."""
    centre = image.convert("RGB").getpixel((image.width // 2, image.height // 2))
    assert isinstance(centre, tuple)
    assert all(abs(a - b) <= 12 for a, b in zip(centre, expected, strict=True))


def assert_size(image: Image.Image, box: tuple[float, float, float, float]) -> None:
    """A crop has the pixel size of its 0-999 box, give or take rounding."""
    x1, y1, x2, y2 = to_pixels(box)
    assert abs(image.width - (x2 - x1)) <= 2
    assert abs(image.height - (y2 - y1)) <= 2


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize(
    "raw",
    [
        "# Title\n\nA paragraph with *emphasis*.\n\n- one\n- two",
        "Plain text only.",
        "",
    ],
)
def test_text_without_tags_is_unchanged(raw: str, page: PageImage) -> None:
    """Output without grounding tags passes through, split like Markdown, and decodes nothing."""
    result = clean_deepseek_output(raw, page)
    assert (result.markdown, result.figures) == (raw, ())
    assert result.blocks == markdown_blocks(raw)


def test_full_deepseek_page(page: PageImage) -> None:
    """A realistic page: tags go, text stays, the image becomes a linked JPEG crop."""
    table = '<table><tr><td rowspan="2">Model</td><td>Score</td></tr><tr><td>91.1</td></tr></table>'
    raw = (
        f"{block('title', '[[80, 40, 920, 70]]')}\n# Annual Report\n\n"
        f"{block('text', '[[80, 80, 920, 95]]')}\nRevenue grew by 12 %.\n\n"
        f"{block('image', str([list(RED_BOX)]))}\n\n"
        f"{block('table_caption', '[[80, 500, 920, 510]]')}\nTable 1: Scores\n"
        f"{block('table', '[[80, 520, 920, 700]]')}\n{table}\n{EOS}"
    )
    result = clean_deepseek_output(raw, page)
    assert result.markdown == (
        "# Annual Report\n\n"
        "Revenue grew by 12 %.\n\n"
        "![](doc_images/page-0003-fig-1.jpg)\n\n"
        f"Table 1: Scores\n\n{table}"
    )
    assert [b.label for b in result.blocks] == ["title", "text", "image", "table_caption", "table"]
    assert result.blocks[2].figures == ("page-0003-fig-1.jpg",)
    assert result.blocks[4].text == table
    assert [f.name for f in result.figures] == ["page-0003-fig-1.jpg"]
    crop = decode(result.figures[0].data)
    assert crop.format == "JPEG"
    assert_size(crop, RED_BOX)
    assert_colour(crop, RED)


def test_several_image_blocks_number_figures_in_order(page: PageImage) -> None:
    """Each image block yields its own figure, numbered 1.. in reading order."""
    raw = (
        f"{block('image', str([list(RED_BOX)]))}\nFigure 1\n\n"
        f"Between.\n\n{block('figure', str([list(BLUE_BOX)]))}\nFigure 2"
    )
    result = clean_deepseek_output(raw, page)
    names = [f.name for f in result.figures]
    assert names == ["page-0003-fig-1.jpg", "page-0003-fig-2.jpg"]
    assert result.markdown == (
        "![](doc_images/page-0003-fig-1.jpg)\n\nFigure 1\n\nBetween.\n\n"
        "![](doc_images/page-0003-fig-2.jpg)\n\nFigure 2"
    )
    assert_colour(decode(result.figures[0].data), RED)
    assert_colour(decode(result.figures[1].data), BLUE)


def test_image_block_with_two_boxes(page: PageImage) -> None:
    """One block with two boxes gives two crops and two links, one per line."""
    raw = block("image", str([list(RED_BOX), list(BLUE_BOX)]))
    result = clean_deepseek_output(raw, page)
    (image,) = result.blocks
    assert image.figures == ("page-0003-fig-1.jpg", "page-0003-fig-2.jpg")
    assert len(image.boxes) == 2
    assert result.markdown == (
        "![](doc_images/page-0003-fig-1.jpg)\n![](doc_images/page-0003-fig-2.jpg)"
    )
    red, blue = (decode(f.data) for f in result.figures)
    assert_size(red, RED_BOX)
    assert_colour(red, RED)
    assert_size(blue, BLUE_BOX)
    assert_colour(blue, BLUE)


def test_empty_prefix_links_bare_name(page_png: bytes) -> None:
    """Without a figure prefix the link is the bare figure name."""
    bare = PageImage(page=12, data=page_png, mime="image/png", width=WIDTH, height=HEIGHT)
    result = clean_deepseek_output(block("Image", str([list(RED_BOX)])), bare)
    assert result.markdown == "![](page-0012-fig-1.jpg)"


@pytest.mark.parametrize(
    "raw",
    [
        "<|ref|><|ref|>text<|/ref|><|/ref|><|det|><|det|>[[1, 2, 3, 4]]<|/det|><|/det|>\nBody",
        "<|ref|>text<|/ref|><|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\nBody",
        "<|ref|>text<|/ref|>\n<|det|>[[1, 2,\n 3, 4]]\n<|/det|>\nBody",
        "<|ref|><|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\nBody",
        "<|det|>[[9, 9, 9, 9]]<|/det|><|ref|>text<|/ref|><|det|>[[1, 2, 3, 4]]<|/det|>\nBody",
    ],
    ids=["doubled-tags", "duplicated-ref", "split-lines", "nested-open", "det-before-block"],
)
def test_nested_and_duplicated_tags(raw: str, page: PageImage) -> None:
    """Doubled, nested or line-split tags still form one removable block."""
    result = clean_deepseek_output(raw, page)
    assert result.markdown == "Body"
    assert [(b.label, b.text) for b in result.blocks] == [("text", "Body")]


def test_nested_image_tags_still_crop(page: PageImage) -> None:
    """An image block wrapped in doubled tags is still cropped."""
    raw = f"<|ref|><|ref|>image<|/ref|><|/ref|><|det|><|det|>{[list(RED_BOX)]}<|/det|><|/det|>"
    result = clean_deepseek_output(raw, page)
    assert result.markdown == "![](doc_images/page-0003-fig-1.jpg)"
    assert_colour(decode(result.figures[0].data), RED)


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<|grounding|>Hello", "Hello"),
        ("Hello<|ref|> world", "Hello world"),
        ("Hello<|/ref|> world<|/det|>", "Hello world"),
        ("<|det|>[[1, 2, 3, 4]]<|/det|>\nHello", "Hello"),
        ("<|ref|>image<|/ref|>\nHello", "Hello"),
        ("A <|det|>\n\nB<|/det|>", "A \n\nB"),
    ],
    ids=["grounding", "lone-ref", "lone-closers", "det-without-ref", "ref-without-det", "far-det"],
)
def test_stray_tokens_are_removed(raw: str, expected: str, page: PageImage) -> None:
    """Unmatched tokens vanish without taking neighbouring text with them."""
    result = clean_deepseek_output(raw, page)
    assert result.markdown == expected
    assert result.figures == ()


@pytest.mark.parametrize(
    "coords",
    [
        "[[1, 2, 3]]",
        "[[1, 2, 'a', 4]]",
        "[[1, 2, 3, 4]",
        "[[nan, 0, 10, 10]]",
        "[[1e999, 0, 10, 10]]",
        "[1, 2, 3, 4]",
        "not coordinates",
        "[[True, 0, 10, 10]]",
        "{'x': 1}",
        "[[1, 2, 3, 4], [5, 6]]",
        "__import__('os').system('true')",
        "[" * 5000,
    ],
)
def test_malformed_coordinates_drop_block(coords: str, page: PageImage) -> None:
    """Unparsable image coordinates drop the block: no crash, no figure, text kept."""
    result = clean_deepseek_output(f"Before\n{block('image', coords)}\nAfter", page)
    assert result.figures == ()
    assert result.blocks == (Block("text", "Before"), Block("image", "After"))
    assert result.markdown == "Before\n\nAfter"


@pytest.mark.parametrize(
    ("coords", "expected_px"),
    [
        ("[[-50, -50, 300, 300]]", (0, 0, 300 / 999 * WIDTH, 300 / 999 * HEIGHT)),
        ("[[700, 700, 1500, 1200]]", (700 / 999 * WIDTH, 700 / 999 * HEIGHT, WIDTH, HEIGHT)),
        (
            "[[300, 300, 100, 100]]",
            (100 / 999 * WIDTH, 100 / 999 * HEIGHT, 300 / 999 * WIDTH, 300 / 999 * HEIGHT),
        ),
    ],
    ids=["negative", "beyond-999", "swapped"],
)
def test_boxes_are_clamped_and_ordered(
    coords: str, expected_px: tuple[float, float, float, float], page: PageImage
) -> None:
    """Out-of-range boxes are clamped to the page and swapped corners reordered."""
    result = clean_deepseek_output(block("image", coords), page)
    (figure,) = result.figures
    crop = decode(figure.data)
    x1, y1, x2, y2 = expected_px
    assert abs(crop.width - (x2 - x1)) <= 2
    assert abs(crop.height - (y2 - y1)) <= 2


@pytest.mark.parametrize("empty", ["[10, 10, 10, 500]", "[10, 10, 500, 10]", "[1200, 0, 1300, 50]"])
def test_zero_area_box_is_skipped(empty: str, page: PageImage) -> None:
    """A box with no area yields no figure and does not use up a figure number."""
    result = clean_deepseek_output(block("image", f"[{empty}, {list(RED_BOX)}]"), page)
    assert [f.name for f in result.figures] == ["page-0003-fig-1.jpg"]
    assert result.markdown == "![](doc_images/page-0003-fig-1.jpg)"
    assert_colour(decode(result.figures[0].data), RED)


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize("eos", [EOS, EOS.replace("\uff5c", "|")], ids=["fullwidth", "ascii"])
def test_end_of_sentence_token_removed(eos: str, page: PageImage) -> None:
    """The end-of-sentence token, with either kind of bar, is removed."""
    assert clean_deepseek_output(f"Last line.\n{eos}", page).markdown == "Last line."


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (r"\(a \coloneqq b\)", r"\(a := b\)"),
        (r"\[f(x) \eqqcolon y\]", r"\[f(x) =: y\]"),
    ],
)
def test_colon_equals_macros_replaced(raw: str, expected: str, page: PageImage) -> None:
    """\\coloneqq and \\eqqcolon become := and =: as in DeepSeek's own output."""
    assert clean_deepseek_output(raw, page).markdown == expected


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A\n\n\nB", "A\n\nB"),
        ("A\n\n\n\n\n\nB", "A\n\nB"),
        ("A\n  \n\t\n\nB", "A\n\nB"),
        ("A\n\nB", "A\n\nB"),
        ("A\n\n\n    code", "A\n\n    code"),
        ("\n\n  A  \n\n", "A"),
    ],
)
def test_blank_lines_collapse_and_page_is_stripped(
    raw: str, expected: str, page: PageImage
) -> None:
    """Runs of blank lines collapse to one and the page is trimmed."""
    assert clean_deepseek_output(raw, page).markdown == expected


@pytest.mark.usefixtures("no_decode")
def test_center_wrappers_removed(page: PageImage) -> None:
    """<center> wrappers are dropped and their content kept."""
    assert clean_deepseek_output("<center>Title</center>", page).markdown == "Title"


@pytest.mark.usefixtures("no_decode")
@pytest.mark.parametrize(
    "content",
    [
        '<table><tr><td colspan="2">Head</td></tr><tr><td>a &amp; b</td><td>1</td></tr></table>',
        "<table>\n  <tr><td>x</td></tr>\n</table>",
        r"\( \frac{a}{b} \) and \[ \sum_{i=1}^{n} x_i \quad (1) \]",
        "\\[\n  E = mc^2\n\\]",
    ],
    ids=["html-table", "multiline-table", "latex-inline-display", "latex-block"],
)
def test_tables_and_latex_preserved_byte_for_byte(content: str, page: PageImage) -> None:
    """HTML tables and LaTeX math survive unchanged, also behind a grounding block."""
    raw = f"{block('table', '[[10, 10, 900, 300]]')}\n{content}\n"
    assert clean_deepseek_output(raw, page).markdown == content


@pytest.mark.usefixtures("no_decode")
def test_crop_figures_false_drops_image_blocks(page: PageImage) -> None:
    """With crop_figures=False image blocks vanish, nothing is cropped or decoded."""
    raw = f"Intro\n{block('image', str([list(RED_BOX)]))}\nCaption"
    result = clean_deepseek_output(raw, page, crop_figures=False)
    assert (result.markdown, result.figures) == ("Intro\n\nCaption", ())
    assert [(b.label, b.text, b.figures) for b in result.blocks] == [
        ("text", "Intro", ()),
        ("image", "Caption", ()),
    ]


def test_undecodable_page_image_keeps_text() -> None:
    """If the page image cannot be decoded, figures are lost but the text is kept."""
    broken = PageImage(page=1, data=b"not an image", mime="image/png", width=WIDTH, height=HEIGHT)
    raw = f"{block('image', '[[1, 1, 500, 500]]')}\nCaption\n{block('image', '[[1, 1, 9, 9]]')}"
    result = clean_deepseek_output(raw, broken)
    assert (result.markdown, result.figures) == ("Caption", ())
    assert [(b.label, b.figures) for b in result.blocks] == [("image", ()), ("image", ())]


def test_image_is_decoded_once(page: PageImage, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several image blocks on one page share a single decode of the page image."""
    calls = 0
    real_open = Image.open

    def counting_open(*args: Any, **kwargs: Any) -> Image.Image:
        nonlocal calls
        calls += 1
        return real_open(*args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    raw = block("image", str([list(RED_BOX)])) + block("image", str([list(BLUE_BOX)]))
    assert len(clean_deepseek_output(raw, page).figures) == 2
    assert calls == 1


def test_non_rgb_page_is_cropped_to_jpeg(page_png: bytes) -> None:
    """An RGBA or palette page image still yields a valid RGB JPEG crop."""
    rgba = Image.open(io.BytesIO(page_png)).convert("RGBA")
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    page = PageImage(page=1, data=buf.getvalue(), mime="image/png", width=WIDTH, height=HEIGHT)
    result = clean_deepseek_output(block("image", str([list(RED_BOX)])), page)
    crop = decode(result.figures[0].data)
    assert crop.mode == "RGB"
    assert_colour(crop, RED)


@pytest.mark.parametrize("quality", [0, 101])
def test_invalid_jpeg_quality_rejected(quality: int, page: PageImage) -> None:
    """A JPEG quality outside 1-100 is a caller bug and raises ValueError."""
    with pytest.raises(ValueError, match="jpeg_quality"):
        clean_deepseek_output("text", page, jpeg_quality=quality)


@pytest.mark.usefixtures("no_decode")
def test_source_draws_figures_without_decoding_the_page(page: PageImage) -> None:
    """With crop_figure the page image is never decoded; each box goes to the source."""
    asked: list[tuple[tuple[int, int, int, int], int]] = []

    def draw(box: tuple[int, int, int, int], quality: int) -> bytes:
        asked.append((box, quality))
        return f"jpeg of {box}".encode()

    drawn = replace(page, crop_figure=draw)
    raw = (
        block("image", str([list(RED_BOX)])) + "\nCaption\n" + block("image", str([list(BLUE_BOX)]))
    )
    result = clean_deepseek_output(raw, drawn, jpeg_quality=80)
    assert asked == [(to_pixels(RED_BOX), 80), (to_pixels(BLUE_BOX), 80)]
    assert [f.data for f in result.figures] == [f"jpeg of {b}".encode() for b, _ in asked]
    assert result.markdown.startswith("![](doc_images/page-0003-fig-1.jpg)")


def test_source_that_cannot_draw_falls_back_to_the_page_image(page: PageImage) -> None:
    """crop_figure answering None (document gone, pdfium error) still yields the figures."""
    calls = 0

    def cannot(box: tuple[int, int, int, int], quality: int) -> None:
        nonlocal calls
        calls += 1

    raw = block("image", str([list(RED_BOX)])) + block("image", str([list(BLUE_BOX)]))
    result = clean_deepseek_output(raw, replace(page, crop_figure=cannot))
    assert calls == 1  # not asked again once it failed
    assert_colour(decode(result.figures[0].data), RED)
    assert_colour(decode(result.figures[1].data), BLUE)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("<|ref|>" * 8000 + "text", id="run of unclosed ref tags"),
        pytest.param("<|ref|> \n" * 8000 + "text", id="run with whitespace"),
        pytest.param("<|/det|>" * 8000 + "text", id="run of closing tags"),
        pytest.param(
            "<|ref|>image<|/ref|><|det|>[[" + "9" * 400 + ", 1, 2, 3]]<|/det|>text",
            id="400-digit coordinate",
        ),
        pytest.param(
            "<|ref|>image<|/ref|><|det|>[[1e400, 1, 2, 3]]<|/det|>text", id="infinite coordinate"
        ),
        pytest.param(
            "<|ref|>image<|/ref|><|det|>[[" * 500 + "]]<|/det|>text", id="nested brackets"
        ),
    ],
)
def test_hostile_answers_become_text_without_tags(page: PageImage, raw: str) -> None:
    """Tag floods and absurd coordinates: no exception, no tag left, no figure cut."""
    cleaned = clean_deepseek_output(raw, page)
    assert "<|" not in cleaned.markdown
    assert cleaned.markdown.endswith("text")
    assert cleaned.figures == ()


def test_a_run_of_duplicated_tags_still_forms_one_block(page: PageImage) -> None:
    raw = "<|ref|><|ref|>text<|/ref|><|/ref|><|det|><|det|>[[1, 2, 3, 4]]<|/det|>Hello"
    cleaned = clean_deepseek_output(raw, page)
    assert cleaned.markdown == "Hello"
    assert [(b.label, b.text) for b in cleaned.blocks] == [("text", "Hello")]
