"""Blank-page detection: blank pages skip the models, faint content never counts as blank.

The detector is tried on synthetic pages (exact pixels, seeded noise) and
through both renderers: a PDF page with nothing on it, one whose only text is
invisible, one with a faint line, and image inputs.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw

from docling_hybrid_cli.blank import INK_LEVELS, looks_blank
from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.render import RenderOptions
from docling_hybrid_cli.sources import open_source

SIZE = (612, 792)  # Letter at 72 dpi: big enough for patches, small enough to be quick


def page(colour: tuple[int, int, int] | str = "white", mode: str = "RGB") -> Image.Image:
    return Image.new(mode, SIZE, colour)


def with_text(
    fill: tuple[int, int, int], background: tuple[int, int, int] = (255, 255, 255)
) -> Image.Image:
    image = page(background)
    ImageDraw.Draw(image).text((60, 60), "A faint line of text", fill=fill)
    return image


def spiky_scan(spike_share: float, seed: int = 1) -> Image.Image:
    """A grey 'scan': paper grain of +-6 levels and isolated dark specks at ``spike_share``."""
    rng = random.Random(seed)
    width, height = SIZE
    raw = rng.randbytes(width * height)
    cut = round(256 * (1 - spike_share))
    lut = [232 + (v * 12) // max(cut, 1) - 6 if v < cut else 120 for v in range(256)]
    grain = Image.frombytes("L", SIZE, raw).point(lut)
    return Image.merge("RGB", (grain, grain, grain))


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(page(), id="white"),
        pytest.param(page((236, 234, 228)), id="off-white paper"),
        pytest.param(page((0, 0, 0)), id="black"),
        pytest.param(page("white", "L"), id="grey mode"),
        pytest.param(page().convert("RGBX"), id="RGBX as pdfium renders"),
        pytest.param(spiky_scan(0.0005), id="grain and sparse specks"),
        pytest.param(
            with_text((255 - INK_LEVELS, 255 - INK_LEVELS, 255 - INK_LEVELS)), id="at the threshold"
        ),
    ],
)
def test_blank(image: Image.Image) -> None:
    assert looks_blank(image)


def _dot(size: int) -> Image.Image:
    image = page()
    ImageDraw.Draw(image).rectangle((300, 400, 300 + size - 1, 400 + size - 1), fill=(90, 90, 90))
    return image


def _rule() -> Image.Image:
    image = page()
    ImageDraw.Draw(image).line((50, 300, 560, 300), fill=(220, 220, 220), width=1)
    return image


def _gradient() -> Image.Image:
    """Uneven lighting across a scan: not uniform, so not called blank."""
    column = Image.linear_gradient("L").resize((1, 256)).point(lambda v: 200 + v // 5)
    grey = column.resize(SIZE)
    return Image.merge("RGB", (grey, grey, grey))


@pytest.mark.parametrize(
    "image",
    [
        pytest.param(with_text((0, 0, 0)), id="black text"),
        pytest.param(with_text((255 - INK_LEVELS - 4,) * 3), id="faint grey text"),
        pytest.param(with_text((210, 210, 210), background=(236, 234, 228)), id="pencil on paper"),
        pytest.param(with_text((255, 255, 255), background=(20, 20, 20)), id="white on black"),
        pytest.param(
            with_text((150, 121, 128), background=(128, 128, 128)), id="colour at grey level"
        ),
        pytest.param(_dot(2), id="a 2x2 dot"),
        pytest.param(_rule(), id="a faint one-pixel rule"),
        pytest.param(spiky_scan(0.02), id="dense specks"),
        pytest.param(_gradient(), id="uneven lighting"),
    ],
)
def test_not_blank(image: Image.Image) -> None:
    assert not looks_blank(image)


def test_one_stray_pixel_is_not_a_mark() -> None:
    image = page()
    image.putpixel((100, 100), (0, 0, 0))
    assert looks_blank(image)


# --------------------------------------------------------------------------- through the renderers


def _pdf(path: Path) -> Path:
    """Page 1 empty, 2 white (invisible) text, 3 a faint grey line, 4 real text."""
    pdf = FPDF(unit="pt", format="Letter")
    pdf.set_font("Helvetica", size=12)
    pdf.add_page()
    pdf.add_page()
    pdf.set_text_color(255, 255, 255)
    pdf.text(72, 72, "Invisible but extractable text")
    pdf.add_page()
    pdf.set_draw_color(225, 225, 225)
    pdf.line(72, 300, 540, 300)
    pdf.add_page()
    pdf.set_text_color(0, 0, 0)
    pdf.text(72, 72, "Visible text")
    pdf.output(str(path))
    return path


def _render(path: Path, options: RenderOptions, pages: list[int]) -> list[PageImage]:
    async def go() -> list[PageImage]:
        async with open_source(path, options) as source:
            return [await source.render(n) for n in pages]

    return asyncio.run(go())


@pytest.mark.parametrize("extract_text", [False, True], ids=["no text wanted", "text extracted"])
def test_pdf_pages(tmp_path: Path, extract_text: bool) -> None:
    """Only the empty page is blank: a text layer, even invisible, or a faint line is content."""
    images = _render(
        _pdf(tmp_path / "doc.pdf"), RenderOptions(extract_text=extract_text), [1, 2, 3, 4]
    )
    assert [image.blank for image in images] == [True, False, False, False]


def test_switched_off(tmp_path: Path) -> None:
    images = _render(_pdf(tmp_path / "doc.pdf"), RenderOptions(skip_blank=False), [1])
    assert [image.blank for image in images] == [False]


def test_image_inputs(tmp_path: Path) -> None:
    frames = [page(), with_text((0, 0, 0))]
    frames[0].save(tmp_path / "scan.tiff", "TIFF", save_all=True, append_images=frames[1:])
    images = _render(tmp_path / "scan.tiff", RenderOptions(), [1, 2])
    assert [image.blank for image in images] == [True, False]
