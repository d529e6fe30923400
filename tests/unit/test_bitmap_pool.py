"""Tests for docling_hybrid_cli.bitmap_pool: pixel buffers reused between pages."""

from __future__ import annotations

from docling_hybrid_cli.bitmap_pool import BitmapPool


def test_bitmap_pool_reuses_the_smallest_fitting_buffer() -> None:
    """take() prefers a freed buffer that fits; give() keeps only the largest few."""
    pool = BitmapPool(keep=2)
    small, large = pool.take(10), pool.take(100)
    pool.give(small)
    pool.give(large)
    assert pool.take(5) is small
    assert pool.take(50) is large
    assert len(pool.take(50)) == 50  # none free: a new one
    pool.give(small)
    pool.give(large)
    pool.give(pool.take(1_000))  # three free now: the smallest is let go
    assert pool.take(10) is large
