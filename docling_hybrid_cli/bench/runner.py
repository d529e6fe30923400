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
                sim: SimProcess | None = None
                if options.simulated:
                    sim = server_stack.enter_context(
                        start_sim_server(
                            latency_s=options.latency_s,
                            per_token_s=options.per_token_s,
                            jitter=options.jitter,
                            model=getattr(cfg, "model", "") or None,
                            style=options.mock_style or cfg.answer_style,
                            seed=options.seed,
                            # --quality: a simulated model that reads the page faithfully
                            extra_args=("--reference-pdf", str(base)) if options.quality else (),
                        )
                    )
                for level in options.concurrency:
                    run, result = _run_level(
                        options, name, level, source, workdir, sim, render_limit
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
        }
    first = options.backends[0]
    return {
        "kind": "real",
        "backends": {
            name: public_url(
                options.base_url
                if name == first and options.base_url
                else getattr(settings.backend(name), "base_url", "")
            )
            for name in options.backends
        },
    }


def _settings_for(
    options: BenchOptions, backend: str, concurrency: int, base_url: str | None
) -> Settings:
    overrides: dict[str, Any] = {
        "backends.fallback_chain": [backend],
        "convert.concurrency": concurrency,
        f"backends.{backend}.max_concurrency": concurrency,
    }
    if base_url is not None:
        overrides[f"backends.{backend}.base_url"] = base_url
    elif options.base_url is not None and backend == options.backends[0]:
        overrides[f"backends.{backend}.base_url"] = options.base_url
    if options.model is not None and backend == options.backends[0]:
        overrides[f"backends.{backend}.model"] = options.model
    return load_settings(config_file=options.config_file, overrides=overrides).settings


def _run_level(
    options: BenchOptions,
    backend: str,
    concurrency: int,
    source: Path,
    workdir: Path,
    sim: SimProcess | None,
    render_limit: float | None,
) -> tuple[RunResult, DocumentResult]:
    base_url = sim.api_root if sim is not None else None
    settings = _settings_for(options, backend, concurrency, base_url)
    first = settings.chain[0]
    metrics_url = (
        f"{server_root(first.base_url.rstrip('/'))}/metrics"
        if isinstance(first, HttpBackendConfig)
        else None
    )
    http = sim.http if sim is not None else SideChannel()
    before_stats = sim.stats() if sim is not None else None
    side_requests = http.requests
    before_metrics = metrics_snapshot(http, metrics_url) if metrics_url else None
    output = workdir / f"{backend}-c{concurrency}.md"
    result, wall, cpu, gauges = asyncio.run(
        convert_once(settings, source, output, simulated=sim is not None, http=http)
    )
    after_metrics = metrics_snapshot(http, metrics_url) if metrics_url else None
    after_stats = sim.stats() if sim is not None else None
    if after_stats is not None:  # the benchmark's own GETs are not the client's connections
        after_stats["connections_opened"] -= http.requests - side_requests
    seen = RunFigures(
        wall=wall,
        cpu=cpu,
        simulated_latency=_simulated_latency(options, result) if sim is not None else None,
        metrics=vllm_metrics(before_metrics, after_metrics, gauges),
        sim_stats=(before_stats, after_stats),
        render_limit=render_limit,
    )
    return run_result(backend, concurrency, result, seen), result


def _simulated_latency(options: BenchOptions, result: DocumentResult) -> float:
    """The mean server time the simulated server's latency model gives these pages."""
    converted = result.converted
    tokens = result.completion_tokens / len(converted) if converted else 0.0
    return options.latency_s + options.per_token_s * tokens
