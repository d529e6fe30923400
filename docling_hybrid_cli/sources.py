"""Input documents: PDFs and page images, behind one renderer interface.

A PNG or JPEG is a one-page document and a (multi-frame) TIFF has one page
per frame, so scans saved as images go through the same pipeline as PDFs.
What a file is comes from its first bytes, not its name (``inputfile.py``
checks and sniffs it, once): a ``.pdf`` that is really HTML is refused with a
clear message.
"""

from __future__ import annotations

import asyncio
import io
import struct
import time
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from .errors import CorruptPdf, PageRangeError
from .inputfile import InputFile, sniff
from .pages import PageImage
from .render import PageSource, PdfRenderer, RenderOptions, count_pdf_pages, encode_image

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageRenderer",
    "SUPPORTED_SUFFIXES",
    "open_source",
    "count_source_pages",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUPPORTED_SUFFIXES = (".pdf", *IMAGE_SUFFIXES)


def count_source_pages(path: Path, password: str | None = None) -> int:
    """Validate a document before anything is sent anywhere; return its page count."""
    if sniff(path) == "pdf":
        return count_pdf_pages(path, password, check_file=False)
    return _count_frames(path)


def _count_frames(path: Path, source: Path | IO[bytes] | None = None) -> int:
    """Frames in the image at ``path`` (read from ``source`` when given)."""
    try:
        with Image.open(path if source is None else source) as image:
            frames = int(getattr(image, "n_frames", 1))
            image.load()  # decode frame 1 now: a truncated file fails here, not mid-run
            return frames
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise CorruptPdf(f"{path} is a damaged image ({exc})") from None


def _upright(frame: Image.Image) -> Image.Image:
    """The frame as it should be seen: phone photos store the pixels sideways.

    Cameras write the sensor's pixels and an EXIF Orientation tag saying how
    to turn them; viewers apply it, models do not. A tag that cannot be read
    leaves the frame as stored rather than costing the page.
    """
    try:
        return ImageOps.exif_transpose(frame)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return frame


def open_source(
    path: Path, options: RenderOptions, *, password: str | None = None, figure_prefix: str = ""
) -> PageSource:
    """The renderer for ``path``, chosen by content; it owns the file opened here."""
    file = InputFile.open(path)
    try:
        if file.kind() == "pdf":
            return PdfRenderer(
                path, options, password=password, figure_prefix=figure_prefix, file=file
            )
        return ImageRenderer(path, options, figure_prefix=figure_prefix, file=file)
    except BaseException:
        file.close()
        raise


class ImageRenderer(PageSource):
    """Pages from an image file: scaled to the same caps as PDF pages, re-encoded.

    Every decode reads the one :class:`InputFile` (opened here unless given).
    """

    def __init__(
        self,
        path: Path,
        options: RenderOptions,
        *,
        figure_prefix: str = "",
        file: InputFile | None = None,
    ) -> None:
        self.path = path
        self.options = options
        self.figure_prefix = figure_prefix
        self._file = file
        self._page_count = 0

    def _source(self) -> IO[bytes]:
        if self._file is None:
            raise ValueError(f"renderer for {self.path} is not open")
        return io.BufferedReader(self._file.reader())

    @property
    def page_count(self) -> int:
        return self._page_count

    async def open(self) -> int:
        if self._file is None:
            self._file = await asyncio.to_thread(InputFile.open, self.path)
        self._page_count = await asyncio.to_thread(_count_frames, self.path, self._source())
        return self._page_count

    async def content_sha256(self) -> str:
        if self._file is None:
            raise ValueError(f"renderer for {self.path} is not open")
        return await asyncio.to_thread(self._file.sha256)

    async def render(self, page_no: int) -> PageImage:
        if not 1 <= page_no <= self._page_count:
            raise PageRangeError(
                f"page {page_no} does not exist in {self.path} ({self._page_count} pages)"
            )
        return await asyncio.to_thread(self._render, page_no)

    def _render(self, page_no: int) -> PageImage:
        started = time.perf_counter()
        try:
            with Image.open(self._source()) as source:
                frame = ImageSequence.Iterator(source)[page_no - 1]
                image = _upright(frame).convert("RGB")
        except (UnidentifiedImageError, OSError, ValueError, IndexError) as exc:
            raise CorruptPdf(f"{self.path}: page {page_no} cannot be read ({exc})") from None
        scale = min(
            1.0,
            self.options.max_side / max(image.size),
            (self.options.max_pixels / (image.width * image.height)) ** 0.5,
        )
        if scale < 1.0:
            size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
            image = image.resize(size, Image.Resampling.LANCZOS)
        render_ms = (time.perf_counter() - started) * 1000
        data, encode_ms = encode_image(image, self.options)
        return PageImage(
            page=page_no,
            data=data,
            mime=self.options.mime,
            width=image.width,
            height=image.height,
            text_layer="" if self.options.extract_text else None,
            figure_prefix=self.figure_prefix,
            render_ms=render_ms,
            encode_ms=encode_ms,
        )

    async def aclose(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
