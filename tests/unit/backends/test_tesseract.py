"""tesseract backend: real OCR when the command exists, a clear rejection when it does not."""

from __future__ import annotations

import asyncio
import io
import shutil
import stat
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.backends import build_backend
from docling_hybrid_cli.backends.tesseract import NOT_INSTALLED, TesseractBackend
from docling_hybrid_cli.errors import BackendRejected
from docling_hybrid_cli.pages import PageImage, PageText

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="the tesseract command is not installed"
)


def scan(lines: list[str], fmt: str = "PNG") -> PageImage:
    """A white page with large black text, the way a clean scan looks."""
    image = Image.new("RGB", (1200, 160 + 90 * len(lines)), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=48)
    for index, line in enumerate(lines):
        draw.text((80, 80 + 90 * index), line, fill="black", font=font)
    buf = io.BytesIO()
    image.save(buf, fmt)
    mime = "image/png" if fmt == "PNG" else "image/jpeg"
    return PageImage(page=1, data=buf.getvalue(), mime=mime, width=image.width, height=1)


def backend(**fields: object) -> TesseractBackend:
    made = build_backend(backend_config(name="tesseract", **fields))  # type: ignore[arg-type]
    assert isinstance(made, TesseractBackend)
    return made


def ocr(page: PageImage, **fields: object) -> PageText:
    return asyncio.run(backend(**fields).ocr_page(page))


def test_absent_binary_is_a_rejection_naming_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No tesseract on PATH: rejected (never retried) with the install command in the message."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendRejected) as caught:
        ocr(scan(["Hello"]))
    assert NOT_INSTALLED in str(caught.value)
    assert "apt-get install tesseract-ocr" in str(caught.value)
    assert not caught.value.retryable


def test_command_line_uses_lang_and_psm() -> None:
    assert backend().command("tesseract") == ["tesseract", "stdin", "stdout", "-l", "eng"]
    assert backend(lang="eng+deu", psm=6).command("/usr/bin/tesseract") == [
        "/usr/bin/tesseract",
        "stdin",
        "stdout",
        "-l",
        "eng+deu",
        "--psm",
        "6",
    ]


def _fake_tesseract(tmp_path: Path, script: str) -> None:
    tool = tmp_path / "tesseract"
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def test_failing_binary_reports_its_stderr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A non-zero exit becomes a rejection carrying tesseract's own complaint."""
    _fake_tesseract(tmp_path, "echo \"Failed loading language 'xyz'\" >&2\nexit 1\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendRejected, match="status 1: Failed loading language 'xyz'"):
        ocr(scan(["Hello"]))


def test_slow_binary_is_killed_at_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tesseract(tmp_path, f"exec {shutil.which('sleep')} 30\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendRejected, match=r"longer than 0\.2 s"):
        ocr(scan(["Hello"]), timeout_s=0.2)


def test_blank_output_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tesseract(tmp_path, f"{shutil.which('cat')} >/dev/null\nprintf '\\n \\n'\n")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendRejected, match="found no text"):
        ocr(scan(["Hello"]))


@needs_tesseract
@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_real_tesseract_reads_a_scan(fmt: str) -> None:
    """The installed tesseract reads the page image from stdin, as PNG or JPEG."""
    text = ocr(scan(["Quarterly report", "Revenue grew strongly"], fmt))
    assert "Quarterly report" in text.markdown
    assert "Revenue grew strongly" in text.markdown
    assert text.backend == "tesseract"
    assert text.model == "tesseract eng"
