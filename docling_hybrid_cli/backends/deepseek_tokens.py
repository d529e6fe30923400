"""How many prompt tokens vLLM spends on one page image, for DeepSeek-OCR and DeepSeek-OCR-2.

``max_tokens`` must fit ``max_model_len`` minus the image's tokens, or vLLM
rejects the request; the two models tile an image differently, so each has its
own count. Both follow vLLM's processors ("Gundam" mode): a 1024 px global view
of the whole page, plus, when either side exceeds one tile, a grid of 2 to 6
tiles whose aspect ratio is closest to the page's, and one view-separator token.

* DeepSeek-OCR: 640 px tiles of 10x10 queries; every row of queries, in the
  global view (16x16) and in the tile grid, ends with a newline token:
  ``16 * 17 + 1`` = 273 for a small image, plus ``(10 * rows) * (10 * cols + 1)``
  (https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/models/deepseek_ocr.py).
* DeepSeek-OCR-2: 768 px tiles of 12x12 queries, no newline tokens:
  ``16 * 16 + 1`` = 257, plus ``(12 * rows) * (12 * cols)``
  (https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/models/deepseek_ocr2.py).

The grid is chosen as vLLM's ``count_tiles`` chooses it: the closest aspect
ratio wins, and between equally close ones a larger grid wins when the image
covers more than half of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["VISION_ENCODERS", "VisionEncoder", "image_tokens", "vision_encoder_for"]

VisionEncoder = Literal["deepseek-ocr", "deepseek-ocr-2"]
VISION_ENCODERS: tuple[VisionEncoder, ...] = ("deepseek-ocr", "deepseek-ocr-2")

_MIN_TILES = 2
_MAX_TILES = 6


@dataclass(frozen=True, slots=True)
class _Tiling:
    global_tokens: int
    """Tokens of the 1024 px global view, the view separator included."""
    tile_px: int
    tile_queries: int
    row_newline: bool
    """Whether every row of tile queries ends with a newline token."""


_TILINGS: dict[VisionEncoder, _Tiling] = {
    "deepseek-ocr": _Tiling(
        global_tokens=16 * 17 + 1, tile_px=640, tile_queries=10, row_newline=True
    ),
    "deepseek-ocr-2": _Tiling(
        global_tokens=16 * 16 + 1, tile_px=768, tile_queries=12, row_newline=False
    ),
}

_GRIDS: tuple[tuple[int, int], ...] = tuple(
    sorted(
        {
            (cols, rows)
            for cols in range(1, _MAX_TILES + 1)
            for rows in range(1, _MAX_TILES + 1)
            if _MIN_TILES <= cols * rows <= _MAX_TILES
        },
        key=lambda grid: (grid[0] * grid[1], grid),
    )
)
"""(columns, rows) candidates, fewest tiles first, as vLLM scans them."""


def vision_encoder_for(model: str, setting: str = "auto") -> VisionEncoder:
    """The encoder a backend counts with: ``setting`` if explicit, else read off the model name.

    ``auto`` takes a name containing "ocr-2" or "ocr2" (any case, e.g.
    ``deepseek-ai/DeepSeek-OCR-2``) for DeepSeek-OCR-2 and anything else for
    DeepSeek-OCR; a server started with ``--served-model-name`` hides the name,
    so the config key says it instead.
    """
    if setting in VISION_ENCODERS:
        return setting
    name = model.lower()
    return "deepseek-ocr-2" if "ocr-2" in name or "ocr2" in name else "deepseek-ocr"


def _grid(width: int, height: int, tile_px: int) -> tuple[int, int]:
    aspect = width / height
    best = (1, 1)
    best_diff = float("inf")
    for cols, rows in _GRIDS:
        diff = abs(aspect - cols / rows)
        if diff < best_diff:
            best, best_diff = (cols, rows), diff
        elif diff == best_diff and width * height > 0.5 * tile_px * tile_px * cols * rows:
            best = (cols, rows)
    return best


def image_tokens(width: int, height: int, encoder: VisionEncoder = "deepseek-ocr") -> int:
    """Prompt tokens vLLM spends on one ``width`` x ``height`` image for ``encoder``."""
    tiling = _TILINGS[encoder]
    if width <= tiling.tile_px and height <= tiling.tile_px:
        return tiling.global_tokens
    cols, rows = _grid(max(width, 1), max(height, 1), tiling.tile_px)
    per_row = tiling.tile_queries * cols + (1 if tiling.row_newline else 0)
    return tiling.global_tokens + tiling.tile_queries * rows * per_row
