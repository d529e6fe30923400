"""Target 5: how long ``docling-hybrid-ocr --help`` takes to start (heavy imports must be lazy).

Usage (from the repo root):
    .venv/bin/python scripts/bench_startup.py [--runs 10] [--exe .venv/bin/docling-hybrid-ocr]

Runs the console script ``--runs`` times (after one warm-up that fills the OS
file cache and .pyc files) and prints min / median / max wall seconds, plus
which heavy modules ``--help`` imported (there should be none).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

HEAVY = ("httpx", "aiohttp", "pypdfium2", "PIL", "pydantic", "rich.console", "tomlkit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    default_exe = Path(sys.executable).with_name("docling-hybrid-ocr")
    parser.add_argument("--exe", type=Path, default=default_exe)
    args = parser.parse_args()
    command = [str(args.exe), "--help"]
    subprocess.run(command, check=True, capture_output=True)  # warm-up
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    probe = (
        "import sys; sys.argv=['docling-hybrid-ocr','--help']\n"
        "from docling_hybrid_cli.cli import app\n"
        "try:\n    app(prog_name='docling-hybrid-ocr')\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    stderr = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True
    ).stderr
    loaded = stderr.rsplit("HEAVY=", 1)[-1].strip()
    bare = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    print(
        f"`{' '.join(command)}` over {args.runs} runs: min {min(times):.3f} s, "
        f"median {statistics.median(times):.3f} s, max {max(times):.3f} s (target < 0.3 s)"
    )
    print(f"bare `python -c pass` on this machine: median {statistics.median(bare):.3f} s")
    print(f"heavy modules imported by --help: {loaded or 'none'}")


if __name__ == "__main__":
    main()
