"""Benchmark logic: drive the real pipeline, measure it, and say how close to ideal it got.

A run converts one PDF (generated here, or the user's) through
:func:`~docling_hybrid_cli.pipeline.convert_document` with the configured
backend chain, once per concurrency level of a sweep and once per backend of
``--backends``. With no server named it starts the project's simulated
OpenAI-compatible server (:mod:`docling_hybrid_cli.mockserver`) as a
*subprocess*, so server and client never share a GIL and the client CPU
figures are the client's alone.

The headline figure is **efficiency** = achieved pages/s ÷ ideal pages/s,
where the ideal is Little's law, ``concurrency / server latency``, capped by
what the renderer alone can produce on this input (measured once, first).
The server latency is taken, in order of preference, from vLLM's
``/metrics`` (e2e latency histogram), from the simulated server's latency
model, or, last, from the latency the client observed (which flatters a slow
client; the report names the source).

Everything here returns plain data (:class:`BenchReport`); the CLI only
prints it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import difflib
import json
import math
import os
import platform
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .errors import ConfigError
from .settings import ConvertSettings

__all__ = [
    "BenchOptions",
    "BenchReport",
    "MockProcess",
    "RunResult",
    "efficiency",
    "generate_pdf",
    "latency_summary",
    "metrics_delta",
    "normalise_text",
    "parse_prometheus",
    "percentile",
    "run_benchmark",
    "similarity",
    "start_mock_server",
]

VLLM_COUNTERS = (
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
    "vllm:request_success_total",
    "vllm:e2e_request_latency_seconds_sum",
    "vllm:e2e_request_latency_seconds_count",
)
VLLM_GAUGES = ("vllm:num_requests_waiting", "vllm:num_requests_running")


# --------------------------------------------------------------------------- statistics


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


# --------------------------------------------------------------------------- Prometheus


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^}]*)\})?\s+(?P<value>\S+)"
)


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition → ``{metric name: value summed over its label sets}``.

    Enough for vLLM's counters and gauges (a benchmark wants totals, not
    per-model or per-finish-reason splits); comments and unparsable lines are
    skipped.
    """
    totals: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[match["name"]] = totals.get(match["name"], 0.0) + value
    return totals


def metrics_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Counter increases over a run for the vLLM counters both snapshots have."""
    return {
        name: round(after[name] - before[name], 6)
        for name in VLLM_COUNTERS
        if name in before and name in after
    }


# --------------------------------------------------------------------------- similarity


def normalise_text(text: str) -> str:
    """Whitespace-collapsed, so line wrapping and blank lines do not count as differences."""
    return " ".join(text.split())


def similarity(a: str, b: str) -> float:
    """Normalised edit similarity in [0, 1] of two pages' Markdown (1 = identical).

    ``difflib.SequenceMatcher.ratio`` on whitespace-normalised text: 2·M / (|a| + |b|)
    with M the matched characters; no junk heuristic, so long pages are not
    judged on a sample.
    """
    na, nb = normalise_text(a), normalise_text(b)
    if not na and not nb:
        return 1.0
    return difflib.SequenceMatcher(None, na, nb, autojunk=False).ratio()


# --------------------------------------------------------------------------- PDF


_VOCABULARY = (
    "the of and to in is that for it as with was on be by this are from at or an which "
    "have not document converter markdown table figure section vision language model server "
    "page render encode request latency throughput client pipeline backend benchmark"
)
_WORDS = tuple(_VOCABULARY.split())


def _generate_pdf_on_pdfium_thread(path: Path, pages: int, seed: int) -> None:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    rng = random.Random(seed)
    pdf = pdfium.PdfDocument.new()
    try:
        for number in range(1, pages + 1):
            page = pdf.new_page(612, 792)  # US Letter, points
            lines = [f"Benchmark page {number}"]
            lines += [" ".join(rng.choice(_WORDS) for _ in range(13)) for _ in range(46)]
            y = 740.0
            for index, line in enumerate(lines):
                size = 16.0 if index == 0 else 10.0
                obj = pdfium_c.FPDFPageObj_NewTextObj(pdf.raw, b"Helvetica", ctypes.c_float(size))
                text = ctypes.create_string_buffer((line + "\0").encode("utf-16-le"))
                pdfium_c.FPDFText_SetText(
                    obj, ctypes.cast(text, ctypes.POINTER(pdfium_c.FPDF_WCHAR))
                )
                pdfium_c.FPDFPageObj_Transform(obj, 1, 0, 0, 1, 56, y)
                pdfium_c.FPDFPage_InsertObject(page.raw, obj)
                y -= 24.0 if index == 0 else 14.0
            pdfium_c.FPDFPage_GenerateContent(page.raw)
            page.close()
        pdf.save(str(path))
    finally:
        pdf.close()


def generate_pdf(path: Path, pages: int, *, seed: int = 0) -> Path:
    """Write a ``pages``-page PDF of dense text (US Letter, Helvetica 10 pt, ~47 lines).

    Made with pypdfium2 alone, a runtime dependency, so ``benchmark`` works
    from a plain install (fpdf2 is only a test dependency). Text pages are the
    common case the render target is stated for; the content is seeded, so
    runs are comparable.
    """
    from .render import run_pdfium

    if pages < 1:
        raise ConfigError(f"--pages must be at least 1, got {pages}")
    path.parent.mkdir(parents=True, exist_ok=True)
    run_pdfium(_generate_pdf_on_pdfium_thread, path, pages, seed)
    return path


def _repeat_pdf_on_pdfium_thread(source: Path, target: Path, times: int) -> int:
    import pypdfium2 as pdfium

    src = pdfium.PdfDocument(str(source))
    out = pdfium.PdfDocument.new()
    try:
        for _ in range(times):
            out.import_pages(src)
        out.save(str(target))
        return len(out)
    finally:
        out.close()
        src.close()


def repeat_pdf(source: Path, target: Path, times: int) -> int:
    """``source``'s pages ``times`` over in one PDF; returns its page count.

    Iterations become one long document rather than ``times`` runs, so the
    pipeline reaches steady state once and the drain at the end is paid once.
    """
    from .render import run_pdfium

    return run_pdfium(_repeat_pdf_on_pdfium_thread, source, target, times)


# --------------------------------------------------------------------------- simulated server


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


_side_requests = 0
"""How many GETs :func:`http_get_text` made; each opens its own connection to the server."""


def http_get_text(url: str, timeout_s: float = 5.0) -> str | None:
    """GET ``url`` (never through a proxy); None when it is not there or not 200."""
    global _side_requests
    _side_requests += 1
    try:
        with _no_proxy_opener().open(url, timeout=timeout_s) as response:
            if response.status != 200:
                return None
            body: bytes = response.read()
            return body.decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, ValueError):
        return None


@dataclass
class MockProcess:
    """The simulated server running in its own process."""

    url: str
    process: subprocess.Popen[str]

    @property
    def api_root(self) -> str:
        return f"{self.url}/v1"

    def stats(self) -> dict[str, Any] | None:
        """The server's counters (connections opened, max in flight, ...), if it exposes them."""
        text = http_get_text(f"{self.url}/_mock/stats")
        if text is None:
            return None
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        return data if isinstance(data, dict) else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@contextlib.contextmanager
def start_mock_server(
    *,
    latency_s: float = 0.0,
    per_token_s: float = 0.0,
    jitter: float = 0.0,
    model: str | None = None,
    style: str = "deepseek",
    seed: int = 0,
    extra_args: Sequence[str] = (),
    startup_timeout_s: float = 20.0,
) -> Iterator[MockProcess]:
    """Start ``python -m docling_hybrid_cli.mockserver`` on a free loopback port.

    The URL is read from the server's ``mock server listening on URL`` line.
    """
    cmd = [
        sys.executable,
        "-m",
        "docling_hybrid_cli.mockserver",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency",
        repr(latency_s),
        "--per-token",
        repr(per_token_s),
        "--jitter",
        repr(jitter),
        "--style",
        style,
        "--seed",
        str(seed),
        *(["--model", model] if model else []),
        *extra_args,
    ]
    process = subprocess.Popen(
        cmd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=None,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    mock: MockProcess | None = None
    try:
        url = _await_listening(process, startup_timeout_s)
        mock = MockProcess(url=url, process=process)
        yield mock
    finally:
        if mock is not None:
            mock.stop()
        else:
            process.kill()
            process.wait()


def _await_listening(process: subprocess.Popen[str], timeout_s: float) -> str:
    import selectors

    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                break
            line = process.stdout.readline()
            if not line:
                break
            match = re.search(r"listening on (http://\S+)", line)
            if match:
                return match.group(1)
    raise OSError(
        f"the simulated server did not start (exit code {process.poll()}); "
        f"command: {' '.join(process.args)}"  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- report


@dataclass
class RunResult:
    """One backend at one concurrency level: every figure the report shows."""

    backend: str
    concurrency: int
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


@dataclass
class BenchReport:
    """Everything a ``benchmark`` run measured, ready for JSON."""

    simulated: bool
    input: dict[str, Any]
    server: dict[str, Any]
    runs: list[RunResult] = field(default_factory=list)
    agreement: dict[str, Any] | None = None
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
            "agreement": self.agreement,
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
    concurrency: list[int] = field(default_factory=lambda: [8, 32])
    latency_s: float = 1.0
    per_token_s: float = 0.0
    jitter: float = 0.1
    simulated: bool = True
    config_file: Path | None = None
    seed: int = 0
    workdir: Path | None = None
    base_url: str | None = None
    model: str | None = None
    mock_style: str | None = None
    """Simulated answers: "deepseek" (grounding tags and a figure to crop on every page,
    the default for DeepSeek backends) or "plain" (Markdown only)."""


def parse_concurrency(spec: str) -> list[int]:
    """``"1,8,32"`` → ``[1, 8, 32]``; a usage error names the bad part."""
    levels: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or int(part) < 1:
            raise ConfigError(f"--concurrency: {part!r} is not a positive integer")
        levels.append(int(part))
    if not levels:
        raise ConfigError("--concurrency names no level")
    return levels


def _machine() -> dict[str, Any]:
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


# --------------------------------------------------------------------------- running


class _Quiet:
    """A ConvertObserver that records nothing: the benchmark reads the DocumentResult."""

    def document_started(self, job: Any, pages: Sequence[int]) -> None:
        return None

    def page_state(self, page: int, state: str, detail: str = "") -> None:
        return None

    def page_finished(self, result: Any) -> None:
        return None

    def document_finished(self, result: Any) -> None:
        return None


class _MetricsSampler:
    """Polls ``/metrics`` during a run for the queue-depth gauges (a delta says nothing there)."""

    def __init__(self, url: str, interval_s: float = 0.5) -> None:
        self.url = url
        self.interval_s = interval_s
        self.samples: list[dict[str, float]] = []

    async def run(self) -> None:
        while True:
            text = await asyncio.to_thread(http_get_text, self.url, 2.0)
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


def _server_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


async def convert_once(
    settings: Any, source: Path, output: Path, *, simulated: bool
) -> tuple[Any, float, float, dict[str, Any] | None]:
    """One pipeline run; returns (DocumentResult, wall s, client CPU s, sampled gauges).

    Pages are checkpointed as ``convert`` does when ``[cache] enabled`` (the
    default), into a cache next to ``output``, so the run costs what a real
    conversion costs and never reuses an earlier run's pages.
    """
    from .chain import build_chain
    from .checkpoint import PageCache
    from .pipeline import DocumentJob, convert_document

    environ = dict(os.environ)
    if simulated:  # the simulated server takes any key; a backend that needs one gets one
        environ.update({c.api_key_env: "simulated" for c in settings.chain if c.api_key_env})
    chain = build_chain(settings, environ=environ)
    job = DocumentJob(source=source, output=output)
    first = settings.chain[0]
    sampler = _MetricsSampler(f"{_server_root(first.base_url)}/metrics")
    sampling = asyncio.create_task(sampler.run())
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    try:
        cache = None
        if settings.cache.enabled:
            root = output.with_name(f"{output.stem}-page-cache")
            cache = await PageCache.for_document(root, source, settings.convert, settings.chain)
        result = await convert_document(job, chain, settings.convert, _Quiet(), cache=cache)
    finally:
        wall = time.perf_counter() - wall0
        cpu = time.process_time() - cpu0
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        await chain.aclose()
    return result, wall, cpu, sampler.gauges() or None


def _settings_for(
    options: BenchOptions, backend: str, concurrency: int, base_url: str | None
) -> Any:
    from .settings import load_settings

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


def _measure(
    *,
    backend: str,
    concurrency: int,
    result: Any,
    wall: float,
    cpu: float,
    simulated_latency: float | None,
    metrics: dict[str, Any] | None,
    mock_stats: tuple[dict[str, Any] | None, dict[str, Any] | None],
    render_limit: float | None,
) -> RunResult:
    pages = len(result.pages)
    converted = result.converted
    latencies = [p.latency_s for p in converted]
    tokens = result.completion_tokens
    render_ms = result.render_ms / pages if pages else 0.0
    encode_ms = result.encode_ms / pages if pages else 0.0
    pages_per_s = len(converted) / wall if wall > 0 else 0.0

    if metrics and metrics.get("e2e_latency_mean_s"):
        server_latency, source = (
            float(metrics["e2e_latency_mean_s"]),
            "server /metrics e2e latency (vLLM histogram)",
        )
    elif simulated_latency is not None:
        server_latency, source = simulated_latency, "simulated server latency model"
    else:
        server_latency = sum(latencies) / len(latencies) if latencies else 0.0
        source = "client-observed mean latency"
    eff, ideal = efficiency(pages_per_s, concurrency, server_latency, render_limit)

    before, after = mock_stats
    connections = in_flight = None
    if before is not None and after is not None:
        connections = int(after.get("connections_opened", 0)) - int(
            before.get("connections_opened", 0)
        )
        in_flight = int(after.get("max_in_flight", 0))
    errors = sorted({e.error for p in result.failed for e in p.errors})[:5]
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
        render_ms_per_page=round(render_ms, 2),
        encode_ms_per_page=round(encode_ms, 2),
        kb_per_page=round(result.image_bytes / 1024 / pages, 1) if pages else 0.0,
        retries=sum(max(0, p.attempts - 1) for p in result.pages),
        client_cpu_s=round(cpu, 3),
        client_cpu_s_per_page=round(cpu / pages, 5) if pages else 0.0,
        peak_rss_mib=round(peak_rss_mib(), 1),
        server_latency_s=round(server_latency, 4),
        server_latency_source=source,
        render_limit_pages_per_s=round(render_limit, 1) if render_limit else None,
        ideal_pages_per_s=round(ideal, 3),
        efficiency=round(eff, 4),
        connections_opened=connections,
        server_max_in_flight=in_flight,
        vllm_metrics=metrics,
        errors=errors,
    )


def _vllm_metrics(
    before: dict[str, float] | None, after: dict[str, float] | None, gauges: dict[str, Any] | None
) -> dict[str, Any] | None:
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


def _metrics_snapshot(base_url: str) -> dict[str, float] | None:
    text = http_get_text(f"{_server_root(base_url)}/metrics")
    return parse_prometheus(text) if text is not None else None


async def _render_rate(source: Path, convert: ConvertSettings, max_pages: int) -> float:
    from .memory import pin_mmap_threshold
    from .pipeline import render_options
    from .sources import open_source

    pin_mmap_threshold()  # the allocator settings the pipeline runs with
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


def _run_level(
    options: BenchOptions,
    backend: str,
    concurrency: int,
    source: Path,
    workdir: Path,
    mock: MockProcess | None,
    render_limit: float | None,
) -> tuple[RunResult, Any]:
    base_url = mock.api_root if mock is not None else None
    settings = _settings_for(options, backend, concurrency, base_url)
    cfg = settings.chain[0]
    before_stats = mock.stats() if mock is not None else None
    side_requests = _side_requests
    before_metrics = _metrics_snapshot(cfg.base_url)
    output = workdir / f"{backend}-c{concurrency}.md"
    result, wall, cpu, gauges = asyncio.run(
        convert_once(settings, source, output, simulated=mock is not None)
    )
    after_metrics = _metrics_snapshot(cfg.base_url)
    after_stats = mock.stats() if mock is not None else None
    if after_stats is not None:  # the benchmark's own GETs are not the client's connections
        after_stats["connections_opened"] -= _side_requests - side_requests
    run = _measure(
        backend=backend,
        concurrency=concurrency,
        result=result,
        wall=wall,
        cpu=cpu,
        simulated_latency=_simulated_latency(options, result) if mock is not None else None,
        metrics=_vllm_metrics(before_metrics, after_metrics, gauges),
        mock_stats=(before_stats, after_stats),
        render_limit=render_limit,
    )
    return run, result


def _simulated_latency(options: BenchOptions, result: Any) -> float:
    """The mean server time the simulated server's latency model gives these pages."""
    converted = result.converted
    tokens = result.completion_tokens / len(converted) if converted else 0.0
    return options.latency_s + options.per_token_s * tokens


def _agreement(results: dict[str, Any]) -> dict[str, Any] | None:
    """Per page and overall, how closely each pair of backends' Markdown agrees."""
    names = list(results)
    if len(names) < 2:
        return None
    texts = {
        name: {p.page: p.text.markdown for p in results[name].pages if p.text is not None}
        for name in names
    }
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]]
    per_page: list[dict[str, Any]] = []
    pages = sorted({page for t in texts.values() for page in t})
    all_scores: list[float] = []
    for page in pages:
        scores: dict[str, float | None] = {}
        for a, b in pairs:
            ta, tb = texts[a].get(page), texts[b].get(page)
            score = similarity(ta, tb) if ta is not None and tb is not None else None
            scores[f"{a}~{b}"] = round(score, 4) if score is not None else None
            if score is not None:
                all_scores.append(score)
        per_page.append({"page": page, "similarity": scores})
    overall = {
        f"{a}~{b}": _mean_or_none(
            [s for row in per_page if (s := row["similarity"][f"{a}~{b}"]) is not None]
        )
        for a, b in pairs
    }
    return {
        "metric": "difflib ratio on whitespace-normalised Markdown (1 = identical)",
        "backends": names,
        "mean_similarity": _mean_or_none(all_scores),
        "pairs": overall,
        "pages": per_page,
    }


def _mean_or_none(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def run_benchmark(options: BenchOptions) -> BenchReport:
    """Run the sweep (backends × concurrency levels) and return the report."""
    from .render import probe_pdf
    from .settings import load_settings

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
            base = generate_pdf(workdir / "generated.pdf", options.pages, seed=options.seed)
        else:
            base = options.input
        base_pages = probe_pdf(base)
        source = base
        if options.iterations > 1:
            source = workdir / "repeated.pdf"
            repeat_pdf(base, source, options.iterations)
        report = BenchReport(
            simulated=options.simulated,
            input={
                "path": str(options.input) if options.input else None,
                "generated": options.input is None,
                "pages_per_iteration": base_pages,
                "iterations": options.iterations,
                "pages": base_pages * options.iterations,
            },
            server=(
                {
                    "kind": "simulated (docling_hybrid_cli.mockserver, own process)",
                    "latency_s": options.latency_s,
                    "per_token_s": options.per_token_s,
                    "jitter": options.jitter,
                    "style": options.mock_style or "by backend kind",
                }
                if options.simulated
                else {
                    "kind": "real",
                    "backends": {
                        name: (
                            options.base_url
                            if name == backends[0] and options.base_url
                            else getattr(settings.backend(name), "base_url", "")
                        )
                        for name in backends
                    },
                }
            ),
            machine=_machine(),
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        render_limit = measure_render_limit(source, settings.convert)
        last_results: dict[str, Any] = {}
        for name in backends:
            cfg = settings.backend(name)
            if name == backends[0] and options.model:
                cfg = cfg.model_copy(update={"model": options.model})
            with contextlib.ExitStack() as server_stack:
                mock: MockProcess | None = None
                if options.simulated:
                    mock = server_stack.enter_context(
                        start_mock_server(
                            latency_s=options.latency_s,
                            per_token_s=options.per_token_s,
                            jitter=options.jitter,
                            model=getattr(cfg, "model", "") or None,
                            style=options.mock_style or cfg.answer_style,
                            seed=options.seed,
                        )
                    )
                for level in options.concurrency:
                    run, result = _run_level(
                        options, name, level, source, workdir, mock, render_limit
                    )
                    report.runs.append(run)
                    last_results[name] = result
        report.agreement = _agreement(last_results)
    report.seconds = time.perf_counter() - started
    return report
