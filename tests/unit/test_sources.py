"""Input documents: kind by magic bytes, page images as pages, damaged files, size caps."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from pdfgen import make_pdf
from PIL import Image

from docling_hybrid_cli.errors import CorruptPdf, InputNotFound, NotAPdf, PageRangeError
from docling_hybrid_cli.inputfile import sniff
from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.render import PdfRenderer, RenderOptions
from docling_hybrid_cli.sources import ImageRenderer, count_source_pages, open_source

Sizes = list[tuple[int, int]]


def write_image(path: Path, fmt: str, sizes: Sizes) -> Path:
    """An image file with one frame per size (only TIFF keeps more than one)."""
    frames = [Image.new("RGB", size, (40 * i % 255, 120, 200)) for i, size in enumerate(sizes)]
    frames[0].save(path, fmt, save_all=len(frames) > 1, append_images=frames[1:])
    return path


@pytest.fixture
def image_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``image_file("x.png", "PNG", [(w, h), ...])``."""

    def make(name: str, fmt: str, sizes: Sizes | None = None) -> Path:
        return write_image(tmp_path / name, fmt, sizes or [(120, 80)])

    return make


def render_all(path: Path, options: RenderOptions | None = None) -> list[PageImage]:
    """Every page of an image document, as the pipeline would render it."""

    async def run() -> list[PageImage]:
        async with ImageRenderer(path, options or RenderOptions()) as renderer:
            return [await renderer.render(n) for n in range(1, renderer.page_count + 1)]

    return asyncio.run(run())


def decoded_size(page: PageImage) -> tuple[int, int]:
    with Image.open(io.BytesIO(page.data)) as image:
        return image.size


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [("PNG", "png"), ("JPEG", "jpeg"), ("TIFF", "tiff")],
)
@pytest.mark.parametrize("suffix", [".pdf", ".bin", ""], ids=["as-pdf", "as-bin", "no-suffix"])
def test_image_sniffed_by_magic_not_suffix(
    image_file: Callable[..., Path], fmt: str, kind: str, suffix: str
) -> None:
    """A PNG/JPEG/TIFF is recognised whatever its file name says."""
    assert sniff(image_file(f"page{suffix}", fmt)) == kind


@pytest.mark.parametrize("name", ["doc.png", "doc.jpg", "doc"])
def test_pdf_sniffed_by_magic_not_suffix(tmp_path: Path, name: str) -> None:
    """A PDF named like an image is still read as a PDF and rendered by pdfium."""
    path = make_pdf(tmp_path / name, 2)
    assert sniff(path) == "pdf"
    assert count_source_pages(path) == 2
    assert isinstance(open_source(path, RenderOptions()), PdfRenderer)


def test_pdf_header_after_junk_is_accepted(tmp_path: Path) -> None:
    """Like readers, a %PDF- header within the first KB counts (some files have a preamble)."""
    path = tmp_path / "preamble.pdf"
    path.write_bytes(b"\r\n  junk  \n" + make_pdf(tmp_path / "real.pdf").read_bytes())
    assert sniff(path) == "pdf"


@pytest.mark.parametrize(
    ("content", "error", "message"),
    [
        (b"", NotAPdf, "is empty"),
        (b"<!DOCTYPE html><html><body>404</body></html>", NotAPdf, "neither a PDF nor"),
        (b"GIF89a\x01\x00\x01\x00", NotAPdf, "neither a PDF nor"),
        (b"PK\x03\x04 a zip file", NotAPdf, "neither a PDF nor"),
    ],
    ids=["empty", "html", "gif", "zip"],
)
def test_unsupported_content_refused(
    tmp_path: Path, content: bytes, error: type[Exception], message: str
) -> None:
    """A .pdf that is really something else is refused with a message saying what is wrong."""
    path = tmp_path / "doc.pdf"
    path.write_bytes(content)
    with pytest.raises(error, match=message):
        sniff(path)
    with pytest.raises(error):
        count_source_pages(path)


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_missing_or_directory(tmp_path: Path, make: str) -> None:
    """A missing path or a directory is InputNotFound (exit 2)."""
    path = tmp_path / "doc.pdf"
    if make == "directory":
        path.mkdir()
    with pytest.raises(InputNotFound) as info:
        sniff(path)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("change", ["removed", "replaced"])
def test_renderer_reads_the_file_it_opened(tmp_path: Path, change: str) -> None:
    """The file is opened once, when the renderer is chosen: its name changing later does not
    matter, and the content hash is of the very bytes rendered."""
    path = make_pdf(tmp_path / "doc.pdf", 2)
    original = hashlib.sha256(path.read_bytes()).hexdigest()
    renderer = open_source(path, RenderOptions())
    if change == "removed":
        path.unlink()
    else:
        make_pdf(tmp_path / "other.pdf", 5).replace(path)

    async def go() -> tuple[int, str, int]:
        async with renderer:
            page = await renderer.render(2)
            return renderer.page_count, await renderer.content_sha256(), page.width

    assert asyncio.run(go()) == (2, original, 604)


@pytest.mark.parametrize(("fmt", "suffix"), [("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tif")])
def test_single_image_is_one_page(image_file: Callable[..., Path], fmt: str, suffix: str) -> None:
    """A single-frame image is a one-page document rendered at its own size."""
    path = image_file(f"scan.{suffix}", fmt, [(320, 200)])
    assert count_source_pages(path) == 1
    assert isinstance(open_source(path, RenderOptions()), ImageRenderer)
    [page] = render_all(path)
    assert (page.page, page.width, page.height) == (1, 320, 200)
    assert decoded_size(page) == (320, 200)
    assert page.mime == "image/jpeg"


def test_multi_frame_tiff_is_one_page_per_frame(image_file: Callable[..., Path]) -> None:
    """Each TIFF frame becomes a page, in order, each with its own size."""
    sizes = [(100, 150), (210, 90), (64, 64)]
    path = image_file("multi.tiff", "TIFF", sizes)
    assert count_source_pages(path) == 3
    pages = render_all(path)
    assert [p.page for p in pages] == [1, 2, 3]
    assert [(p.width, p.height) for p in pages] == sizes
    assert [decoded_size(p) for p in pages] == sizes


def test_png_output_format(image_file: Callable[..., Path]) -> None:
    """image_format=png re-encodes the page as PNG."""
    [page] = render_all(image_file("a.png", "PNG"), RenderOptions(image_format="png"))
    assert page.mime == "image/png"
    assert page.data.startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((3000, 1500), 2000, (2000, 1000)),
        ((1000, 4000), 1000, (250, 1000)),
        ((800, 600), 2000, (800, 600)),
    ],
    ids=["wide", "tall", "small-not-upscaled"],
)
def test_max_side_scales_down_only(
    image_file: Callable[..., Path],
    size: tuple[int, int],
    max_side: int,
    expected: tuple[int, int],
) -> None:
    """The longest side is capped at max_side, keeping the aspect ratio; small pages stay."""
    [page] = render_all(image_file("big.png", "PNG", [size]), RenderOptions(max_side=max_side))
    assert abs(page.width - expected[0]) <= 1 and abs(page.height - expected[1]) <= 1
    assert decoded_size(page) == (page.width, page.height)


def test_max_pixels_caps_area(image_file: Callable[..., Path]) -> None:
    """A pixel budget caps the area even when both sides are under max_side."""
    options = RenderOptions(max_side=5000, max_pixels=250_000)
    [page] = render_all(image_file("square.png", "PNG", [(1000, 1000)]), options)
    assert page.width * page.height <= 250_000
    assert abs(page.width - page.height) <= 1


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: data[:8] + b"\x00" * 64, id="header-only"),
    ],
)
def test_damaged_image_refused(
    image_file: Callable[..., Path], damage: Callable[[bytes], bytes]
) -> None:
    """A truncated or garbled PNG fails at probe time as CorruptPdf (exit 2), not mid-run."""
    path = image_file("bad.png", "PNG", [(400, 300)])
    path.write_bytes(damage(path.read_bytes()))
    assert sniff(path) == "png"
    with pytest.raises(CorruptPdf, match="damaged image") as info:
        count_source_pages(path)
    assert info.value.exit_code == 2


def test_truncated_jpeg_refused(image_file: Callable[..., Path]) -> None:
    """A JPEG cut short is refused before anything is sent."""
    path = image_file("bad.jpg", "JPEG", [(400, 300)])
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(CorruptPdf):
        count_source_pages(path)


@pytest.mark.parametrize("page_no", [0, 2, -1])
def test_page_out_of_range(image_file: Callable[..., Path], page_no: int) -> None:
    """Asking an image document for a page it lacks is a PageRangeError."""
    path = image_file("one.png", "PNG")

    async def run() -> None:
        async with ImageRenderer(path, RenderOptions()) as renderer:
            await renderer.render(page_no)

    with pytest.raises(PageRangeError, match="does not exist"):
        asyncio.run(run())


def test_figure_prefix_is_carried(image_file: Callable[..., Path]) -> None:
    """The output's figure folder prefix reaches the rendered page."""
    path = image_file("one.png", "PNG")

    async def run() -> PageImage:
        renderer = open_source(path, RenderOptions(), figure_prefix="one_images/")
        async with renderer:
            return await renderer.render(1)

    assert asyncio.run(run()).figure_prefix == "one_images/"


def _photo(path: Path, orientation: int | bytes, fmt: str = "JPEG") -> Path:
    """A 200x100 'photo' whose left half is black, stored with an EXIF Orientation tag."""
    image = Image.new("RGB", (200, 100), "white")
    image.paste((0, 0, 0), (0, 0, 100, 100))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    image.save(path, fmt, exif=exif)
    return path


@pytest.mark.parametrize(
    ("orientation", "size", "dark_corner"),
    [
        (1, (200, 100), (5, 5)),  # as stored
        (3, (200, 100), (195, 95)),  # upside down
        (6, (100, 200), (95, 5)),  # rotated 90° clockwise for viewing: a phone held upright
        (8, (100, 200), (5, 195)),
    ],
)
def test_exif_orientation_is_applied(
    tmp_path: Path, orientation: int, size: tuple[int, int], dark_corner: tuple[int, int]
) -> None:
    """Phone photos are sent the way a viewer shows them, not the way the sensor stored them."""
    [page] = render_all(_photo(tmp_path / "photo.jpg", orientation))
    assert (page.width, page.height) == size
    with Image.open(io.BytesIO(page.data)) as sent:
        assert sent.convert("L").getpixel(dark_corner) < 60


def test_unreadable_orientation_keeps_the_page(tmp_path: Path) -> None:
    """A garbage Orientation value leaves the image as stored instead of failing the page."""
    [page] = render_all(_photo(tmp_path / "photo.jpg", 99))
    assert (page.width, page.height) == (200, 100)
