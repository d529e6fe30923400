"""Issue 12, items 3 and 4, end to end: a flaky server loses no page; timeouts move on.

The real CLI (``python -m docling_hybrid_cli convert``) runs against the simulated
server (``docling_hybrid_cli.sim``) on loopback. No timing is asserted: the run-time
cost of the faults is measured by ``scripts/bench_flaky_server.py`` (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf

from docling_hybrid_cli.sim import MockConfig, MockServer

PAGES = 200
RUN_TIMEOUT_S = 300.0
SIZE = re.compile(r"# Page (\d+)x\d+")

FAMILIES = {
    # backend name: (environment that defines it, the answer style of its server)
    "deepseek-vllm": ({}, "deepseek"),
    "compat": (
        {
            "DOCLING_HYBRID_BACKENDS__COMPAT__KIND": "openai-compatible",
            "DOCLING_HYBRID_BACKENDS__COMPAT__MODEL": "deepseek-ai/DeepSeek-OCR",
            "DOCLING_HYBRID_BACKENDS__COMPAT__BASE_URL": "http://127.0.0.1:9/v1",
            "DOCLING_HYBRID_BACKENDS__COMPAT__MAX_CONCURRENCY": "32",
        },
        "plain",
    ),
}


def convert(
    tmp_path: Path, pdf: Path, backend: str, url: str, *extra: str, env: dict[str, str]
) -> tuple[int, dict[str, Any], str]:
    """One CLI run; returns (exit code, the --report JSON, stderr).

    ``backend`` is one backend's name, or a comma-separated chain; ``url`` is the
    (first) backend's server.
    """
    report = tmp_path / "report.json"
    argv = [
        sys.executable,
        "-m",
        "docling_hybrid_cli",
        "convert",
        str(pdf),
        "-o",
        str(tmp_path / "out.md"),
        *(["--chain", backend] if "," in backend else ["--backend", backend]),
        "--base-url",
        f"{url}/v1",
        "--report",
        str(report),
        *extra,
    ]
    proc = subprocess.run(
        argv,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    data = json.loads(report.read_text()) if report.exists() else {}
    return proc.returncode, data, proc.stderr


def page_records(report: dict[str, Any]) -> list[dict[str, Any]]:
    [document] = report["documents"]
    records: list[dict[str, Any]] = document["page_results"]
    return records


def widths_in(markdown: str) -> list[int]:
    return [int(w) for w in SIZE.findall(markdown)]


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 pages; page n renders (600 + 2n) px wide, so the output order is checkable."""
    return make_pdf(tmp_path_factory.mktemp("flaky") / "doc.pdf", PAGES)


@pytest.fixture
def flaky_server(request: pytest.FixtureRequest) -> Iterator[MockServer]:
    style, faults = request.param
    config = MockConfig(style=style, latency_s=0.02, fail_rate=0.2, faults=faults, seed=12)
    with MockServer(config) as server:
        yield server


@pytest.mark.parametrize(
    ("backend", "flaky_server"),
    [
        *[(name, (style, ("500", "429", "reset"))) for name, (_, style) in FAMILIES.items()],
        ("deepseek-vllm", ("deepseek", ("503", "502"))),
    ],
    indirect=["flaky_server"],
    ids=lambda v: v if isinstance(v, str) else ",".join(v[1]),
)
def test_every_page_arrives_from_a_single_flaky_backend(
    tmp_path: Path, big_pdf: Path, backend: str, flaky_server: MockServer
) -> None:
    """20 % transient faults, one backend, 200 pages at 32 in flight: exit 0, nothing lost."""
    env, _ = FAMILIES[backend]
    code, report, stderr = convert(
        tmp_path, big_pdf, backend, flaky_server.url, "-j", "32", "--no-cache", env=env
    )
    assert code == 0, stderr[-3000:]
    records = page_records(report)
    assert [r["status"] for r in records] == ["converted"] * PAGES
    assert widths_in((tmp_path / "out.md").read_text()) == [600 + 2 * n for n in range(1, 201)]
    stats = flaky_server.stats
    injected = sum(stats.faults_injected.values())
    assert injected >= PAGES // 10, stats.faults_injected  # the faults did happen
    assert stats.chat_ok == PAGES  # each page transcribed once: no duplicate work
    assert sum(r["attempts"] for r in records) == stats.chat_requests


@pytest.mark.parametrize("fault", ["500", "429", "reset"])
def test_a_page_out_of_deadline_gets_one_more_pass_at_the_end(tmp_path: Path, fault: str) -> None:
    """With no time left for retries (deadline 0), a transient fault on page 1 fails it in the
    first pass; it is converted at the end of the document and the output keeps page order."""
    pdf = make_pdf(tmp_path / "doc.pdf", 6)
    with MockServer(MockConfig(style="plain")) as server:
        server.inject(fault)
        code, report, stderr = convert(
            tmp_path,
            pdf,
            "deepseek-vllm",
            server.url,
            "-j",
            "1",
            env={"DOCLING_HYBRID_RETRY__DEADLINE_S": "0"},
        )
        sent = [r.width for r in server.stats.requests if r.path.endswith("/chat/completions")]
    assert code == 0, stderr
    assert sent == [602, 604, 606, 608, 610, 612, 602]  # page 1 again, after every other page
    records = page_records(report)
    assert all(r["status"] == "converted" for r in records)
    assert records[0]["attempts"] == 2
    [error] = records[0]["errors"]
    assert error["status"] == (None if fault == "reset" else int(fault))
    # a reset is a dropped connection, never a refused one: it does not feed the circuit breaker
    kinds = {"500": "BackendServerError", "429": "BackendRateLimited"}
    assert error["kind"] == kinds.get(fault, "BackendUnavailable")
    assert widths_in((tmp_path / "out.md").read_text()) == [602, 604, 606, 608, 610, 612]
    assert "one more pass at the end" in stderr


@pytest.mark.parametrize("fault", ["401", "404"])
def test_a_rejected_page_gets_no_second_pass(tmp_path: Path, fault: str) -> None:
    """A 4xx would only repeat (and spend quota): the page fails at once, exit 1."""
    pdf = make_pdf(tmp_path / "doc.pdf", 4)
    with MockServer(MockConfig(style="plain")) as server:
        server.inject(fault)
        code, report, _ = convert(tmp_path, pdf, "deepseek-vllm", server.url, "-j", "1", env={})
        requests = server.stats.chat_requests
    assert code == 1
    assert requests == 4
    assert [r["status"] for r in page_records(report)] == ["failed", *["converted"] * 3]


def timeout_env(**extra: str) -> dict[str, str]:
    """deepseek-vllm gives up after 0.5 s; a second backend on the same server behind it."""
    return {
        "DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__TIMEOUT_S": "0.5",
        "DOCLING_HYBRID_BACKENDS__SPARE__KIND": "openai-compatible",
        "DOCLING_HYBRID_BACKENDS__SPARE__MODEL": "deepseek-ai/DeepSeek-OCR",
        **extra,
    }


@pytest.mark.parametrize(
    ("faults", "backend", "attempts"),
    [
        (["timeout"], "deepseek-vllm", 2),  # retried once, on the same backend
        (["timeout", "timeout"], "spare", 3),  # a second timeout: the next backend
    ],
    ids=["one timeout", "two timeouts"],
)
def test_a_timeout_is_retried_once_then_the_page_moves_on(
    tmp_path: Path, faults: Sequence[str], backend: str, attempts: int
) -> None:
    pdf = make_pdf(tmp_path / "doc.pdf", 1)
    with MockServer(MockConfig(style="plain", timeout_fault_s=3.0)) as server:
        server.inject(*faults)
        env = timeout_env(DOCLING_HYBRID_BACKENDS__SPARE__BASE_URL=f"{server.url}/v1")
        code, report, stderr = convert(tmp_path, pdf, "deepseek-vllm,spare", server.url, env=env)
    assert code == 0, stderr
    [record] = page_records(report)
    assert record["backend"] == backend
    assert record["attempts"] == attempts
    if backend == "spare":
        [error] = record["errors"]
        assert error["kind"] == "BackendTimeout" and error["backend"] == "deepseek-vllm"
