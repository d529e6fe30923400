"""Keep the heap from holding on to page-sized buffers (glibc only; a no-op elsewhere).

Every page passes through a few buffers of 0.1-8 MB (the bitmap, the JPEG, the
request body). glibc serves such sizes with ``mmap`` and returns them to the
OS on ``free`` -- until the first free, after which its *dynamic* threshold
rises and later ones come from the heap and its per-thread arenas, where
fragmentation keeps them resident. On a 1,000-page run that made peak RSS
grow with the page count (docs/PERFORMANCE.md, target 3). Pinning the
threshold turns the dynamic behaviour off, so resident memory follows the
pages in flight, not the pages done. It is pinned at 64 KiB, half glibc's
default, because the chunks of 64-128 KiB that every page makes (Pillow's
64 KiB encoder blocks, socket reads, pdfium scratch buffers) otherwise left
~19 MiB of free-but-resident holes in the heap: peak RSS of a 1,000-page run
125-130 -> 109 MiB, with no measurable CPU cost (a few extra mmaps a page).

The arena count is capped too: every thread that encodes a page (the pdfium
thread, asyncio's default executor) otherwise gets an arena of its own, and
each keeps its own fragments resident (measured: peak RSS of a 1,000-page run
144 -> 127 MiB with two arenas).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

__all__ = ["pin_mmap_threshold"]

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_DEFAULT_THRESHOLD = 64 * 1024
_ARENAS = 2
_done = False


def pin_mmap_threshold(threshold: int = _DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold once per process; True if it was set."""
    global _done
    if _done:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other libcs have no mallopt
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _done = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    mallopt(_M_ARENA_MAX, _ARENAS)
    return _done
