"""Target 3: peak RSS converting a 1,000-page PDF vs a 10-page one (streaming must keep it flat).

Usage (from the repo root):
    .venv/bin/python scripts/bench_memory.py [--small 10] [--large 1000] [--concurrency 16]
        [--repeat 3] [--to md --to json ...]

The simulated server (latency 0) runs in its own process. Each conversion runs
in a fresh Python process through the real pipeline (``convert_document`` with
the configured chain) and reports ``ru_maxrss`` and the RSS it had after its
imports; the PDFs are generated beforehand so their creation costs nothing
here. Target: peak(large) <= 1.25 x peak(small). ``--to`` picks the outputs as
``convert --to`` does (``--to md --to json`` builds the DoclingDocument too);
the script then also prints the cost per page: (peak(large) - peak(small)) /
(large - small pages).

A peak is the highest of many short-lived overlaps of page buffers, so one
run of each size is noisy (+-8 MiB here). ``--repeat N`` runs each size N
times, alternating, and reports the ratio of the medians and the worst case
(the highest large peak over the lowest small one).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf

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
formats = sys.argv[4].split(",")
if set(formats) - {"md"}:
    import docling_core.types.doc  # noqa: imported before the baseline, as the CLI does up front
settings = load_settings(overrides={
    "convert.to": formats,
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
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--to", action="append", default=None, help="output formats (md)")
    args = parser.parse_args()
    formats = ",".join(args.to or ["md"])
    peaks: dict[int, list[float]] = {args.small: [], args.large: []}
    with tempfile.TemporaryDirectory() as tmp, start_sim_server(latency_s=0.0) as mock:
        pdfs = {n: write_benchmark_pdf(Path(tmp) / f"doc{n}.pdf", n) for n in peaks}
        for _ in range(args.repeat):
            for pages, pdf in pdfs.items():
                out = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        CHILD,
                        str(pdf),
                        mock.api_root,
                        str(args.concurrency),
                        formats,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                row = json.loads(out.stdout.strip().splitlines()[-1])
                peaks[pages].append(row["peak_mib"])
                print(f"{pages:5d} pages: {row}", flush=True)
    small, large = statistics.median(peaks[args.small]), statistics.median(peaks[args.large])
    print(
        f"peak RSS {args.large} pages / {args.small} pages (median of {args.repeat}) = "
        f"{large:.1f} / {small:.1f} MiB = {large / small:.3f} (target <= 1.25)"
    )
    per_page = (large - small) * 1024 * 1024 / (args.large - args.small)
    print(f"--to {formats}: {per_page / 1024:.1f} KiB per page above the small document's peak")
    if args.repeat > 1:
        worst = max(peaks[args.large]) / min(peaks[args.small])
        print(f"worst case (highest {args.large} / lowest {args.small}) = {worst:.3f}")


if __name__ == "__main__":
    main()
