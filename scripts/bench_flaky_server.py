"""A flaky server with no other backend loses no page, and costs little time (retry deadline).

Usage (from the repo root):
    .venv/bin/python scripts/bench_flaky_server.py [--pages 200] [--latency 0.3]
        [--concurrency 32] [--fail-rate 0.2] [--faults 500,429,reset] [--runs 3]

Runs the real CLI (``docling-hybrid-ocr convert --backend deepseek-vllm --json``)
as a user would, against the simulated server in its own process, on the same
generated PDF: against a fault-free server, and against one that answers
``fail_rate`` of the chat requests with a fault drawn from ``--faults`` (by
default the mix a flaky vLLM shows: 500, 429 and a reset connection). The
two alternate, ``--runs`` times each, each run against a fresh server (run
``i`` of either kind uses fault seed ``i``), and the median conversion time counts
(the summary's ``seconds``: from the first page opened to the output
committed, without the interpreter's start-up, which would only flatter the ratio). The
target: every page converted, exit 0, and the faulty run within 1.3x the
fault-free one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf

MODEL = "deepseek-ai/DeepSeek-OCR"
TARGET_RATIO = 1.3


def convert(pdf: Path, out: Path, api_root: str, concurrency: int) -> tuple[int, float, Any]:
    """One CLI run; returns (exit code, wall seconds, the --json summary or None)."""
    env = {
        **os.environ,
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL": api_root,
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__MAX_CONCURRENCY": str(concurrency),
        "DOCLING_HYBRID_CONFIG": os.devnull,  # the shipped defaults only, not the user's file
    }
    cmd = [
        sys.executable,
        "-m",
        "docling_hybrid_cli",
        "convert",
        str(pdf),
        "-o",
        str(out),
        "--backend",
        "deepseek-vllm",
        "--concurrency",
        str(concurrency),
        "--no-cache",
        "--json",
    ]
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    try:
        summary = json.loads(proc.stdout)
    except json.JSONDecodeError:
        summary = None
        sys.stderr.write(proc.stderr[-2000:])
    return proc.returncode, wall, summary


def pages_converted(summary: Any) -> tuple[int, int]:
    """(converted, total) over every document in the --json summary."""
    docs = summary.get("documents", []) if isinstance(summary, dict) else []
    converted = sum(int(d.get("converted", 0)) for d in docs)
    total = sum(int(d.get("pages", 0)) for d in docs)
    return converted, total


def run_once(
    label: str, run: int, pdf: Path, tmp: Path, args: argparse.Namespace, fail_rate: float
) -> tuple[float, bool]:
    """One conversion against a fresh server; returns (seconds, nothing lost and exit 0)."""
    extra = ["--fail-rate", repr(fail_rate), "--faults", args.faults] if fail_rate else []
    with start_sim_server(latency_s=args.latency, model=MODEL, seed=run, extra_args=extra) as mock:
        code, wall, summary = convert(pdf, tmp / "out.md", mock.api_root, args.concurrency)
        stats = mock.stats() or {}
    converted, total = pages_converted(summary)
    ok = code == 0 and converted == total == args.pages
    seconds = float(summary["seconds"]) if isinstance(summary, dict) else wall
    print(
        f"{label:10} run {run + 1}: {seconds:6.2f} s ({wall:5.2f} s with start-up)  "
        f"exit {code}  {converted}/{total} pages  "
        f"{stats.get('chat_requests', '?')} requests  faults {stats.get('faults_injected', {})}",
        flush=True,
    )
    return seconds, ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--fail-rate", type=float, default=0.2)
    parser.add_argument("--faults", default="500,429,reset")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    clean: list[float] = []
    flaky: list[float] = []
    all_ok = True
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        pdf = write_benchmark_pdf(tmp / "doc.pdf", args.pages)
        kinds = (("fault-free", 0.0, clean), ("faulty", args.fail_rate, flaky))
        for run in range(args.runs):  # interleaved, so a busy neighbour slows both alike
            for label, rate, walls in kinds:
                seconds, ok = run_once(label, run, pdf, tmp, args, rate)
                walls.append(seconds)
                all_ok = all_ok and ok
    ratio = statistics.median(flaky) / statistics.median(clean)
    pairs = statistics.median(f / c for f, c in zip(flaky, clean, strict=True))
    verdict = "ok" if ratio <= TARGET_RATIO and all_ok else "MISSED"
    print(
        f"median fault-free {statistics.median(clean):.2f} s, with {args.fail_rate:.0%} faults "
        f"{statistics.median(flaky):.2f} s: ratio {ratio:.2f} (median of the run pairs' ratios "
        f"{pairs:.2f}; target <= {TARGET_RATIO}); every page, exit 0: "
        f"{'yes' if all_ok else 'NO'} -> {verdict}"
    )


if __name__ == "__main__":
    main()
