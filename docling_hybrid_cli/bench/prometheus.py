"""vLLM's ``/metrics``: parse the text exposition, diff counters, sample queue gauges."""

from __future__ import annotations

import asyncio
from typing import Any

from ..prometheus import parse_prometheus
from .sidechannel import SideChannel

__all__ = [
    "VLLM_COUNTERS",
    "VLLM_GAUGES",
    "MetricsSampler",
    "metrics_delta",
    "metrics_snapshot",
    "parse_prometheus",
    "vllm_metrics",
]

VLLM_COUNTERS = (
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_sum",
    "vllm:e2e_request_latency_seconds_count",
)
VLLM_GAUGES = ("vllm:num_requests_waiting", "vllm:num_requests_running")


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counter increases over a run for the vLLM counters both snapshots have."""
    return {
        name: round(after[name] - before[name], 6)
        for name in VLLM_COUNTERS
        if name in before and name in after
    }


def metrics_snapshot(http: SideChannel, url: str) -> dict[str, float] | None:
    """The server's counters now, or None when it has no ``/metrics``."""
    text = http.get_text(url)
    return parse_prometheus(text) if text is not None else None


def vllm_metrics(
    before: dict[str, float] | None, after: dict[str, float] | None, gauges: dict[str, Any] | None
) -> dict[str, Any] | None:
    """What vLLM's counters say about one run; None when the server is not vLLM."""
    if before is None or after is None or not any(k.startswith("vllm:") for k in after):
        return None
    delta = metrics_delta(before, after)
    out: dict[str, Any] = {
        "generation_tokens": delta.get("vllm:generation_tokens_total"),
        "prompt_tokens": delta.get("vllm:prompt_tokens_total"),
        "successful_requests": delta.get("vllm:request_success_total"),
        **(gauges or {}),
    }
    count = delta.get("vllm:e2e_request_latency_seconds_count")
    total = delta.get("vllm:e2e_request_latency_seconds_sum")
    if count and total is not None:
        out["e2e_latency_mean_s"] = round(total / count, 4)
    return out


class MetricsSampler:
    """Polls ``/metrics`` during a run for the queue-depth gauges (a delta says nothing there)."""

    def __init__(self, http: SideChannel, url: str, interval_s: float = 0.5) -> None:
        self.http = http
        self.url = url
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []

    async def run(self) -> None:
        while True:
            text = await asyncio.to_thread(self.http.get_text, self.url, 2.0)
            if text is not None:
                self.samples.append(parse_prometheus(text))
            await asyncio.sleep(self.interval_s)

    def gauges(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in VLLM_GAUGES:
            values = [s[name] for s in self.samples if name in s]
            if values:
                short = name.split(":", 1)[1]
                out[f"{short}_max"] = max(values)
                out[f"{short}_mean"] = round(sum(values) / len(values), 3)
        return out
