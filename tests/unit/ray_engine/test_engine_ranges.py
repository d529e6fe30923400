"""How a document becomes tasks, and which replicas and secrets a run hands to Ray."""

from __future__ import annotations

import pytest

from docling_hybrid_cli.ray_engine.cluster import replica_limits, secret_variables
from docling_hybrid_cli.ray_engine.engine import page_ranges
from docling_hybrid_cli.settings import load_settings


@pytest.mark.parametrize(
    ("pages", "count", "split", "expected"),
    [
        ([1, 2, 3], 3, 5, [[1, 2, 3]]),
        ([1, 2, 3, 4, 5], 5, 5, [[1, 2, 3, 4, 5]]),
        (list(range(1, 13)), 12, 5, [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]),
        ([2, 7, 9], 12, 2, [[2, 7], [9]]),  # only the pages still to do are split
    ],
)
def test_a_document_longer_than_split_pages_is_split_into_ranges(
    pages: list[int], count: int, split: int, expected: list[list[int]]
) -> None:
    assert page_ranges(pages, count, split) == expected


def test_every_replica_of_the_chain_gets_its_max_concurrency_without_credentials() -> None:
    settings = load_settings(
        overrides={
            "backends.fallback_chain": ["deepseek-vllm", "text-layer"],
            "backends.deepseek-vllm.base_url": [
                "http://gpu1:8000/v1",
                "http://user:secret@gpu2:8000/v1",
            ],
            "backends.deepseek-vllm.max_concurrency": 8,
        }
    ).settings
    limits = replica_limits(settings)
    assert set(limits.values()) == {8}
    assert len(limits) == 2
    assert not any("secret" in key for key in limits)


def test_only_the_variables_the_chain_reads_are_forwarded_to_the_workers() -> None:
    settings = load_settings(
        overrides={"backends.fallback_chain": ["deepseek-vllm", "nemotron-openrouter"]}
    ).settings
    env = {"OPENROUTER_API_KEY": "sk-or-v1-x", "UNRELATED_SECRET": "no", "HOME": "/root"}
    assert secret_variables(settings, env) == {"OPENROUTER_API_KEY": "sk-or-v1-x"}
