"""What an input file is, told from its first bytes: the one place input files are checked.

Every way a document comes in -- ``convert`` (PDFs and page images),
``benchmark --input`` and ``check-server --probe-pdf`` (PDFs only) -- is checked
here before any parser sees it, so a missing file, a directory, an empty
download or an HTML error page saved as ``.pdf`` fails with one line naming
the file and what is wrong, instead of a parser's error. The name does not
count: a ``.pdf`` that is really a PNG is a PNG.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from .errors import InputError, InputNotFound, NotAPdf

__all__ = ["HEADER_WINDOW", "DocumentKind", "check_pdf", "sniff"]

DocumentKind = Literal["pdf", "png", "jpeg", "tiff"]

HEADER_WINDOW = 1024
"""The PDF spec lets ``%PDF-`` appear anywhere in the first 1024 bytes (pdfium agrees)."""

_PDF_MAGIC = b"%PDF-"
_IMAGE_MAGIC: dict[bytes, DocumentKind] = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


def sniff(path: Path) -> DocumentKind:
    """``"pdf"``, ``"png"``, ``"jpeg"`` or ``"tiff"``; input errors otherwise."""
    head = _read_head(path, pdf_only=False)
    if _PDF_MAGIC in head:
        return "pdf"
    for magic, kind in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return kind
    raise NotAPdf(f"{path} is neither a PDF nor a PNG, JPEG or TIFF image")


def check_pdf(path: Path) -> None:
    """Raise the input error that says why ``path`` is not a PDF file, if it is not."""
    head = _read_head(path, pdf_only=True)
    if _PDF_MAGIC not in head:
        raise NotAPdf(f"{path} is not a PDF (no %PDF- header in its first 1024 bytes)")


def _read_head(path: Path, *, pdf_only: bool) -> bytes:
    """The first :data:`HEADER_WINDOW` bytes of a readable, non-empty regular file.

    ``pdf_only`` words the refusal of something that is not a regular file for
    a caller that takes only PDFs (a directory is then "not a PDF file").
    """
    if not path.exists():
        raise InputNotFound(f"{path} does not exist")
    if not path.is_file():
        if not pdf_only:
            raise InputNotFound(f"{path} is not a file")
        if path.is_dir():
            raise InputNotFound(f"{path} is a directory, not a PDF file")
        raise InputNotFound(f"{path} is not a regular file")
    try:
        with path.open("rb") as handle:
            head = handle.read(HEADER_WINDOW)
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise NotAPdf(f"{path} is empty")
    return head
