"""Issue #14 "Files", end to end: the output lock, planted symlinks, disk full and file too
large, checkpoint write failures and encrypted documents, through the real CLI.

Runs are real ``python -m docling_hybrid_cli`` processes against the loopback mock server,
so exit codes, signals, resource limits and every byte on disk are the user's. Disk-full
runs need a tiny tmpfs, which only root can mount: they are skipped elsewhere (the
file-too-large runs, with ``RLIMIT_FSIZE``, work for everyone).
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from pdfgen import make_encrypted_pdf, make_pdf

from docling_hybrid_cli.manifest import MANIFEST_NAME
from docling_hybrid_cli.sim import MockConfig, MockServer

DEADLINE_S = 90.0
PAGE_SIZE = re.compile(r"# Page (\d+)x(\d+)")


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


class Cli:
    """``python -m docling_hybrid_cli`` in ``cwd``, optionally under a file-size limit."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "NO_PROXY": "*", "PYTHONUNBUFFERED": "1"}

    def argv(self, args: Sequence[str | Path]) -> list[str]:
        return [sys.executable, "-m", "docling_hybrid_cli", *map(str, args)]

    def run(
        self, *args: str | Path, fsize: int | None = None, env: dict[str, str] | None = None
    ) -> Run:
        proc = subprocess.run(
            self.argv(args),
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
            preexec_fn=None if fsize is None else _file_size_limit(fsize),
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str | Path, log: Path) -> subprocess.Popen[bytes]:
        with log.open("wb") as sink:
            return subprocess.Popen(
                self.argv(args), cwd=self.cwd, env=self.env, stdout=sink, stderr=sink
            )


def _file_size_limit(limit: int) -> Callable[[], None]:
    """``ulimit -f``: a write past ``limit`` bytes fails with EFBIG (Python ignores SIGXFSZ)."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


@pytest.fixture
def server() -> Iterator[MockServer]:
    with MockServer(MockConfig(style="plain")) as mock:
        yield mock


@pytest.fixture
def slow_server() -> Iterator[MockServer]:
    """0.2 s a page: a run is surely still going when the test acts on it."""
    with MockServer(MockConfig(style="plain", latency_s=0.2)) as mock:
        yield mock


@contextlib.contextmanager
def tiny_tmpfs(where: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` at ``where`` (root only); the test is skipped when it cannot be had."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("a tiny tmpfs needs root (mount failed)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True, check=False)


def backend_args(server: MockServer, *extra: str) -> list[str]:
    return ["--backend", "deepseek-vllm", "--base-url", f"{server.url}/v1", *extra]


def widths_in(markdown: str) -> list[int]:
    return [int(w) for w, _ in PAGE_SIZE.findall(markdown)]


def expected_widths(pages: int) -> list[int]:
    return [600 + 2 * n for n in range(1, pages + 1)]


def checkpoint_entries(cache: Path) -> list[Path]:
    return sorted(cache.rglob("page-*.json"))


def error_lines(run: Run) -> list[str]:
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")]


def hidden_files(directory: Path) -> list[str]:
    """Hidden leftovers (partials, locks, temporaries); the finished-documents manifest is meant."""
    return sorted(
        p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != MANIFEST_NAME
    )


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before the condition held")
        if time.monotonic() > deadline:
            pytest.fail("condition not reached before the deadline")
        time.sleep(0.005)


# --------------------------------------------------------------------------- one run per output


def test_second_run_on_the_same_output_refuses_at_once(
    cli: Cli, slow_server: MockServer, tmp_path: Path
) -> None:
    """While a run writes doc.md, another run on it exits 2 with one line naming the first
    run's pid, sends nothing; the first run finishes untouched."""
    make_pdf(tmp_path / "doc.pdf", 16)
    args = ["convert", "doc.pdf", *backend_args(slow_server, "-j", "2")]
    first = cli.start(*args, log=tmp_path / "first.log")
    wait_until(lambda: slow_server.stats.chat_ok >= 2, first)

    second = cli.run(*args)
    assert second.code == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert lines[0] == f"error: another run (pid {first.pid}) is writing doc.md"
    assert len(lines) == 2 and lines[1].startswith("hint: ")

    assert first.wait(timeout=DEADLINE_S) == 0, (tmp_path / "first.log").read_text()
    assert widths_in((tmp_path / "doc.md").read_text()) == expected_widths(16)
    assert slow_server.stats.chat_requests == 16  # the refused run sent no page
    assert hidden_files(tmp_path) == []


def test_kill_9_mid_run_leaves_no_lock_and_a_rerun_resumes(
    cli: Cli, slow_server: MockServer, tmp_path: Path
) -> None:
    """kill -9 cannot run any clean-up: the kernel still drops the lock, and the re-run
    resumes from the checkpoints and clears the stale partial and lock files."""
    make_pdf(tmp_path / "doc.pdf", 24)
    args = ["convert", "doc.pdf", *backend_args(slow_server, "-j", "2")]
    proc = cli.start(*args, log=tmp_path / "run1.log")
    wait_until(lambda: slow_server.stats.chat_ok >= 6, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=DEADLINE_S)
    assert (tmp_path / ".doc.md.lock").exists()
    stored = len(checkpoint_entries(tmp_path / "xdg-cache"))
    assert stored >= 4

    slow_server.reset_stats()
    rerun = cli.run(*args, "-j", "8")
    assert rerun.code == 0, rerun.stderr
    assert slow_server.stats.chat_requests == 24 - stored
    assert widths_in((tmp_path / "doc.md").read_text()) == expected_widths(24)
    assert hidden_files(tmp_path) == []


def test_planted_symlinks_beside_the_output_are_never_followed(
    cli: Cli, server: MockServer, tmp_path: Path
) -> None:
    """A symlink at the old partial name is removed, not written through; one at the lock
    name refuses the run (exit 2). The files they point at keep their bytes."""
    make_pdf(tmp_path / "doc.pdf", 3)
    victim = tmp_path / "precious.txt"
    victim.write_text("precious")
    (tmp_path / ".doc.md.partial").symlink_to(victim)
    (tmp_path / ".doc.md.lock").symlink_to(victim)
    args = ["convert", "doc.pdf", *backend_args(server)]

    refused = cli.run(*args)
    assert refused.code == 2, refused.stderr
    assert error_lines(refused) == ["error: cannot lock doc.md: .doc.md.lock is a symbolic link"]

    (tmp_path / ".doc.md.lock").unlink()
    done = cli.run(*args)
    assert done.code == 0, done.stderr
    assert victim.read_text() == "precious"
    assert widths_in((tmp_path / "doc.md").read_text()) == expected_widths(3)
    assert hidden_files(tmp_path) == []


# --------------------------------------------------------------------------- write errors


@pytest.fixture(params=["file-too-large", "disk-full"])
def write_limit(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, int | None, str]]:
    """(output folder, RLIMIT_FSIZE or None, the error's wording): ~4 KiB of Markdown fits."""
    if request.param == "file-too-large":
        yield "out", 4096, "File too large"
        return
    # Two 4 KiB pages: the lock file takes one, the partial file the other.
    with tiny_tmpfs(tmp_path / "out", "8k"):
        yield "out", None, "No space left on device"


def test_write_error_fails_that_document_and_the_batch_goes_on(
    cli: Cli, server: MockServer, tmp_path: Path, write_limit: tuple[str, int | None, str]
) -> None:
    """Disk full or file too large mid-document: one error line, the next document still
    converts, exit 1; the converted pages stay checkpointed and a re-run resumes."""
    out, fsize, wording = write_limit
    (tmp_path / "in").mkdir()
    make_pdf(tmp_path / "in" / "a-big.pdf", 150)  # ~10 KiB of Markdown
    make_pdf(tmp_path / "in" / "b-small.pdf", 3)
    args = ["convert", "in", "-o", out, *backend_args(server, "-j", "4")]

    # The canned answers share no words with the pages: without the text-layer check off,
    # every page would carry a "suspect" comment and fewer pages would fit the 4 KiB.
    no_check = {"DOCLING_HYBRID_CONVERT__TEXT_AGREEMENT": "false"}  # the same in both runs
    first = cli.run(*args, fsize=fsize, env=no_check)
    assert first.code == 1, first.stderr
    assert "Traceback" not in first.stderr
    [error] = error_lines(first)
    assert error.startswith(f"error: cannot write {out}/a-big.md: {wording}")
    assert "checkpointed" in error
    assert widths_in((tmp_path / out / "b-small.md").read_text()) == expected_widths(3)
    assert sorted(p.name for p in (tmp_path / out).iterdir() if p.name != MANIFEST_NAME) == [
        "b-small.md"
    ]
    stored = len(checkpoint_entries(tmp_path / "xdg-cache"))
    assert stored >= 40  # the pages converted before the disk filled up

    server.reset_stats()
    if fsize is None:
        subprocess.run(["umount", str(tmp_path / out)], check=True)
    second = cli.run(*args, env=no_check)
    assert second.code == 0, second.stderr
    assert server.stats.chat_requests == (150 - stored) + 3
    assert widths_in((tmp_path / out / "a-big.md").read_text()) == expected_widths(150)


@pytest.mark.parametrize("limit", ["file-too-large", "disk-full"])
def test_checkpoint_write_failure_warns_and_the_run_goes_on(
    cli: Cli, server: MockServer, tmp_path: Path, limit: str
) -> None:
    """The checkpoints cannot be written: one warning, the cache is off, every page still
    converts and the run exits 0."""
    make_pdf(tmp_path / "doc.pdf", 12 if limit == "disk-full" else 1)
    args = ["convert", "doc.pdf", *backend_args(server)]
    with contextlib.ExitStack() as stack:
        if limit == "disk-full":  # room for about two checkpoints
            stack.enter_context(tiny_tmpfs(tmp_path / "xdg-cache", "8k"))
            run = cli.run(*args)
        else:  # the Markdown (~60 bytes) fits, a checkpoint (~350 bytes) does not
            run = cli.run(*args, fsize=200)
    assert run.code == 0, run.stderr
    warnings = [line for line in run.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, run.stderr
    assert "page checkpoints are off for the rest of this run" in warnings[0]
    pages = 12 if limit == "disk-full" else 1
    assert widths_in((tmp_path / "doc.md").read_text()) == expected_widths(pages)


# --------------------------------------------------------------------------- encrypted input


@pytest.mark.parametrize("allow", [False, True], ids=["default", "cache-encrypted"])
def test_encrypted_pages_reach_the_cache_only_with_cache_encrypted(
    cli: Cli, server: MockServer, tmp_path: Path, allow: bool
) -> None:
    """The plain text of a password-protected PDF is not checkpointed unless asked for."""
    make_encrypted_pdf(tmp_path / "secret.pdf", "pw", pages=3)
    server.inject("401")  # one page fails, so the run keeps its checkpoints
    extra = ["--cache-encrypted"] if allow else []
    args = ["convert", "secret.pdf", "--password-env", "PDF_PW", *extra, *backend_args(server)]
    run = cli.run(*args, env={"PDF_PW": "pw"})
    assert run.code == 1, run.stderr
    assert len(checkpoint_entries(tmp_path / "xdg-cache")) == (2 if allow else 0)
    notes = [line for line in run.stderr.splitlines() if line.startswith("note: ")]
    assert (notes == []) is allow
    assert all("--cache-encrypted" in note for note in notes)


# --------------------------------------------------------------------------- resume elsewhere


def test_resume_with_another_output_name_links_its_own_figures(cli: Cli, tmp_path: Path) -> None:
    """A run that stopped with a failed page, resumed with another -o: the reused pages link
    to (and have their figures copied into) the new output's own ``<name>_images/``."""
    make_pdf(tmp_path / "doc.pdf", 4)
    with MockServer(MockConfig(style="deepseek")) as deepseek:
        deepseek.inject("401")
        first = cli.run("convert", "doc.pdf", "-o", "first.md", *backend_args(deepseek))
        assert first.code == 1, first.stderr
        deepseek.reset_stats()
        second = cli.run("convert", "doc.pdf", "-o", "second.md", *backend_args(deepseek))
        assert second.code == 0, second.stderr
        assert deepseek.stats.chat_requests == 1
    markdown = (tmp_path / "second.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)  # alt text: the figure's caption
    assert len(links) == 4 and "first_images" not in markdown
    for link in links:
        assert link.startswith("second_images/page-")
        assert (tmp_path / link).stat().st_size > 0
    reused = [link for link in links if (tmp_path / "first_images" / Path(link).name).exists()]
    assert len(reused) == 3
    for link in reused:
        old = tmp_path / "first_images" / Path(link).name
        assert (tmp_path / link).read_bytes() == old.read_bytes()
