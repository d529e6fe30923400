"""Time building and serialising a DoclingDocument of N DeepSeek-shaped pages (``--to json``).

Usage: ``.venv/bin/python scripts/bench_docling_json.py [PAGES] [--mem]`` (``--mem`` traces
allocations too, which slows the run several times: use it for the peak, not the timings).
"""

from __future__ import annotations

import sys
import time
import tracemalloc

from docling_hybrid_cli.blocks import Block, page_fractions
from docling_hybrid_cli.docling_document import DocPage, build_document, document_json

TABLE = (
    '<table><tr><td rowspan="2">Region</td><td colspan="2">Sales</td></tr>'
    "<tr><td>2024</td><td>2025</td></tr><tr><td>North</td><td>10</td><td>12</td></tr></table>"
)


def page() -> tuple[Block, ...]:
    def box(*grid: int) -> tuple[float, float, float, float]:
        return page_fractions((grid[0], grid[1], grid[2], grid[3]), 999)

    return (
        Block("title", "# Annual report", (box(100, 40, 900, 80),)),
        Block("sub_title", "## Results by region", (box(100, 100, 500, 130),)),
        Block("text", "Sales grew in every region. " * 20, (box(100, 140, 900, 200),)),
        Block("table_caption", "Table 1: sales", (box(530, 210, 905, 230),)),
        Block("table", TABLE, (box(530, 240, 905, 400),)),
        Block("image", "", (box(100, 420, 500, 700),)),
        Block("image_caption", "Figure 1: the map", (box(100, 705, 500, 730),)),
        Block("equation", "\\[ E = mc^2 \\]", (box(100, 760, 500, 800),)),
    )


def main() -> None:
    pages = int(next((a for a in sys.argv[1:] if a.isdigit()), "1000"))
    trace = "--mem" in sys.argv
    if trace:
        tracemalloc.start()
    blocks = page()
    started = time.perf_counter()
    doc = build_document("bench", [DocPage(n, 612, 792, blocks) for n in range(1, pages + 1)])
    built = time.perf_counter() - started
    text = document_json(doc)
    total = time.perf_counter() - started
    line = (
        f"{pages} pages: build {built:.2f} s, build + JSON {total:.2f} s, "
        f"JSON {len(text.encode()) / 1e6:.1f} MB"
    )
    if trace:
        line += f", peak traced {tracemalloc.get_traced_memory()[1] / 1e6:.0f} MB"
    print(line)


if __name__ == "__main__":
    main()
