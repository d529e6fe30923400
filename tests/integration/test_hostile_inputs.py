"""Hostile input files in a batch: one line for the bad file, the others still convert."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import pytest
from pdfgen import make_pdf
from PIL import Image
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockServer


def _png_claiming(path: Path, width: int, height: int) -> None:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("name", "write", "message"),
    [
        ("bomb.png", lambda p: _png_claiming(p, 20_000, 10_000), "more pixels"),
        ("huge.png", lambda p: _png_claiming(p, 9_000, 9_000), "more than the"),
        ("cut.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64), "damaged"),
    ],
)
def test_bad_image_in_a_batch_fails_alone(
    mock_server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    write: object,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_pdf(inputs / "good.pdf", 2)
    assert callable(write)
    write(inputs / name)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "convert",
            str(inputs / "good.pdf"),
            str(inputs / name),
            "-o",
            str(out),
            "--json",
            "--base-url",
            f"{mock_server.url}/v1",
            "--backend",
            "deepseek-vllm",
        ],
    )
    assert "Traceback" not in result.output
    assert (out / "good.md").is_file()
    assert not (out / f"{Path(name).stem}.md").exists()
    assert result.exit_code == 2, result.output  # an unreadable input, as documented
    assert message in result.output
    summary = json.loads(result.stdout[result.stdout.index("{") :].split("\n}\n")[0] + "\n}")
    assert [u["input"] for u in summary["unreadable"]] == [str(inputs / name)]
