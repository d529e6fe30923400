"""Peak client memory when the server answers with floods: bounded by the response cap.

Usage (from the repo root):
    .venv/bin/python scripts/bench_hostile_rss.py [--pages 16] [--mb 256] [--concurrency 8]

Converts the same generated PDF three times, each in a fresh child process (so
``ru_maxrss`` is that run's alone), against the simulated server in its own
process: answering normally, with an ``oversized`` answer of ``--mb`` MiB on
every request, and with the same answer gzip-encoded (a decompression bomb).
The hostile runs send every page to a healthy second backend. Prints each
run's peak RSS and wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from docling_hybrid_cli.bench import start_sim_server
from docling_hybrid_cli.samplepdf import write_benchmark_pdf

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from typer.testing import CliRunner
from docling_hybrid_cli.cli import app
config, pdf, out = sys.argv[1:4]
started = time.perf_counter()
result = CliRunner().invoke(app, ["--config", config, "convert", "--no-cache", pdf, "-o", out])
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
summary = {"exit": result.exit_code, "wall_s": round(wall, 2), "peak_rss_mib": round(peak, 1)}
print(json.dumps(summary))
"""

CONFIG = """
[backends]
default = "deepseek-vllm"
fallback_chain = ["deepseek-vllm", "backup"]
[backends.deepseek-vllm]
base_url = "{primary}"
max_concurrency = {c}
[backends.backup]
kind = "openai-compatible"
base_url = "{backup}"
model = "deepseek-ai/DeepSeek-OCR"
max_concurrency = {c}
[convert]
concurrency = {c}
[retry]
max_attempts = 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=16)
    parser.add_argument("--mb", type=float, default=256)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = write_benchmark_pdf(Path(tmp) / "doc.pdf", args.pages)
        with start_sim_server(style="plain") as backup:
            for label, fault in (
                ("normal", None),
                ("oversized", "oversized"),
                ("gzip-bomb", "gzip-bomb"),
            ):
                extra = (
                    ["--fail-rate", "1", "--faults", fault, "--hostile-mb", str(args.mb)]
                    if fault
                    else []
                )
                with start_sim_server(style="deepseek", extra_args=extra) as primary:
                    config = Path(tmp) / f"{label}.toml"
                    config.write_text(
                        CONFIG.format(
                            primary=primary.api_root, backup=backup.api_root, c=args.concurrency
                        )
                    )
                    out = Path(tmp) / f"{label}.md"
                    child = subprocess.run(
                        [sys.executable, "-c", CHILD, str(config), str(pdf), str(out)],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    line = (
                        child.stdout.strip().splitlines()[-1]
                        if child.stdout.strip()
                        else child.stderr[-500:]
                    )
                    print(f"{label:>10}: {json.loads(line) if line.startswith('{') else line}")


if __name__ == "__main__":
    main()
