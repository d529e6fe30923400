"""Opening PDFs with pdfium: precise errors, and documents kept lean over long runs.

Everything here calls pypdfium2, so it runs on the pdfium thread
(:mod:`docling_hybrid_cli.pdfium_thread`); callers hand these functions to
``run_pdfium``/``arun_pdfium``. The file itself is checked before
(:mod:`docling_hybrid_cli.inputfile`): what is left to report here is what only
pdfium can tell -- a password, an unsupported encryption, a damaged file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from .errors import CorruptPdf, EncryptedPdf, InputError, PasswordRequired
from .inputfile import InputFile

__all__ = [
    "Recycling",
    "RecyclingDocument",
    "close_with_file",
    "count_pages",
    "is_encrypted",
    "open_document",
    "page_size",
]

_T = TypeVar("_T")


def _reset_last_error() -> None:
    """Make FPDF_GetLastError meaningful for the next load.

    pdfium only sets its last-error value on *some* failures (an empty page tree
    fails without setting it) and never clears it on success, so a stale code --
    say "password" from an earlier document -- would be reported for the wrong
    file. Loading an empty path is a cheap, side-effect-free failure that sets it
    to FPDF_ERR_FILE, which a file that passed the input checks cannot cause.
    """
    pdfium_c.FPDF_LoadDocument(b"\0", None)


def open_document(file: InputFile, password: str | None) -> pdfium.PdfDocument:
    """Open the (already checked) PDF ``file``, mapping pdfium's failures to input errors.

    pdfium reads through a :meth:`InputFile.reader`, never by path, so it sees
    exactly the bytes the page cache hashed.
    """
    path = file.path
    _reset_last_error()
    try:
        doc = pdfium.PdfDocument(file.reader(), password=password)
    except pdfium.PdfiumError as exc:
        if exc.err_code == pdfium_c.FPDF_ERR_PASSWORD:
            message = f"wrong password for {path}" if password else f"{path} needs a password"
            raise PasswordRequired(message) from exc
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


def is_encrypted(doc: pdfium.PdfDocument) -> bool:
    """Whether the PDF has a security handler (it may still open without a password)."""
    return int(pdfium_c.FPDF_GetSecurityHandlerRevision(doc.raw)) >= 0


def count_pages(path: Path, password: str | None) -> int:
    """Open the PDF, count its pages, close it."""
    with InputFile.open(path, pdf_only=True) as file:
        doc = open_document(file, password)
        try:
            return len(doc)
        finally:
            doc.close()


@dataclass(frozen=True, slots=True)
class Recycling:
    """When a :class:`RecyclingDocument` is closed and reopened.

    After ``pages`` pages, and only once the pages rendered since the last open
    took at least ``cost_share`` times as long as that open: with the default
    50 a reopen adds at most 2 % to the render time.
    """

    pages: int = 64
    cost_share: float = 50


class RecyclingDocument:
    """An open PDF that is closed and reopened now and then.

    pdfium keeps every page it has loaded parsed inside the document until the
    document is closed -- even after the page itself is closed -- so resident
    memory grows with every page rendered, more on pages with heavy content
    streams (docs/PERFORMANCE.md, target 3). Reopening drops all of it. An open
    costs little, but a damaged file whose cross-reference table pdfium must
    rebuild can take far longer, hence the cost condition of :class:`Recycling`.

    If a reopen fails, or finds a different page count, the document already
    open is kept and recycling stops: the run behaves exactly as it would have
    without it. Every open reads the same :class:`InputFile` (one descriptor),
    so a file replaced under its name is never picked up halfway.

    ``opens`` counts the times the file was opened, failed reopens included;
    ``encrypted`` says whether the PDF has a security handler.
    """

    def __init__(
        self, file: InputFile, password: str | None, recycling: Recycling = Recycling()
    ) -> None:
        self.file = file
        self.path = file.path
        self.opens = 0
        self._password = password
        self._recycling = recycling
        self._recycle = True
        self._closed = False
        self._doc, self._open_ms = self._open()
        self.page_count = len(self._doc)
        self.encrypted = is_encrypted(self._doc)
        self._pages = 0
        self._render_ms = 0.0

    @property
    def document(self) -> pdfium.PdfDocument:
        """The document open now; using it after :meth:`close` is a ValueError."""
        if self._closed:
            raise ValueError(f"{self.path} is closed")
        return self._doc

    def run_page(self, work: Callable[[pdfium.PdfDocument], _T]) -> _T:
        """Run one page's ``work`` on the document, reopening it first when that is due."""
        document = self.document
        if self._recycle_due():
            self._reopen()
            document = self._doc
        started = time.perf_counter()
        result = work(document)
        self._pages += 1
        self._render_ms += (time.perf_counter() - started) * 1000
        return result

    def close(self) -> None:
        self._closed = True
        self._doc.close()

    def _open(self) -> tuple[pdfium.PdfDocument, float]:
        self.opens += 1
        started = time.perf_counter()
        doc = open_document(self.file, self._password)
        return doc, (time.perf_counter() - started) * 1000

    def _recycle_due(self) -> bool:
        return (
            self._recycle
            and self._pages >= self._recycling.pages
            and self._open_ms * self._recycling.cost_share <= self._render_ms
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
        self._doc.close()
        self._doc, self._open_ms = doc, open_ms
        self._pages, self._render_ms = 0, 0.0


def close_with_file(doc: RecyclingDocument | None, file: InputFile | None) -> None:
    """Close the document, then the descriptor it reads (on the pdfium thread)."""
    try:
        if doc is not None:
            doc.close()
    finally:
        if file is not None:
            file.close()


def page_size(doc: pdfium.PdfDocument, *, page_no: int, path: Path) -> tuple[float, float]:
    """The page's size in points, already swapped for /Rotate 90/270 (runs on the pdfium thread)."""
    try:
        page = doc[page_no - 1]
    except pdfium.PdfiumError as exc:
        raise CorruptPdf(f"{path}: page {page_no} cannot be loaded ({exc})") from exc
    try:
        width, height = page.get_size()
    finally:
        page.close()
    return float(width), float(height)
