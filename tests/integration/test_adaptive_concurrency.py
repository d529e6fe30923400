"""Adaptive concurrency end to end: the real CLI, no concurrency flag, a capacity-model server.

The simulated server (its own process, so it never shares the GIL with the
client) decodes ``--max-num-seqs`` pages at once for ``--latency`` seconds
each; past that, requests queue. The assertions are on what the server saw
-- its time-weighted typical and peak requests in flight, its longest queue
-- never on wall time. Times are scaled down (1 s or 0.25 s per page) and
pages rendered small, so the client is never the bottleneck.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from docling_hybrid_cli.bench.simprocess import start_sim_server
from docling_hybrid_cli.cli import app
from docling_hybrid_cli.samplepdf import write_benchmark_pdf


@pytest.fixture(scope="module")
def pdf300(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_benchmark_pdf(tmp_path_factory.mktemp("adaptive") / "doc.pdf", 300)


@pytest.fixture
def light(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Small page images, no text-layer comparison: a client far faster than the server."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCLING_HYBRID_CONVERT__MAX_SIDE", "256")
    monkeypatch.setenv("DOCLING_HYBRID_CONVERT__DPI", "36")
    monkeypatch.setenv("DOCLING_HYBRID_CONVERT__TEXT_AGREEMENT", "false")
    yield


def convert(url: str, pdf: Path, *extra: str) -> Result:
    args = ["convert", str(pdf), "-o", "out.md", "--backend", "deepseek-vllm"]
    args += ["--base-url", f"{url}/v1", "--no-cache", *extra]
    return CliRunner().invoke(app, args)


def served(
    capacity: int, latency: float, pdf: Path, *extra: str, metrics: bool = True
) -> tuple[Result, dict[str, Any]]:
    sim_args = ["--max-num-seqs", str(capacity)] + ([] if metrics else ["--no-metrics"])
    with start_sim_server(latency_s=latency, jitter=0.1, style="plain", extra_args=sim_args) as sim:
        result = convert(sim.url, pdf, *extra)
        stats = sim.stats()
    assert stats is not None
    return result, stats


@pytest.mark.slow
@pytest.mark.usefixtures("light")
def test_capacity_forty_is_filled_without_a_growing_queue(pdf300: Path) -> None:
    result, stats = served(40, 1.0, pdf300, "--json", "--report", "report.json")
    assert result.exit_code == 0, result.output
    assert stats["chat_ok"] == 300
    assert stats["in_flight_p50"] >= 0.9 * 40  # typical load: the batch kept full
    assert stats["max_in_flight"] <= 1.5 * 40  # the ramp's overshoot is cut within a scrape
    assert stats["max_waiting"] <= 20  # no growing queue
    summary = json.loads(result.stdout)
    (replica,) = summary["concurrency"]["deepseek-vllm"]
    assert replica["metrics"] == "on"
    assert replica["trace"][0]["reason"] == "start"
    assert 40 <= replica["limit"] <= 50
    report = json.loads(Path("report.json").read_text("utf-8"))
    assert report["concurrency"] == summary["concurrency"]


@pytest.mark.slow
@pytest.mark.usefixtures("light")
@pytest.mark.parametrize(
    ("metrics", "peak"),
    [(True, 24), (False, 24)],
    ids=["with /metrics", "latency only"],
)
def test_capacity_eight_is_never_queued_sixty_four(pdf300: Path, metrics: bool, peak: int) -> None:
    """Slow start begins at 16: /metrics cuts it within a scrape; on latency alone the first
    answers show a delivery of 8 a round trip, which caps growth at 13, and the queued ones come
    back late and grow nothing (it used to climb to 25 before they ended slow start)."""
    result, stats = served(8, 0.25, pdf300, "--pages", "1-120", metrics=metrics)
    assert result.exit_code == 0, result.output
    assert stats["chat_ok"] == 120
    assert stats["max_in_flight"] < peak  # well under 64
    assert stats["in_flight_p50"] >= 8


@pytest.mark.usefixtures("light")
def test_a_fixed_j_caps_the_requests_in_flight(pdf300: Path) -> None:
    result, stats = served(40, 0.2, pdf300, "--pages", "1-40", "-j", "4")
    assert result.exit_code == 0, result.output
    assert 1 < stats["max_in_flight"] <= 4


@pytest.mark.usefixtures("light")
def test_j_auto_is_the_default(pdf300: Path) -> None:
    result, stats = served(40, 0.2, pdf300, "--pages", "1-40", "-j", "auto")
    assert result.exit_code == 0, result.output
    assert stats["max_in_flight"] > 4


@pytest.mark.parametrize("value", ["lots", "0", "2000"])
def test_a_bad_j_is_one_clear_line_and_exit_2(
    value: str, pdf300: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    result = convert("http://127.0.0.1:9", pdf300, "-j", value)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "convert.concurrency" in lines[0]
    assert 'must be "auto" or a whole number' in lines[0]
