"""Render PDF pages to encoded images (JPEG or PNG) with pypdfium2.

Every pypdfium2 call runs on the one pdfium thread
(:mod:`docling_hybrid_cli.pdfium_thread` says why), and no pypdfium2 object
ever leaves it: a render job opens the page, renders it, reads the text layer
and closes the page, text page and bitmap handle before returning. What it
hands back is a Pillow image mapped (zero-copy) over the bitmap's
Python-owned pixel buffer, so JPEG/PNG encoding runs afterwards on an ordinary
worker thread (Pillow releases the GIL there) while the pdfium thread already
renders the next page.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from .bitmap_pool import SHARED_POOL, BitmapPool, Buffer
from .blank import looks_blank, might_be_blank
from .errors import ConfigError, CorruptPdf, PageRangeError
from .inputfile import InputFile, check_pdf
from .page_source import PageSource
from .pages import PageImage
from .pdfdoc import Recycling, RecyclingDocument, close_with_file, count_pages, page_size
from .pdfium_thread import arun_pdfium, pdfium_executor, run_pdfium
from .textlayer import LineBox, page_has_text, read_page_text, read_page_text_and_boxes

__all__ = [
    "PageSource",
    "PdfRenderer",
    "RenderOptions",
    "encode_image",
    "count_pdf_pages",
    "encode_and_inspect",
]


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How pages become images.

    ``max_side`` and ``max_pixels`` only ever scale *down*: a huge page (a poster,
    a mis-sized scan) must not allocate gigabytes, while a small page is never
    blown up past ``dpi`` because upscaling adds bytes but no detail.

    ``skip_blank`` marks a page without a text layer whose image is blank
    (``blank.py``), so no backend is asked about it.

    ``extract_text``: the text in reading order (for the text-layer backend);
    ``reference_text`` alone: pdfium's plain text, ~1 ms, for ``quality/``.
    """

    dpi: int = 144
    max_side: int = 2000
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = 90
    jpeg_subsampling: Literal["4:2:0", "4:4:4"] = "4:2:0"
    extract_text: bool = False
    max_pixels: int = 40_000_000
    skip_blank: bool = True
    reference_text: bool = False

    def __post_init__(self) -> None:
        if self.dpi <= 0:
            raise ConfigError(f"render dpi must be positive, got {self.dpi}")
        if self.max_side <= 0:
            raise ConfigError(f"render max_side must be positive, got {self.max_side}")
        if self.max_pixels <= 0:
            raise ConfigError(f"render max_pixels must be positive, got {self.max_pixels}")
        if self.image_format not in ("jpeg", "png"):
            raise ConfigError(f"image format must be 'jpeg' or 'png', got {self.image_format!r}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ConfigError(f"jpeg quality must be 1-100, got {self.jpeg_quality}")

    @property
    def mime(self) -> str:
        return "image/jpeg" if self.image_format == "jpeg" else "image/png"


def count_pdf_pages(path: Path, password: str | None = None, *, check_file: bool = True) -> int:
    """Validate ``path`` as a readable PDF and return its page count (blocking).

    Used before any work starts so a bad input fails fast with exit code 2.
    ``check_file=False`` skips the file checks a caller has just made
    (:func:`docling_hybrid_cli.inputfile.sniff`).
    """
    if check_file:
        check_pdf(path)
    return run_pdfium(count_pages, path, password)


def _fit_scale(width_pt: float, height_pt: float, options: RenderOptions) -> float:
    """Return the scale for ``dpi``, lowered until the rendered size fits both caps.

    pypdfium2 sizes the bitmap with ``ceil(points * scale)``, so the caps are
    checked on the rounded-up pixel sizes rather than the exact product.
    """
    scale = min(
        options.dpi / 72,
        options.max_side / max(width_pt, height_pt),
        math.sqrt(options.max_pixels / (width_pt * height_pt)),
    )

    def too_big(s: float) -> bool:
        w, h = math.ceil(width_pt * s), math.ceil(height_pt * s)
        return max(w, h) > options.max_side or w * h > options.max_pixels

    while too_big(scale) and scale > 0:
        scale *= 1 - 1e-6
    return scale


@dataclass(frozen=True, slots=True)
class _Rendered:
    """What a render job returns: plain Python data, no pdfium handles."""

    image: Image.Image
    buffer: Buffer
    text: str | None
    render_ms: float
    text_boxes: tuple[LineBox | None, ...] = ()


def _render_page(
    doc: pdfium.PdfDocument, *, page_no: int, options: RenderOptions, path: Path, pool: BitmapPool
) -> _Rendered:
    """Render one page (and read its text layer); runs on the pdfium thread."""
    started = time.perf_counter()
    try:
        page = doc[page_no - 1]
    except pdfium.PdfiumError as exc:
        raise CorruptPdf(f"{path}: page {page_no} cannot be loaded ({exc})") from exc
    try:
        width_pt, height_pt = page.get_size()  # already swapped for /Rotate 90/270
        if width_pt <= 0 or height_pt <= 0:
            raise CorruptPdf(f"{path}: page {page_no} has an empty page box")
        image, buffer = _draw(page, _fit_scale(width_pt, height_pt, options), pool.bitmap)
        text: str | None = None
        boxes: tuple[LineBox | None, ...] = ()
        if options.extract_text:  # the text-layer backend's: with where each line is
            text, boxes = read_page_text_and_boxes(page)
        elif options.reference_text:
            text = read_page_text(page, reading_order=False)
    finally:
        page.close()
    return _Rendered(image, buffer, text, (time.perf_counter() - started) * 1000, boxes)


def _draw(
    page: pdfium.PdfPage,
    scale: float,
    bitmap_maker: Callable[..., pdfium.PdfBitmap] = pdfium.PdfBitmap.new_native,
    crop: tuple[float, float, float, float] = (0, 0, 0, 0),
) -> tuple[Image.Image, Buffer]:
    """Draw ``page`` (less ``crop``, in points from each edge) into an RGBX image.

    RGBx in Python-owned memory: Pillow stores RGB images 4 bytes a pixel, so
    only RGBX (or RGBA) can be mapped without a copy. A 3-byte RGB bitmap looks
    smaller but Pillow copies it into a 4-byte image, so the page would peak at
    both buffers and take longer (docs/PERFORMANCE.md). The buffer stays valid
    after the pdfium handle goes.
    """
    bitmap = page.render(
        scale=scale,
        crop=crop,
        may_draw_forms=True,
        fill_color=(255, 255, 255, 255),
        rev_byteorder=True,
        force_bitmap_format=pdfium_c.FPDFBitmap_BGRx,
        bitmap_maker=bitmap_maker,
    )
    buffer = bitmap.buffer
    try:
        image = Image.frombuffer(
            "RGBX", (bitmap.width, bitmap.height), buffer, "raw", bitmap.mode, bitmap.stride, 1
        )
    finally:
        bitmap.close()
    return image, buffer


def _draw_region(
    doc: pdfium.PdfDocument, page_no: int, box: tuple[int, int, int, int], options: RenderOptions
) -> Image.Image:
    """Draw the pixel ``box`` of a page exactly as :func:`_render_page` drew it there."""
    page = doc[page_no - 1]
    try:
        width_pt, height_pt = page.get_size()
        scale = _fit_scale(width_pt, height_pt, options)
        full_w, full_h = math.ceil(width_pt * scale), math.ceil(height_pt * scale)
        left, top, right, bottom = box
        # pypdfium2 rounds each cut up to whole pixels: nudge whole pixels down so
        # float error cannot shift the region by one.
        eps = 1e-6
        cut = (
            (left - eps) / scale,
            (full_h - bottom - eps) / scale,
            (full_w - right - eps) / scale,
            (top - eps) / scale,
        )
        image, _ = _draw(page, scale, crop=cut)
    finally:
        page.close()
    return image


def encode_image(image: Image.Image, options: RenderOptions) -> tuple[bytes, float]:
    """Encode the mapped RGBX image; pure Pillow, so it may run on any thread."""
    started = time.perf_counter()
    buf = io.BytesIO()
    if options.image_format == "jpeg":
        # Pillow's subsampling codes: 2 is 4:2:0 (colour at half resolution), 0 is 4:4:4.
        subsampling = 0 if options.jpeg_subsampling == "4:4:4" else 2
        image.save(buf, "JPEG", quality=options.jpeg_quality, subsampling=subsampling)
    else:
        # PNG has no RGBX. Level 1 costs far less CPU than Pillow's default 6
        # for a few percent more bytes (docs/PERFORMANCE.md).
        if image.mode == "RGBX":
            image = image.convert("RGB")
        image.save(buf, "PNG", compress_level=1)
    return buf.getvalue(), (time.perf_counter() - started) * 1000


def encode_and_inspect(
    image: Image.Image, options: RenderOptions, *, look_for_blank: bool
) -> tuple[bytes, float, bool]:
    """Encode the page and, when asked, tell whether it is blank: one trip to a worker thread.

    The encoded size comes first: a page that compresses poorly holds too much
    to be blank and is not looked at. The time returned covers both steps.
    """
    started = time.perf_counter()
    data, _ = encode_image(image, options)
    width, height = image.size
    blank = look_for_blank and might_be_blank(data, width, height) and looks_blank(image)
    return data, (time.perf_counter() - started) * 1000, blank


def _page_has_text(recycling: RecyclingDocument, page_no: int) -> bool:
    """On the pdfium thread; a document closed meanwhile counts as text (never "blank")."""
    try:
        return page_has_text(recycling.document, page_no)
    except ValueError:
        return True


class PdfRenderer(PageSource):
    """Owns one PDF document; every pdfium call for it goes through the pdfium thread.

    Use as ``async with PdfRenderer(path, options) as r: await r.render(1)``.
    ``render`` may be awaited concurrently (for example to render a few pages
    ahead of the requests in flight); the calls queue on the single pdfium
    thread while encoding overlaps on ordinary threads.

    ``file`` is the document already opened and checked by a caller
    (:func:`docling_hybrid_cli.sources.open_source`); the renderer then owns it.
    Without it, :meth:`open` opens and checks ``path`` itself. ``recycling``
    says when the document is reopened to shed pdfium's caches.
    """

    def __init__(
        self,
        path: Path,
        options: RenderOptions,
        *,
        password: str | None = None,
        figure_prefix: str = "",
        file: InputFile | None = None,
        recycling: Recycling | None = None,
    ) -> None:
        self.path = Path(path)
        self.options = options
        self.figure_prefix = figure_prefix
        self._password = password
        self._file = file
        self._recycling = recycling or Recycling()
        self._doc: RecyclingDocument | None = None
        self._pool = SHARED_POOL
        self._page_count = 0
        self._closed = False

    @property
    def page_count(self) -> int:
        """Number of pages; 0 until :meth:`open` has succeeded."""
        return self._page_count

    async def open(self) -> int:
        """Validate and open the document; return its page count.

        Raises the :mod:`errors` input errors (InputNotFound, NotAPdf,
        CorruptPdf, EncryptedPdf) with a one-line message naming the file.
        """
        if self._closed:
            raise ValueError(f"renderer for {self.path} is closed")
        if self._file is None:
            self._file = await asyncio.to_thread(InputFile.open_pdf, self.path)
        if self._doc is None:
            self._doc = await arun_pdfium(
                RecyclingDocument, self._file, self._password, self._recycling
            )
            self._page_count = self._doc.page_count
        return self._page_count

    @property
    def encrypted(self) -> bool:
        """Encrypted and opened with a password (a PDF that opens without one is not secret)."""
        return self._doc is not None and self._doc.encrypted and self._password is not None

    async def content_sha256(self) -> str:
        if self._file is None:
            raise ValueError(f"renderer for {self.path} is not open")
        return await asyncio.to_thread(self._file.sha256)

    async def render(self, page_no: int) -> PageImage:
        """Render and encode 1-based page ``page_no``."""
        if self._doc is None:
            raise ValueError(f"renderer for {self.path} is not open")
        if not 1 <= page_no <= self._page_count:
            raise PageRangeError(
                f"page {page_no} does not exist in {self.path} ({self._page_count} pages)"
            )
        recycling = self._doc
        render_job = functools.partial(
            _render_page, page_no=page_no, options=self.options, path=self.path, pool=self._pool
        )
        rendered = await arun_pdfium(self._doc.run_page, render_job)
        # An extracted text layer settles it; otherwise the image goes first, and
        # only an image that looks blank costs a look at the text layer.
        look = self.options.skip_blank and not (rendered.text and rendered.text.strip())
        data, encode_ms, blank = await asyncio.to_thread(
            encode_and_inspect, rendered.image, self.options, look_for_blank=look
        )
        # Only now is nothing reading the buffer (a cancelled or failed encode may
        # still be, so then the buffer is simply dropped).
        width, height = rendered.image.size
        rendered.image.close()
        self._pool.give(rendered.buffer)
        if blank and rendered.text is None:
            blank = not await arun_pdfium(_page_has_text, recycling, page_no)
        return PageImage(
            page=page_no,
            data=data,
            mime=self.options.mime,
            width=width,
            height=height,
            crop_figure=functools.partial(self._crop_figure, page_no),
            text_layer=rendered.text,
            text_boxes=rendered.text_boxes,
            figure_prefix=self.figure_prefix,
            render_ms=rendered.render_ms,
            encode_ms=encode_ms,
            blank=blank,
        )

    async def page_size(self, page_no: int) -> tuple[float, float]:
        if self._doc is None:
            raise ValueError(f"renderer for {self.path} is not open")
        job = functools.partial(page_size, page_no=page_no, path=self.path)
        return await arun_pdfium(self._doc.run_page, job)

    def _crop_figure(
        self, page_no: int, box: tuple[int, int, int, int], jpeg_quality: int
    ) -> bytes | None:
        """A JPEG of ``box`` drawn afresh (``PageImage.crop_figure``); blocking.

        None when the document is gone or pdfium fails: the caller then cuts
        the box from the page image instead.
        """
        doc = self._doc
        if doc is None:
            return None

        def draw() -> Image.Image:
            # doc.document is a ValueError if aclose() got to the pdfium thread first.
            return _draw_region(doc.document, page_no, box, self.options)

        try:
            image = run_pdfium(draw)
        except (pdfium.PdfiumError, ValueError):
            return None
        buf = io.BytesIO()
        image.save(buf, "JPEG", quality=jpeg_quality)
        return buf.getvalue()

    async def aclose(self) -> None:
        """Close the document on the pdfium thread; safe to call more than once.

        The shared pdfium thread itself stays up for other documents (see
        :func:`pdfium_executor`).
        """
        self._closed = True
        doc, self._doc = self._doc, None
        file, self._file = self._file, None
        if doc is not None or file is not None:
            await arun_pdfium(close_with_file, doc, file)

    def __del__(self) -> None:
        # A renderer dropped without aclose() would let pypdfium2's finalizer close
        # the document on whatever thread the garbage collector runs on; hand the
        # close to the pdfium thread instead (the file after the document that reads it).
        doc = getattr(self, "_doc", None)
        file = getattr(self, "_file", None)
        if doc is not None or file is not None:
            # RuntimeError: the executor is already shut down at interpreter exit.
            with contextlib.suppress(RuntimeError):
                pdfium_executor().submit(close_with_file, doc, file)
