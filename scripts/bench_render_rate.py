"""Target 1: render + encode (+ request body) pages/s per core, as the pipeline does it.

Usage (from the repo root):
    .venv/bin/python scripts/bench_render_rate.py [--pages 100] [--repeat 3] [EXTRA.pdf ...]

Renders every page through ``PdfRenderer`` at the configured settings
(144 DPI, JPEG), ``render_ahead`` pages in flight as in the pipeline, and builds
each chat-completions body. "per core" = pages ÷ CPU seconds the process used
(all threads), which is what one core sustains; "wall" is pages ÷ elapsed.
The generated PDF is dense text (the target's text pages); pass scanned PDFs
to measure those (target ≈ 25 pages/s per core). Medians over ``--repeat``.
``--text`` picks what is read of the text layer besides the image: nothing,
pdfium's plain text (the default: the quality check's reference), or the
reading-order text the text-layer backend needs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

from docling_hybrid_cli.client import build_chat_body
from docling_hybrid_cli.memory import tune_glibc_malloc
from docling_hybrid_cli.pipeline import render_options
from docling_hybrid_cli.render import PdfRenderer
from docling_hybrid_cli.samplepdf import write_benchmark_pdf
from docling_hybrid_cli.settings import load_settings

TEXT_MODES = {
    "none": {"extract_text": False, "reference_text": False},
    "reference": {"extract_text": False, "reference_text": True},
    "reading-order": {"extract_text": True, "reference_text": False},
}
"""--text: no text layer; pdfium's plain text (the quality check's reference, on by default);
the reading-order text the text-layer backend needs (the default chain has it)."""


async def one_pass(
    path: Path, ahead: int, text: str = "reference"
) -> tuple[int, float, float, float, float, float]:
    convert = load_settings().settings.convert
    options = dataclasses.replace(render_options(convert, extract_text=False), **TEXT_MODES[text])
    async with PdfRenderer(path, options) as renderer:
        pages = list(range(1, renderer.page_count + 1))
        slots = asyncio.Semaphore(ahead)
        render_ms = encode_ms = size = 0.0

        async def one(n: int) -> None:
            nonlocal render_ms, encode_ms, size
            async with slots:
                image = await renderer.render(n)
                body = build_chat_body(model="m", page=image, prompt="p", params={})
                render_ms += image.render_ms
                encode_ms += image.encode_ms
                size += len(body)

        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(n) for n in pages))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    count = len(pages)
    return count, wall, cpu, render_ms / count, encode_ms / count, size / count / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pdfs", nargs="*", type=Path)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ahead", type=int, default=4, help="renders in flight (render_ahead)")
    parser.add_argument("--text", choices=sorted(TEXT_MODES), default="reference")
    args = parser.parse_args()
    tune_glibc_malloc()  # the allocator settings the pipeline runs with
    with tempfile.TemporaryDirectory() as tmp:
        generated = write_benchmark_pdf(Path(tmp) / "text.pdf", args.pages)
        for path in [generated, *args.pdfs]:
            asyncio.run(one_pass(path, args.ahead, args.text))  # warm-up
            runs = [asyncio.run(one_pass(path, args.ahead, args.text)) for _ in range(args.repeat)]
            count = runs[0][0]
            per_core = statistics.median(r[0] / r[2] for r in runs)
            wall = statistics.median(r[0] / r[1] for r in runs)
            render = statistics.median(r[3] for r in runs)
            encode = statistics.median(r[4] for r in runs)
            body = statistics.median(r[5] for r in runs)
            name = "generated text" if path == generated else path.name
            print(
                f"{name:28} {count:4d} pages  {per_core:6.1f} pages/s per core  "
                f"{wall:6.1f} pages/s wall  render {render:5.1f} ms  encode {encode:5.1f} ms  "
                f"body {body:5.0f} KB",
                flush=True,
            )


if __name__ == "__main__":
    main()
