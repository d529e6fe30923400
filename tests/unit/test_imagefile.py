"""The input-image decode policy: no header decides how much memory a run spends."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from docling_hybrid_cli.errors import CorruptPdf, ImageTooLarge
from docling_hybrid_cli.imagefile import decode_frame, decode_limit, open_image, target_scale


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny real PNG whose header is rewritten to claim ``width``×``height`` pixels."""
    buffer = io.BytesIO()
    Image.new("L", (8, 8), 255).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    ihdr = 8 + 8  # signature, then length + "IHDR"
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def decode(path: Path, *, max_side: int = 256, max_pixels: int = 40_000_000) -> Image.Image:
    with open_image(path) as image:
        return decode_frame(image, 0, path=path, max_side=max_side, max_pixels=max_pixels)


def test_limit_is_sixteen_pages_and_never_above_pillows() -> None:
    assert decode_limit(256) == 16 * 256 * 256
    assert decode_limit(20_000) == int(Image.MAX_IMAGE_PIXELS or 0)


def test_header_beyond_pillows_limit_is_too_large(tmp_path: Path) -> None:
    """20000×10000 px claimed by a few bytes: refused before decoding, as an input error."""
    path = png_claiming(tmp_path / "bomb.png", 20_000, 10_000)
    with pytest.raises(ImageTooLarge, match=r"bomb\.png") as info:
        decode(path)
    assert info.value.exit_code == 2


def test_header_between_our_limit_and_pillows_is_refused_before_decoding(tmp_path: Path) -> None:
    path = png_claiming(tmp_path / "big.png", 3_000, 3_000)  # 9 Mpx > 1 Mpx at max_side 256
    with pytest.raises(ImageTooLarge, match="3000×3000"):
        decode(path)


def test_big_jpeg_is_decoded_at_reduced_scale(tmp_path: Path) -> None:
    """A JPEG over the limit is drafted (DCT scaling) instead of refused."""
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (2400, 1600), (200, 180, 160)).save(path, "JPEG", quality=70)
    assert decode_limit(256) < 2400 * 1600
    frame = decode(path)
    assert max(frame.size) == 256 and frame.mode == "RGB"


def test_small_image_is_not_scaled_up(tmp_path: Path) -> None:
    path = tmp_path / "small.png"
    Image.new("RGB", (120, 80), "white").save(path, "PNG")
    assert decode(path).size == (120, 80)


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 40,
        b"\xff\xd8\xff\xe0" + b"\x00" * 40,
        b"II*\x00" + b"x" * 9,
    ],
    ids=["png", "jpeg", "tiff"],
)
def test_garbage_is_a_damaged_image(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "bad.img"
    path.write_bytes(data)
    with pytest.raises(CorruptPdf, match="damaged image"):
        decode(path)


def test_target_scale_respects_both_caps() -> None:
    assert target_scale(1000, 500, max_side=2000, max_pixels=10**9) == 1.0
    assert target_scale(4000, 2000, max_side=2000, max_pixels=10**9) == 0.5
    assert target_scale(1000, 1000, max_side=5000, max_pixels=250_000) == pytest.approx(0.5)
    assert target_scale(0, 10, max_side=10, max_pixels=10) == 1.0
