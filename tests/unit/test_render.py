"""Tests for docling_hybrid_cli.render: input validation, rendering, figures, threading."""

from __future__ import annotations

import asyncio
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from pdfgen import make_empty_pdf, make_encrypted_pdf, make_pdf, page_width
from PIL import Image, ImageChops, ImageStat, JpegImagePlugin

from docling_hybrid_cli import render
from docling_hybrid_cli.errors import (
    ConfigError,
    CorruptPdf,
    EncryptedPdf,
    InputError,
    InputNotFound,
    NotAPdf,
    PageRangeError,
    PasswordRequired,
)
from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.pdfdoc import Recycling
from docling_hybrid_cli.pdfium_thread import pdfium_executor, run_pdfium
from docling_hybrid_cli.render import PdfRenderer, RenderOptions, count_pdf_pages, encode_image

CORPUS = Path("/work/shared/corpus")
ENCRYPTED = CORPUS / "libreoffice-writer-password.pdf"
CORPUS_PDFS = sorted(p for p in CORPUS.glob("*.pdf") if p != ENCRYPTED)
needs_corpus = pytest.mark.skipif(not ENCRYPTED.exists(), reason="shared corpus not available")


async def _render_all(
    path: Path, pages: list[int], options: RenderOptions | None = None, **kwargs: Any
) -> list[PageImage]:
    async with PdfRenderer(path, options or RenderOptions(), **kwargs) as renderer:
        return [await renderer.render(n) for n in pages]


def render_one(path: Path, page: int = 1, options: RenderOptions | None = None) -> PageImage:
    return asyncio.run(_render_all(path, [page], options))[0]


def decode(image: PageImage) -> Image.Image:
    return Image.open(io.BytesIO(image.data))


# --- input validation ------------------------------------------------------------------


def _missing(tmp: Path) -> Path:
    return tmp / "nope.pdf"


def _directory(tmp: Path) -> Path:
    (tmp / "dir.pdf").mkdir()
    return tmp / "dir.pdf"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.pdf").write_bytes(b"")
    return tmp / "empty.pdf"


def _text_file(tmp: Path) -> Path:
    (tmp / "notes.pdf").write_text("just some notes\n" * 10)
    return tmp / "notes.pdf"


def _truncated(tmp: Path) -> Path:
    source = make_pdf(tmp / "full.pdf", 2)
    (tmp / "cut.pdf").write_bytes(source.read_bytes()[:200])
    return tmp / "cut.pdf"


def _zero_pages(tmp: Path) -> Path:
    return make_empty_pdf(tmp / "zero.pdf")


def _zero_pages_after_encrypted(tmp: Path) -> Path:
    # pdfium leaves its last-error code stale for empty page trees; a preceding
    # password failure must not make this one look encrypted.
    with pytest.raises(EncryptedPdf):
        count_pdf_pages(make_encrypted_pdf(tmp / "enc.pdf", "pw"))
    return make_empty_pdf(tmp / "zero.pdf")


BAD_INPUTS: list[tuple[Callable[[Path], Path], type[Exception], str]] = [
    (_missing, InputNotFound, "does not exist"),
    (_directory, InputNotFound, "is a directory"),
    (_empty, NotAPdf, "is empty"),
    (_text_file, NotAPdf, "is not a PDF"),
    (_truncated, CorruptPdf, "damaged"),
    (_zero_pages, CorruptPdf, "has no pages"),
    (_zero_pages_after_encrypted, CorruptPdf, "has no pages"),
]


@pytest.mark.parametrize(("make", "error", "text"), BAD_INPUTS)
def test_probe_rejects_bad_input(
    tmp_path: Path, make: Callable[[Path], Path], error: type[Exception], text: str
) -> None:
    """count_pdf_pages raises the specific input error with a one-line message naming the file."""
    path = make(tmp_path)
    with pytest.raises(error) as info:
        count_pdf_pages(path)
    message = str(info.value)
    assert str(path) in message
    assert text in message
    assert "\n" not in message


@pytest.mark.parametrize(("make", "error", "text"), BAD_INPUTS)
def test_open_rejects_bad_input(
    tmp_path: Path, make: Callable[[Path], Path], error: type[Exception], text: str
) -> None:
    """PdfRenderer.open raises the same errors as count_pdf_pages."""
    path = make(tmp_path)

    async def go() -> None:
        renderer = PdfRenderer(path, RenderOptions())
        try:
            await renderer.open()
        finally:
            await renderer.aclose()

    with pytest.raises(error, match=text):
        asyncio.run(go())


def test_unreadable_file_is_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that exists but cannot be read is an InputError, not a crash."""
    path = make_pdf(tmp_path / "locked.pdf", 1)
    real_open = os.open

    def denied(name: object, *args: Any, **kwargs: Any) -> int:
        if Path(str(name)) == path:
            raise PermissionError(13, "Permission denied", str(name))
        return real_open(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", denied)  # chmod 0 does not stop root
    with pytest.raises(InputError, match="cannot be read: Permission denied"):
        count_pdf_pages(path)


def test_header_after_leading_junk_is_accepted(tmp_path: Path) -> None:
    """%PDF- anywhere in the first 1024 bytes is a PDF, as the spec and pdfium allow."""
    source = make_pdf(tmp_path / "src.pdf", 2)
    path = tmp_path / "junk.pdf"
    path.write_bytes(b"\0" * 300 + source.read_bytes())
    assert count_pdf_pages(path) == 2


@needs_corpus
def test_encrypted_without_password() -> None:
    """An encrypted PDF without a password says so (the CLI adds the --password hint)."""
    with pytest.raises(PasswordRequired, match="needs a password"):
        count_pdf_pages(ENCRYPTED)


@needs_corpus
def test_encrypted_with_wrong_password() -> None:
    """A wrong password is reported as such, without echoing the password."""
    with pytest.raises(EncryptedPdf, match="wrong password") as info:
        count_pdf_pages(ENCRYPTED, password="hunter2")
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value, PasswordRequired)


@needs_corpus
def test_encrypted_with_right_password_renders() -> None:
    """The right password opens and renders the document."""
    assert count_pdf_pages(ENCRYPTED, password="openpassword") == 1
    images = asyncio.run(_render_all(ENCRYPTED, [1], password="openpassword"))
    assert images[0].data[:3] == b"\xff\xd8\xff"


def test_fpdf_encrypted_pdf(tmp_path: Path) -> None:
    """The pdfgen encrypted PDF needs its password, so other tests can rely on it."""
    path = make_encrypted_pdf(tmp_path / "enc.pdf", "s3cret", pages=2)
    with pytest.raises(EncryptedPdf):
        count_pdf_pages(path)
    assert count_pdf_pages(path, password="s3cret") == 2


# --- rendering -------------------------------------------------------------------------


def test_size_at_144_dpi_is_twice_the_page(tmp_path: Path) -> None:
    """At 144 dpi each pixel side is 2x the points, so pages are told apart by width."""
    path = make_pdf(tmp_path / "doc.pdf", 3)
    images = asyncio.run(_render_all(path, [1, 2, 3]))
    for n, image in enumerate(images, start=1):
        assert image.page == n
        assert abs(image.width - 2 * page_width(n)) <= 1
        assert abs(image.height - 800) <= 1
        assert decode(image).size == (image.width, image.height)
        assert image.render_ms > 0
        assert image.encode_ms > 0


def test_max_side_caps_longest_side(tmp_path: Path) -> None:
    """A page larger than max_side is scaled down to fit, keeping its aspect ratio."""
    path = make_pdf(tmp_path / "wide.pdf", 1, widths=[1000])
    image = render_one(path, options=RenderOptions(max_side=500))
    assert 499 <= image.width <= 500
    assert abs(image.height - 200) <= 1


def test_max_side_never_upscales(tmp_path: Path) -> None:
    """A generous max_side leaves the dpi-derived size alone."""
    path = make_pdf(tmp_path / "doc.pdf", 1)
    image = render_one(path, options=RenderOptions(dpi=72, max_side=5000))
    assert (image.width, image.height) == (301, 400)


def test_max_pixels_caps_area(tmp_path: Path) -> None:
    """max_pixels bounds width*height so absurd pages cannot exhaust memory."""
    path = make_pdf(tmp_path / "doc.pdf", 1, widths=[400])
    image = render_one(path, options=RenderOptions(max_pixels=10_000))
    assert image.width * image.height <= 10_000
    assert image.width * image.height > 9_000
    assert abs(image.width / image.height - 1.0) < 0.03


@pytest.mark.parametrize(
    ("fmt", "mime", "magic", "mode"),
    [
        ("jpeg", "image/jpeg", b"\xff\xd8\xff", "RGB"),
        ("png", "image/png", b"\x89PNG\r\n\x1a\n", "RGB"),
    ],
)
def test_image_format(tmp_path: Path, fmt: str, mime: str, magic: bytes, mode: str) -> None:
    """The chosen format sets the mime type and the bytes start with its magic number."""
    path = make_pdf(tmp_path / "doc.pdf", 1)
    options = RenderOptions(image_format=fmt)  # type: ignore[arg-type]
    image = render_one(path, options=options)
    assert image.mime == mime
    assert image.data.startswith(magic)
    assert decode(image).mode == mode


@needs_corpus
def test_colours_match_pdfium_reference() -> None:
    """Lossless output equals pypdfium2's own RGB rendering, so channels are not swapped."""
    path = CORPUS / "google-doc-document.pdf"
    image = decode(render_one(path, options=RenderOptions(image_format="png", max_side=10_000)))

    def reference() -> Image.Image:
        doc = pdfium.PdfDocument(str(path))
        page = doc[0]
        bitmap = page.render(scale=2)
        pil = bitmap.to_pil()
        bitmap.close()
        page.close()
        doc.close()
        return pil

    expected = run_pdfium(reference)
    assert image.size == expected.size
    assert ImageChops.difference(image.convert("RGB"), expected).getbbox() is None


def test_reused_buffers_carry_nothing_over(tmp_path: Path) -> None:
    """Pages of different sizes render through two pooled buffers; each equals a fresh render."""
    widths = [600.0, 300.0, 450.0, 600.0, 200.0]
    path = make_pdf(tmp_path / "doc.pdf", 5, widths=widths, text="Page {n} of many")
    options = RenderOptions(image_format="png")
    images = asyncio.run(_render_all(path, [1, 2, 3, 4, 5], options))

    def reference(n: int) -> Image.Image:
        doc = pdfium.PdfDocument(str(path))
        try:
            page = doc[n - 1]
            bitmap = page.render(scale=2, fill_color=(255, 255, 255, 255), may_draw_forms=True)
            pil = bitmap.to_pil().convert("RGB")
            bitmap.close()
            page.close()
            return pil
        finally:
            doc.close()

    for n, image in enumerate(images, start=1):
        expected = run_pdfium(reference, n)
        got = decode(image).convert("RGB")
        assert got.size == expected.size == (2 * widths[n - 1], 800)
        assert ImageChops.difference(got, expected).getbbox() is None


REGION = (13, 27, 301, 222)


def _full_and_region(path: Path, page_no: int) -> tuple[Image.Image, Image.Image]:
    """The page drawn whole and then cut, and the same box drawn on its own."""
    options = RenderOptions()
    doc = pdfium.PdfDocument(str(path))
    try:
        page = doc[page_no - 1]
        width, height = page.get_size()
        full, _ = render._draw(page, render._fit_scale(width, height, options))
        page.close()
        region = render._draw_region(doc, page_no, REGION, options)
        return full.convert("RGB").crop(REGION), region.convert("RGB")
    finally:
        doc.close()


@pytest.mark.parametrize("page_no", [1, 2, 3], ids=["upright", "rotate-90", "scanned"])
def test_region_is_drawn_exactly_as_the_whole_page(tmp_path: Path, page_no: int) -> None:
    """A figure drawn on its own has the very pixels the page image has in that box."""
    path = make_pdf(tmp_path / "doc.pdf", 3, rotate={2: 90}, scanned={3}, text="Figure {n}")
    expected, got = run_pdfium(_full_and_region, path, page_no)
    assert got.size == expected.size == (REGION[2] - REGION[0], REGION[3] - REGION[1])
    assert ImageChops.difference(got, expected).getbbox() is None


@needs_corpus
def test_region_of_a_real_figure_matches() -> None:
    expected, got = run_pdfium(_full_and_region, CORPUS / "pdflatex-image.pdf", 1)
    assert ImageChops.difference(got, expected).getbbox() is None


def test_pages_carry_a_figure_drawer_while_the_document_is_open(tmp_path: Path) -> None:
    """PageImage.crop_figure gives a JPEG of the box; after close it declines (None)."""
    path = make_pdf(tmp_path / "doc.pdf", 2, text="Figure {n}")

    async def run() -> tuple[PageImage, bytes | None]:
        async with PdfRenderer(path, RenderOptions(image_format="png")) as renderer:
            image = await renderer.render(2)
            assert image.crop_figure is not None
            return image, await asyncio.to_thread(image.crop_figure, REGION, 95)

    image, jpeg = asyncio.run(run())
    assert jpeg is not None and jpeg.startswith(b"\xff\xd8\xff")
    figure = Image.open(io.BytesIO(jpeg)).convert("RGB")
    expected = decode(image).convert("RGB").crop(REGION)
    assert figure.size == expected.size
    assert max(ImageStat.Stat(ImageChops.difference(figure, expected)).mean) < 2  # JPEG noise
    assert image.crop_figure is not None
    assert image.crop_figure(REGION, 95) is None


def test_white_background(tmp_path: Path) -> None:
    """Blank page areas are opaque white, not black or transparent."""
    path = make_pdf(tmp_path / "doc.pdf", 1)
    image = decode(render_one(path, options=RenderOptions(image_format="png")))
    assert image.getpixel((image.width - 2, image.height - 2)) == (255, 255, 255)


def test_rotated_page_renders_landscape(tmp_path: Path) -> None:
    """/Rotate 90 and 270 turn a portrait page landscape; 180 keeps it portrait."""
    path = make_pdf(tmp_path / "rot.pdf", 4, rotate={1: 90, 2: 180, 3: 270})
    images = asyncio.run(_render_all(path, [1, 2, 3, 4]))
    sizes = [(i.width, i.height) for i in images]
    assert sizes == [(800, 602), (604, 800), (800, 606), (608, 800)]


def test_text_layer_extracted_when_asked(tmp_path: Path) -> None:
    """extract_text fills text_layer with the page's text, newlines normalised."""
    path = make_pdf(tmp_path / "doc.pdf", 3, text="Heading {n}", scanned={3})
    images = asyncio.run(_render_all(path, [1, 2, 3], RenderOptions(extract_text=True)))
    assert images[1].text_layer is not None
    assert images[1].text_layer.startswith("Heading 2\n")
    assert "quick brown fox" in images[1].text_layer
    assert "\r" not in images[1].text_layer
    assert images[2].text_layer == ""  # scanned page: an image, no text layer


def test_text_layer_none_by_default(tmp_path: Path) -> None:
    """Without extract_text no text is read, and text_layer stays None."""
    path = make_pdf(tmp_path / "doc.pdf", 1)
    assert render_one(path).text_layer is None


def test_figure_prefix_is_passed_through(tmp_path: Path) -> None:
    """figure_prefix from the renderer lands on every PageImage."""
    path = make_pdf(tmp_path / "doc.pdf", 1)
    images = asyncio.run(_render_all(path, [1], figure_prefix="doc_images/"))
    assert images[0].figure_prefix == "doc_images/"


def test_document_is_reopened_during_long_runs(tmp_path: Path) -> None:
    """pdfium's per-document cache is dropped by reopening; every page still renders right."""
    path = make_pdf(tmp_path / "doc.pdf", 7, text="Heading {n}")
    options = RenderOptions(extract_text=True)
    images = asyncio.run(
        _render_all(path, list(range(1, 8)), options, recycling=Recycling(pages=2, cost_share=0))
    )
    for n, image in enumerate(images, start=1):
        assert image.text_layer is not None
        assert image.text_layer.startswith(f"Heading {n}\n")
        assert (image.width, image.height) == (2 * page_width(n), 800)


def test_render_page_out_of_range(tmp_path: Path) -> None:
    """Asking for a page the document lacks is a PageRangeError."""
    path = make_pdf(tmp_path / "doc.pdf", 2)
    with pytest.raises(PageRangeError, match="page 3 does not exist"):
        asyncio.run(_render_all(path, [3]))


def test_lifecycle(tmp_path: Path) -> None:
    """page_count after open; render before open or after close is misuse; aclose is idempotent."""
    path = make_pdf(tmp_path / "doc.pdf", 2)

    async def go() -> None:
        renderer = PdfRenderer(path, RenderOptions())
        assert renderer.page_count == 0
        with pytest.raises(ValueError, match="not open"):
            await renderer.render(1)
        assert await renderer.open() == 2
        assert renderer.page_count == 2
        await renderer.aclose()
        await renderer.aclose()
        with pytest.raises(ValueError, match="not open"):
            await renderer.render(1)
        with pytest.raises(ValueError, match="closed"):
            await renderer.open()

    asyncio.run(go())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dpi": 0},
        {"max_side": 0},
        {"max_pixels": -1},
        {"jpeg_quality": 0},
        {"jpeg_quality": 101},
        {"image_format": "webp"},
    ],
)
def test_render_options_validated(kwargs: dict[str, object]) -> None:
    """Nonsense render settings are a ConfigError at construction time."""
    with pytest.raises(ConfigError):
        RenderOptions(**kwargs)  # type: ignore[arg-type]


# --- threading -------------------------------------------------------------------------


def test_executor_is_one_shared_thread() -> None:
    """Every caller gets the same single-worker executor."""
    executor = pdfium_executor()
    assert executor is pdfium_executor()
    assert executor._max_workers == 1


def test_concurrent_documents_use_only_the_pdfium_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two renderers rendering concurrently funnel every pdfium call through one thread."""
    pdfium_threads: set[str] = set()
    encode_threads: set[str] = set()

    def record(cls: type, name: str, where: set[str]) -> None:
        """Note the thread of every call to pypdfium2's or Pillow's ``cls.name``."""
        real = getattr(cls, name)

        def wrapper(*args: object, **kwargs: object) -> object:
            where.add(threading.current_thread().name)
            return real(*args, **kwargs)

        monkeypatch.setattr(cls, name, wrapper)

    record(pdfium.PdfDocument, "__init__", pdfium_threads)
    record(pdfium.PdfDocument, "__getitem__", pdfium_threads)
    record(pdfium.PdfPage, "render", pdfium_threads)
    record(Image.Image, "save", encode_threads)

    doc_a = make_pdf(tmp_path / "a.pdf", 4)
    doc_b = make_pdf(tmp_path / "b.pdf", 3, widths=[500, 510, 520])

    async def go() -> tuple[list[PageImage], list[PageImage]]:
        async with (
            PdfRenderer(doc_a, RenderOptions()) as a,
            PdfRenderer(doc_b, RenderOptions()) as b,
        ):
            return await asyncio.gather(
                asyncio.gather(*(a.render(n) for n in range(1, 5))),
                asyncio.gather(*(b.render(n) for n in range(1, 4))),
            )

    images_a, images_b = asyncio.run(go())
    assert [i.width for i in images_a] == [602, 604, 606, 608]
    assert [i.width for i in images_b] == [1000, 1020, 1040]
    assert len(pdfium_threads) == 1
    assert next(iter(pdfium_threads)).startswith("pdfium")
    assert not any(name.startswith("pdfium") for name in encode_threads)


def test_run_pdfium_inline_on_pdfium_thread() -> None:
    """run_pdfium called from the pdfium thread runs inline instead of deadlocking."""
    name = run_pdfium(lambda: run_pdfium(lambda: threading.current_thread().name))
    assert name.startswith("pdfium")


# --- real-world corpus -----------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("path", CORPUS_PDFS, ids=[p.name for p in CORPUS_PDFS])
def test_corpus_renders_every_page(path: Path) -> None:
    """Every page of every real-world corpus PDF renders to a decodable JPEG."""
    count = count_pdf_pages(path)
    images = asyncio.run(
        _render_all(path, list(range(1, count + 1)), RenderOptions(extract_text=True))
    )
    assert len(images) == count
    for image in images:
        assert decode(image).size == (image.width, image.height)
        assert max(image.width, image.height) <= 2000
        assert image.text_layer is not None


@pytest.mark.parametrize(("setting", "code"), [("4:2:0", 2), ("4:4:4", 0)])
def test_jpeg_subsampling_follows_the_setting(setting: Any, code: int) -> None:
    """4:4:4 keeps colour at full resolution (small coloured text stays sharp)."""
    image = Image.new("RGB", (64, 64), (200, 30, 30))
    data, _ = encode_image(image, RenderOptions(jpeg_subsampling=setting))
    with Image.open(io.BytesIO(data)) as decoded:
        assert JpegImagePlugin.get_sampling(decoded) == code
