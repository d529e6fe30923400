"""What a wrong image-token count costs: DeepSeek-OCR-2 pages counted as DeepSeek-OCR's.

Usage (from the repo root):
    .venv/bin/python scripts/bench_context_refit.py [--pages 200] [--latency 0.3] [--concurrency 32]

Starts the simulated vLLM (``python -m docling_hybrid_cli.sim``) serving
``deepseek-ai/DeepSeek-OCR-2`` with ``max_model_len`` 8192, which refuses a
request over the context with vLLM's 400, and converts the same generated PDF
with the real CLI three times: counted right (``vision_encoder = auto``),
counted as DeepSeek-OCR (218 tokens short a page: every request overflows
until the first 400 comes back and the page is refitted from the server's
numbers), and against a server whose ``/v1/models`` reports a smaller context
(4096). Prints wall time, pages converted and how many requests the server
refused.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from fpdf import FPDF

MODEL = "deepseek-ai/DeepSeek-OCR-2"


def make_pdf(path: Path, pages: int) -> Path:
    pdf = FPDF(unit="pt", format=(612, 792))
    pdf.set_font("helvetica", size=12)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 16, f"Page {n}. " + "The quick brown fox jumps over the lazy dog. " * 20)
    pdf.output(str(path))
    return path


def start_sim(latency: float, max_model_len: int) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "docling_hybrid_cli.sim", "--port", "0", "--model", MODEL]
    command += ["--latency", str(latency), "--max-model-len", str(max_model_len)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline().strip()
    if not line.startswith("mock server listening on "):
        process.kill()
        raise SystemExit(f"the simulated server did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1]


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/_mock/stats", timeout=10) as response:
        data: dict[str, int] = json.load(response)
    return data


def run(label: str, pdf: Path, url: str, encoder: str, concurrency: int) -> None:
    before = stats(url)["chat_requests"]
    env = {
        **os.environ,
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__VISION_ENCODER": encoder,
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__MAX_CONCURRENCY": str(concurrency),
    }
    command = [sys.executable, "-m", "docling_hybrid_cli", "convert", str(pdf), "--no-cache"]
    command += ["--backend", "deepseek-vllm", "--base-url", f"{url}/v1", "--model", MODEL]
    command += ["-j", str(concurrency), "-o", str(pdf.with_suffix(".md")), "--json"]
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    summary = json.loads(done.stdout)["documents"][0]
    requests = stats(url)["chat_requests"] - before
    refused = requests - summary["converted"]
    print(
        f"{label:34} {wall:6.2f} s  {summary['converted']}/{summary['pages']} converted  "
        f"{requests} requests, {refused} refused (exit {done.returncode})",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pdf = make_pdf(Path(tmp) / "doc.pdf", args.pages)
        for max_model_len, runs in (
            (8192, (("counted right (auto)", "auto"), ("counted as OCR-1", "deepseek-ocr"))),
            (4096, (("max_model_len 4096, counted right", "auto"),)),
        ):
            process, url = start_sim(args.latency, max_model_len)
            try:
                for label, encoder in runs:
                    run(label, pdf, url, encoder, args.concurrency)
            finally:
                process.terminate()
                process.wait(timeout=10)


if __name__ == "__main__":
    main()
