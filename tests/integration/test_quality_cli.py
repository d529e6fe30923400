"""Suspect pages end to end: the real CLI against simulated servers that read the page.

The simulated model (``MockConfig.reference_pdf``) answers each page with its
own text, except pages it is told to invent or halve. Exactly those pages
must come out suspect, with the right reason, in the summary line, ``--json``,
the report and the Markdown; ``--verify`` must replace them with a second
backend's faithful reading, and never ask the text layer.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf, make_text_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer

SECOND_MODEL = "second-model"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/v1"


def run(tmp_path: Path, config: str, *args: str) -> tuple[int, str, dict[str, Any], dict[str, Any]]:
    """convert with ``config``; (exit code, stderr, --json payload, --report payload)."""
    config_file = tmp_path / "config.toml"
    config_file.write_text(config, "utf-8")
    report = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        ["--config", str(config_file), "convert", "--no-cache", "--json", "--report",
         str(report), *args],
    )  # fmt: skip
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return (
        result.exit_code,
        result.stderr,
        json.loads(result.stdout),
        json.loads(report.read_text()),
    )


def config_for(first_url: str, second_url: str | None = None, chain: str = "first") -> str:
    text = f"""
[backends]
default = "first"
fallback_chain = {json.dumps(chain.split(","))}

[backends.first]
kind = "deepseek-vllm"
model = "deepseek-ai/DeepSeek-OCR"
base_url = "{first_url}"

[retry]
backoff_initial_s = 0.01
backoff_max_s = 0.02
deadline_s = 1.0
"""
    if second_url is not None:
        text += f"""
[backends.second]
kind = "openai-compatible"
model = "{SECOND_MODEL}"
base_url = "{second_url}"
"""
    return text


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    return make_text_pdf(tmp_path / "report.pdf", 5)


@pytest.fixture
def primary(pdf: Path) -> Iterator[MockServer]:
    """A model that invents pages 2 and 4 and drops half of page 5."""
    config = MockConfig(reference_pdf=str(pdf), invent_pages=(2, 4), halve_pages=(5,))
    with MockServer(config) as server:
        yield server


@pytest.fixture
def faithful(pdf: Path) -> Iterator[MockServer]:
    config = MockConfig(model=SECOND_MODEL, style="plain", reference_pdf=str(pdf))
    with MockServer(config) as server:
        yield server


def pages_of(report: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {p["page"]: p for p in report["documents"][0]["page_results"]}


def test_exactly_the_wrong_pages_are_suspect(
    tmp_path: Path, pdf: Path, primary: MockServer
) -> None:
    out = tmp_path / "out.md"
    code, stderr, summary, report = run(
        tmp_path, config_for(f"{primary.url}/v1"), str(pdf), "-o", str(out)
    )
    assert code == 0  # suspect pages are converted pages
    assert summary["documents"][0]["suspect_pages"] == [2, 4, 5]
    assert summary["documents"][0]["failed_pages"] == []
    assert "3 pages to check: 2, 4, 5" in stderr
    pages = pages_of(report)
    assert pages[2]["suspect"]["reason"] == pages[4]["suspect"]["reason"] == "invented"
    assert pages[5]["suspect"]["reason"] == "missing"
    assert pages[5]["suspect"]["precision"] == 1.0 and pages[5]["suspect"]["recall"] < 0.6
    for faithful_page in (1, 3):
        assert "suspect" not in pages[faithful_page]
        assert pages[faithful_page]["text_layer_agreement"] == 1.0
    markdown = out.read_text("utf-8")
    assert "<!-- suspect page 2: may hold invented text" in markdown
    assert "<!-- suspect page 5: may be missing text" in markdown
    assert "suspect page 1" not in markdown and "suspect page 3" not in markdown


def test_a_higher_threshold_flags_more_and_a_disabled_check_none(
    tmp_path: Path, pdf: Path, primary: MockServer
) -> None:
    config = config_for(f"{primary.url}/v1")
    _, _, summary, _ = run(tmp_path, config + "\n[convert]\nsuspect_below = 0.3\n", str(pdf))
    assert summary["documents"][0]["suspect_pages"] == [2, 4]  # half a page: recall 0.5
    _, _, summary, report = run(
        tmp_path, config + "\n[convert]\ntext_agreement = false\n", str(pdf)
    )
    assert summary["documents"][0]["suspect_pages"] == []
    assert all(p["text_layer_agreement"] is None for p in pages_of(report).values())


def test_verify_keeps_the_second_backends_faithful_reading(
    tmp_path: Path, pdf: Path, primary: MockServer, faithful: MockServer
) -> None:
    config = config_for(f"{primary.url}/v1", f"{faithful.url}/v1", chain="first,second")
    out = tmp_path / "out.md"
    code, stderr, summary, report = run(tmp_path, config, str(pdf), "-o", str(out), "--verify")
    assert code == 0
    document = summary["documents"][0]
    assert document["suspect_pages"] == []
    assert document["by_backend"] == {"first": 2, "second": 3}
    pages = pages_of(report)
    for number in (2, 4, 5):
        verify = pages[number]["verify"]
        assert verify["kept"] == "second"
        first, second = verify["answers"]
        assert first["backend"] == "first" and first["agreement"] < 0.6
        assert second["backend"] == "second" and second["agreement"] == 1.0
        assert pages[number]["backend"] == "second"
        assert pages[number]["text_layer_agreement"] == 1.0
    assert "verify" not in pages[1] and pages[1]["backend"] == "first"
    assert "suspect page" not in out.read_text("utf-8")
    assert "to check" not in stderr


def test_without_verify_the_second_backend_is_not_asked(
    tmp_path: Path, pdf: Path, primary: MockServer, faithful: MockServer
) -> None:
    config = config_for(f"{primary.url}/v1", f"{faithful.url}/v1", chain="first,second")
    _, _, summary, _ = run(tmp_path, config, str(pdf))
    assert summary["documents"][0]["suspect_pages"] == [2, 4, 5]
    assert faithful.stats.chat_requests == 0


def test_verify_with_the_second_backend_down_keeps_the_page_suspect(
    tmp_path: Path, pdf: Path, primary: MockServer
) -> None:
    config = config_for(f"{primary.url}/v1", closed_port_url(), chain="first,second")
    code, _, summary, report = run(tmp_path, config, str(pdf), "--verify")
    assert code == 0
    assert summary["documents"][0]["suspect_pages"] == [2, 4, 5]
    answers = pages_of(report)[2]["verify"]["answers"]
    assert answers[0]["backend"] == "first" and answers[1]["backend"] == "second"
    assert answers[1]["error"] and answers[1]["agreement"] is None


def test_verify_never_asks_the_text_layer(tmp_path: Path, pdf: Path, primary: MockServer) -> None:
    """text-layer would win by construction (and lose tables): a suspect page stays suspect."""
    config = config_for(f"{primary.url}/v1", chain="first,text-layer")
    _, _, summary, report = run(tmp_path, config, str(pdf), "--verify")
    assert summary["documents"][0]["suspect_pages"] == [2, 4, 5]
    assert summary["documents"][0]["by_backend"] == {"first": 5}
    assert pages_of(report)[2]["verify"]["answers"][1:] == []


def test_pages_without_a_usable_reference_get_null_with_the_reason(tmp_path: Path) -> None:
    """A scan has no text layer; a text-layer page agrees by construction: both null."""
    pdf = make_pdf(tmp_path / "mixed.pdf", 3, scanned={2})
    config = config_for(closed_port_url(), chain="first,text-layer")
    code, _, summary, report = run(tmp_path, config, str(pdf))
    pages = pages_of(report)
    assert pages[1]["text_layer_agreement"] is None
    assert pages[1]["text_layer_note"] == "converted by the text layer itself"
    assert pages[2]["status"] == "failed" and pages[2]["text_layer_agreement"] is None
    assert summary["documents"][0]["suspect_pages"] == []
    assert code == 1
