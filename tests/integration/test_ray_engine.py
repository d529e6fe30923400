"""``convert --ray`` end to end: a local Ray instance (2 CPUs, no dashboard) and the simulated
server on 127.0.0.1.

One Ray instance serves the module (it takes seconds to start); the command joins it as it
would join a cluster, and leaves it running. Each test starts its own simulated server, so
its request log is the test's alone.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner

from docling_hybrid_cli.batch import BatchResult
from docling_hybrid_cli.bench.simprocess import start_sim_server
from docling_hybrid_cli.cli import app
from docling_hybrid_cli.cli.progress import PlainProgress
from docling_hybrid_cli.jobs import plan_jobs
from docling_hybrid_cli.samplepdf import write_benchmark_pdf
from docling_hybrid_cli.settings import Settings, load_settings
from docling_hybrid_cli.sim import MockConfig, MockServer

ray = pytest.importorskip("ray")

from docling_hybrid_cli.ray_engine.items import TaskHooks  # noqa: E402
from docling_hybrid_cli.ray_engine.run import ray_session  # noqa: E402

pytestmark = pytest.mark.slow

SPLIT = 5
PAID_MODEL = "nvidia/nemotron-nano-12b-v2-vl"
PAGES = {"a.pdf": 3, "b.pdf": 4, "big.pdf": 12}
TASKS = 5  # a, b, and big in ranges of 5, 5 and 2 pages


KEY_VARIABLE = "DOCLING_HYBRID_RAY_TEST_KEY"
"""A paid backend's key variable, in the workers' environment as a cluster's job would put it."""


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_VARIABLE, "sk-or-test")  # the local instance's workers inherit it
        ray.init(
            address="local",
            num_cpus=2,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
        try:
            yield
        finally:
            ray.shutdown()


def make_folder(root: Path) -> Path:
    """Three documents; big.pdf is longer than ``ray.split_pages``; every page is distinct."""
    folder = root / "in"
    folder.mkdir()
    for name, pages in PAGES.items():
        make_pdf(folder / name, pages, text=name.split(".")[0] + " page {n}")
    return folder


def write_config(path: Path, server: MockServer, *, max_concurrency: int, concurrency: int) -> Path:
    path.write_text(
        "[backends]\n"
        'fallback_chain = ["deepseek-vllm"]\n'
        "[backends.deepseek-vllm]\n"
        f'base_url = "{server.url}/v1"\n'
        f"max_concurrency = {max_concurrency}\n"
        "[convert]\n"
        f"concurrency = {concurrency}\n"
        "[ray]\n"
        f"split_pages = {SPLIT}\n"
    )
    return path


def settings_for(config: Path) -> Settings:
    return load_settings(config_file=config).settings


def run_on_ray(settings: Settings, folder: Path, out: Path, hooks: TaskHooks) -> BatchResult:
    jobs = plan_jobs([folder], output=out, pattern="*.pdf", pages=None, password=None)
    with ray_session(settings, None, hooks=hooks) as run:
        return asyncio.run(run(jobs, PlainProgress()))


def chat_images(server: MockServer) -> collections.Counter[str]:
    """How often each page image was sent to the server."""
    stats = server.stats
    return collections.Counter(
        r.image_sha1 for r in stats.requests if r.image_sha1 is not None and "chat" in r.path
    )


def test_a_folder_on_ray_is_written_as_the_local_engine_writes_it(
    local_ray: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = make_folder(tmp_path)
    with MockServer(MockConfig()) as server:
        config = write_config(tmp_path / "c.toml", server, max_concurrency=4, concurrency=4)
        base = ["--config", str(config), "convert", str(folder), "--no-cache", "--json"]
        local = CliRunner().invoke(app, [*base, "-o", "local", "--report", "local.json"])
        assert local.exit_code == 0, local.output
        on_ray = CliRunner().invoke(app, [*base, "-o", "ray", "--ray", "--report", "ray.json"])
        assert on_ray.exit_code == 0, on_ray.output
    for name in PAGES:
        md = name.replace(".pdf", ".md")
        assert (tmp_path / "ray" / md).read_text() == (tmp_path / "local" / md).read_text()
    summary = json.loads(on_ray.stdout[on_ray.stdout.index("{") :])
    assert (summary["engine"], summary["nodes"]) == ("ray", 1)
    assert summary["ray"]["tasks"] == TASKS
    assert sum(d["converted"] for d in summary["documents"]) == sum(PAGES.values())
    report = json.loads((tmp_path / "ray.json").read_text())
    assert (report["engine"], report["nodes"]) == ("ray", 1)
    local_summary = json.loads(local.stdout[local.stdout.index("{") :])
    assert (local_summary["engine"], local_summary["nodes"]) == ("local", 1)
    local_report = json.loads((tmp_path / "local.json").read_text())
    assert (local_report["engine"], local_report["nodes"]) == ("local", 1)


def test_a_killed_task_is_retried_and_no_page_already_back_is_sent_again(
    local_ray: None, tmp_path: Path
) -> None:
    """Every task's worker exits after 2 pages reached the driver (one request at a time, so
    nothing else is in flight): Ray runs each task again, which converts only the rest."""
    folder = make_folder(tmp_path)
    with MockServer(MockConfig()) as server:
        settings = settings_for(
            write_config(tmp_path / "c.toml", server, max_concurrency=1, concurrency=1)
        )
        batch = run_on_ray(settings, folder, tmp_path / "out", TaskHooks(exit_after_pages=2))
        sent = chat_images(server)
    assert batch.exit_code == 0
    assert batch.engine_detail["retried_tasks"] == TASKS
    assert batch.engine_detail["repair_tasks"] == 0
    assert sum(sent.values()) == sum(PAGES.values()), sent
    assert set(sent.values()) == {1}  # no page sent twice
    for name, count in PAGES.items():
        markdown = (tmp_path / "out" / name.replace(".pdf", ".md")).read_text()
        assert [f"<!-- page {n} -->" in markdown for n in range(2, count + 1)] == [True] * (
            count - 1
        )
    assert all(not d.failed for d in batch.documents)


def test_the_replicas_budget_holds_across_workers(local_ray: None, tmp_path: Path) -> None:
    """Two tasks at once, each allowed 4 pages in flight, share a replica of budget 2."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.pdf", "y.pdf"):
        make_pdf(folder / name, 8, text=name + " {n}")
    with MockServer(MockConfig(latency_s=0.2)) as server:
        settings = settings_for(
            write_config(tmp_path / "c.toml", server, max_concurrency=2, concurrency=4)
        )
        batch = run_on_ray(settings, folder, tmp_path / "out", TaskHooks())
        stats = server.stats
    assert batch.exit_code == 0
    assert stats.max_in_flight == 2, stats.max_in_flight
    budget: dict[str, Any] = batch.engine_detail["budget"]
    (replica,) = budget.values()
    assert replica["peak"] == 2 and replica["limit"] == 2
    assert replica["granted"] == 16 and replica["in_use"] == 0


class _LimitsSeen(PlainProgress):
    """The plain progress, keeping every set of limits it was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.limits: list[dict[str, dict[str, int]]] = []

    def concurrency(self, limits: Mapping[str, Mapping[str, int]]) -> None:
        self.limits.append({backend: dict(urls) for backend, urls in limits.items()})
        super().concurrency(limits)


def test_with_auto_one_controller_sets_the_budget_of_every_worker(
    local_ray: None, tmp_path: Path
) -> None:
    """Two tasks at once against a capacity-8 server (0.25 s a page) with ``"auto"``: one
    controller in the coordinator. Each worker running its own would start at 16 each and
    put 32 in flight; one starts at 16 and is cut back within a scrape of /metrics."""
    pdf = write_benchmark_pdf(tmp_path / "doc.pdf", 120)
    with start_sim_server(
        latency_s=0.25, jitter=0.1, style="plain", extra_args=["--max-num-seqs", "8"]
    ) as sim:
        (tmp_path / "c.toml").write_text(
            "[backends]\n"
            'fallback_chain = ["deepseek-vllm"]\n'
            "[backends.deepseek-vllm]\n"
            f'base_url = "{sim.url}/v1"\n'
            'max_concurrency = "auto"\n'
            "[convert]\n"
            "max_side = 256\ndpi = 36\ntext_agreement = false\n"  # the client is never slow
            "[ray]\n"
            "split_pages = 60\n"
        )
        settings = settings_for(tmp_path / "c.toml")
        jobs = plan_jobs(
            [pdf], output=tmp_path / "out.md", pattern="*.pdf", pages=None, password=None
        )
        progress = _LimitsSeen()
        with ray_session(settings, None) as run:
            batch = asyncio.run(run(jobs, progress))
        stats = sim.stats()
    assert stats is not None
    assert batch.exit_code == 0
    assert batch.engine_detail["tasks"] == 2
    assert stats["chat_ok"] == 120
    (replica,) = batch.concurrency["deepseek-vllm"]
    assert replica["metrics"] == "on"  # scraped by the coordinator
    assert replica["trace"][0] == {"t": 0.0, "limit": 16, "in_flight": 0, "reason": "start"}
    assert any("server queue" in change["reason"] for change in replica["trace"])
    assert 4 <= replica["limit"] <= 16
    most = max(change["limit"] for change in replica["trace"])
    # The server never saw more than the one controller ever granted, and that is one ramp:
    # a controller per worker starts at 16 each, 32 on the server at once.
    assert stats["max_in_flight"] <= most < 32, (stats, replica["trace"])
    (budget,) = batch.engine_detail["budget"].values()
    assert budget["limit"] == replica["limit"] and budget["in_use"] == 0
    assert budget["peak"] <= most and budget["granted"] == 120
    assert progress.limits[0] == {"deepseek-vllm": {replica["url"]: 16}}  # the progress line's


def test_max_cost_counts_every_workers_spending(local_ray: None, tmp_path: Path) -> None:
    """0.001 USD a page, --max-cost 0.0025, two documents on two workers at once: the run stops
    paying after three pages (each worker counting its own would pay for six), and the rest go
    down the chain. A page may have passed the check while another worker's third was in
    flight: at most one more."""
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("x.pdf", "y.pdf"):
        make_pdf(folder / name, 4, text=name + " text {n}")
    paid = MockConfig(model=PAID_MODEL, style="plain", cost_per_request=0.001, latency_s=0.1)
    with MockServer(paid) as server:
        (tmp_path / "c.toml").write_text(
            "[backends]\n"
            'fallback_chain = ["nemotron-openrouter", "text-layer"]\n'
            "[backends.nemotron-openrouter]\n"
            f'base_url = "{server.url}/v1"\n'
            f'model = "{PAID_MODEL}"\n'
            f'api_key_env = "{KEY_VARIABLE}"\n'
            "requests_per_minute = 60000\n"
            "[convert]\n"
            "concurrency = 1\n"
            "max_cost = 0.0025\n"
        )
        batch = run_on_ray(settings_for(tmp_path / "c.toml"), folder, tmp_path / "out", TaskHooks())
        served = server.stats.chat_requests
    assert batch.exit_code == 0
    assert 3 <= served <= 4, served
    assert batch.spending.to_dict() == {
        "recorded": round(0.001 * served, 6),
        "max_cost": 0.0025,
        "by_backend": {"nemotron-openrouter": round(0.001 * served, 6)},
    }
    pages = [p for d in batch.documents for p in d.pages]
    by_text_layer = [p for p in pages if p.text is not None and p.text.backend == "text-layer"]
    assert len(by_text_layer) == 8 - served
    assert all("spending cap reached" in p.errors[0].error for p in by_text_layer)


def test_a_document_that_cannot_be_read_is_reported_and_the_others_converted(
    local_ray: None, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.7\nnot really")
    with MockServer(MockConfig()) as server:
        settings = settings_for(
            write_config(tmp_path / "c.toml", server, max_concurrency=4, concurrency=4)
        )
        batch = run_on_ray(settings, folder, tmp_path / "out", TaskHooks())
    assert batch.exit_code == 2
    assert [f.job.source.name for f in batch.failures] == ["broken.pdf"]
    assert sorted(d.job.source.name for d in batch.documents) == sorted(PAGES)


def test_ctrl_c_cancels_the_tasks_and_keeps_what_finished(tmp_path: Path) -> None:
    """A real command (its own local Ray instance) interrupted mid-run: exit 130, the pages
    back so far checkpointed and in the partial file, and a re-run sends only the rest."""
    import os
    import signal
    import subprocess
    import time

    folder = tmp_path / "in"
    folder.mkdir()
    make_pdf(folder / "long.pdf", 12, text="long page {n}")
    cache = tmp_path / "cache"
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONUNBUFFERED": "1"}
    env.pop("RAY_ADDRESS", None)
    with MockServer(MockConfig(latency_s=0.4)) as server:
        config = write_config(tmp_path / "c.toml", server, max_concurrency=1, concurrency=1)
        argv = [sys.executable, "-m", "docling_hybrid_cli", "--config", str(config), "convert"]
        argv += [str(folder), "-o", str(tmp_path / "out")]
        proc = subprocess.Popen(
            [*argv, "--ray"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            deadline = time.monotonic() + 120
            while not any(
                "<!-- page 2 -->" in f.read_text()  # pages 1 and 2 written, in page order
                for f in (tmp_path / "out").glob(".long.md.*.partial")
            ):
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "no page came back"
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            _, stderr = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130, stderr
        assert "interrupted" in stderr
        assert not (tmp_path / "out" / "long.md").exists()
        (partial,) = (tmp_path / "out").glob(".long.md.*.partial")
        assert "<!-- page 2 -->" in partial.read_text()
        kept = len(list(cache.glob("**/page-*.json")))
        assert 2 <= kept < 12
        before = sum(chat_images(server).values())
        rerun = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert sum(chat_images(server).values()) - before == 12 - kept
