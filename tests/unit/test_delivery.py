"""Delivery: answers per round trip, as slow start's cap reads them (a fake clock)."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.delivery import ANSWER_TIMES, Delivery, lower_quartile


def test_a_round_that_comes_back_together_counts_whole() -> None:
    delivery = Delivery()
    for i in range(16):
        delivery.answer(2.0 + i * 0.01, 2.0)
    assert delivery.per_round == 16


def test_a_full_server_counts_its_capacity_however_many_wait() -> None:
    """Capacity 10 at 1 s a page, answers evenly spread: 10 a round trip, not the 30 sent."""
    delivery = Delivery()
    for i in range(10):
        delivery.answer(1.0 + i * 0.1, 1.0)
    delivery.round_ended()
    for i in range(30):  # the queued ones take longer; the server still returns 10 a second
        delivery.answer(2.0 + i * 0.1, 1.0 + i * 0.1)
    assert delivery.per_round <= 11


def test_a_page_mix_is_scaled_to_the_mean() -> None:
    """Short and long pages: counted over a short page's time, then scaled to the mean."""
    delivery = Delivery()
    latencies = [1.0, 1.0, 1.0, 1.0, 5.0, 5.0, 5.0, 5.0]  # mean 3 s, lower quartile 1 s
    for i, latency in enumerate(latencies):
        delivery.answer(i * 0.5, latency)
    delivery.round_ended()
    delivery.per_round = 0
    for i in range(24):  # 24 in flight at a mean 3 s: 8 answers a second
        delivery.answer(10.0 + i * 0.125, latencies[i % 8])
    assert delivery.per_round == pytest.approx(24, abs=3)


def test_bounded() -> None:
    delivery = Delivery()
    for _ in range(3 * ANSWER_TIMES):
        delivery.answer(1.0, 1.0)  # all at once: the count stops at what is kept
    assert delivery.per_round == ANSWER_TIMES


@pytest.mark.parametrize(
    ("values", "expected"), [([3.0, 1.0, 2.0], 1.0), ([1.0, 2.0, 3.0, 4.0, 5.0], 1.5)]
)
def test_lower_quartile(values: list[float], expected: float) -> None:
    assert lower_quartile(values) == pytest.approx(expected)
