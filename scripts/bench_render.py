"""Measure render + encode throughput of docling_hybrid_cli.render on real PDFs.

Usage (from the repo root, unless the package is installed):
    PYTHONPATH=. python scripts/bench_render.py FILE.pdf [FILE.pdf ...] [--repeat N] [--dpi D]

For JPEG and PNG it renders every page of each file N times through
PdfRenderer, both one page at a time (latency view: render_ms and encode_ms are
the renderer's own timings) and with every page requested at once (throughput
view: encoding overlaps the next render on the pdfium thread). Figures are
medians over the repeats; the document is opened once per repeat, outside the
timed region.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from pathlib import Path

from docling_hybrid_cli.pages import PageImage
from docling_hybrid_cli.render import PdfRenderer, RenderOptions


async def _one_pass(
    path: Path, options: RenderOptions, concurrent: bool
) -> tuple[float, list[PageImage]]:
    async with PdfRenderer(path, options) as renderer:
        pages = range(1, renderer.page_count + 1)
        started = time.perf_counter()
        if concurrent:
            images = list(await asyncio.gather(*(renderer.render(n) for n in pages)))
        else:
            images = [await renderer.render(n) for n in pages]
        return time.perf_counter() - started, images


async def bench(path: Path, fmt: str, dpi: int, repeat: int) -> None:
    options = RenderOptions(dpi=dpi, image_format=fmt)  # type: ignore[arg-type]
    await _one_pass(path, options, concurrent=False)  # warm-up: imports, caches, fonts
    for concurrent in (False, True):
        walls, renders, encodes, sizes = [], [], [], []
        for _ in range(repeat):
            wall, images = await _one_pass(path, options, concurrent)
            walls.append(wall / len(images))
            renders.append(statistics.fmean(i.render_ms for i in images))
            encodes.append(statistics.fmean(i.encode_ms for i in images))
            sizes.append(statistics.fmean(len(i.data) for i in images))
        wall_ms = statistics.median(walls) * 1000
        render_ms, encode_ms = statistics.median(renders), statistics.median(encodes)
        size = f"{images[0].width}x{images[0].height}"
        mode = "all-at-once" if concurrent else "sequential "
        print(
            f"{path.name:28} {fmt:4} {mode} {len(images):3} pages {size:>9}  "
            f"{1000 / wall_ms:6.1f} pages/s  {wall_ms:6.1f} ms/page  "
            f"(render {render_ms:5.1f} ms, encode {encode_ms:5.1f} ms, "
            f"{statistics.median(sizes) / 1024:5.0f} KiB)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dpi", type=int, default=144)
    args = parser.parse_args()
    for path in args.pdfs:
        for fmt in ("jpeg", "png"):
            asyncio.run(bench(path, fmt, args.dpi, args.repeat))


if __name__ == "__main__":
    main()
