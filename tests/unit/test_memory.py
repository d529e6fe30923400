"""memory.tune_glibc_malloc: the glibc tuning behind flat RSS on long runs (target 3)."""

from __future__ import annotations

import platform
import sys

import pytest

from docling_hybrid_cli.memory import glibc_mallopt, set_malloc_options, tune_glibc_malloc

on_glibc = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
    reason="mallopt is glibc's",
)


def test_sets_the_threshold_and_the_arena_cap() -> None:
    """M_MMAP_THRESHOLD is pinned at 64 KiB and M_ARENA_MAX capped at 2, through mallopt."""
    calls: list[tuple[int, int]] = []

    def mallopt(param: int, value: int) -> int:
        calls.append((param, value))
        return 1

    assert set_malloc_options(mallopt) is True
    assert calls == [(-3, 64 * 1024), (-8, 2)]


def test_a_refused_threshold_is_reported() -> None:
    """mallopt returning 0 means the threshold was not set."""
    assert set_malloc_options(lambda param, value: 0) is False


def test_other_platforms_are_left_alone() -> None:
    """Off Linux there is no mallopt to call, so nothing is set."""
    assert glibc_mallopt("darwin") is None
    assert glibc_mallopt("win32") is None


@on_glibc
def test_tunes_once_on_glibc() -> None:
    """The first call sets the options; later calls return its answer without calling again."""
    assert glibc_mallopt() is not None
    tune_glibc_malloc.cache_clear()
    assert tune_glibc_malloc() is True
    assert tune_glibc_malloc() is True
    assert tune_glibc_malloc.cache_info().misses == 1
