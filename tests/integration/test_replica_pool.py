"""Several replicas behind one backend, end to end against the project's simulated server.

Two :class:`MockServer` replicas serve one backend; one is stopped part-way
through a document. Every page must still arrive, both replicas must have
served their share, and the dead replica must cost no timeout and no retry:
its requests in flight are moved at once and new ones go to the live one.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.batch import convert_batch
from docling_hybrid_cli.cli import app
from docling_hybrid_cli.jobs import plan_jobs
from docling_hybrid_cli.pages import PageResult
from docling_hybrid_cli.settings import load_settings
from docling_hybrid_cli.sim import MockConfig, MockServer

PAGES = 40
KILL_AFTER = 10


@pytest.fixture
def replicas() -> Iterator[tuple[MockServer, MockServer]]:
    """Two plain-style simulated servers, 50 ms a page."""
    with (
        MockServer(MockConfig(style="plain", latency_s=0.05)) as first,
        MockServer(MockConfig(style="plain", latency_s=0.05)) as second,
    ):
        yield first, second


class KillAfter:
    """A ConvertObserver that stops a server once ``count`` pages have finished."""

    def __init__(self, server: MockServer, count: int) -> None:
        self.server = server
        self.count = count
        self.finished = 0
        self.served_before_kill: int | None = None
        self.moves: list[str] = []

    def document_started(self, job: object, pages: object) -> None: ...

    def page_state(self, job: object, page: int, state: str, detail: str = "") -> None:
        if "another replica" in detail:
            self.moves.append(detail)

    def page_finished(self, job: object, result: PageResult) -> None:
        self.finished += 1
        if self.finished == self.count:
            self.served_before_kill = self.server.stats.chat_ok
            self.server.stop()  # closes its connections mid-request; the port refuses from now

    def document_finished(self, result: object) -> None: ...

    def notice(self, message: str) -> None: ...


def _settings(urls: list[str], **convert: Any) -> Any:
    overrides = {
        "backends.fallback_chain": ["deepseek-vllm"],
        "backends.deepseek-vllm.base_url": urls,
        "backends.deepseek-vllm.max_concurrency": 4,
        "backends.deepseek-vllm.probe_interval_s": 0.5,
        "convert.concurrency": 8,
        **{f"convert.{key}": value for key, value in convert.items()},
    }
    return load_settings(overrides=overrides).settings


def test_a_replica_killed_mid_run_costs_no_page_no_retry_and_no_timeout(
    tmp_path: Path, replicas: tuple[MockServer, MockServer]
) -> None:
    survivor, victim = replicas
    pdf = make_pdf(tmp_path / "doc.pdf", PAGES)
    settings = _settings([f"{survivor.url}/v1", f"{victim.url}/v1"])
    observer = KillAfter(victim, KILL_AFTER)

    async def run() -> tuple[Any, list[asyncio.Task[Any]]]:
        batch = await convert_batch(plan_jobs([pdf]), settings, observer, use_cache=False)
        await asyncio.sleep(0)
        left = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        return batch, left

    batch, left_over = asyncio.run(run())

    (document,) = batch.documents
    assert batch.exit_code == 0
    assert len(document.converted) == PAGES and not document.failed
    # The dead replica cost nothing: no page needed a second attempt, none saw an error.
    assert all(p.attempts == 1 and not p.errors for p in document.pages)
    # Both served their share before the kill; the survivor took everything after it.
    assert observer.served_before_kill is not None and observer.served_before_kill > 0
    shares = Counter(p.text.replica for p in document.pages if p.text is not None)
    assert set(shares) == {f"{survivor.url}/v1", f"{victim.url}/v1"}
    assert shares[f"{victim.url}/v1"] <= observer.served_before_kill + 4  # + those in flight
    assert shares[f"{survivor.url}/v1"] > PAGES // 2  # it took every page after the kill
    assert left_over == []  # the background prober ended with the run


def test_convert_with_repeated_base_url_reports_each_pages_replica(
    tmp_path: Path,
    replicas: tuple[MockServer, MockServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    first, second = replicas
    make_pdf(tmp_path / "doc.pdf", 12)
    result = CliRunner().invoke(
        app,
        [
            "convert",
            "doc.pdf",
            "--backend",
            "deepseek-vllm",
            "--base-url",
            f"{first.url}/v1",
            "--base-url",
            f"{second.url}/v1",
            "-j",
            "4",
            "--report",
            "report.json",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    pages = report["documents"][0]["page_results"]
    assert {p["replica"] for p in pages} == {f"{first.url}/v1", f"{second.url}/v1"}
    shares = report["documents"][0]["by_replica"]
    assert sum(shares.values()) == 12 and len(shares) == 2
    assert first.stats.chat_ok == shares[f"{first.url}/v1"]
    assert second.stats.chat_ok == shares[f"{second.url}/v1"]
    assert report["chain"][0]["base_url"] == [f"{first.url}/v1", f"{second.url}/v1"]
    assert "by http://" in result.stderr  # the summary line names each replica's share


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_check_server_shows_every_replica(replicas: tuple[MockServer, MockServer]) -> None:
    live = replicas[0]
    dead = f"http://127.0.0.1:{_closed_port()}/v1"
    result = CliRunner().invoke(
        app, ["check-server", "--base-url", f"{live.url}/v1", "--base-url", dead, "--json"]
    )
    assert result.exit_code == 0, result.stdout
    (backend,) = json.loads(result.stdout)["backends"]
    assert [(r["url"], r["state"]) for r in backend["replicas"]] == [
        (live.url, "ready"),
        (dead.removesuffix("/v1"), "dead"),
    ]
    ready = backend["replicas"][0]
    assert ready["max_model_len"] == 8192 and ready["latency_ms"] is not None
    assert "connection refused" in backend["replicas"][1]["reason"]

    text = CliRunner().invoke(
        app, ["check-server", "--base-url", f"{live.url}/v1", "--base-url", dead]
    )
    assert text.exit_code == 0
    assert "1 of 2 replicas ready" in text.stdout
    assert f"Replica {live.url}: ready, max_model_len 8192" in text.stdout
    assert f"Replica {dead.removesuffix('/v1')}: dead" in text.stdout


def test_check_server_fails_when_no_replica_is_ready() -> None:
    dead = [f"http://127.0.0.1:{_closed_port()}/v1" for _ in range(2)]
    result = CliRunner().invoke(
        app, ["check-server", "--base-url", dead[0], "--base-url", dead[1], "--json"]
    )
    assert result.exit_code == 1
    (backend,) = json.loads(result.stdout)["backends"]
    assert backend["ready"] is False
    assert backend["reason"].startswith("no replica is ready")
    assert [r["state"] for r in backend["replicas"]] == ["dead", "dead"]


def test_check_server_wait_waits_for_every_replica() -> None:
    """--wait polls each replica until it listens: one still loading is waited for."""
    with (
        MockServer(MockConfig(style="plain")) as up,
        MockServer(MockConfig(style="plain", start_delay_s=1.0)) as loading,
    ):
        result = CliRunner().invoke(
            app,
            [
                "check-server",
                "--base-url",
                f"{up.url}/v1",
                "--base-url",
                f"{loading.url}/v1",
                "--wait",
                "60",
                "--json",
            ],
        )
    assert result.exit_code == 0, result.stdout
    (backend,) = json.loads(result.stdout)["backends"]
    assert [r["state"] for r in backend["replicas"]] == ["ready", "ready"]
    assert backend["waited_s"] > 0
