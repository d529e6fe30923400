"""Keep the heap from holding on to page-sized buffers (glibc only; a no-op elsewhere).

Every page passes through a few buffers of 0.1-8 MB (the bitmap, the JPEG, the
request body). glibc serves such sizes with ``mmap`` and returns them to the
OS on ``free`` -- until the first free, after which its *dynamic* threshold
rises and later ones come from the heap and its per-thread arenas, where
fragmentation keeps them resident, so peak RSS grew with the page count
(docs/PERFORMANCE.md, target 3). Pinning the threshold turns the dynamic
behaviour off, so resident memory follows the pages in flight, not the pages
done. It is pinned at 64 KiB, half glibc's default, because the chunks of
64-128 KiB that every page makes (Pillow's 64 KiB encoder blocks, socket reads,
pdfium scratch buffers) otherwise left free-but-resident holes in the heap; the
few extra ``mmap`` calls a page cost no measurable CPU.

The arena count is capped too: every thread that encodes a page (the pdfium
thread, asyncio's default executor) otherwise gets an arena of its own, and
each keeps its own fragments resident.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys
from collections.abc import Callable

__all__ = ["Mallopt", "glibc_mallopt", "set_malloc_options", "tune_glibc_malloc"]

Mallopt = Callable[[int, int], int]
"""glibc's ``int mallopt(int param, int value)``: nonzero on success."""

_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
_MMAP_THRESHOLD = 64 * 1024
_ARENAS = 2


def glibc_mallopt(platform: str = sys.platform) -> Mallopt | None:
    """glibc's ``mallopt`` on Linux; None elsewhere and on libcs without it (musl)."""
    if not platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt


def set_malloc_options(
    mallopt: Mallopt, threshold: int = _MMAP_THRESHOLD, arenas: int = _ARENAS
) -> bool:
    """Pin the mmap threshold and cap the arenas; True if the threshold was set."""
    pinned = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    mallopt(_M_ARENA_MAX, arenas)
    return pinned


@functools.cache
def tune_glibc_malloc() -> bool:
    """Apply :func:`set_malloc_options` once per process; True if the threshold is pinned.

    Later calls only return the first call's answer: the settings are
    process-wide, so converting many documents sets them once.
    """
    mallopt = glibc_mallopt()
    return mallopt is not None and set_malloc_options(mallopt)
