"""What a benchmark is asked to do and what it found: plain data, ready for JSON."""

from __future__ import annotations

import os
import platform
import resource
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError

__all__ = [
    "BenchOptions",
    "BenchReport",
    "RunResult",
    "machine",
    "parse_concurrency",
    "peak_rss_mib",
]


@dataclass
class RunResult:
    """One backend at one concurrency level: every figure the report shows."""

    backend: str
    concurrency: int | str
    """The level asked for: a number, or "auto" (adaptive, ``--concurrency auto``)."""
    pages: int
    converted: int
    failed: int
    wall_s: float
    pages_per_s: float
    pages_per_min: float
    latency_s: dict[str, float]
    completion_tokens: int
    tokens_per_s: float
    render_ms_per_page: float
    encode_ms_per_page: float
    kb_per_page: float
    retries: int
    client_cpu_s: float
    client_cpu_s_per_page: float
    peak_rss_mib: float
    server_latency_s: float
    server_latency_source: str
    render_limit_pages_per_s: float | None
    ideal_pages_per_s: float
    efficiency: float
    connections_opened: int | None = None
    server_max_in_flight: int | None = None
    vllm_metrics: dict[str, Any] | None = None
    errors: list[str] = field(default_factory=list)
    replicas: list[dict[str, Any]] = field(default_factory=list)
    """Per server that answered: its URL, pages, pages/s over the run and mean latency."""
    server_in_flight_p50: int | None = None
    """Simulated server: the requests in flight it held for half its busy time (typical)."""
    server_max_waiting: int | None = None
    """Simulated server: its longest queue for a place in the decoding batch."""
    server_latency_p95_s: float | None = None
    """Simulated server: 95th percentile of arrival-to-answer time, queueing included."""
    concurrency_trace: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Adaptive runs: each replica's final limit and bounded trace of its changes."""


@dataclass
class BenchReport:
    """Everything a ``benchmark`` run measured."""

    simulated: bool
    input: dict[str, Any]
    server: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    similarity: dict[str, Any] | None = None
    """``backend_similarity``: each pair of backends' Markdown compared (not quality)."""
    quality: dict[str, Any] | None = None
    """``--quality``: each backend scored against reference Markdown or the text layer."""
    machine: dict[str, Any] = field(default_factory=dict)
    started: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "tool": "docling-hybrid-ocr benchmark",
            "version": __version__,
            "started": self.started,
            "seconds": round(self.seconds, 3),
            "machine": self.machine,
            "simulated": self.simulated,
            "input": self.input,
            "server": self.server,
            "runs": [asdict(run) for run in self.runs],
            "backend_similarity": self.similarity,
            "quality": self.quality,
        }

    @property
    def failed_pages(self) -> int:
        return sum(run.failed for run in self.runs)


@dataclass
class BenchOptions:
    """What to benchmark; the defaults are the short offline run CI does."""

    input: Path | None = None
    pages: int = 160
    iterations: int = 1
    backends: list[str] = field(default_factory=list)
    concurrency: list[int | str] = field(default_factory=lambda: [8, 32])
    latency_s: float = 1.0
    per_token_s: float = 0.0
    jitter: float = 0.1
    simulated: bool = True
    config_file: Path | None = None
    seed: int = 0
    workdir: Path | None = None
    base_url: list[str] | None = None
    """The first backend's API root; several are replicas of one pool."""
    model: str | None = None
    mock_style: str | None = None
    quality: bool = False
    """Score each backend's pages against ``reference``/``reference_dir`` or the text layer."""
    reference: Path | None = None
    reference_dir: Path | None = None
    """Simulated answers: "deepseek" (grounding tags and a figure to crop on every page,
    the default for DeepSeek backends) or "plain" (Markdown only)."""
    replicas: int = 1
    """Simulated servers behind the backend (a pool when more than one)."""
    max_num_seqs: int | None = None
    """Simulated server: answers each decodes at once (vLLM's ``--max-num-seqs``)."""
    sim_metrics: bool = True
    """Simulated server: serve vLLM's ``/metrics`` (False: 404, latency alone steers ``auto``)."""


def parse_concurrency(spec: str) -> list[int | str]:
    """``"1,8,auto"`` → ``[1, 8, "auto"]``; a usage error names the bad part."""
    levels: list[int | str] = []
    for part in spec.split(","):
        part = part.strip().lower()
        if not part:
            continue
        if part == "auto":
            levels.append(part)
            continue
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(f"--concurrency: {part!r} is not a positive integer or auto")
        levels.append(int(part))
    if not levels:
        raise ConfigError("--concurrency names no level")
    return levels


def machine() -> dict[str, Any]:
    """Where the figures were taken: they mean little without the CPU count."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }


def peak_rss_mib() -> float:
    """The process's peak resident set so far (``ru_maxrss``), in MiB."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024
