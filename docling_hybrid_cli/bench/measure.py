"""One measured pipeline run, and the figures the report derives from it.

The headline figure is **efficiency** = achieved pages/s ÷ ideal pages/s,
where the ideal is Little's law, ``concurrency / server latency``, capped by
what the renderer alone can produce on this input. The server latency is
taken, in order of preference, from vLLM's ``/metrics`` (e2e latency
histogram), from the simulated server's latency model, or, last, from the
latency the client observed (which flatters a slow client; the report names
the source).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..backend_configs import HttpBackendConfig
from ..backends.base import server_root
from ..chain import build_chain
from ..checkpoint import Checkpoints
from ..memory import tune_glibc_malloc
from ..pipeline import (
    DocumentJob,
    DocumentResult,
    QuietObserver,
    convert_document,
    render_options,
)
from ..settings import ConvertSettings, Settings
from ..sources import open_source
from .prometheus import MetricsSampler
from .report import RunResult, peak_rss_mib
from .sidechannel import SideChannel
from .stats import efficiency, latency_summary

__all__ = ["RunFigures", "convert_once", "measure_render_limit", "replica_figures", "run_result"]


async def convert_once(
    settings: Settings,
    source: Path,
    output: Path,
    *,
    simulated: bool,
    http: SideChannel | None = None,
) -> tuple[DocumentResult, float, float, dict[str, Any] | None, dict[str, Any]]:
    """One pipeline run: (DocumentResult, wall s, client CPU s, sampled gauges, the adaptive
    backends' concurrency traces).

    Pages are checkpointed as ``convert`` does when ``[cache] enabled`` (the
    default), into a cache next to ``output``, so the run costs what a real
    conversion costs and never reuses an earlier run's pages.
    """
    environ = dict(os.environ)
    servers = [c for c in settings.chain if isinstance(c, HttpBackendConfig)]
    if simulated:  # the simulated server takes any key; a backend that needs one gets one
        environ.update({c.api_key_env: "simulated" for c in servers if c.api_key_env})
    chain = build_chain(settings, environ=environ)
    job = DocumentJob(source=source, output=output)
    sampler: MetricsSampler | None = None
    sampling: asyncio.Task[None] | None = None
    if servers:  # vLLM's queue gauges, sampled while the run goes on
        url = f"{server_root(servers[0].primary_url)}/metrics"
        sampler = MetricsSampler(http or SideChannel(), url)
        sampling = asyncio.create_task(sampler.run())
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    try:
        checkpoints = None
        if settings.cache.enabled:
            root = output.with_name(f"{output.stem}-page-cache")
            checkpoints = Checkpoints(
                root, settings.convert, settings.chain, warn=QuietObserver().notice
            )
        result = await convert_document(
            job, chain, settings.convert, QuietObserver(), checkpoints=checkpoints
        )
    finally:
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        if sampling is not None:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        trace = chain.concurrency_report()
        await chain.aclose()
    gauges = (sampler.gauges() or None) if sampler is not None else None
    return result, wall, cpu, gauges, trace


@dataclass(frozen=True)
class RunFigures:
    """What was observed around one run, beside the pipeline's own result."""

    wall: float
    cpu: float
    simulated_latency: float | None
    metrics: dict[str, Any] | None
    sim_stats: tuple[dict[str, Any] | None, dict[str, Any] | None]
    render_limit: float | None
    concurrency_trace: dict[str, Any] | None = None
    """Adaptive backends: each replica's final limit and trace (``-j auto``)."""
    capacity: int | None = None
    """The simulated servers' decode places in all (``--capacity`` x replicas), if capped."""


def run_result(
    backend: str, concurrency: int | str, result: DocumentResult, seen: RunFigures
) -> RunResult:
    """Every figure of the report's row for one backend at one concurrency level.

    With ``"auto"`` the ideal's concurrency is the simulated servers' capacity
    when it is capped (what a perfect controller would keep in flight), else
    the limits the controllers ended at.
    """
    wall, cpu, metrics = seen.wall, seen.cpu, seen.metrics
    pages = len(result.pages)
    converted = result.converted
    latencies = [p.latency_s for p in converted]
    tokens = result.completion_tokens
    pages_per_s = len(converted) / wall if wall > 0 else 0.0

    if metrics and metrics.get("e2e_latency_mean_s"):
        server_latency = float(metrics["e2e_latency_mean_s"])
        source = "server /metrics e2e latency (vLLM histogram)"
    elif seen.simulated_latency is not None:
        server_latency, source = seen.simulated_latency, "simulated server latency model"
    else:
        server_latency = sum(latencies) / len(latencies) if latencies else 0.0
        source = "client-observed mean latency"
    level = concurrency if isinstance(concurrency, int) else _auto_level(seen)
    eff, ideal = efficiency(pages_per_s, level, server_latency, seen.render_limit)

    before, after = seen.sim_stats
    connections = in_flight = None
    if before is not None and after is not None:
        connections = int(after.get("connections_opened", 0)) - int(
            before.get("connections_opened", 0)
        )
        in_flight = int(after.get("max_in_flight", 0))
    load = after or {}
    return RunResult(
        backend=backend,
        concurrency=concurrency,
        pages=pages,
        converted=len(converted),
        failed=len(result.failed),
        wall_s=round(wall, 3),
        pages_per_s=round(pages_per_s, 3),
        pages_per_min=round(pages_per_s * 60, 1),
        latency_s=latency_summary(latencies),
        completion_tokens=tokens,
        tokens_per_s=round(tokens / wall, 1) if wall > 0 else 0.0,
        render_ms_per_page=round(result.render_ms / pages, 2) if pages else 0.0,
        encode_ms_per_page=round(result.encode_ms / pages, 2) if pages else 0.0,
        kb_per_page=round(result.image_bytes / 1024 / pages, 1) if pages else 0.0,
        retries=sum(max(0, p.attempts - 1) for p in result.pages),
        client_cpu_s=round(cpu, 3),
        client_cpu_s_per_page=round(cpu / pages, 5) if pages else 0.0,
        peak_rss_mib=round(peak_rss_mib(), 1),
        server_latency_s=round(server_latency, 4),
        server_latency_source=source,
        render_limit_pages_per_s=round(seen.render_limit, 1) if seen.render_limit else None,
        ideal_pages_per_s=round(ideal, 3),
        efficiency=round(eff, 4),
        connections_opened=connections,
        server_max_in_flight=in_flight,
        vllm_metrics=metrics,
        errors=sorted({e.error for p in result.failed for e in p.errors})[:5],
        replicas=replica_figures(result, wall),
        server_in_flight_p50=load.get("in_flight_p50"),
        server_max_waiting=load.get("max_waiting"),
        server_latency_p95_s=load.get("latency_p95_s"),
        concurrency_trace=seen.concurrency_trace or {},
    )


def _auto_level(seen: RunFigures) -> int:
    """The concurrency an adaptive run's ideal assumes (see :func:`run_result`)."""
    if seen.capacity:
        return seen.capacity
    final = [r["limit"] for reps in (seen.concurrency_trace or {}).values() for r in reps]
    return max(1, int(sum(final)))


def replica_figures(result: DocumentResult, wall: float) -> list[dict[str, Any]]:
    """Each answering server's share of the run: pages, pages/s and mean page latency."""
    latencies: dict[str, list[float]] = {}
    for page in result.converted:
        if page.text is not None and page.text.replica and not page.from_cache:
            latencies.setdefault(page.text.replica, []).append(page.latency_s)
    return [
        {
            "url": url,
            "pages": len(seen),
            "pages_per_s": round(len(seen) / wall, 3) if wall > 0 else 0.0,
            "latency_mean_s": round(sum(seen) / len(seen), 4),
        }
        for url, seen in sorted(latencies.items())
    ]


async def _render_rate(source: Path, convert: ConvertSettings, max_pages: int) -> float:
    tune_glibc_malloc()  # the allocator settings the pipeline runs with
    async with open_source(source, render_options(convert, extract_text=False)) as renderer:
        pages = range(1, min(renderer.page_count, max_pages) + 1)
        started = time.perf_counter()
        window: deque[asyncio.Task[Any]] = deque()
        for page_no in pages:  # two renders overlap, as in the pipeline
            window.append(asyncio.create_task(renderer.render(page_no)))
            if len(window) >= 2:
                await window.popleft()
        for task in window:
            await task
        elapsed = time.perf_counter() - started
    return len(pages) / elapsed if elapsed > 0 else math.inf


def measure_render_limit(source: Path, convert: ConvertSettings, max_pages: int = 64) -> float:
    """Pages/s the renderer alone reaches on this input: the cap on any ideal.

    Measured once per benchmark with nothing else running, rather than
    derived from the per-page times of a run, which both overlap (render and
    encode run concurrently) and stretch under the run's own CPU load.
    """
    return asyncio.run(_render_rate(source, convert, max_pages))
