"""Benchmark arithmetic: percentiles, Little's-law efficiency, Prometheus parsing, similarity."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from docling_hybrid_cli.bench import (
    backend_similarity,
    efficiency,
    latency_summary,
    metrics_delta,
    normalise_text,
    parse_concurrency,
    parse_prometheus,
    percentile,
    similarity,
)
from docling_hybrid_cli.errors import ConfigError
from docling_hybrid_cli.pages import PageResult, PageText
from docling_hybrid_cli.render import count_pdf_pages
from docling_hybrid_cli.samplepdf import write_benchmark_pdf

VLLM_METRICS = """\
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="deepseek-ai/DeepSeek-OCR"} 3.0
# TYPE vllm:generation_tokens counter
vllm:generation_tokens_total{model_name="deepseek-ai/DeepSeek-OCR"} 1500.0
vllm:request_success_total{finished_reason="stop",model_name="m"} 10.0
vllm:request_success_total{finished_reason="length",model_name="m"} 2.0
vllm:e2e_request_latency_seconds_sum{model_name="m"} 24.0
vllm:e2e_request_latency_seconds_count{model_name="m"} 12.0
vllm:weird{a="b"} NaN
not a sample line
"""


def test_percentile_interpolates_like_numpy() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 95) == pytest.approx(3.85)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


def test_percentile_rejects_out_of_range() -> None:
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_latency_summary_keys() -> None:
    summary = latency_summary([1.0, 1.0, 1.0, 5.0])
    assert set(summary) == {"mean", "p50", "p95", "p99", "max"}
    assert summary["mean"] == 2.0
    assert summary["max"] == 5.0
    assert latency_summary([]) == {"mean": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}


def test_efficiency_is_littles_law() -> None:
    # 8 in flight at 1 s each: ideal 8 pages/s; 7.6 achieved is 0.95.
    eff, ideal = efficiency(7.6, 8, 1.0)
    assert ideal == 8.0
    assert eff == pytest.approx(0.95)


def test_efficiency_is_capped_by_the_render_limit() -> None:
    # 64 in flight at 0.5 s would be 128 pages/s, but rendering only manages 40.
    eff, ideal = efficiency(38.0, 64, 0.5, render_limit_pages_per_s=40.0)
    assert ideal == 40.0
    assert eff == pytest.approx(0.95)


def test_efficiency_with_no_latency_uses_the_render_limit_or_gives_up() -> None:
    assert efficiency(10.0, 8, 0.0, render_limit_pages_per_s=20.0) == (0.5, 20.0)
    assert efficiency(10.0, 8, 0.0) == (0.0, 0.0)


def test_parse_prometheus_sums_label_sets_and_skips_junk() -> None:
    metrics = parse_prometheus(VLLM_METRICS)
    assert metrics["vllm:num_requests_waiting"] == 3.0
    assert metrics["vllm:generation_tokens_total"] == 1500.0
    assert metrics["vllm:request_success_total"] == 12.0
    assert "vllm:weird" not in metrics
    assert not any(name.startswith("#") for name in metrics)


def test_metrics_delta_only_counters_present_in_both() -> None:
    before = parse_prometheus(VLLM_METRICS)
    after = dict(before)
    after["vllm:generation_tokens_total"] += 250
    after["vllm:request_success_total"] += 5
    del after["vllm:e2e_request_latency_seconds_sum"]
    delta = metrics_delta(before, after)
    assert delta["vllm:generation_tokens_total"] == 250
    assert delta["vllm:request_success_total"] == 5
    assert "vllm:e2e_request_latency_seconds_sum" not in delta
    assert "vllm:num_requests_waiting" not in delta  # a gauge has no meaningful delta


def test_similarity_ignores_whitespace_and_scores_edits() -> None:
    assert normalise_text("  a\n\n b\tc ") == "a b c"
    assert similarity("# Title\n\nSome text", "# Title Some   text") == 1.0
    assert similarity("", "") == 1.0
    assert similarity("abc", "") == 0.0
    close = similarity("The quick brown fox", "The quick brown fix")
    far = similarity("The quick brown fox", "Lorem ipsum dolor")
    assert 0.9 < close < 1.0
    assert far < close


def test_backend_similarity_per_page_and_overall() -> None:
    class Doc:
        def __init__(self, texts: dict[int, str | None]) -> None:
            self.pages = [
                PageResult(page=n, text=PageText(markdown=t) if t is not None else None)
                for n, t in texts.items()
            ]

    report = backend_similarity(
        {
            "a": Doc({1: "same text", 2: "abc", 3: "x"}),
            "b": Doc({1: "same text", 2: "abd", 3: None}),
        }
    )
    assert report is not None
    assert report["backends"] == ["a", "b"]
    rows = {row["page"]: row["similarity"]["a~b"] for row in report["pages"]}
    assert rows[1] == 1.0
    assert 0 < rows[2] < 1
    assert rows[3] is None  # one backend failed the page: no score, not a zero
    assert report["pairs"]["a~b"] == pytest.approx((1.0 + rows[2]) / 2, abs=1e-4)
    assert backend_similarity({"a": Doc({1: "x"})}) is None


def test_similarity_compares_pages_as_written_not_their_markup() -> None:
    """DeepSeek's HTML table and \\(-math agree with a chat model's pipe table and $-math."""

    class Doc:
        def __init__(self, text: str) -> None:
            self.pages = [PageResult(page=1, text=PageText(markdown=text))]

    html = "Total \\(x\\)\n\n<table><tr><td>a</td><td>b</td></tr></table>"
    pipes = "Total $x$\n\n| a | b |\n| --- | --- |"
    report = backend_similarity({"deepseek": Doc(html), "nemotron": Doc(pipes)})
    assert report is not None
    assert report["pairs"]["deepseek~nemotron"] == 1.0


def test_parse_concurrency() -> None:
    assert parse_concurrency("1, 8,32") == [1, 8, 32]
    for bad in ("", "0", "8,x", "-1"):
        with pytest.raises(ConfigError):
            parse_concurrency(bad)


def test_benchmark_pdf_has_the_pages_asked_for(tmp_path: Path) -> None:
    pdf = write_benchmark_pdf(tmp_path / "g.pdf", 3)
    assert count_pdf_pages(pdf) == 3
    with pytest.raises(ConfigError):
        write_benchmark_pdf(tmp_path / "none.pdf", 0)


def test_efficiency_never_divides_by_zero() -> None:
    eff, ideal = efficiency(0.0, 1, math.inf)
    assert eff == 0.0 and ideal == 0.0
