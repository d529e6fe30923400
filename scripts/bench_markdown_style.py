"""What the Markdown style costs per page, and on answers built to make it slow.

Usage (from the repo root):
    .venv/bin/python scripts/bench_markdown_style.py [--repeat 200]

The style runs once per page when the output is written (and again for each
page a re-run in another style rewrites). Measured here on the DeepSeek-shaped
test pages (tests/fixtures/deepseek): parsing the grounded answer into blocks,
then rendering the blocks in each of the four styles; then on hostile answers
of ~1 MB -- unclosed ``\\(``, stray ``$``, unmatched backticks, a table of
spans -- which must stay linear. Prints the median per page in milliseconds.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from docling_hybrid_cli.backends.deepseek_output import clean_deepseek_output
from docling_hybrid_cli.blocks import markdown_blocks
from docling_hybrid_cli.markdown_style import MarkdownStyle, render_markdown
from docling_hybrid_cli.pages import PageImage

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "deepseek"
PAGES = ["paper_table_spans", "formulas", "figures_captions", "multi_column"]
STYLES = [MarkdownStyle(t, m) for t in ("markdown", "html") for m in ("dollars", "latex")]
HOSTILE = {
    "1 MB of unclosed \\(": "\\(" * 500_000,
    "1 MB of stray $": "$a " * 333_333,
    "1 MB of unmatched backticks": "` `` " * 200_000,
    "table, 10,000 cells with spans": "<table>"
    + '<tr><td rowspan="2">a</td><td colspan="4">b</td></tr><tr><td>c</td></tr>' * 2_000
    + "</table>",
}


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    buffer = io.BytesIO()
    Image.new("RGB", (1224, 1584), "white").save(buffer, format="JPEG")
    page = PageImage(page=1, data=buffer.getvalue(), mime="image/jpeg", width=1224, height=1584)
    print(
        f"{'page':<20} {'chars':>6} {'parse ms':>9} "
        + " ".join(f"{s.tables}/{s.math}".rjust(15) for s in STYLES)
    )
    for name in PAGES:
        raw = (FIXTURES / f"{name}.txt").read_text("utf-8")
        parse = median_ms(
            lambda r=raw: clean_deepseek_output(r, page, crop_figures=False), args.repeat
        )
        blocks = clean_deepseek_output(raw, page, crop_figures=False).blocks
        renders = [
            median_ms(lambda s=s, b=blocks: render_markdown(b, s, "doc_images/"), args.repeat)
            for s in STYLES
        ]
        cells = " ".join(f"{ms:>15.3f}" for ms in renders)
        print(f"{name:<20} {len(raw):>6} {parse:>9.3f} {cells}")
    print()
    for label, text in HOSTILE.items():
        blocks = markdown_blocks(text)
        ms = median_ms(lambda b=blocks: render_markdown(b, MarkdownStyle()), 3)
        print(f"{label:<32} {len(text) / 1e6:5.2f} MB  {ms:8.1f} ms")


if __name__ == "__main__":
    main()
