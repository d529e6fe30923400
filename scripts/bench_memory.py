"""Target 3: peak RSS converting a 1,000-page PDF vs a 10-page one (streaming must keep it flat).

Usage (from the repo root):
    .venv/bin/python scripts/bench_memory.py [--small 10] [--large 1000] [--concurrency 16]

The simulated server (latency 0) runs in its own process. Each conversion runs
in a fresh Python process through the real pipeline (``convert_document`` with
the configured chain) and reports ``ru_maxrss`` and the RSS it had after its
imports; the PDFs are generated beforehand so their creation costs nothing
here. Target: peak(large) <= 1.25 x peak(small).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from docling_hybrid_cli.bench import generate_pdf, start_mock_server

CHILD = r"""
import asyncio, json, resource, sys, time
from pathlib import Path

def rss_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

from docling_hybrid_cli.bench import convert_once
from docling_hybrid_cli.settings import load_settings
import docling_hybrid_cli.chain, docling_hybrid_cli.pipeline, docling_hybrid_cli.render  # noqa
import docling_hybrid_cli.transport, aiohttp, PIL.Image, pypdfium2  # noqa

pdf, url, concurrency = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
settings = load_settings(overrides={
    "backends.fallback_chain": ["deepseek-vllm"],
    "backends.deepseek-vllm.base_url": url,
    "backends.deepseek-vllm.max_concurrency": concurrency,
    "convert.concurrency": concurrency,
}).settings
baseline = rss_mib()
started = time.perf_counter()
result, wall, cpu, _ = asyncio.run(
    convert_once(settings, pdf, pdf.with_suffix(".md"), simulated=True)
)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({
    "pages": len(result.pages), "failed": len(result.failed), "wall_s": round(wall, 2),
    "baseline_mib": round(baseline, 1), "peak_mib": round(peak, 1),
    "peak_above_baseline_mib": round(peak - baseline, 1),
}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10)
    parser.add_argument("--large", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp, start_mock_server(latency_s=0.0) as mock:
        for pages in (args.small, args.large):
            pdf = generate_pdf(Path(tmp) / f"doc{pages}.pdf", pages)
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(pdf), mock.api_root, str(args.concurrency)],
                check=True,
                capture_output=True,
                text=True,
            )
            rows[pages] = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{pages:5d} pages: {rows[pages]}", flush=True)
    small, large = rows[args.small], rows[args.large]
    ratio = large["peak_mib"] / small["peak_mib"]
    print(
        f"peak RSS {args.large} pages / {args.small} pages = {large['peak_mib']:.1f} / "
        f"{small['peak_mib']:.1f} MiB = {ratio:.3f} (target <= 1.25)"
    )


if __name__ == "__main__":
    main()
