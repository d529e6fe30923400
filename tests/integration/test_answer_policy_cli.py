"""Issue 12's blank pages, empty answers, finish reasons and loops, through the real CLI.

The simulated server answers as DeepSeek-OCR does where it matters here: "" for a
blank page (``empty_for_blank``), pages that loop until the n-gram guard reaches
far enough or a temperature breaks the loop (``loop_period``), and every finish
reason on request (faults).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer

LOOP_TEXT = "the same words again"
SEPARATOR = "\n\n<!-- page {page} -->\n\n"


@dataclass
class Run:
    code: int
    stderr: str
    markdown: str
    report: dict[str, Any]
    summary: dict[str, Any]

    def page(self, n: int) -> dict[str, Any]:
        records = self.report["documents"][0]["page_results"]
        return next(r for r in records if r["page"] == n)


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S", "0.01")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_MAX_S", "0.05")
    yield monkeypatch


def convert(tmp_path: Path, server: MockServer, pdf: Path, *args: str) -> Run:
    out = tmp_path / f"{pdf.stem}.md"
    report = tmp_path / f"{pdf.stem}.json"
    result = CliRunner().invoke(
        app,
        [
            "convert",
            str(pdf),
            "-o",
            str(out),
            "--base-url",
            f"{server.url}/v1",
            "--report",
            str(report),
            "--json",
            *args,
        ],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return Run(
        code=result.exit_code,
        stderr=result.stderr,
        markdown=out.read_text("utf-8") if out.exists() else "",
        report=json.loads(report.read_text("utf-8")),
        summary=json.loads(result.stdout)["documents"][0],
    )


# --------------------------------------------------------------------------- blank and empty


def test_a_blank_page_is_empty_without_asking_any_backend(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch
) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", 3, blank={2})
    with MockServer(MockConfig(empty_for_blank=True)) as server:
        run = convert(tmp_path, server, pdf, "--backend", "deepseek-vllm")
        assert server.stats.chat_requests == 2
    assert run.code == 0, run.stderr
    page = run.page(2)
    assert page["status"] == "converted" and page["empty"] is True
    assert page["empty_reason"].startswith("blank page")
    assert page["attempts"] == 0 and page["errors"] == []
    assert (run.summary["converted"], run.summary["empty"], run.summary["failed"]) == (3, 1, 0)
    assert run.summary["empty_pages"] == [2]
    assert run.summary["by_backend"] == {"deepseek-vllm": 2}
    assert "1 empty: pages 2" in run.stderr
    # Nothing of page 2 but the separator before it.
    assert SEPARATOR.format(page=2) + SEPARATOR.format(page=3) in run.markdown


def test_a_blank_page_sent_anyway_ends_empty_after_one_retry(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch
) -> None:
    """Detection off: DeepSeek answers "" twice (greedy decoding repeats); the page is empty."""
    fast_retries.setenv("DOCLING_HYBRID_CONVERT__SKIP_BLANK_PAGES", "false")
    pdf = make_pdf(tmp_path / "doc.pdf", 3, blank={2})
    with MockServer(MockConfig(empty_for_blank=True)) as server:
        run = convert(tmp_path, server, pdf, "--backend", "deepseek-vllm")
        assert server.stats.chat_requests == 4
    assert run.code == 0, run.stderr
    page = run.page(2)
    assert page["empty"] is True
    assert page["empty_reason"] == "no backend found text (deepseek-vllm: empty answer)"
    assert [e["kind"] for e in page["errors"]] == ["EmptyAnswer", "EmptyAnswer"]
    assert "deepseek-vllm: deepseek-vllm" not in json.dumps(run.report)


def test_an_empty_answer_for_a_scan_is_an_empty_page_and_is_checkpointed(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch
) -> None:
    """The model answers "" and the text layer has nothing: empty, stored, not asked again.

    Page 2 fails (a 401), so the run is incomplete and its checkpoints are kept.
    """
    pdf = make_pdf(tmp_path / "scan.pdf", 2, scanned={1, 2})
    chain = ("--chain", "deepseek-vllm,text-layer")
    with MockServer(MockConfig()) as server:
        server.inject("empty", "empty", "401")
        first = convert(tmp_path, server, pdf, "-j", "1", *chain)
        server.reset_stats()
        again = convert(tmp_path, server, pdf, *chain)
        assert server.stats.chat_requests == 1  # page 2 only
    assert first.code == 1 and again.code == 0, first.stderr
    reason = first.page(1)["empty_reason"]
    assert reason == (
        "no backend found text (deepseek-vllm: empty answer; "
        "text-layer: page 1 has no text layer (a scanned image?))"
    )
    assert first.page(2)["status"] == "failed"  # a refusal is not "nothing found"
    assert again.page(1)["empty"] is True and again.page(1)["from_cache"] is True
    assert again.page(1)["empty_reason"] == reason
    assert again.summary["empty_pages"] == [1]
    assert again.page(2)["backend"] == "deepseek-vllm"


def test_an_empty_answer_is_never_a_page_with_text(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch
) -> None:
    """Page 1 has a text layer: after DeepSeek's two empty answers, the text layer converts it."""
    pdf = make_pdf(tmp_path / "doc.pdf", 1)
    with MockServer(MockConfig()) as server:
        server.inject("empty", "empty")
        run = convert(tmp_path, server, pdf, "--chain", "deepseek-vllm,text-layer")
    assert run.code == 0
    page = run.page(1)
    assert (page["backend"], page["empty"]) == ("text-layer", False)
    assert "quick brown fox" in run.markdown
    assert [e["kind"] for e in page["errors"]] == ["EmptyAnswer", "EmptyAnswer"]


# --------------------------------------------------------------------------- loops


@pytest.mark.parametrize(
    ("config", "requests", "step"),
    [
        pytest.param(MockConfig(loop_period=200), 2, "guard 40/512", id="wide guard"),
        pytest.param(
            MockConfig(loop_period=1000, loop_escape_temperature=0.2),
            3,
            "guard 40/512, temperature 0.2",
            id="temperature",
        ),
    ],
)
def test_the_loop_ladder_converts_a_looping_page(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch, config: MockConfig, requests: int, step: str
) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", 2)
    with MockServer(config) as server:
        run = convert(tmp_path, server, pdf, "--backend", "deepseek-vllm")
        assert server.stats.chat_requests == 2 * requests
    assert run.code == 0, run.stderr
    for n in (1, 2):
        page = run.page(n)
        assert (page["backend"], page["step"], page["attempts"]) == (
            "deepseek-vllm",
            step,
            requests,
        )
        assert [e["kind"] for e in page["errors"]] == ["LoopedAnswer"] * (requests - 1)
        assert page["errors"][0]["step"] == "guard 30/90"
    assert LOOP_TEXT not in run.markdown
    assert "# Page " in run.markdown


@pytest.mark.parametrize("chain", ["deepseek-vllm", "deepseek-vllm,text-layer"])
def test_a_persistent_loop_never_reaches_the_markdown(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch, chain: str
) -> None:
    """Every step cut off: the page goes down the chain, or fails, with each step reported."""
    pdf = make_pdf(tmp_path / "doc.pdf", 1)
    with MockServer(MockConfig(loop_period=100_000)) as server:
        run = convert(tmp_path, server, pdf, "--chain", chain)
        assert server.stats.chat_requests == 3
    page = run.page(1)
    ladder = [e["step"] for e in page["errors"] if e["backend"] == "deepseek-vllm"]
    assert ladder == ["guard 30/90", "guard 40/512", "guard 40/512, temperature 0.2"]
    assert LOOP_TEXT not in run.markdown
    if chain == "deepseek-vllm":
        assert run.code == 1 and page["status"] == "failed"
        assert "<!-- page 1 failed: deepseek-vllm (guard 30/90): answer cut off" in run.markdown
    else:
        assert run.code == 0 and page["backend"] == "text-layer"


# --------------------------------------------------------------------------- finish reasons


@pytest.mark.parametrize(
    ("fault", "backend", "recorded"),
    [
        ("content_filter", "text-layer", ["WithheldAnswer"]),  # deterministic: the next backend
        ("abort", "deepseek-vllm", []),  # the server's failure: retried like a 5xx
        ("finish_error", "deepseek-vllm", []),
        ("repetition", "deepseek-vllm", ["LoopedAnswer"]),  # a loop: the next ladder step
        ("length", "deepseek-vllm", ["LoopedAnswer"]),
    ],
)
def test_each_bad_finish_reason(
    tmp_path: Path, fast_retries: pytest.MonkeyPatch, fault: str, backend: str, recorded: list[str]
) -> None:
    """One answer ending badly: never kept, and the page still converts the way the policy says."""
    pdf = make_pdf(tmp_path / "doc.pdf", 1)
    with MockServer(MockConfig()) as server:
        server.inject(fault)
        run = convert(tmp_path, server, pdf, "--chain", "deepseek-vllm,text-layer")
        requests = server.stats.chat_requests
    assert run.code == 0, run.stderr
    page = run.page(1)
    assert page["backend"] == backend
    assert requests == (1 if backend == "text-layer" else 2)
    assert page["attempts"] == 2
    assert [e["kind"] for e in page["errors"]] == recorded
    assert LOOP_TEXT not in run.markdown
