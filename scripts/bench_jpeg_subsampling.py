"""JPEG chroma subsampling: what keeping full colour resolution costs per page.

Usage (from the repo root):
    .venv/bin/python scripts/bench_jpeg_subsampling.py [--repeat 5] [PDF ...]

Renders every page of each PDF once (144 DPI, as ``convert`` does) and
encodes it at the configured quality with 4:2:0 subsampling (Pillow's
default) and with none (4:4:4), printing the median encode time and the
bytes of each. Small coloured text loses its edges under 4:2:0, because
colour is stored at half resolution; the question is what 4:4:4 costs.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from pathlib import Path

import pypdfium2 as pdfium
from PIL import Image

from docling_hybrid_cli.settings import load_settings


def pages(pdf: Path, dpi: int) -> list[Image.Image]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [
            document[i].render(scale=dpi / 72).to_pil().convert("RGB") for i in range(len(document))
        ]
    finally:
        document.close()


def encode(image: Image.Image, quality: int, subsampling: int) -> tuple[float, int]:
    started = time.perf_counter()
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, subsampling=subsampling)
    return (time.perf_counter() - started) * 1000, buf.tell()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdfs", nargs="+", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    convert = load_settings().settings.convert
    print(f"quality {convert.jpeg_quality}, {convert.dpi} DPI; median of {args.repeat}")
    print(f"{'file':32} {'4:2:0 ms':>9} {'4:4:4 ms':>9} {'4:2:0 KB':>9} {'4:4:4 KB':>9}")
    for pdf in args.pdfs:
        for n, image in enumerate(pages(pdf, convert.dpi), start=1):
            row = []
            for subsampling in (2, 0):
                runs = [
                    encode(image, convert.jpeg_quality, subsampling) for _ in range(args.repeat)
                ]
                row.append((statistics.median(t for t, _ in runs), runs[0][1] / 1024))
            (t420, b420), (t444, b444) = row
            name = f"{pdf.name}:{n}"[:32]
            print(f"{name:32} {t420:9.1f} {t444:9.1f} {b420:9.0f} {b444:9.0f}")


if __name__ == "__main__":
    main()
