"""The benchmark sweep: backends × concurrency levels through the real pipeline.

A run converts one PDF (generated, or the user's) with the configured
backend chain, once per concurrency level and once per backend of
``--backends``. With no server named it starts the project's simulated
OpenAI-compatible server in its own process (:mod:`.simprocess`), so the
client CPU figures are the client's alone. Everything here returns plain
data (:class:`~.report.BenchReport`); the CLI only prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

from ..backend_configs import HttpBackendConfig
from ..backends.base import server_root
from ..errors import ConfigError
from ..keyguard import public_url
from ..pipeline import DocumentResult
from ..render import count_pdf_pages
from ..samplepdf import write_benchmark_pdf, write_repeated_pdf
from ..settings import Settings, load_settings
from .measure import RunFigures, convert_once, measure_render_limit, run_result
from .prometheus import metrics_snapshot, vllm_metrics
from .quality import load_references, quality_report
from .report import BenchOptions, BenchReport, RunResult, machine
from .sidechannel import SideChannel
from .similarity import backend_similarity
from .simprocess import SimProcess, start_sim_server

__all__ = ["run_benchmark"]

_SIM_DESCRIPTION = "simulated (docling_hybrid_cli.sim, own process)"


def run_benchmark(options: BenchOptions) -> BenchReport:
    """Run the sweep (backends × concurrency levels) and return the report."""
    started = time.perf_counter()
    settings = load_settings(config_file=options.config_file).settings
    backends = options.backends = options.backends or [settings.backends.default]
    for name in backends:
        settings.backend(name)  # a one-line ConfigError for an unknown name
    if options.iterations < 1:
        raise ConfigError(f"--iterations must be at least 1, got {options.iterations}")

    with contextlib.ExitStack() as stack:
        workdir = options.workdir or Path(
            stack.enter_context(tempfile.TemporaryDirectory(prefix="docling-bench-"))
        )
        workdir.mkdir(parents=True, exist_ok=True)
        if options.input is None:
            base = write_benchmark_pdf(workdir / "generated.pdf", options.pages, seed=options.seed)
        else:
            base = options.input
        base_pages = count_pdf_pages(base)
        references = (
            load_references(base, options.reference, options.reference_dir)
            if options.quality
            else None
        )
        source = base
        if options.iterations > 1:
            source = workdir / "repeated.pdf"
            write_repeated_pdf(base, source, options.iterations)
        report = BenchReport(
            simulated=options.simulated,
            input={
                "path": str(options.input) if options.input else None,
                "generated": options.input is None,
                "pages_per_iteration": base_pages,
                "iterations": options.iterations,
                "pages": base_pages * options.iterations,
            },
            server=_server_description(options, settings),
            machine=machine(),
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        render_limit = measure_render_limit(source, settings.convert)
        last_results: dict[str, DocumentResult] = {}
        for name in backends:
            cfg = settings.backend(name)
            if name == backends[0] and options.model:
                cfg = cfg.model_copy(update={"model": options.model})
            with contextlib.ExitStack() as server_stack:
                sims: list[SimProcess] = []
                if options.simulated:
                    # --quality: a simulated model that reads the page faithfully
                    extra = ["--reference-pdf", str(base)] if options.quality else []
                    if options.max_num_seqs:
                        extra += ["--max-num-seqs", str(options.max_num_seqs)]
                    if not options.sim_metrics:
                        extra.append("--no-metrics")
                    sims = [
                        server_stack.enter_context(
                            start_sim_server(
                                latency_s=options.latency_s,
                                per_token_s=options.per_token_s,
                                jitter=options.jitter,
                                model=getattr(cfg, "model", "") or None,
                                style=options.mock_style or cfg.answer_style,
                                seed=options.seed + replica,
                                extra_args=extra,
                            )
                        )
                        for replica in range(options.replicas)
                    ]
                    for other in sims[1:]:  # one count of the benchmark's own GETs
                        other.http = sims[0].http
                for level in options.concurrency:
                    run, result = _run_level(
                        options, name, level, source, workdir, sims, render_limit
                    )
                    report.runs.append(run)
                    last_results[name] = result
        report.similarity = backend_similarity(last_results)
        if references is not None:
            pages, described = references
            report.quality = quality_report(last_results, pages, described, base_pages)
    report.seconds = time.perf_counter() - started
    return report


def _server_description(options: BenchOptions, settings: Settings) -> dict[str, Any]:
    if options.simulated:
        return {
            "kind": _SIM_DESCRIPTION,
            "latency_s": options.latency_s,
            "per_token_s": options.per_token_s,
            "jitter": options.jitter,
            "style": options.mock_style or "by backend kind",
            "replicas": options.replicas,
            "max_num_seqs": options.max_num_seqs,
            "metrics": options.sim_metrics,
        }
    first = options.backends[0]
    urls: dict[str, list[str]] = {}
    for name in options.backends:
        cfg = settings.backend(name)
        configured = list(cfg.base_urls) if isinstance(cfg, HttpBackendConfig) else []
        chosen = options.base_url if name == first and options.base_url else configured
        urls[name] = [public_url(url) for url in chosen]
    return {"kind": "real", "backends": urls}


def _settings_for(
    options: BenchOptions, backend: str, concurrency: int | str, base_url: list[str] | None
) -> Settings:
    """The run's settings: ``auto`` makes a server backend adaptive (a local one keeps its cap)."""
    overrides: dict[str, Any] = {
        "backends.fallback_chain": [backend],
        "convert.concurrency": concurrency,
    }
    configured = load_settings(config_file=options.config_file).settings.backend(backend)
    if concurrency != "auto" or configured.needs_server:
        overrides[f"backends.{backend}.max_concurrency"] = concurrency
    if base_url:
        overrides[f"backends.{backend}.base_url"] = base_url
    elif options.base_url and backend == options.backends[0]:
        overrides[f"backends.{backend}.base_url"] = options.base_url
    if options.model is not None and backend == options.backends[0]:
        overrides[f"backends.{backend}.model"] = options.model
    return load_settings(config_file=options.config_file, overrides=overrides).settings


def _run_level(
    options: BenchOptions,
    backend: str,
    concurrency: int | str,
    source: Path,
    workdir: Path,
    sims: list[SimProcess],
    render_limit: float | None,
) -> tuple[RunResult, DocumentResult]:
    settings = _settings_for(options, backend, concurrency, [s.api_root for s in sims] or None)
    sim = sims[0] if sims else None
    first = settings.chain[0]
    metrics_url = (
        f"{server_root(first.primary_url)}/metrics"
        if isinstance(first, HttpBackendConfig)
        else None
    )
    http = sim.http if sim is not None else SideChannel()
    for each in sims:  # each run's figures are its own
        each.reset_stats()
    before_stats = _sim_stats(sims)
    side_requests = http.requests
    before_metrics = metrics_snapshot(http, metrics_url) if metrics_url else None
    output = workdir / f"{backend}-c{concurrency}.md"
    result, wall, cpu, gauges, trace = asyncio.run(
        convert_once(settings, source, output, simulated=sim is not None, http=http)
    )
    after_metrics = metrics_snapshot(http, metrics_url) if metrics_url else None
    after_stats = _sim_stats(sims)
    if after_stats is not None:  # the benchmark's own GETs are not the client's connections
        after_stats["connections_opened"] -= http.requests - side_requests
    seen = RunFigures(
        wall=wall,
        cpu=cpu,
        simulated_latency=_simulated_latency(options, result) if sim is not None else None,
        metrics=vllm_metrics(before_metrics, after_metrics, gauges),
        sim_stats=(before_stats, after_stats),
        render_limit=render_limit,
        concurrency_trace=trace,
        capacity=options.max_num_seqs * len(sims) if sims and options.max_num_seqs else None,
    )
    return run_result(backend, concurrency, result, seen), result


def _simulated_latency(options: BenchOptions, result: DocumentResult) -> float:
    """The mean server time the simulated server's latency model gives these pages."""
    converted = result.converted
    tokens = result.completion_tokens / len(converted) if converted else 0.0
    return options.latency_s + options.per_token_s * tokens


def _sim_stats(sims: list[SimProcess]) -> dict[str, Any] | None:
    """The simulated servers' counters, summed over replicas (None without a server)."""
    if not sims:
        return None
    total: dict[str, Any] = {
        "connections_opened": 0,
        "max_in_flight": 0,
        "in_flight_p50": 0,
        "max_waiting": 0,
    }
    p95 = 0.0
    for sim in sims:
        stats = sim.stats() or {}
        for key in total:
            value = stats.get(key, 0)
            total[key] += value if isinstance(value, int) else 0
        value = stats.get("latency_p95_s", 0.0)
        p95 = max(p95, float(value) if isinstance(value, int | float) else 0.0)
    total["latency_p95_s"] = p95
    return total
