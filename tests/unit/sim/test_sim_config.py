"""MockConfig rejects settings that would make the server silently do something else."""

from __future__ import annotations

from typing import Any

import pytest

from docling_hybrid_cli.sim import MockConfig


def test_defaults_are_a_healthy_vllm_serving_deepseek_ocr() -> None:
    config = MockConfig()
    assert (config.model, config.max_model_len, config.style) == (
        "deepseek-ai/DeepSeek-OCR",
        8192,
        "deepseek",
    )
    assert config.fail_rate == 0.0
    assert config.api_key is None
    assert not config.empty_for_blank
    assert config.loop_period is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"style": "fancy"}, "style must be 'deepseek' or 'plain'"),
        ({"faults": ("500", "teapot")}, "unknown fault kinds"),
        ({"fail_rate": 1.5}, "fail_rate must be within"),
        ({"fail_rate": 0.5, "faults": ()}, "needs at least one fault kind"),
        ({"jitter": -0.1}, "jitter must be within"),
        ({"latency_s": -1.0}, "must not be negative"),
        ({"retry_after_s": -1.0}, "must not be negative"),
        ({"max_model_len": 0}, "max_model_len must be positive"),
        ({"loop_period": 0}, "loop_period must be positive"),
        ({"loop_escape_temperature": -0.5}, "loop_escape_temperature must not be negative"),
    ],
)
def test_bad_settings_are_rejected(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MockConfig(**fields)
