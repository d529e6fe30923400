"""The one sample-PDF writer: what it writes reads back as written."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.pdfium_thread import run_pdfium
from docling_hybrid_cli.samplepdf import (
    A4_PT,
    SamplePage,
    wrap,
    write_benchmark_pdf,
    write_pdf,
    write_probe_pdf,
    write_repeated_pdf,
)


def _read(path: Path) -> list[tuple[tuple[float, float], int, str]]:
    def read() -> list[tuple[tuple[float, float], int, str]]:
        doc = pdfium.PdfDocument(str(path))
        try:
            out = []
            for page in doc:
                text = page.get_textpage().get_text_range()
                out.append((page.get_size(), page.get_rotation(), text))
            return out
        finally:
            doc.close()

    return run_pdfium(read)


def test_born_digital_page_has_its_text_layer(tmp_path: Path) -> None:
    path = write_pdf(
        tmp_path / "sub" / "a.pdf",
        [SamplePage("Title here", ["first line", "", "second line"], size=A4_PT)],
    )
    [(size, rotation, text)] = _read(path)
    assert size == A4_PT and rotation == 0
    assert text.split() == ["Title", "here", "first", "line", "second", "line"]


def test_scan_page_has_no_text_layer(tmp_path: Path) -> None:
    [(_, _, text)] = _read(write_probe_pdf(tmp_path / "probe.pdf"))
    assert text.strip() == ""


@pytest.mark.parametrize("degrees", [90, 180, 270])
def test_rotation_is_set(tmp_path: Path, degrees: int) -> None:
    path = write_pdf(tmp_path / "r.pdf", [SamplePage("x", rotate=degrees)])
    assert _read(path)[0][1] == degrees


def test_benchmark_pdf_is_seeded(tmp_path: Path) -> None:
    a = _read(write_benchmark_pdf(tmp_path / "a.pdf", 2, seed=1))
    b = _read(write_benchmark_pdf(tmp_path / "b.pdf", 2, seed=1))
    c = _read(write_benchmark_pdf(tmp_path / "c.pdf", 2, seed=2))
    assert a == b != c
    assert a[1][2].startswith("Benchmark page 2")


def test_repeated_pdf_counts_every_copy(tmp_path: Path) -> None:
    source = write_benchmark_pdf(tmp_path / "s.pdf", 2)
    assert write_repeated_pdf(source, tmp_path / "x3.pdf", 3) == 6
    assert len(_read(tmp_path / "x3.pdf")) == 6


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_pdf(tmp_path / "none.pdf", [])
    with pytest.raises(ConfigError):
        write_benchmark_pdf(tmp_path / "zero.pdf", 0)


def test_wrap_keeps_hyphenated_words_and_fits_the_width() -> None:
    lines = wrap("docling-hybrid-ocr " * 20, A4_PT, 11.0)
    assert all("docling-hybrid-ocr" in line for line in lines)
    assert max(len(line) for line in lines) <= (A4_PT[0] - 112) / 5.5
