"""Render PDF pages to encoded images (JPEG or PNG) with pypdfium2.

Threading rule (the reason this module is shaped the way it is): PDFium is not
thread-safe, not even across different documents, and two concurrent calls crash
or corrupt the process. So *every* pypdfium2 call in the process -- opening,
page access, rendering, text extraction, closing, even objects being finalised --
runs on one process-wide worker thread, the single-thread executor returned by
:func:`pdfium_executor` (thread name ``pdfium_0``). Every :class:`PdfRenderer`
and :func:`probe_pdf` share it; other modules that need pdfium must go through
:func:`run_pdfium` or that executor too, never call pypdfium2 directly.

No pypdfium2 object ever leaves that thread: a render job opens the page, renders
it, reads the text layer and closes the page, text page and bitmap handle before
returning. What it hands back is a Pillow image mapped (zero-copy) over the
bitmap's Python-owned pixel buffer, so JPEG/PNG encoding runs afterwards on an
ordinary worker thread (Pillow releases the GIL there) while the pdfium thread
already renders the next page.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ctypes
import functools
import io
import itertools
import math
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self, TypeVar

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image

from .errors import (
    ConfigError,
    CorruptPdf,
    EncryptedPdf,
    InputError,
    InputNotFound,
    NotAPdf,
    PageRangeError,
)
from .pages import PageImage

__all__ = [
    "HEADING_MARK",
    "PageSource",
    "PdfRenderer",
    "RenderOptions",
    "parse_page_range",
    "pdfium_executor",
    "probe_pdf",
    "run_pdfium",
]

_T = TypeVar("_T")

PDF_HEADER_WINDOW = 1024
"""The PDF spec lets ``%PDF-`` appear anywhere in the first 1024 bytes (pdfium agrees)."""

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def pdfium_executor() -> ThreadPoolExecutor:
    """Return the one executor through which every pypdfium2 call must go.

    It is created lazily and never shut down by this module: a thread that was
    stopped and replaced could still be finishing a job while its successor starts
    one, which is exactly the concurrent pdfium use that must never happen.
    ``concurrent.futures`` joins the idle thread at interpreter exit.
    """
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pdfium")
        return _executor


def _on_pdfium_thread() -> bool:
    return threading.current_thread().name.startswith("pdfium_")


def run_pdfium(fn: Callable[..., _T], /, *args: object) -> _T:
    """Run ``fn(*args)`` on the pdfium thread and wait for it (for synchronous callers).

    Called from the pdfium thread itself it runs inline, since queuing behind
    itself would deadlock.
    """
    if _on_pdfium_thread():
        return fn(*args)
    return pdfium_executor().submit(fn, *args).result()


async def _arun_pdfium(fn: Callable[..., _T], /, *args: object) -> _T:
    return await asyncio.get_running_loop().run_in_executor(pdfium_executor(), fn, *args)


@dataclass(frozen=True, slots=True)
class RenderOptions:
    """How pages become images.

    ``max_side`` and ``max_pixels`` only ever scale *down*: a huge page (a poster,
    a mis-sized scan) must not allocate gigabytes, while a small page is never
    blown up past ``dpi`` because upscaling adds bytes but no detail.
    """

    dpi: int = 144
    max_side: int = 2000
    image_format: Literal["jpeg", "png"] = "jpeg"
    jpeg_quality: int = 90
    extract_text: bool = False
    max_pixels: int = 40_000_000

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


_RANGE_PART = re.compile(r"(?P<start>\d+)?\s*-\s*(?P<end>\d+)?")


def parse_page_range(spec: str | None, page_count: int) -> list[int]:
    """Turn a ``--pages`` expression into sorted, unique 1-based page numbers.

    Accepts ``"1-3,7"``, ``"5-"`` (to the end), ``"-3"`` (from the start), ``"2"``,
    spaces anywhere around numbers, and ``None``/``""``/``"all"`` for every page.
    Anything else fails loudly rather than silently converting fewer pages.
    """

    def bad(part: str, reason: str) -> PageRangeError:
        return PageRangeError(
            f"invalid page range {part!r} in --pages {spec!r}: {reason} "
            f"(the document has {page_count} pages)"
        )

    text = (spec or "").strip()
    if text.lower() in ("", "all"):
        pages = set(range(1, page_count + 1))
    else:
        pages = set()
        for raw_part in text.split(","):
            part = raw_part.strip()
            if not part:
                raise bad(part, "empty part")
            if part.isdigit():
                start = end = int(part)
            else:
                match = _RANGE_PART.fullmatch(part)
                if match is None or (match["start"] is None and match["end"] is None):
                    raise bad(part, "expected N, N-M, N- or -M")
                start = int(match["start"]) if match["start"] is not None else 1
                end = int(match["end"]) if match["end"] is not None else page_count
            if start < 1 or end < 1:
                raise bad(part, "pages start at 1")
            if max(start, end) > page_count:
                raise bad(part, f"page {max(start, end)} does not exist")
            if start > end:
                raise bad(part, "start is after end")
            pages.update(range(start, end + 1))
    if not pages:
        raise PageRangeError(f"--pages {spec!r} selects no pages (the document has no pages)")
    return sorted(pages)


def _check_file(path: Path) -> None:
    """Reject what is plainly not a PDF before pdfium sees it, with a precise message."""
    if path.is_dir():
        raise InputNotFound(f"{path} is a directory, not a PDF file")
    if not path.exists():
        raise InputNotFound(f"{path} does not exist")
    if not path.is_file():
        raise InputNotFound(f"{path} is not a regular file")
    try:
        with path.open("rb") as fh:
            head = fh.read(PDF_HEADER_WINDOW)
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise NotAPdf(f"{path} is empty")
    if b"%PDF-" not in head:
        raise NotAPdf(f"{path} is not a PDF (no %PDF- header in its first 1024 bytes)")


def _reset_last_error() -> None:
    """Make FPDF_GetLastError meaningful for the next load.

    pdfium only sets its last-error value on *some* failures (an empty page tree
    fails without setting it) and never clears it on success, so a stale code --
    say "password" from an earlier document -- would be reported for the wrong
    file. Loading an empty path is a cheap, side-effect-free failure that sets it
    to FPDF_ERR_FILE, which a file that passed :func:`_check_file` cannot cause.
    """
    pdfium_c.FPDF_LoadDocument(b"\0", None)


def _open_document(path: Path, password: str | None) -> pdfium.PdfDocument:
    """Validate and open ``path``; runs on the pdfium thread."""
    _check_file(path)
    _reset_last_error()
    try:
        doc = pdfium.PdfDocument(str(path), password=password)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            message = f"wrong password for {path}" if password else f"{path} needs a password"
            raise EncryptedPdf(message, hint="pass --password") from exc
        if exc.err_code == pdfium_c.FPDF_ERR_SECURITY:
            raise EncryptedPdf(f"{path} uses an unsupported encryption scheme") from exc
        if exc.err_code == pdfium_c.FPDF_ERR_FILE:
            # Still the value _reset_last_error left, and the file was readable a
            # moment ago: pdfium gave no reason, which is what it does for a
            # document whose page tree is empty.
            raise CorruptPdf(f"{path} has no pages (pdfium found no page tree)") from exc
        raise CorruptPdf(f"{path} is damaged: pdfium cannot parse it ({exc})") from exc
    try:
        doc.init_forms()  # a no-op without forms; must precede any page access
        if len(doc) == 0:  # pdfium normally fails the load instead (above); kept as a guard
            raise CorruptPdf(f"{path} has no pages")
    except BaseException:
        doc.close()
        raise
    return doc


def _count_and_close(path: Path, password: str | None) -> int:
    doc = _open_document(path, password)
    try:
        return len(doc)
    finally:
        doc.close()


def probe_pdf(path: Path, password: str | None = None) -> int:
    """Validate ``path`` as a readable PDF and return its page count (blocking).

    Used before any work starts so a bad input fails fast with exit code 2.
    """
    return run_pdfium(_count_and_close, path, password)


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


_PARAGRAPH_GAP = 1.3
"""A gap between lines this many times the usual line pitch starts a new paragraph."""
HEADING_MARK = "\x01"
"""Prefixes a text-layer line set in a larger font, followed by its level (1 or 2) and a space.

A control character no PDF text carries, so the text-layer backend can tell
the renderer's heading guess apart from text that merely starts with ``#``.
"""
_HEADING_1_RATIO = 1.8
_HEADING_2_RATIO = 1.3
_HEADING_MAX_CHARS = 120
_COLUMN_MIN_BOXES = 8
_COLUMN_SHARE = 0.2
"""Each column of a two-column page holds at least this share of the page's text rectangles."""
_SPANNING_SHARE = 0.3
"""At most this share may cross the gutter (titles, abstracts) on a two-column page."""

_RECYCLE_PAGES = 64
"""Pages between reopens of a document (:class:`_RecyclingDocument`): ~0.7 MB of pdfium cache."""
_RECYCLE_COST_SHARE = 50
"""A reopen waits until the renders since the last open took 50x the open (2 % overhead at most)."""

_Box = tuple[float, float, float, float, str, float]
"""left, bottom, right, top (page space, y up), text, font size."""


def _text_in_reading_order(textpage: pdfium.PdfTextPage) -> str:
    """The page's text in reading order, blank lines at paragraph gaps, headings marked.

    pdfium's own text order follows the content stream, which for pages with
    a ``/Rotate`` comes out bottom-to-top, and has no paragraph breaks. Its
    text rectangles (in unrotated page space, y up) give both: lines are
    ordered by their top edge, and a vertical gap well above the typical
    line pitch marks a new paragraph. A two-column page is read column by
    column (full-width text above and below them in place). Pages whose text
    runs vertically in that space (set sideways in the content itself) keep
    pdfium's order. Runs on the pdfium thread.
    """
    boxes: list[_Box] = []
    for index in range(textpage.count_rects()):
        left, bottom, right, top = textpage.get_rect(index)
        chunk = textpage.get_text_bounded(left, bottom, right, top).strip()
        if chunk:
            boxes.append((left, bottom, right, top, chunk, _font_size(textpage, left, bottom, top)))
    if not boxes:
        return ""
    sideways = sum(1 for b in boxes if len(b[4]) > 2 and (b[3] - b[1]) > (b[2] - b[0]))
    if sideways * 2 > len(boxes):
        raw = textpage.get_text_range()
        return str(raw).replace("\r\n", "\n").replace("\r", "\n")
    sizes = sorted(b[5] for b in boxes)
    body = sizes[(len(sizes) - 1) // 2]  # lower median: the body text's size
    blocks = [_block_text(group, body) for group in _columns(boxes) if group]
    return "\n\n".join(block for block in blocks if block)


def _columns(boxes: list[_Box]) -> list[list[_Box]]:
    """Split a two-column page at its gutter; any other page is one group.

    The gutter is the x in the middle of the text area that the fewest
    rectangles cross. Returned in reading order: full-width text above the
    columns, the left column, the right column, full-width text below.
    """
    left_edge = min(b[0] for b in boxes)
    width = max(b[2] for b in boxes) - left_edge
    if width <= 0 or len(boxes) < _COLUMN_MIN_BOXES:
        return [boxes]
    bins = 100
    cover = [0] * bins
    for b in boxes:
        first = int((b[0] - left_edge) / width * bins)
        last = min(bins - 1, int((b[2] - left_edge) / width * bins))
        for i in range(first, last + 1):
            cover[i] += 1
    gutter_bin = min(range(30, 71), key=lambda i: (cover[i], abs(i - 50)))
    gutter = left_edge + (gutter_bin + 0.5) / bins * width
    left = [b for b in boxes if b[2] <= gutter]
    right = [b for b in boxes if b[0] >= gutter]
    spanning = [b for b in boxes if b[0] < gutter < b[2]]
    n = len(boxes)
    if min(len(left), len(right)) < _COLUMN_SHARE * n or len(spanning) > _SPANNING_SHARE * n:
        return [boxes]
    columns_top = max(b[3] for b in left + right)
    above = [b for b in spanning if (b[1] + b[3]) / 2 > columns_top]
    below = [b for b in spanning if (b[1] + b[3]) / 2 <= columns_top]
    return [above, left, right, below]


def _block_text(boxes: list[_Box], body: float) -> str:
    """One column (or a whole page): lines top to bottom, paragraphs and headings marked."""
    boxes = sorted(boxes, key=lambda b: (-b[3], b[0]))
    lines: list[list[_Box]] = []
    for box in boxes:
        if lines:
            last = lines[-1]
            middle = (box[1] + box[3]) / 2
            if min(b[1] for b in last) <= middle <= max(b[3] for b in last):
                last.append(box)
                continue
        lines.append([box])
    tops = [max(b[3] for b in line) for line in lines]
    pitches = sorted(a - b for a, b in itertools.pairwise(tops) if a > b)
    usual = pitches[(len(pitches) - 1) // 2] if pitches else 0.0  # lower median: body text
    # Font sizes, not rectangle heights: pdfium's rectangles hug the glyphs, so a
    # heading without descenders can be shorter than a line of body text.
    sizes = [min(b[5] for b in line) for line in lines]  # every part of the line large
    out: list[str] = []
    for index, line in enumerate(lines):
        text = " ".join(b[4] for b in sorted(line, key=lambda b: b[0]))
        level = _heading_level(sizes[index], body, text)
        gap = index and usual and tops[index - 1] - tops[index] > usual * _PARAGRAPH_GAP
        if gap or (index and (level or out[-1].startswith(HEADING_MARK))):
            out.append("")
        out.append(f"{HEADING_MARK}{level} {text}" if level else text)
    return "\n".join(out)


def _font_size(textpage: pdfium.PdfTextPage, left: float, bottom: float, top: float) -> float:
    """The font size of the text at the start of a rectangle (0 when pdfium finds none)."""
    index = pdfium_c.FPDFText_GetCharIndexAtPos(textpage.raw, left + 0.5, (bottom + top) / 2, 2, 2)
    return float(pdfium_c.FPDFText_GetFontSize(textpage.raw, index)) if index >= 0 else 0.0


def _heading_level(height: float, body: float, text: str) -> int:
    """1 or 2 for a short line set in a clearly larger font than the page's body text, else 0."""
    if body <= 0 or len(text) > _HEADING_MAX_CHARS or not any(c.isalpha() for c in text):
        return 0
    ratio = height / body
    if ratio >= _HEADING_1_RATIO:
        return 1
    return 2 if ratio >= _HEADING_2_RATIO else 0


@dataclass(frozen=True, slots=True)
class _Rendered:
    """What a render job returns: plain Python data, no pdfium handles."""

    image: Image.Image
    buffer: _Buffer
    text: str | None
    render_ms: float


_Buffer = ctypes.Array[ctypes.c_ubyte]
_RGBX = 4
"""Bytes a pixel: every page is rendered as RGBx (see :func:`_render_page`)."""


class _BitmapPool:
    """Pixel buffers handed back after encoding, for the next pages to render into.

    A fresh page-sized buffer is a fresh ``mmap`` (memory.py keeps large blocks
    off the heap so they cannot fragment it), and touching its ~1,900 new pages
    cost 4.6 ms on this VM -- as much as rendering the page. Reusing two buffers
    costs nothing and holds no more memory than two pages in flight did anyway.
    A buffer is taken on the pdfium thread and given back from the event loop,
    hence the lock.
    """

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._free: list[_Buffer] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> _Buffer:
        with self._lock:
            fitting = [buf for buf in self._free if len(buf) >= size]
            if fitting:
                buf = min(fitting, key=len)
                self._free.remove(buf)
                return buf
        return (ctypes.c_ubyte * size)()

    def give(self, buf: _Buffer) -> None:
        with self._lock:
            self._free.append(buf)
            if len(self._free) > self._keep:
                self._free.remove(min(self._free, key=len))

    def bitmap(self, width: int, height: int, format: int, rev_byteorder: bool) -> pdfium.PdfBitmap:
        """A ``bitmap_maker`` for ``PdfPage.render`` that draws into a pooled buffer."""
        stride = width * _RGBX
        buffer = self.take(stride * height)
        return pdfium.PdfBitmap.new_native(
            width, height, format, rev_byteorder, buffer=buffer, stride=stride
        )


_SHARED_POOL = _BitmapPool()
"""One pool for the process: a batch of one-page PDFs reuses buffers across documents too."""


def _render_page(
    doc: pdfium.PdfDocument, page_no: int, options: RenderOptions, path: Path, pool: _BitmapPool
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
        text = None
        if options.extract_text:
            textpage = page.get_textpage()
            try:
                text = _text_in_reading_order(textpage)
            finally:
                textpage.close()
    finally:
        page.close()
    return _Rendered(image, buffer, text, (time.perf_counter() - started) * 1000)


class _RecyclingDocument:
    """An open PDF that is closed and reopened now and then; lives on the pdfium thread.

    pdfium keeps every page it has loaded parsed inside the document until the
    document is closed -- even after the page itself is closed. Measured on a
    generated text PDF: +11 KB resident per page, so a 1,000-page run ended
    11 MB above where it started, and more on pages with heavy content
    streams. Reopening drops all of it. An open costs little (1.6 ms for a
    1,000-page PDF), but a damaged file whose cross-reference table pdfium must
    rebuild can take far longer, so a reopen happens only after
    ``_RECYCLE_PAGES`` pages *and* once the pages rendered since the last open
    took at least ``1 / _RECYCLE_COST_SHARE`` times the open.

    If a reopen fails, or finds a different page count (the file was replaced
    under us), the document already open is kept and recycling stops: the run
    behaves exactly as it would have without it.
    """

    def __init__(self, path: Path, password: str | None) -> None:
        self.path = path
        self._password = password
        self._recycle = True
        self._closed = False
        self.doc, self._open_ms = self._open()
        self.page_count = len(self.doc)
        self._pages = 0
        self._render_ms = 0.0

    def _open(self) -> tuple[pdfium.PdfDocument, float]:
        started = time.perf_counter()
        doc = _open_document(self.path, self._password)
        return doc, (time.perf_counter() - started) * 1000

    def _recycle_due(self) -> bool:
        return (
            self._recycle
            and self._pages >= _RECYCLE_PAGES
            and self._open_ms * _RECYCLE_COST_SHARE <= self._render_ms
        )

    def _reopen(self) -> None:
        try:
            doc, open_ms = self._open()
        except InputError:
            self._recycle = False
            return
        if len(doc) != self.page_count:
            doc.close()
            self._recycle = False
            return
        self.doc.close()
        self.doc, self._open_ms = doc, open_ms
        self._pages, self._render_ms = 0, 0.0

    def render(self, page_no: int, options: RenderOptions, pool: _BitmapPool) -> _Rendered:
        if self._recycle_due():
            self._reopen()
        rendered = _render_page(self.doc, page_no, options, self.path, pool)
        self._pages += 1
        self._render_ms += rendered.render_ms
        return rendered

    def draw_region(
        self, page_no: int, box: tuple[int, int, int, int], options: RenderOptions
    ) -> Image.Image:
        if self._closed:  # a figure asked for after the document finished
            raise RuntimeError(f"{self.path} is closed")
        return _draw_region(self.doc, page_no, box, options)

    def close(self) -> None:
        self._closed = True
        self.doc.close()


def _draw(
    page: pdfium.PdfPage,
    scale: float,
    bitmap_maker: Callable[..., pdfium.PdfBitmap] = pdfium.PdfBitmap.new_native,
    crop: tuple[float, float, float, float] = (0, 0, 0, 0),
) -> tuple[Image.Image, _Buffer]:
    """Draw ``page`` (less ``crop``, in points from each edge) into an RGBX image.

    RGBx in Python-owned memory: Pillow stores RGB images 4 bytes a pixel, so
    only RGBX (or RGBA) can be mapped without a copy. A 3-byte RGB bitmap looks
    smaller but Pillow copies it into a 4-byte image (measured: the page then
    peaks at both buffers, 13.6 MB instead of 7.8 MB, and takes 1.5-5 ms
    longer). The buffer stays valid after the pdfium handle goes.
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
        image.save(buf, "JPEG", quality=options.jpeg_quality)
    else:
        # PNG has no RGBX; level 1 is ~2x cheaper than Pillow's default 6 for a
        # few percent more bytes (reference/perf.md).
        if image.mode == "RGBX":
            image = image.convert("RGB")
        image.save(buf, "PNG", compress_level=1)
    return buf.getvalue(), (time.perf_counter() - started) * 1000


class PageSource(abc.ABC):
    """A document the pipeline can take pages from: a PDF here, images in ``sources.py``."""

    @property
    @abc.abstractmethod
    def page_count(self) -> int:
        """Number of pages; 0 until :meth:`open` has succeeded."""

    @abc.abstractmethod
    async def open(self) -> int:
        """Validate and open; return the page count."""

    @abc.abstractmethod
    async def render(self, page_no: int) -> PageImage:
        """The 1-based page ``page_no``, encoded and ready to send."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Release the document; safe to call more than once."""

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class PdfRenderer(PageSource):
    """Owns one PDF document; every pdfium call for it goes through the pdfium thread.

    Use as ``async with PdfRenderer(path, options) as r: await r.render(1)``.
    ``render`` may be awaited concurrently (for example to render a few pages
    ahead of the requests in flight); the calls queue on the single pdfium
    thread while encoding overlaps on ordinary threads.
    """

    def __init__(
        self,
        path: Path,
        options: RenderOptions,
        *,
        password: str | None = None,
        figure_prefix: str = "",
    ) -> None:
        self.path = Path(path)
        self.options = options
        self.figure_prefix = figure_prefix
        self._password = password
        self._doc: _RecyclingDocument | None = None
        self._pool = _SHARED_POOL
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
            raise RuntimeError(f"renderer for {self.path} is closed")
        if self._doc is None:
            self._doc = await _arun_pdfium(_RecyclingDocument, self.path, self._password)
            self._page_count = self._doc.page_count
        return self._page_count

    async def render(self, page_no: int) -> PageImage:
        """Render and encode 1-based page ``page_no``."""
        if self._doc is None:
            raise RuntimeError(f"renderer for {self.path} is not open")
        if not 1 <= page_no <= self._page_count:
            raise PageRangeError(
                f"page {page_no} does not exist in {self.path} ({self._page_count} pages)"
            )
        rendered = await _arun_pdfium(self._doc.render, page_no, self.options, self._pool)
        data, encode_ms = await asyncio.to_thread(encode_image, rendered.image, self.options)
        # Only now is nothing reading the buffer (a cancelled or failed encode may
        # still be, so then the buffer is simply dropped).
        width, height = rendered.image.size
        rendered.image.close()
        self._pool.give(rendered.buffer)
        return PageImage(
            page=page_no,
            data=data,
            mime=self.options.mime,
            width=width,
            height=height,
            crop_figure=functools.partial(self._crop_figure, page_no),
            text_layer=rendered.text,
            figure_prefix=self.figure_prefix,
            render_ms=rendered.render_ms,
            encode_ms=encode_ms,
        )

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
        try:
            image = run_pdfium(doc.draw_region, page_no, box, self.options)
        except (pdfium.PdfiumError, ValueError, RuntimeError):
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
        if doc is not None:
            await _arun_pdfium(doc.close)

    def __del__(self) -> None:
        # A renderer dropped without aclose() would let pypdfium2's finalizer close
        # the document on whatever thread the garbage collector runs on; hand the
        # close to the pdfium thread instead.
        doc = getattr(self, "_doc", None)
        if doc is not None:
            # RuntimeError: the executor is already shut down at interpreter exit.
            with contextlib.suppress(RuntimeError):
                pdfium_executor().submit(doc.close)
