"""A batch of small documents: what converting them back to back costs at every document's tail.

Usage (from the repo root):
    .venv/bin/python scripts/bench_batch_overlap.py [--documents 20] [--latency 1.0] [-j 16]
        [--runs 3] [--extra-args "..."]

Writes ``--documents`` PDFs of 3, 4 and 5 pages (in turn), starts the simulated
server as a process of its own with a fixed per-page latency (``--jitter`` 0
by default), and converts the directory with the real CLI in a subprocess
(``convert DIR -o OUT -j N --no-cache --json``). Printed: wall time, pages/s,
and the server's peak requests in flight (``/_mock/stats``). The ideal is
``min(pages, j) / latency`` pages/s while pages are left; a batch converted
one document after another reaches only ``pages_per_document / latency``,
whatever ``-j`` is.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf


def _documents(root: Path, count: int) -> int:
    """``count`` PDFs of 3, 4, 5, 3, ... pages; returns the total page count."""
    root.mkdir(parents=True, exist_ok=True)
    total = 0
    for index in range(count):
        pages = 3 + index % 3
        write_benchmark_pdf(root / f"doc{index:03d}.pdf", pages, seed=index)
        total += pages
    return total


def _convert(url: str, inputs: Path, out: Path, args: argparse.Namespace) -> tuple[float, int]:
    argv = [
        sys.executable,
        "-m",
        "docling_hybrid_cli",
        "convert",
        str(inputs),
        "-o",
        str(out),
        "-j",
        str(args.concurrency),
        "--backend",
        "deepseek-vllm",
        "--base-url",
        f"{url}/v1",
        "--no-cache",
        "--json",
        *shlex.split(args.extra_args),
    ]
    env = {**os.environ, "NO_PROXY": "*"}
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"convert exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    summary = json.loads(proc.stdout)
    return wall, sum(doc["converted"] for doc in summary["documents"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--latency", type=float, default=1.0)
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("-j", "--concurrency", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--extra-args", default="", help="more convert flags, one string")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        total = _documents(inputs, args.documents)
        walls: list[float] = []
        peaks: list[int] = []
        for run in range(args.runs):
            with start_sim_server(latency_s=args.latency, jitter=args.jitter, style="plain") as sim:
                wall, converted = _convert(sim.url, inputs, Path(tmp) / f"out{run}", args)
                stats = sim.stats() or {}
            if converted != total:
                raise SystemExit(f"run {run}: {converted}/{total} pages converted")
            walls.append(wall)
            peaks.append(int(stats.get("max_in_flight", 0)))
        wall = statistics.median(walls)
        print(
            f"{args.documents} documents, {total} pages, latency {args.latency} s, "
            f"-j {args.concurrency}: wall {wall:.2f} s (runs: "
            f"{', '.join(f'{w:.2f}' for w in walls)}), {total / wall:.2f} pages/s, "
            f"server peak in flight {max(peaks)}"
        )


if __name__ == "__main__":
    main()
