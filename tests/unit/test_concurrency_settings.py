"""The concurrency keys: a backend's max_concurrency and ceiling, convert.concurrency, -j."""

from __future__ import annotations

from typing import Any

import pytest

from docling_hybrid_cli.backend_configs import backend_config
from docling_hybrid_cli.concurrency_setting import parse_concurrency
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.settings import load_settings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("auto", "auto"), ("AUTO", "auto"), (" auto ", "auto"), (8, 8), ("12", 12), (1024, 1024)],
)
def test_parse_concurrency(raw: Any, expected: Any) -> None:
    assert parse_concurrency(raw) == expected


@pytest.mark.parametrize("raw", ["fast", "", 0, -3, 1025, "8.5", 2.5, True, None, "1e3"])
def test_bad_concurrency_values_are_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match='must be "auto" or a whole number from 1 to 1024'):
        parse_concurrency(raw)


def test_vllm_backends_default_to_auto_others_to_a_number() -> None:
    settings = load_settings(environ={}).settings
    deepseek = settings.backend("deepseek-vllm")
    assert deepseek.max_concurrency == "auto" and deepseek.adaptive
    assert deepseek.max_concurrency_ceiling == 256 and deepseek.concurrency_bound == 256
    assert settings.convert.concurrency == "auto"
    openrouter = settings.backend("nemotron-openrouter")
    assert openrouter.max_concurrency == 1 and not openrouter.adaptive
    assert openrouter.concurrency_bound == 1
    fresh = backend_config(name="deepseek-vllm", base_url="http://x.invalid/v1")
    assert fresh.max_concurrency == "auto"


def test_the_ceiling_is_no_part_of_the_cache_key() -> None:
    a = backend_config(name="deepseek-vllm", base_url="http://x.invalid/v1")
    b = backend_config(
        name="deepseek-vllm",
        base_url="http://x.invalid/v1",
        max_concurrency=8,
        max_concurrency_ceiling=64,
    )
    assert a.output_identity() == b.output_identity()


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "backends.deepseek-vllm.max_concurrency",
            "lots",
            "backends.deepseek-vllm.max_concurrency",
        ),
        ("backends.deepseek-vllm.max_concurrency_ceiling", 0, "max_concurrency_ceiling"),
        ("backends.tesseract.max_concurrency", "auto", '"auto" is for servers'),
        ("convert.concurrency", "many", "convert.concurrency"),
        ("convert.concurrency", 0, "whole number from 1 to 1024"),
    ],
)
def test_bad_values_are_one_clear_line(key: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, overrides={key: value})
    text = str(caught.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize(("raw", "expected"), [("auto", "auto"), ("24", 24)])
def test_env_sets_concurrency(raw: str, expected: Any) -> None:
    environ = {"DOCLING_HYBRID_CONVERT__CONCURRENCY": raw}
    assert load_settings(environ=environ).settings.convert.concurrency == expected
