"""Image tokens of DeepSeek-OCR and DeepSeek-OCR-2 as vLLM counts them, and which applies."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.backends.deepseek_tokens import image_tokens, vision_encoder_for


@pytest.mark.parametrize(
    ("size", "encoder", "tokens"),
    [
        # Small images: the global view only (16x17 + 1 for OCR-1, 16x16 + 1 for OCR-2).
        pytest.param((640, 640), "deepseek-ocr", 273, id="ocr1-small"),
        pytest.param((768, 768), "deepseek-ocr-2", 257, id="ocr2-small"),
        # 700 px exceeds OCR-1's 640 px tile but not OCR-2's 768 px one; 1.4 is closest to 3x2.
        pytest.param((700, 500), "deepseek-ocr", 273 + 20 * (30 + 1), id="ocr1-tiles-3x2"),
        pytest.param((700, 500), "deepseek-ocr-2", 257, id="ocr2-no-tiles"),
        # A Letter page at 144 dpi (0.77) is closest to a 2x3 grid.
        pytest.param((1224, 1584), "deepseek-ocr", 273 + 30 * (20 + 1), id="ocr1-letter"),
        pytest.param((1224, 1584), "deepseek-ocr-2", 257 + 36 * 24, id="ocr2-letter"),
        # A landscape page (1.29) is closest to 3x2.
        pytest.param((1584, 1224), "deepseek-ocr", 273 + 20 * (30 + 1), id="ocr1-landscape"),
        pytest.param((1584, 1224), "deepseek-ocr-2", 257 + 24 * 36, id="ocr2-landscape"),
        # A tall receipt (0.2) takes the 1x5 strip.
        pytest.param((400, 2000), "deepseek-ocr", 273 + 50 * (10 + 1), id="ocr1-strip"),
        pytest.param((400, 2000), "deepseek-ocr-2", 257 + 60 * 12, id="ocr2-strip"),
    ],
)
def test_image_tokens_follow_vllms_processors(
    size: tuple[int, int], encoder: str, tokens: int
) -> None:
    assert image_tokens(*size, encoder) == tokens  # type: ignore[arg-type]


def test_ocr2_costs_more_tokens_for_a_page_than_ocr1() -> None:
    """Why the model matters: counting OCR-2 pages as OCR-1 overflows a tight context."""
    assert image_tokens(1224, 1584, "deepseek-ocr-2") - image_tokens(1224, 1584) == 218


@pytest.mark.parametrize(
    ("size", "tokens"),
    [
        pytest.param((2000, 800), 273 + 10 * (30 + 1), id="large-takes-3x1"),
        pytest.param((1000, 400), 273 + 10 * (20 + 1), id="small-keeps-2x1"),
    ],
)
def test_equally_close_grids_prefer_the_larger_one_for_a_large_image(
    size: tuple[int, int], tokens: int
) -> None:
    """Aspect 2.5 is exactly between 2x1 and 3x1: vLLM takes 3x1 for an image covering half."""
    assert image_tokens(*size) == tokens


@pytest.mark.parametrize(
    ("model", "setting", "encoder"),
    [
        ("deepseek-ai/DeepSeek-OCR", "auto", "deepseek-ocr"),
        ("deepseek-ai/DeepSeek-OCR-2", "auto", "deepseek-ocr-2"),
        ("mlx-community/deepseek-ocr2-8bit", "auto", "deepseek-ocr-2"),
        ("ocr", "auto", "deepseek-ocr"),
        ("ocr", "deepseek-ocr-2", "deepseek-ocr-2"),
        ("deepseek-ai/DeepSeek-OCR-2", "deepseek-ocr", "deepseek-ocr"),
    ],
)
def test_encoder_from_the_config_key_else_the_model_name(
    model: str, setting: str, encoder: str
) -> None:
    assert vision_encoder_for(model, setting) == encoder
