"""Decoding input images under one size policy: no file decides how much memory we spend.

An image's header states its size before any pixel is decoded, and can state
anything: a 30 KB PNG can claim 20000×10000 pixels (a decompression bomb,
600 MB as RGB). Pages are sent at most ``max_side`` pixels on their longest
side, so the policy is stated in those terms:

* A frame is decoded whole only up to :func:`decode_limit` pixels, 16 times
  the largest page we send (a 600-DPI A4 scan fits with room to spare).
* A larger JPEG is decoded at a reduced scale (libjpeg's DCT scaling,
  Pillow's ``draft``), which costs a fraction of a full decode and is what we
  would downscale to anyway; other formats above the limit are refused.
* Pillow's own guard (``Image.MAX_IMAGE_PIXELS``; an error above twice that)
  still applies first, and its warning below that is silenced because this
  policy is stricter.

Every way a decode can fail is one :class:`~docling_hybrid_cli.errors.InputError`
naming the file, so a batch goes on with the next document.
"""

from __future__ import annotations

import functools
import math
import struct
import warnings
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import CorruptPdf, ImageTooLarge

__all__ = ["DECODE_ERRORS", "decode_frame", "decode_limit", "open_image"]

DECODE_ERRORS: tuple[type[BaseException], ...] = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    EOFError,
    struct.error,
    zlib.error,
    MemoryError,
)
"""What Pillow's decoders raise on a damaged file (each plugin has its own habits)."""


def decode_limit(max_side: int) -> int:
    """Pixels of one frame we agree to decode whole: 16 pages of ``max_side`` squared.

    Never above Pillow's own limit, whose purpose is the same.
    """
    ours = 16 * max_side * max_side
    pillow = Image.MAX_IMAGE_PIXELS
    return min(ours, int(pillow)) if pillow else ours


@functools.cache
def _silence_pillow_warning() -> None:
    """Pillow warns (once per image) between its limit and twice it; our check is stricter."""
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


@contextmanager
def open_image(path: Path, source: IO[bytes] | None = None) -> Iterator[Image.Image]:
    """``Image.open`` with every failure one of our input errors naming ``path``.

    ``source`` is the file already open (the renderer's one descriptor), else ``path`` is opened.
    """
    _silence_pillow_warning()
    try:
        image = Image.open(path if source is None else source)
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"{path}: the image claims more pixels than can be decoded safely",
            hint="downscale it, or convert it to PDF",
        ) from None
    except DECODE_ERRORS as exc:
        raise CorruptPdf(f"{path} is a damaged image ({_short(exc)})") from None
    with image:
        yield image


def decode_frame(
    image: Image.Image,
    index: int,
    *,
    path: Path,
    max_side: int,
    max_pixels: int,
    checking: bool = False,
) -> Image.Image:
    """Frame ``index`` (0-based) upright, in RGB, scaled down to the page caps.

    Raises :class:`ImageTooLarge` before decoding a frame above
    :func:`decode_limit`, and :class:`CorruptPdf` for a damaged one
    (``checking``: worded for the check before a run, which names no page).
    """
    try:
        image.seek(index)
        width, height = image.size
        scale = target_scale(width, height, max_side=max_side, max_pixels=max_pixels)
        if image.format == "JPEG" and scale < 1.0:
            # Decode at the smallest DCT scale still at least the size we send.
            image.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
        decoded_w, decoded_h = image.size
        limit = decode_limit(max_side)
        if decoded_w * decoded_h > limit:
            raise ImageTooLarge(
                f"{path}: page {index + 1} is {width}×{height} px, more than the "
                f"{limit:,} px this tool decodes (16 × max_side²)",
                hint="downscale the image, or raise convert.max_side",
            )
        frame = _upright(image).convert("RGB")
    except ImageTooLarge:
        raise
    except Image.DecompressionBombError:
        raise ImageTooLarge(
            f"{path}: page {index + 1} claims more pixels than can be decoded safely",
            hint="downscale the image",
        ) from None
    except DECODE_ERRORS as exc:
        where = (
            f"{path} is a damaged image" if checking else f"{path}: page {index + 1} cannot be read"
        )
        raise CorruptPdf(f"{where} ({_short(exc)})") from None
    scale = target_scale(frame.width, frame.height, max_side=max_side, max_pixels=max_pixels)
    if scale < 1.0:
        size = (max(1, int(frame.width * scale)), max(1, int(frame.height * scale)))
        frame = frame.resize(size, Image.Resampling.LANCZOS)
    return frame


def target_scale(width: int, height: int, *, max_side: int, max_pixels: int) -> float:
    """The factor (≤ 1) that brings a ``width``×``height`` frame within the page caps."""
    if width <= 0 or height <= 0:
        return 1.0
    return min(1.0, max_side / max(width, height), math.sqrt(max_pixels / (width * height)))


def _upright(frame: Image.Image) -> Image.Image:
    """The frame as it should be seen: phone photos store the pixels sideways.

    Cameras write the sensor's pixels and an EXIF Orientation tag saying how
    to turn them; viewers apply it, models do not. A tag that cannot be read
    leaves the frame as stored rather than costing the page.
    """
    try:
        return ImageOps.exif_transpose(frame)
    except (OSError, ValueError, SyntaxError, KeyError, TypeError, struct.error):
        return frame


def _short(exc: BaseException) -> str:
    """A decoder's message, one line and bounded: it may quote bytes of the file."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = "".join(ch for ch in text if ch.isprintable())
    return text if len(text) <= 160 else text[:157] + "..."
