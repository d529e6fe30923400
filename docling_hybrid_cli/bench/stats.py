"""The benchmark's arithmetic: percentiles, latency summaries, efficiency against Little's law."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["efficiency", "latency_summary", "mean_or_none", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, like numpy's default."""
    if not values:
        return 0.0
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within [0, 100], not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """mean / p50 / p95 / p99 / max of per-page latencies, in seconds."""
    if not values:
        return {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "mean": round(sum(values) / len(values), 4),
        "p50": round(percentile(values, 50), 4),
        "p95": round(percentile(values, 95), 4),
        "p99": round(percentile(values, 99), 4),
        "max": round(max(values), 4),
    }


def efficiency(
    pages_per_s: float,
    concurrency: int,
    server_latency_s: float,
    render_limit_pages_per_s: float | None = None,
) -> tuple[float, float]:
    """(efficiency, ideal pages/s): Little's law, capped by the render limit.

    With ``concurrency`` requests always in flight and each taking
    ``server_latency_s`` on the server, a perfect client completes
    ``concurrency / server_latency_s`` pages per second, unless it cannot
    render that fast.
    """
    ideal = math.inf if server_latency_s <= 0 else concurrency / server_latency_s
    if render_limit_pages_per_s is not None and render_limit_pages_per_s > 0:
        ideal = min(ideal, render_limit_pages_per_s)
    if not math.isfinite(ideal) or ideal <= 0:
        return 0.0, 0.0
    return pages_per_s / ideal, ideal


def mean_or_none(values: Sequence[float]) -> float | None:
    """The mean rounded for a report, or None when there is nothing to average."""
    return round(sum(values) / len(values), 4) if values else None
