"""``docling-hybrid-ocr benchmark``: drive the real pipeline, measure it, say how close to ideal.

The package splits the job: :mod:`.runner` runs the sweep, :mod:`.measure`
times one pipeline run, :mod:`.simprocess` starts the simulated server in its
own process, :mod:`.prometheus` reads vLLM's metrics, :mod:`.similarity`
compares backends' Markdown, :mod:`.quality` scores it against references,
:mod:`.stats` does the arithmetic and :mod:`.report` holds the plain data the
CLI prints.
"""

from __future__ import annotations

from .measure import convert_once, measure_render_limit
from .prometheus import metrics_delta, parse_prometheus
from .report import BenchOptions, BenchReport, RunResult, parse_concurrency
from .runner import run_benchmark
from .similarity import backend_similarity, normalise_text, similarity
from .simprocess import SimProcess, start_sim_server
from .stats import efficiency, latency_summary, percentile

__all__ = [
    "BenchOptions",
    "BenchReport",
    "RunResult",
    "SimProcess",
    "backend_similarity",
    "convert_once",
    "efficiency",
    "latency_summary",
    "measure_render_limit",
    "metrics_delta",
    "normalise_text",
    "parse_concurrency",
    "parse_prometheus",
    "percentile",
    "run_benchmark",
    "similarity",
    "start_sim_server",
]
