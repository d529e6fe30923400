"""What reading a PDF through one descriptor costs: pdfium by path vs through InputFile.

Usage (from the repo root):
    .venv/bin/python scripts/bench_input_read.py [--repeat N] [--workdir DIR]

Makes two PDFs in the work dir (200 small text pages; 12 pages each holding a
2500x2500 noise JPEG, ~88 MB), then for each: opens it, renders every page at
144 dpi and closes it, N times, three ways -- pdfium opening the path itself
(how the tool read files before), pdfium reading an ``InputFile.reader()``
(``preadv`` straight into pdfium's buffer; how it reads them now), and a reader
that copies each block through a bytes object into pdfium's ctypes array by
slice assignment (the obvious way, shown for scale). Then it times the streamed
SHA-256 of each file. Medians are printed.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
from fpdf import FPDF
from PIL import Image

from docling_hybrid_cli.inputfile import InputFile, PositionalReader
from docling_hybrid_cli.samplepdf import SamplePage, write_pdf


class _CopyingReader(PositionalReader):
    """``pread`` into a new bytes object, then ``buffer[:n] = data`` into pdfium's ctypes array.

    The obvious way, and a slow one: slice assignment to a ctypes array goes
    element by element.
    """

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self._file._fd, len(buffer), self.tell())
        buffer[: len(data)] = data
        self.seek(len(data), os.SEEK_CUR)
        return len(data)


def _make_inputs(workdir: Path) -> list[Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    text = workdir / "text-200.pdf"
    if not text.exists():
        pages = [SamplePage(f"Page {n}", size=(300 + n, 400)) for n in range(1, 201)]
        write_pdf(text, pages)
    images = workdir / "images-12.pdf"
    if not images.exists():
        pdf = FPDF()
        for n in range(12):
            jpeg = workdir / f"noise-{n}.jpg"
            Image.frombytes("RGB", (2500, 2500), os.urandom(2500 * 2500 * 3)).save(jpeg, quality=95)
            pdf.add_page()
            pdf.image(str(jpeg), x=0, y=0, w=210)
            jpeg.unlink()
        pdf.output(str(images))
    return [text, images]


def _render_all(source: Any) -> None:
    doc = pdfium.PdfDocument(source)
    try:
        for index in range(len(doc)):
            page = doc[index]
            page.render(scale=2).close()
            page.close()
    finally:
        doc.close()


def _render_from(file: InputFile, reader: type[PositionalReader]) -> None:
    _render_all(reader(file))


def _median_ms(run: Callable[[], Any], repeat: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-input-read"))
    args = parser.parse_args()
    for path in _make_inputs(args.workdir):
        with InputFile.open(path) as file:
            read = functools.partial(_render_from, file)
            ways: dict[str, Callable[[], Any]] = {
                "pdfium opens the path": functools.partial(_render_all, path),
                "InputFile.reader (preadv)": functools.partial(read, PositionalReader),
                "ctypes slice copy (pread)": functools.partial(read, _CopyingReader),
            }
            size = path.stat().st_size / 1e6
            for label, run in ways.items():
                ms = _median_ms(run, args.repeat)
                print(f"{path.name:14} {size:6.1f} MB  {label:30} {ms:8.1f} ms open+render+close")
            ms = _median_ms(file.sha256, args.repeat)
            print(f"{path.name:14} {size:6.1f} MB  {'streamed SHA-256':30} {ms:8.1f} ms")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
