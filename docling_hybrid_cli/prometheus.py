"""Prometheus text exposition, as vLLM's ``/metrics`` serves it, read into plain numbers.

Shared by the endpoint pool (the queue gauges that steer each replica's
concurrency, :mod:`~docling_hybrid_cli.server_load`) and the benchmark
(counters diffed over a run).
"""

from __future__ import annotations

import math
import re

__all__ = ["parse_prometheus"]

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)


def parse_prometheus(text: str, names: frozenset[str] | None = None) -> dict[str, float]:
    """Prometheus text exposition → ``{metric name: value summed over its label sets}``.

    Enough for vLLM's counters and gauges (totals, not per-model or
    per-finish-reason splits); comments, unparsable lines and non-finite
    values are skipped. ``names`` keeps only those metrics.
    """
    totals: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None or (names is not None and match["name"] not in names):
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        if not math.isfinite(value):
            continue
        totals[match["name"]] = totals.get(match["name"], 0.0) + value
    return totals
