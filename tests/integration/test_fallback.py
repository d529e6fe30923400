"""Issue #3's done-criteria, end to end: the real CLI against mock servers on 127.0.0.1.

* 30 % of requests failing with mixed transient faults: all 40 pages, in order, exit 0;
* primary down, OpenRouter-compatible server up: every page from the second backend,
  and the dead primary costs a few refused connections, not a timeout per page;
* no server and no key: a born-digital PDF comes from the text layer, exit 0, one notice;
* a scanned PDF: exit 1 with each page's reason without tesseract, exit 0 with it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pdfgen import PAGE_HEIGHT, make_pdf, page_width
from typer.testing import CliRunner

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer

NEMOTRON = "nvidia/nemotron-nano-12b-v2-vl:free"
FAST_RETRIES = {
    "DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S": "0.01",
    "DOCLING_HYBRID_RETRY__BACKOFF_MAX_S": "0.05",
}


def closed_port_url() -> str:
    """An API root on a loopback port nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"http://127.0.0.1:{port}/v1"


def convert(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["convert", "--no-cache", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.stderr
    return result.exit_code, result.stderr


def page_sizes(markdown: str) -> list[str]:
    """The ``{W}x{H}`` each mock answer names, in document order."""
    return re.findall(r"^# Page (\d+x\d+)$", markdown, flags=re.M)


def expected_sizes(pages: int, dpi: int = 144) -> list[str]:
    scale = dpi / 72
    return [
        f"{round(page_width(n) * scale)}x{round(PAGE_HEIGHT * scale)}" for n in range(1, pages + 1)
    ]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name, value in FAST_RETRIES.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch


def test_thirty_percent_faults_still_deliver_every_page_in_order(
    tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    """Mixed transient faults on 30 % of requests: 40/40 pages, in page order, exit 0."""
    faults = ("429", "500", "502", "503", "reset", "empty", "error200")
    config = MockConfig(fail_rate=0.3, faults=faults, seed=3)
    pdf = make_pdf(tmp_path / "long.pdf", 40)
    out = tmp_path / "long.md"
    report = tmp_path / "report.json"
    env.setenv("DOCLING_HYBRID_RETRY__MAX_ATTEMPTS", "8")
    with MockServer(config) as server:
        env.setenv("DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL", f"{server.url}/v1")
        started = time.perf_counter()
        code, err = convert(
            str(pdf), "-o", str(out), "--backend", "deepseek-vllm", "--report", str(report)
        )
        seconds = time.perf_counter() - started
        stats = server.stats
    assert code == 0, err
    assert sum(stats.faults_injected.values()) >= 5  # the faults really happened
    assert page_sizes(out.read_text()) == expected_sizes(40)
    pages = json.loads(report.read_text())["documents"][0]["page_results"]
    assert [p["page"] for p in pages] == list(range(1, 41))
    assert all(p["status"] == "converted" and p["backend"] == "deepseek-vllm" for p in pages)
    assert sum(p["attempts"] for p in pages) == stats.chat_requests
    assert "40 by deepseek-vllm" in err
    print(f"30% faults: 40 pages in {seconds:.2f} s, {stats.chat_requests} requests")


def test_dead_primary_sends_every_page_to_the_second_backend_quickly(
    tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    """Primary refuses connections: all pages by nemotron-openrouter, well under one timeout."""
    pdf = make_pdf(tmp_path / "doc.pdf", 12)
    out = tmp_path / "doc.md"
    report = tmp_path / "report.json"
    env.setenv("OPENROUTER_API_KEY", "sk-or-test")
    env.setenv("DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL", closed_port_url())
    env.setenv("DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__TIMEOUT_S", "20")
    env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__REQUESTS_PER_MINUTE", "60000")
    env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__MAX_CONCURRENCY", "4")
    with MockServer(MockConfig(model=NEMOTRON, style="plain")) as server:
        env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__BASE_URL", f"{server.url}/v1")
        started = time.perf_counter()
        code, err = convert(
            str(pdf),
            "-o",
            str(out),
            "--chain",
            "deepseek-vllm,nemotron-openrouter",
            "--report",
            str(report),
        )
        seconds = time.perf_counter() - started
        served = server.stats.chat_ok
    assert code == 0, err
    assert served == 12
    assert page_sizes(out.read_text()) == expected_sizes(12)
    pages = json.loads(report.read_text())["documents"][0]["page_results"]
    assert {p["backend"] for p in pages} == {"nemotron-openrouter"}
    assert all(p["errors"][0]["backend"] == "deepseek-vllm" for p in pages)
    assert sum("skipped" in p["errors"][0]["error"] for p in pages) >= 12 - 4
    assert "12 by nemotron-openrouter" in err
    assert seconds < 20  # generous: one primary timeout; the breaker makes it ~ a second
    print(f"dead primary: 12 pages in {seconds:.2f} s")


def no_server_env(env: pytest.MonkeyPatch) -> None:
    env.setenv("DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__BASE_URL", closed_port_url())


def test_no_server_no_key_born_digital_pdf_uses_the_text_layer(
    tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    """A fresh machine: the shipped chain ends in text-layer, exit 0, and it says so once."""
    no_server_env(env)
    pdf = make_pdf(tmp_path / "paper.pdf", 3, text="Results of page {n}")
    code, err = convert(str(pdf))
    markdown = (tmp_path / "paper.md").read_text()
    assert code == 0, err
    assert "Results of page 2\n\nThe quick brown fox" in markdown
    assert markdown.index("page 1") < markdown.index("page 2") < markdown.index("page 3")
    assert "3 by text-layer" in err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "--base-url" in notes[0] and "check-server" in notes[0]


def test_scanned_pdf_without_tesseract_fails_each_page_with_its_reason(
    tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    no_server_env(env)
    env.setenv("PATH", str(tmp_path / "empty-bin"))
    pdf = make_pdf(tmp_path / "scan.pdf", 2, scanned={1, 2})
    code, err = convert(str(pdf))
    markdown = (tmp_path / "scan.md").read_text()
    assert code == 1
    for n in (1, 2):
        assert f"<!-- page {n} failed:" in markdown
        assert f"page {n} has no text layer" in markdown
    assert markdown.count("tesseract is not installed (apt-get install tesseract-ocr)") == 2
    assert "FAILED: pages 1, 2" in err


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_scanned_pdf_with_tesseract_converts(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    no_server_env(env)
    pdf = make_pdf(tmp_path / "scan.pdf", 2, scanned={1, 2}, text="Scanned page {n}")
    code, err = convert(str(pdf), "--dpi", "200")
    markdown = (tmp_path / "scan.md").read_text()
    assert code == 0, err
    assert "2 by tesseract" in err
    assert "failed" not in markdown
    assert re.search(r"Scanned\s*page\s*1", markdown), markdown


PAID_NEMOTRON = "nvidia/nemotron-nano-12b-v2-vl"


def test_max_cost_stops_paid_requests_and_the_rest_go_down_the_chain(
    tmp_path: Path, env: pytest.MonkeyPatch
) -> None:
    """0.001 USD a page, --max-cost 0.0025: three paid pages, then the text layer takes over."""
    pdf = make_pdf(tmp_path / "doc.pdf", 6, text="Text of page {n}")
    out = tmp_path / "doc.md"
    report = tmp_path / "report.json"
    env.setenv("OPENROUTER_API_KEY", "sk-or-test")
    env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__MODEL", PAID_NEMOTRON)
    env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__REQUESTS_PER_MINUTE", "60000")
    paid = MockConfig(model=PAID_NEMOTRON, style="plain", cost_per_request=0.001)
    with MockServer(paid) as server:
        env.setenv("DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__BASE_URL", f"{server.url}/v1")
        code, err = convert(
            str(pdf),
            "-o",
            str(out),
            "--chain",
            "nemotron-openrouter,text-layer",
            "--concurrency",
            "1",
            "--max-cost",
            "0.0025",
            "--report",
            str(report),
            "--json",
        )
        served = server.stats.chat_requests
    assert code == 0, err
    assert served == 3
    assert "3 by nemotron-openrouter, 3 by text-layer" in err
    assert "cost: 0.0030 USD reported by the servers (--max-cost 0.0025: reached" in err
    manifest = json.loads(report.read_text())
    assert manifest["cost"] == {
        "recorded": 0.003,
        "max_cost": 0.0025,
        "by_backend": {"nemotron-openrouter": 0.003},
    }
    pages = manifest["documents"][0]["page_results"]
    refused = [p for p in pages if p["backend"] == "text-layer"]
    assert len(refused) == 3
    assert all("spending cap reached" in p["errors"][0]["error"] for p in refused)
    assert "Text of page 6" in out.read_text()


def test_max_cost_must_be_an_amount(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", 1)
    code, err = convert(str(pdf), "--max-cost", "-1")
    assert code == 2
    assert "--max-cost" in err
