"""Pixel buffers reused from page to page, so rendering does not fault in fresh memory.

A fresh page-sized buffer is a fresh ``mmap`` (memory.py keeps large blocks off
the heap so they cannot fragment it), and touching its new memory pages costs
about as much as rendering the page (docs/PERFORMANCE.md, target 2). Reusing two
buffers costs nothing and holds no more memory than two pages in flight did
anyway.
"""

from __future__ import annotations

import ctypes
import threading

import pypdfium2 as pdfium

__all__ = ["RGBX_BYTES", "SHARED_POOL", "BitmapPool", "Buffer"]

Buffer = ctypes.Array[ctypes.c_ubyte]
RGBX_BYTES = 4
"""Bytes a pixel: every page is rendered as RGBx (see ``render._draw``)."""


class BitmapPool:
    """Pixel buffers handed back after encoding, for the next pages to render into.

    A buffer is taken on the pdfium thread and given back from the event loop,
    hence the lock.
    """

    def __init__(self, keep: int = 2) -> None:
        self._keep = keep
        self._free: list[Buffer] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> Buffer:
        """The smallest free buffer of at least ``size`` bytes, else a new one."""
        with self._lock:
            fitting = [buf for buf in self._free if len(buf) >= size]
            if fitting:
                buf = min(fitting, key=len)
                self._free.remove(buf)
                return buf
        return (ctypes.c_ubyte * size)()

    def give(self, buf: Buffer) -> None:
        """Hand ``buf`` back; only the ``keep`` largest free buffers are kept."""
        with self._lock:
            self._free.append(buf)
            if len(self._free) > self._keep:
                self._free.remove(min(self._free, key=len))

    def bitmap(self, width: int, height: int, format: int, rev_byteorder: bool) -> pdfium.PdfBitmap:
        """A ``bitmap_maker`` for ``PdfPage.render`` that draws into a pooled buffer."""
        stride = width * RGBX_BYTES
        buffer = self.take(stride * height)
        return pdfium.PdfBitmap.new_native(
            width, height, format, rev_byteorder, buffer=buffer, stride=stride
        )


SHARED_POOL = BitmapPool()
"""One pool for the process: a batch of one-page PDFs reuses buffers across documents too."""
