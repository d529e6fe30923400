"""``max_concurrency = "auto"`` with and without ``--ray``: what one capacity-limited server sees.

Usage (from the repo root):
    .venv/bin/python scripts/bench_ray_auto.py [--seqs 8] [--latency 0.25] [--pages 240]
        [--no-metrics] [--engines local,ray]

A simulated server (its own process) decodes at most ``--seqs`` answers at
once for ``--latency`` seconds each (vLLM's ``--max-num-seqs`` on a GPU);
past that, requests queue. The real command converts one generated PDF of
``--pages`` pages with the default ``"auto"``: locally, and with ``--ray``
(a local Ray instance of 2 CPUs, the PDF split in two ranges, so two workers
send at once). Page images are small, so the client is never the bottleneck.

Printed per engine: what the server saw (peak and time-weighted median
requests in flight, the longest queue), the document's pages/s (Ray's
includes starting its workers; ``first answer`` is when the controller's
first sample arrived, from its trace) and the controller's final limit and
its first changes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from docling_hybrid_cli.bench.simprocess import start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf


def run(engine: str, pdf: Path, pages: int, args: argparse.Namespace, root: Path) -> None:
    config = root / f"{engine}.toml"
    config.write_text(f"[ray]\nsplit_pages = {(pages + 1) // 2}\nlocal_cpus = 2\n")
    env = {
        **os.environ,
        "DOCLING_HYBRID_CONVERT__MAX_SIDE": "256",
        "DOCLING_HYBRID_CONVERT__DPI": "36",
        "DOCLING_HYBRID_CONVERT__TEXT_AGREEMENT": "false",
    }
    env.pop("RAY_ADDRESS", None)
    sim_args = ["--max-num-seqs", str(args.seqs)] + (["--no-metrics"] if args.no_metrics else [])
    with start_sim_server(
        latency_s=args.latency, jitter=0.1, style="plain", extra_args=sim_args
    ) as sim:
        argv = [sys.executable, "-m", "docling_hybrid_cli", "--config", str(config), "convert"]
        argv += [str(pdf), "-o", str(root / f"{engine}.md"), "--backend", "deepseek-vllm"]
        argv += ["--base-url", f"{sim.url}/v1", "--no-cache", "--json"]
        argv += ["--ray"] if engine == "ray" else []
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        stats = sim.stats() or {}
    if done.returncode != 0:
        print(f"{engine}: exit {done.returncode}\n{done.stderr[-2000:]}")
        return
    summary: dict[str, Any] = json.loads(done.stdout)
    (document,) = summary["documents"]
    print(
        f"{engine:5}  peak in flight {stats.get('max_in_flight')}  "
        f"median {stats.get('in_flight_p50')}  longest queue {stats.get('max_waiting')}  "
        f"answers {stats.get('chat_ok')}  {document['pages_per_s']:.1f} pages/s "
        f"({document['seconds']:.1f} s; command {wall:.1f} s)"
    )
    for backend, replicas in summary["concurrency"].items():
        for replica in replicas:
            trace = replica["trace"]
            first = next((e["t"] for e in trace[1:]), None)
            steps = ", ".join(
                f"{e['t']:.2f}s {e['limit']}/{e['in_flight']} ({e['reason']})" for e in trace[:8]
            )
            print(
                f"       {backend}: limit {replica['limit']} (metrics {replica['metrics']}, "
                f"{replica['changes']} changes, first change at {first} s): {steps}"
            )
    budget = summary.get("ray", {}).get("budget", {})
    for key, figures in budget.items():
        print(f"       budget {key}: peak {figures['peak']}, granted {figures['granted']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seqs", type=int, default=8)
    parser.add_argument("--latency", type=float, default=0.25)
    parser.add_argument("--pages", type=int, default=240)
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--engines", default="local,ray")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ray-auto-") as tmp:
        root = Path(tmp)
        pdf = write_benchmark_pdf(root / "doc.pdf", args.pages)
        for engine in args.engines.split(","):
            run(engine, pdf, args.pages, args, root)


if __name__ == "__main__":
    main()
