"""``benchmark`` end to end: the real CLI, the simulated server in its own process, a tiny run.

No timing assertions (performance lives in the benchmark itself and scripts/):
only that a run completes and its JSON report holds every figure issue #5 asks for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docling_hybrid_cli.checkpoint import PageCache
from docling_hybrid_cli.cli import app

RUN_KEYS = {
    "backend",
    "concurrency",
    "pages",
    "converted",
    "failed",
    "wall_s",
    "pages_per_s",
    "pages_per_min",
    "latency_s",
    "completion_tokens",
    "tokens_per_s",
    "render_ms_per_page",
    "encode_ms_per_page",
    "kb_per_page",
    "retries",
    "client_cpu_s_per_page",
    "peak_rss_mib",
    "server_latency_s",
    "render_limit_pages_per_s",
    "ideal_pages_per_s",
    "efficiency",
    "connections_opened",
    "server_max_in_flight",
    "vllm_metrics",
}


def test_offline_benchmark_writes_a_complete_report(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "--pages",
            "6",
            "--latency",
            "0.05",
            "--concurrency",
            "1,3",
            "--report",
            str(report),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["simulated"] is True
    assert data["input"]["pages"] == 6
    assert [run["concurrency"] for run in data["runs"]] == [1, 3]
    for run in data["runs"]:
        assert set(run) >= RUN_KEYS, RUN_KEYS - set(run)
        assert run["converted"] == 6 and run["failed"] == 0
        assert set(run["latency_s"]) == {"mean", "p50", "p95", "p99", "max"}
        assert run["completion_tokens"] > 0
        assert run["kb_per_page"] > 0
        assert run["efficiency"] > 0
        # one connection per request in flight at most, never one per request
        assert 1 <= run["connections_opened"] <= run["concurrency"]
        assert run["vllm_metrics"]["successful_requests"] == 6
        assert run["vllm_metrics"]["generation_tokens"] == run["completion_tokens"]
    assert '"runs"' in result.stdout  # --json prints the same report


def test_two_backends_report_their_similarity(tmp_path: Path) -> None:
    report = tmp_path / "bench.json"
    result = CliRunner().invoke(
        app,
        [
            "benchmark",
            "--backends",
            "deepseek-vllm,nemotron-openrouter",
            "--simulated",
            "--pages",
            "2",
            "--latency",
            "0",
            "--concurrency",
            "2",
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert [run["backend"] for run in data["runs"]] == ["deepseek-vllm", "nemotron-openrouter"]
    similarity = data["backend_similarity"]
    assert similarity["backends"] == ["deepseek-vllm", "nemotron-openrouter"]
    assert [row["page"] for row in similarity["pages"]] == [1, 2]
    assert 0.0 < similarity["mean_similarity"] <= 1.0


def test_bad_concurrency_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["benchmark", "--concurrency", "8,zero"])
    assert result.exit_code == 2
    assert "--concurrency" in result.output


@pytest.mark.parametrize("enabled", [True, False])
def test_pages_are_checkpointed_as_convert_does(
    enabled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark pays for checkpoints exactly when a real `convert` would."""
    stored: list[int] = []
    monkeypatch.setattr(PageCache, "store", lambda self, result: stored.append(result.page))
    monkeypatch.setenv("DOCLING_HYBRID_CACHE__ENABLED", str(enabled).lower())
    args = ["benchmark", "--pages", "4", "--latency", "0.01", "--concurrency", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert sorted(stored) == ([1, 2, 3, 4] if enabled else [])
