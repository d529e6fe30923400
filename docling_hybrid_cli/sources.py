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
import time
from pathlib import Path
from typing import IO

from .errors import CorruptPdf, PageRangeError
from .imagefile import DECODE_ERRORS, decode_frame, open_image
from .inputfile import InputFile, sniff
from .pages import PageImage
from .render import PageSource, PdfRenderer, RenderOptions, count_pdf_pages, encode_and_inspect

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageRenderer",
    "SUPPORTED_SUFFIXES",
    "open_source",
    "count_source_pages",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
SUPPORTED_SUFFIXES = (".pdf", *IMAGE_SUFFIXES)


def count_source_pages(path: Path, password: str | None = None, *, max_side: int = 2000) -> int:
    """Validate a document before anything is sent anywhere; return its page count.

    ``max_side`` is the run's page cap, which sets how large an input image may be.
    """
    if sniff(path) == "pdf":
        return count_pdf_pages(path, password, check_file=False)
    return _count_frames(path, max_side)


def _count_frames(
    path: Path,
    max_side: int = 2000,
    max_pixels: int = 40_000_000,
    source: IO[bytes] | None = None,
) -> int:
    """Frames in an image file; frame 1 is decoded now, so a bad file fails here, not mid-run.

    ``source``: the bytes of ``path`` as an open file (see :class:`ImageRenderer`).
    """
    with open_image(path, source) as image:
        try:
            frames = int(getattr(image, "n_frames", 1))
        except DECODE_ERRORS as exc:
            raise CorruptPdf(f"{path} is a damaged image ({type(exc).__name__})") from None
        decode_frame(image, 0, path=path, max_side=max_side, max_pixels=max_pixels, checking=True)
        return max(1, frames)


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
        self._page_count = await asyncio.to_thread(
            _count_frames, self.path, self.options.max_side, self.options.max_pixels, self._source()
        )
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

    async def page_size(self, page_no: int) -> tuple[float, float]:
        """An image's frame in pixels, read as points (72 dpi), as docling sizes image pages."""
        return await asyncio.to_thread(self._frame_size, page_no)

    def _frame_size(self, page_no: int) -> tuple[float, float]:
        with open_image(self.path, self._source()) as source:
            try:
                source.seek(page_no - 1)
            except (EOFError, ValueError) as exc:
                raise CorruptPdf(f"{self.path}: frame {page_no} cannot be read ({exc})") from None
            width, height = source.size
        return float(width), float(height)

    def _render(self, page_no: int) -> PageImage:
        started = time.perf_counter()
        with open_image(self.path, self._source()) as source:
            image = decode_frame(
                source,
                page_no - 1,
                path=self.path,
                max_side=self.options.max_side,
                max_pixels=self.options.max_pixels,
            )
        render_ms = (time.perf_counter() - started) * 1000
        # An image has no text layer: a blank one is blank.
        data, encode_ms, blank = encode_and_inspect(
            image, self.options, look_for_blank=self.options.skip_blank
        )
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
            blank=blank,
        )

    async def aclose(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()
