"""What blank-page detection costs the renderer, on text pages and on blank ones.

Usage (from the repo root):
    .venv/bin/python scripts/bench_blank_pages.py [--pages 100] [--repeat 3]

Generates three Letter PDFs -- dense text, empty pages, and "scans" of blank
paper (an image of +-3 levels of grain, no text layer) -- and renders every
page as the pipeline does (144 dpi JPEG, four renders in flight), once with
``convert.skip_blank_pages`` off and once on. Prints pages/s per core (pages
over the process's CPU seconds) and how many pages were found blank.
Medians over ``--repeat``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path

from fpdf import FPDF
from PIL import Image

from docling_hybrid_cli.memory import tune_glibc_malloc
from docling_hybrid_cli.render import PdfRenderer, RenderOptions
from docling_hybrid_cli.samplepdf import write_benchmark_pdf


def empty_pdf(path: Path, pages: int) -> Path:
    pdf = FPDF(unit="pt", format="Letter")
    for _ in range(pages):
        pdf.add_page()
    pdf.output(str(path))
    return path


def grain_pdf(path: Path, pages: int) -> Path:
    """Blank paper as a scanner sees it: grey 232 +-3, no text layer."""
    rng = random.Random(3)
    size = (612 * 2, 792 * 2)
    grain = bytes(232 + (b % 7) - 3 for b in rng.randbytes(size[0] * size[1]))
    image = path.with_suffix(".png")
    Image.frombytes("L", size, grain).save(image)
    pdf = FPDF(unit="pt", format="Letter")
    for _ in range(pages):
        pdf.add_page()
        pdf.image(str(image), x=0, y=0, w=612, h=792)
    pdf.output(str(path))
    return path


async def one_pass(path: Path, options: RenderOptions, ahead: int = 4) -> tuple[int, float, int]:
    async with PdfRenderer(path, options) as renderer:
        slots = asyncio.Semaphore(ahead)
        blank = 0

        async def one(n: int) -> None:
            nonlocal blank
            async with slots:
                image = await renderer.render(n)
            blank += image.blank  # after the await: "+= await" would lose updates

        pages = range(1, renderer.page_count + 1)
        cpu = time.process_time()
        await asyncio.gather(*(one(n) for n in pages))
        return len(pages), time.process_time() - cpu, blank


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tune_glibc_malloc()
    with tempfile.TemporaryDirectory() as tmp:
        docs = {
            "dense text": write_benchmark_pdf(Path(tmp) / "text.pdf", args.pages),
            "empty pages": empty_pdf(Path(tmp) / "empty.pdf", args.pages),
            "blank scans": grain_pdf(Path(tmp) / "grain.pdf", args.pages),
        }
        for name, path in docs.items():
            for skip in (False, True):
                options = dataclasses.replace(RenderOptions(), skip_blank=skip)
                asyncio.run(one_pass(path, options))  # warm-up
                runs = [asyncio.run(one_pass(path, options)) for _ in range(args.repeat)]
                per_core = statistics.median(pages / cpu for pages, cpu, _ in runs)
                found = runs[0][2]
                print(
                    f"{name:12} skip_blank_pages={str(skip).lower():5}  "
                    f"{per_core:6.1f} pages/s per core  {found:4d}/{runs[0][0]} blank",
                    flush=True,
                )


if __name__ == "__main__":
    main()
