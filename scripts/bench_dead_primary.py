"""Target 4: what a dead primary backend costs a whole run (the circuit breaker's job).

Usage (from the repo root):
    .venv/bin/python scripts/bench_dead_primary.py [--pages 200] [--latency 0.2] [--concurrency 16]

Converts the same generated PDF twice through the real pipeline against the
simulated server: once with the chain [the fallback] alone, once with
[deepseek-vllm → an openai-compatible fallback] where deepseek-vllm points at a port
that refuses connections. The difference in wall time is what the dead
primary cost. Target: < 1 s for the whole run.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import tempfile
from pathlib import Path

from docling_hybrid_cli.bench import convert_once, start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf
from docling_hybrid_cli.settings import load_settings

FALLBACK = "bench-fallback"
"""An openai-compatible backend made for this run (OpenRouter's free-tier pacing would dominate)."""
MODEL = "deepseek-ai/DeepSeek-OCR"


def refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # bound then released: connections are refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = write_benchmark_pdf(Path(tmp) / "doc.pdf", args.pages)
        with start_sim_server(latency_s=args.latency, model=MODEL, style="plain") as mock:
            walls = {}
            for label, chain in (
                ("fallback alone", [FALLBACK]),
                ("dead primary + fallback", ["deepseek-vllm", FALLBACK]),
            ):
                overrides = {
                    "backends.fallback_chain": chain,
                    "backends.deepseek-vllm.base_url": refused_url(),
                    f"backends.{FALLBACK}.base_url": mock.api_root,
                    f"backends.{FALLBACK}.kind": "openai-compatible",
                    f"backends.{FALLBACK}.model": MODEL,
                    f"backends.{FALLBACK}.max_concurrency": args.concurrency,
                    "backends.deepseek-vllm.max_concurrency": args.concurrency,
                    "convert.concurrency": args.concurrency,
                }
                settings = load_settings(overrides=overrides).settings
                result, wall, _cpu, _ = asyncio.run(
                    convert_once(settings, pdf, Path(tmp) / "out.md", simulated=True)
                )
                by = result.by_backend
                walls[label] = wall
                print(
                    f"{label:24} {wall:7.2f} s  {len(result.converted)}/{len(result.pages)} "
                    f"converted {by}, {len(result.failed)} failed",
                    flush=True,
                )
    cost = walls["dead primary + fallback"] - walls["fallback alone"]
    print(f"dead primary cost for {args.pages} pages: {cost:+.2f} s (target < 1 s)")


if __name__ == "__main__":
    main()
