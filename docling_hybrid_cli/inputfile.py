"""What an input file is, told from its first bytes: the one place input files are checked.

Every way a document comes in -- ``convert`` (PDFs and page images),
``benchmark --input`` and ``check-server --probe-pdf`` (PDFs only) -- is checked
here before any parser sees it, so a missing file, a directory, an empty
download or an HTML error page saved as ``.pdf`` fails with one line naming
the file and what is wrong, instead of a parser's error. The name does not
count: a ``.pdf`` that is really a PNG is a PNG.

A document being converted is opened once, as an :class:`InputFile`: its
checks, its content hash (the page cache's key) and every read pdfium or
Pillow makes go through that one file descriptor. The hash therefore
describes the very bytes that are rendered: replacing the file under its
name while a run goes on cannot make one file's pages be cached under
another file's hash.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from .errors import InputError, InputNotFound, NotAPdf

__all__ = ["HEADER_WINDOW", "DocumentKind", "InputFile", "check_pdf", "sniff"]

DocumentKind = Literal["pdf", "png", "jpeg", "tiff"]

HEADER_WINDOW = 1024
"""The PDF spec lets ``%PDF-`` appear anywhere in the first 1024 bytes (pdfium agrees)."""

_HASH_CHUNK = 1 << 20
_PDF_MAGIC = b"%PDF-"
_IMAGE_MAGIC: dict[bytes, DocumentKind] = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpeg",
    b"II*\x00": "tiff",
    b"MM\x00*": "tiff",
}


def sniff(path: Path) -> DocumentKind:
    """``"pdf"``, ``"png"``, ``"jpeg"`` or ``"tiff"``; input errors otherwise."""
    with InputFile.open(path) as file:
        return file.kind()


def check_pdf(path: Path) -> None:
    """Raise the input error that says why ``path`` is not a PDF file, if it is not."""
    InputFile.open_pdf(path).close()


class InputFile:
    """One input document, open once: checked, hashed and read through one descriptor.

    Reads are positional (``pread``), so any number of :meth:`reader` views
    -- pdfium's, a Pillow decode on a worker thread -- share the descriptor
    without sharing a file offset. :meth:`close` waits for a read in progress
    and makes later reads fail, so a closed descriptor number that the OS
    hands out again is never read by mistake.
    """

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self.size = size
        self._fd = fd
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    def open(cls, path: Path, *, pdf_only: bool = False) -> InputFile:
        """Open ``path`` for reading; input errors for anything but a readable, non-empty file.

        ``pdf_only`` words the refusal of something that is not a regular file
        for a caller that takes only PDFs (a directory is then "not a PDF file").
        ``O_NONBLOCK``: opening a named pipe must not wait for a writer.
        """
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            raise InputNotFound(f"{path} does not exist") from None
        except OSError as exc:
            raise InputError(f"{path} cannot be read: {exc.strerror or exc}") from exc
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                if not pdf_only:
                    raise InputNotFound(f"{path} is not a file")
                if stat.S_ISDIR(info.st_mode):
                    raise InputNotFound(f"{path} is a directory, not a PDF file")
                raise InputNotFound(f"{path} is not a regular file")
            if info.st_size == 0:
                raise NotAPdf(f"{path} is empty")
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, info.st_size)

    @classmethod
    def open_pdf(cls, path: Path) -> InputFile:
        """Open ``path`` and check that it is a PDF (input errors otherwise)."""
        file = cls.open(path, pdf_only=True)
        try:
            file.check_pdf()
        except BaseException:
            file.close()
            raise
        return file

    def head(self) -> bytes:
        """The first :data:`HEADER_WINDOW` bytes."""
        buffer = bytearray(min(HEADER_WINDOW, self.size))
        read = self._read_into(buffer, 0)
        return bytes(buffer[:read])

    def kind(self) -> DocumentKind:
        """What the file is, from its first bytes."""
        head = self.head()
        if _PDF_MAGIC in head:
            return "pdf"
        for magic, kind in _IMAGE_MAGIC.items():
            if head.startswith(magic):
                return kind
        raise NotAPdf(f"{self.path} is neither a PDF nor a PNG, JPEG or TIFF image")

    def check_pdf(self) -> None:
        if _PDF_MAGIC not in self.head():
            raise NotAPdf(f"{self.path} is not a PDF (no %PDF- header in its first 1024 bytes)")

    def sha256(self) -> str:
        """The document's identity -- its bytes, not its name -- streamed 1 MiB at a time."""
        digest = hashlib.sha256()
        buffer = bytearray(_HASH_CHUNK)
        view = memoryview(buffer)
        position = 0
        while position < self.size:
            read = self._read_into(view, position)
            if read == 0:
                break  # the file shrank under us: hash what is there
            digest.update(view[:read])
            position += read
        return digest.hexdigest()

    def reader(self) -> PositionalReader:
        """A fresh, independent, seekable view of the file (for pdfium or Pillow)."""
        return PositionalReader(self)

    def _read_into(self, buffer: memoryview | bytearray, position: int) -> int:
        """Fill ``buffer`` from ``position``; the count read. Input errors if the read fails."""
        with self._lock:
            if self._closed:
                raise InputError(f"{self.path} was closed while it was being read")
            try:
                return _pread_into(self._fd, buffer, position)
            except OSError as exc:
                raise InputError(f"{self.path} cannot be read: {exc.strerror or exc}") from None

    def close(self) -> None:
        """Close the descriptor; safe to call more than once, from any thread."""
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _pread_into(fd: int, buffer: memoryview | bytearray, position: int) -> int:
    """``preadv`` straight into ``buffer``: no intermediate bytes object to copy.

    Where the OS lacks ``preadv`` (macOS before 11), ``pread`` plus one copy.
    """
    if hasattr(os, "preadv"):
        return os.preadv(fd, [buffer], position)
    data = os.pread(fd, len(buffer), position)
    memoryview(buffer).cast("B")[: len(data)] = data
    return len(data)


class PositionalReader(io.RawIOBase):
    """A read-only, seekable file object over an :class:`InputFile`, with its own position.

    pypdfium2 reads a stream through a callback that seeks, then calls
    ``readinto`` on pdfium's own buffer
    (https://github.com/pypdfium2-team/pypdfium2/blob/main/src/pypdfium2/internal/utils.py);
    a failed read must not raise inside that callback (it would only be
    printed), so here it reads as end of file and pdfium reports the document
    as damaged.
    """

    def __init__(self, file: InputFile) -> None:
        super().__init__()
        self._file = file
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._file.size}
        if whence not in base:
            raise ValueError(f"invalid whence {whence}")
        position = base[whence] + offset
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self._position >= self._file.size:
            return 0
        view = memoryview(buffer).cast("B")
        view = view[: self._file.size - self._position]
        try:
            read = self._file._read_into(view, self._position)
        except InputError:
            return 0
        self._position += read
        return read
