"""Issue #6 "Reliability", end to end: resume, many documents, bad input, atomic output,
secrets, cache commands and leaks, through the real CLI against the loopback mock server.

Subprocess runs are real ``python -m docling_hybrid_cli`` processes (so SIGINT, exit codes
and every byte written are the user's); in-process runs are used where the test needs to
look inside the process (sockets, file descriptors, asyncio tasks).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fpdf import FPDF
from pdfgen import make_empty_pdf, make_pdf
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from docling_hybrid_cli.batch import convert_batch
from docling_hybrid_cli.checkpoint import PageCache
from docling_hybrid_cli.cli import app
from docling_hybrid_cli.jobs import plan_jobs
from docling_hybrid_cli.manifest import MANIFEST_NAME
from docling_hybrid_cli.pages import PageResult, PageText
from docling_hybrid_cli.pipeline import QuietObserver
from docling_hybrid_cli.settings import load_settings
from docling_hybrid_cli.sim import MockConfig, MockServer, MockStats

PAGES = 200
CONCURRENCY = 4
KEY = "sk-or-v1-PLANTED-0123456789abcdef"
DEADLINE_S = 90.0
PAGE_SIZE = re.compile(r"# Page (\d+)x(\d+)")


# --------------------------------------------------------------------------- helpers


@dataclass
class Run:
    """A finished CLI process."""

    code: int
    stdout: str
    stderr: str


class Cli:
    """Runs ``python -m docling_hybrid_cli`` in ``cwd`` with the test's isolated environment."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.env = {**os.environ, "NO_PROXY": "*", "PYTHONUNBUFFERED": "1"}

    def argv(self, args: Sequence[str | Path]) -> list[str]:
        return [sys.executable, "-m", "docling_hybrid_cli", *map(str, args)]

    def run(self, *args: str | Path, env: dict[str, str] | None = None) -> Run:
        proc = subprocess.run(
            self.argv(args),
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=DEADLINE_S,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str | Path, log: Path) -> subprocess.Popen[bytes]:
        """Start in the background, stdout and stderr into ``log`` (no pipe to fill up)."""
        with log.open("wb") as sink:
            return subprocess.Popen(
                self.argv(args), cwd=self.cwd, env=self.env, stdout=sink, stderr=sink
            )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """The CLI, run from ``tmp_path`` with XDG dirs inside it (set by the autouse fixture)."""
    return Cli(tmp_path)


@pytest.fixture
def invoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    """The CLI in-process (fast; for runs that stop before or without a long conversion)."""
    monkeypatch.chdir(tmp_path)

    def run(*args: str | Path) -> Run:
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(
            result.exception
        )
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


@pytest.fixture
def server() -> Iterator[MockServer]:
    """A plain-style mock vLLM that takes 50 ms per page."""
    with MockServer(MockConfig(style="plain", latency_s=0.05)) as mock:
        yield mock


@pytest.fixture(scope="module")
def big_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 200-page document (made once; page n is (300+n) pt wide)."""
    return make_pdf(tmp_path_factory.mktemp("big") / "big.pdf", PAGES)


def backend_args(server: MockServer, *extra: str) -> list[str]:
    return ["--backend", "deepseek-vllm", "--base-url", f"{server.url}/v1", *extra]


def widths_in(markdown: str) -> list[int]:
    """Image widths the mock named, in the order the pages appear in the Markdown."""
    return [int(w) for w, _ in PAGE_SIZE.findall(markdown)]


def expected_widths(pages: int | Sequence[int]) -> list[int]:
    """Rendered widths at 144 dpi of pages 1..n (or of the given page numbers)."""
    numbers = range(1, pages + 1) if isinstance(pages, int) else pages
    return [600 + 2 * n for n in numbers]


def chat_records(stats: MockStats) -> list[Any]:
    return [r for r in stats.requests if r.path.endswith("/chat/completions")]


def wait_until(condition: Callable[[], bool], proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``condition`` until it holds; fail if the process ends first or time runs out."""
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before the condition held")
        if time.monotonic() > deadline:
            pytest.fail("condition not reached before the deadline")
        time.sleep(0.005)


def assert_one_line_error(run: Run) -> None:
    """Exit 2, ``error: ...`` on one line (plus an optional ``hint:`` line), no traceback."""
    assert run.code == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), run.stderr
    assert len(lines) <= 2, run.stderr
    assert len(lines) == 1 or lines[1].startswith("hint: "), run.stderr
    assert "Traceback" not in run.stderr + run.stdout


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def partial_files(directory: Path, output: str) -> list[Path]:
    """The hidden ``.<output>.<random>.partial`` files a run streams pages into."""
    return sorted(directory.glob(f".{output}.*.partial"))


def looks_complete(directory: Path) -> list[Path]:
    """Markdown files under their final name (not ``.x.md.partial``, not temporaries)."""
    return [p for p in directory.rglob("*.md") if not p.name.startswith(".")]


def checkpoint_entries(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "xdg-cache").rglob("page-*.json"))


# --------------------------------------------------------------------------- resume


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_stop_signal_then_rerun_resumes_with_only_missing_pages(
    cli: Cli,
    server: MockServer,
    big_pdf: Path,
    tmp_path: Path,
    signum: signal.Signals,
    code: int,
) -> None:
    """Ctrl-C (or a scheduler's SIGTERM) halfway keeps finished pages; a re-run sends the rest."""
    pdf = tmp_path / "big.pdf"
    pdf.write_bytes(big_pdf.read_bytes())
    args = ["convert", pdf.name, *backend_args(server, "-j", str(CONCURRENCY))]
    log = tmp_path / "run1.log"

    proc = cli.start(*args, log=log)
    wait_until(lambda: server.stats.chat_ok >= PAGES // 2, proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=DEADLINE_S) == code
    first = server.stats
    stderr = log.read_text()
    assert "run the same command again" in stderr
    assert "Traceback" not in stderr
    assert not (tmp_path / "big.md").exists()
    partials = partial_files(tmp_path, "big.md")
    assert len(partials) <= 1
    partial_text = partials[0].read_text() if partials else ""
    stored = len(checkpoint_entries(tmp_path))
    assert PAGES // 2 - CONCURRENCY <= stored <= first.chat_ok

    server.reset_stats()
    second_run = cli.run(*args)
    assert second_run.code == 0, second_run.stderr
    second = server.stats
    missing = PAGES - first.chat_ok
    assert missing <= second.chat_requests <= missing + CONCURRENCY
    assert second.chat_requests == PAGES - stored
    seen = {r.width for r in chat_records(first) + chat_records(second) if r.status == 200}
    assert seen == set(expected_widths(PAGES))

    resumed = (tmp_path / "big.md").read_bytes()
    assert widths_in(resumed.decode()) == expected_widths(PAGES)
    assert resumed.decode().startswith(partial_text)
    assert partial_files(tmp_path, "big.md") == []
    assert checkpoint_entries(tmp_path) == [], "a complete run forgets its checkpoints"

    fresh = cli.run(*args, "--no-cache", "-o", "fresh.md", "-j", "16")
    assert fresh.code == 0, fresh.stderr
    assert (tmp_path / "fresh.md").read_bytes() == resumed


def test_failed_pages_are_retried_on_rerun(
    invoke: Callable[..., Run], server: MockServer, tmp_path: Path
) -> None:
    """Pages that failed (401) are not checkpointed; the re-run sends exactly those."""
    pages, rejected = 20, 5
    make_pdf(tmp_path / "doc.pdf", pages)
    args = ["convert", "doc.pdf", *backend_args(server, "-j", str(CONCURRENCY))]
    server.inject(*["401"] * rejected)

    first = invoke(*args)
    assert first.code == 1, first.stderr
    records = chat_records(server.stats)
    assert len(records) == pages
    failed_widths = {r.width for r in records if r.status == 401}
    assert len(failed_widths) == rejected
    markdown = (tmp_path / "doc.md").read_text()
    assert markdown.count("failed:") == rejected
    assert "FAILED" in first.stderr

    server.reset_stats()
    second = invoke(*args)
    assert second.code == 0, second.stderr
    assert {r.width for r in chat_records(server.stats)} == failed_widths
    assert server.stats.chat_requests == rejected
    markdown = (tmp_path / "doc.md").read_text()
    assert widths_in(markdown) == expected_widths(pages)
    assert "failed:" not in markdown


def test_no_cache_stores_and_reuses_nothing(
    invoke: Callable[..., Run], server: MockServer, tmp_path: Path
) -> None:
    """--no-cache after a failed run neither reads its checkpoints nor writes new ones."""
    make_pdf(tmp_path / "doc.pdf", 6)
    args = ["convert", "doc.pdf", *backend_args(server)]
    server.inject("401")
    assert invoke(*args).code == 1
    kept = checkpoint_entries(tmp_path)
    assert len(kept) == 5

    server.reset_stats()
    assert invoke(*args, "--no-cache").code == 0
    assert server.stats.chat_requests == 6
    assert sorted(checkpoint_entries(tmp_path)) == sorted(kept)


# --------------------------------------------------------------------------- many documents


def page_image(size: tuple[int, int]) -> Image.Image:
    """A white image with a line of text on it (a blank one would not be sent)."""
    image = Image.new("RGB", size, "white")
    ImageDraw.Draw(image).text((20, 20), "A scanned line of text.", fill="black")
    return image


def write_png(path: Path, size: tuple[int, int]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    page_image(size).save(path, "PNG")
    return path


@pytest.fixture
def mixed_tree(tmp_path: Path) -> Path:
    """in/ with PDFs in nested folders, a PNG and a text file called broken.pdf."""
    root = tmp_path / "in"
    (root / "a" / "b").mkdir(parents=True)
    make_pdf(root / "a" / "one.pdf", 2)
    make_pdf(root / "a" / "b" / "two.pdf", 3)
    write_png(root / "scan.png", (500, 700))
    (root / "broken.pdf").write_text("this is not a PDF\n")
    return root


def test_directory_with_a_bad_file_converts_the_rest(
    invoke: Callable[..., Run], server: MockServer, mixed_tree: Path, tmp_path: Path
) -> None:
    """One unreadable file is reported and skipped; the others land in OUT mirroring layout."""
    run = invoke("convert", "in", "-o", "out", "--glob", "**/*", *backend_args(server))
    assert run.code == 2, run.stderr
    assert "Traceback" not in run.stderr
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in looks_complete(out)) == [
        "a/b/two.md",
        "a/one.md",
        "scan.md",
    ]
    assert widths_in((out / "a" / "one.md").read_text()) == expected_widths(2)
    assert widths_in((out / "a" / "b" / "two.md").read_text()) == expected_widths(3)
    assert PAGE_SIZE.findall((out / "scan.md").read_text()) == [("500", "700")]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "broken.pdf" in errors[0]
    for name in ("a/one.md", "a/b/two.md", "scan.md"):
        assert any(line.endswith(f"-> out/{name}") for line in run.stderr.splitlines()), name
    assert "3 documents converted, 1 unreadable" in run.stderr


def test_several_file_arguments(
    invoke: Callable[..., Run], server: MockServer, tmp_path: Path
) -> None:
    """PDF, PNG and a multi-frame TIFF given as arguments each become a document in OUT."""
    make_pdf(tmp_path / "doc.pdf", 2)
    write_png(tmp_path / "photo.png", (300, 200))
    frames = [page_image(size) for size in ((320, 240), (240, 320))]
    frames[0].save(tmp_path / "scan.tiff", "TIFF", save_all=True, append_images=frames[1:])

    run = invoke("convert", "doc.pdf", "photo.png", "scan.tiff", "-o", "out", *backend_args(server))
    assert run.code == 0, run.stderr
    out = tmp_path / "out"
    assert widths_in((out / "doc.md").read_text()) == expected_widths(2)
    assert PAGE_SIZE.findall((out / "photo.md").read_text()) == [("300", "200")]
    assert PAGE_SIZE.findall((out / "scan.md").read_text()) == [("320", "240"), ("240", "320")]
    assert "3 documents converted, 0 unreadable" in run.stderr


def test_failed_pages_in_one_of_many_documents_exit_1(
    invoke: Callable[..., Run], server: MockServer, tmp_path: Path
) -> None:
    """All files readable but a page failed: exit 1 and that document's line says FAILED."""
    make_pdf(tmp_path / "x.pdf", 1)
    make_pdf(tmp_path / "y.pdf", 1)
    server.inject("401")
    run = invoke("convert", "x.pdf", "y.pdf", "-o", "out", *backend_args(server))
    assert run.code == 1, run.stderr
    summary = [line for line in run.stderr.splitlines() if "pages converted in" in line]
    assert len(summary) == 2
    assert sum("FAILED: pages 1" in line for line in summary) == 1


# --------------------------------------------------------------------------- bad input


def _huge_page_pdf(path: Path) -> None:
    pdf = FPDF(unit="pt")
    pdf.add_page(format=(20000, 20000))
    pdf.set_font("Helvetica", size=400)
    pdf.text(1000, 2000, "Poster")
    pdf.output(str(path))


BAD_CONFIGS = {
    "invalid-toml": "[convert\ndpi = ",
    "wrong-type": '[convert]\ndpi = "high"\n',
    "out-of-range": "[convert]\ndpi = 5\n",
    "unknown-key": "[convert]\ncolour = true\n",
}


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        pytest.param(
            lambda d: make_empty_pdf(d / "doc.pdf"), ["doc.pdf"], "no pages", id="zero-pages"
        ),
        pytest.param(
            lambda d: (d / "file.txt").write_text("x"),
            ["doc.pdf", "-o", "file.txt/out.md"],
            "cannot write",
            id="output-under-a-file",
        ),
        pytest.param(None, ["doc.pdf", "--pages", "1-x"], "invalid page range", id="pages-junk"),
        pytest.param(None, ["doc.pdf", "--pages", "0"], "start at 1", id="pages-zero"),
        pytest.param(None, ["doc.pdf", "--pages", "3-2"], "start is after end", id="pages-desc"),
        pytest.param(None, ["doc.pdf", "--pages", "1,,2"], "empty part", id="pages-empty-part"),
        pytest.param(None, ["doc.pdf", "--pages", "9"], "does not exist", id="pages-beyond-end"),
        pytest.param(None, ["doc.pdf", "--pages", "2-99"], "does not exist", id="pages-range-end"),
        *[
            pytest.param(
                lambda d, text=text: (d / "bad.toml").write_text(text),
                ["--config", "bad.toml", "convert", "doc.pdf"],
                "bad.toml" if name == "invalid-toml" else "convert.",
                id=f"config-{name}",
            )
            for name, text in BAD_CONFIGS.items()
        ],
    ],
)
def test_bad_input_one_line_exit_2_nothing_written(
    invoke: Callable[..., Run],
    server: MockServer,
    tmp_path: Path,
    setup: Callable[[Path], object] | None,
    args: list[str],
    message: str,
) -> None:
    """Each bad input: exit 2, one ``error:`` line, no traceback, no request, no final .md."""
    make_pdf(tmp_path / "doc.pdf", 3)
    if setup is not None:
        setup(tmp_path)
    if args[0] != "--config":
        args = ["convert", *args]
    run = invoke(*args, *backend_args(server))
    assert_one_line_error(run)
    assert message in run.stderr
    assert looks_complete(tmp_path) == []
    assert server.stats.chat_requests == 0


def test_config_from_environment_variable_is_checked(
    invoke: Callable[..., Run],
    server: MockServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A malformed file named by $DOCLING_HYBRID_CONFIG is a one-line exit 2 too."""
    make_pdf(tmp_path / "doc.pdf", 1)
    (tmp_path / "bad.toml").write_text(BAD_CONFIGS["invalid-toml"])
    monkeypatch.setenv("DOCLING_HYBRID_CONFIG", "bad.toml")
    run = invoke("convert", "doc.pdf", *backend_args(server))
    assert_one_line_error(run)
    assert "invalid TOML" in run.stderr
    assert looks_complete(tmp_path) == []


def test_absurd_page_size_is_capped(
    invoke: Callable[..., Run], server: MockServer, tmp_path: Path
) -> None:
    """A 20000 x 20000 pt page renders within max_side instead of a 40000 px bitmap."""
    _huge_page_pdf(tmp_path / "poster.pdf")
    run = invoke("convert", "poster.pdf", *backend_args(server))
    assert run.code == 0, run.stderr
    [record] = chat_records(server.stats)
    assert record.width is not None and record.height is not None
    assert max(record.width, record.height) <= 2000
    assert record.width == record.height
    assert (tmp_path / "poster.md").exists()


# --------------------------------------------------------------------------- atomic output


@pytest.fixture
def slow_server() -> Iterator[MockServer]:
    """A mock vLLM slow enough (0.2 s a page) that a run is surely still going when polled."""
    with MockServer(MockConfig(style="plain", latency_s=0.2)) as mock:
        yield mock


def test_existing_output_replaced_only_when_finished(
    cli: Cli, slow_server: MockServer, tmp_path: Path
) -> None:
    """The old file stays intact while converting and after Ctrl-C; a full run replaces it."""
    server = slow_server
    make_pdf(tmp_path / "doc.pdf", 24)
    out = tmp_path / "doc.md"
    out.write_text("OLD CONTENT\n")
    args = ["convert", "doc.pdf", *backend_args(server, "-j", "2")]

    proc = cli.start(*args, log=tmp_path / "run1.log")
    wait_until(lambda: server.stats.chat_ok >= 3, proc)
    assert out.read_text() == "OLD CONTENT\n"
    assert len(partial_files(tmp_path, "doc.md")) == 1
    assert (tmp_path / ".doc.md.lock").read_text().strip() == str(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=DEADLINE_S) == 130
    assert out.read_text() == "OLD CONTENT\n"

    run = cli.run(*args, "-j", "8")
    assert run.code == 0, run.stderr
    assert widths_in(out.read_text()) == expected_widths(24)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert leftovers == [MANIFEST_NAME]  # the finished-documents record, nothing partial


@pytest.mark.parametrize(
    ("make_input", "extra"),
    [
        pytest.param(lambda p: p.write_text("not a pdf"), [], id="not-a-pdf"),
        pytest.param(lambda p: make_pdf(p, 2), ["--pages", "5"], id="bad-pages"),
        pytest.param(lambda p: p.write_bytes(make_pdf(p, 2).read_bytes()[:300]), [], id="cut"),
    ],
)
def test_failed_input_leaves_existing_output_untouched(
    invoke: Callable[..., Run],
    server: MockServer,
    tmp_path: Path,
    make_input: Callable[[Path], object],
    extra: list[str],
) -> None:
    """When the input is refused, the previous Markdown is neither replaced nor removed."""
    make_input(tmp_path / "doc.pdf")
    out = tmp_path / "doc.md"
    out.write_text("OLD CONTENT\n")
    run = invoke("convert", "doc.pdf", *extra, *backend_args(server))
    assert_one_line_error(run)
    assert out.read_text() == "OLD CONTENT\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- secrets


class _KeyEchoHandler(BaseHTTPRequestHandler):
    """A hostile OpenRouter stand-in: most answers quote the caller's API key back."""

    protocol_version = "HTTP/1.1"
    counter = 0
    lock = threading.Lock()
    authorizations: list[str] = []  # noqa: RUF012 (reset per test by the fixture)

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        key = self.headers.get("Authorization", "").removeprefix("Bearer ")
        self._reply(401, {"error": {"message": f"No auth credentials found for {key}"}})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        auth = self.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        with self.lock:
            type(self).authorizations.append(auth)
            turn = type(self).counter
            type(self).counter += 1
        kind = turn % 5
        if kind == 0:
            message = {"role": "assistant", "content": f"# Page ok {turn}\n\nSome text."}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            usage = {"prompt_tokens": 10, "completion_tokens": 5}
            self._reply(200, {"id": "x", "model": "m", "choices": [choice], "usage": usage})
        elif kind == 1:
            self._reply(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
        elif kind == 2:
            self._reply(500, {"error": {"message": f"upstream failed for {auth}"}})
        elif kind == 3:
            self._reply(200, {"error": {"code": 502, "message": f"Provider error, key={key}"}})
        else:
            self._reply(429, {"error": {"message": f"Rate limit for {key}"}}, {"Retry-After": "0"})


@pytest.fixture
def key_echo_server() -> Iterator[str]:
    """The key-echoing server on a loopback port; yields its API root."""
    _KeyEchoHandler.counter = 0
    _KeyEchoHandler.authorizations = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _KeyEchoHandler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_planted_key_is_absent_from_every_byte_written(
    cli: Cli, key_echo_server: str, tmp_path: Path
) -> None:
    """A server quoting the key in every kind of error never makes the tool write it."""
    make_pdf(tmp_path / "doc.pdf", 8)
    env = {
        "OPENROUTER_API_KEY": KEY,
        "DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__BASE_URL": key_echo_server,
        "DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__REQUESTS_PER_MINUTE": "1000000",
        "DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S": "0",
        "DOCLING_HYBRID_RETRY__BACKOFF_MAX_S": "0",
    }
    run = cli.run(
        "--verbose",
        "convert",
        "doc.pdf",
        "--chain",
        "nemotron-openrouter",
        "-o",
        "out/doc.md",
        "--report",
        "out/report.json",
        "--json",
        env=env,
    )
    assert run.code == 1, run.stderr
    assert f"Bearer {KEY}" in _KeyEchoHandler.authorizations, "the key was really sent"
    assert "Traceback" not in run.stderr
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    statuses = {page["status"] for page in report["documents"][0]["page_results"]}
    assert statuses == {"converted", "failed"}, "both paths (stored and failed) exercised"
    assert checkpoint_entries(tmp_path), "converted pages were checkpointed"

    written = files_under(tmp_path)
    assert tmp_path / "out" / "doc.md" in written
    needle = KEY.encode()
    leaks = [str(p) for p in written if needle in p.read_bytes()]
    assert leaks == []
    assert KEY not in run.stdout
    assert KEY not in run.stderr
    assert "[redacted]" in run.stderr, "the echoed key was seen and redacted"


@pytest.mark.parametrize(
    ("chain", "env_url"),
    [
        pytest.param(
            ["--chain", "nemotron-openrouter", "--base-url", "http://10.0.0.1/v1"], False, id="flag"
        ),
        pytest.param(["--chain", "nemotron-openrouter"], True, id="env"),
        pytest.param(["--chain", "deepseek-vllm,nemotron-openrouter"], True, id="fallback"),
    ],
)
def test_key_over_plain_http_refused_before_any_connection(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    chain: list[str],
    env_url: bool,
) -> None:
    """A key bound for http://10.0.0.1 stops the run with exit 2 before a socket connects."""
    make_pdf(tmp_path / "doc.pdf", 1)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENROUTER_API_KEY", KEY)
    if env_url:
        monkeypatch.setenv(
            "DOCLING_HYBRID_BACKENDS__NEMOTRON_OPENROUTER__BASE_URL", "http://10.0.0.1/v1"
        )
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network use is forbidden in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)

    result = CliRunner().invoke(app, ["convert", "doc.pdf", *chain])
    assert result.exit_code == 2, result.output
    assert "plain HTTP" in result.stderr and "10.0.0.1" in result.stderr
    assert "allow_insecure_http" in result.stderr
    assert KEY not in result.stdout + result.stderr
    assert attempts == []
    assert looks_complete(tmp_path) == []


# --------------------------------------------------------------------------- cache commands


def test_cache_path_is_under_xdg_cache_home(tmp_path: Path) -> None:
    """``cache path`` prints $XDG_CACHE_HOME/docling-hybrid-ocr/pages."""
    result = CliRunner().invoke(app, ["cache", "path"])
    assert result.exit_code == 0
    assert result.stdout.strip() == str(tmp_path / "xdg-cache" / "docling-hybrid-ocr" / "pages")


def test_cache_path_follows_cache_dir_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``[cache] dir`` (via DOCLING_HYBRID_CACHE__DIR) moves the checkpoints."""
    monkeypatch.setenv("DOCLING_HYBRID_CACHE__DIR", str(tmp_path / "elsewhere"))
    result = CliRunner().invoke(app, ["cache", "path"])
    assert result.stdout.strip() == str(tmp_path / "elsewhere")


def test_cache_clear_removes_checkpoints(tmp_path: Path) -> None:
    """``cache clear`` deletes every document's pages and the directory; then it is a no-op."""
    root = tmp_path / "xdg-cache" / "docling-hybrid-ocr" / "pages"
    for key in ("one", "two"):
        PageCache(root, key).store(PageResult(page=1, text=PageText(markdown="x")))
    result = CliRunner().invoke(app, ["cache", "clear"])
    assert result.exit_code == 0
    assert "2 document(s)" in result.stdout
    assert not root.exists()
    again = CliRunner().invoke(app, ["cache", "clear", "--quiet"])
    assert again.exit_code == 0 and again.stdout == ""


# --------------------------------------------------------------------------- leaks


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_long_run_leaks_no_fds_tasks_or_sessions(tmp_path: Path) -> None:
    """100 pages in-process: no extra fds, no tasks left, no unclosed session or socket."""
    make_pdf(tmp_path / "warm.pdf", 3)
    make_pdf(tmp_path / "doc.pdf", 100)
    with MockServer(MockConfig(style="plain")) as mock:
        overrides = {
            "backends.fallback_chain": ["deepseek-vllm"],
            "backends.deepseek-vllm.base_url": f"{mock.url}/v1",
            "convert.concurrency": 8,
        }
        settings = load_settings(overrides=overrides).settings

        def convert(name: str) -> tuple[int, list[asyncio.Task[Any]], list[str]]:
            jobs = plan_jobs([tmp_path / name])

            async def run() -> tuple[int, list[asyncio.Task[Any]], list[str]]:
                problems: list[str] = []
                asyncio.get_running_loop().set_exception_handler(
                    lambda _loop, context: problems.append(str(context.get("message")))
                )
                batch = await convert_batch(jobs, settings, QuietObserver())
                gc.collect()  # an unclosed aiohttp session reports itself when collected
                await asyncio.sleep(0)
                others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
                return batch.exit_code, others, problems

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                outcome = asyncio.run(run())
                gc.collect()
            unclosed = [str(w.message) for w in caught if w.category is ResourceWarning]
            return outcome[0], outcome[1], outcome[2] + unclosed

        assert convert("warm.pdf") == (0, [], [])
        wait_until(lambda: mock.stats.chat_ok == 3)
        time.sleep(0.2)  # let the server close the warm-up connections
        before = _open_fds()

        assert convert("doc.pdf") == (0, [], [])
        assert widths_in((tmp_path / "doc.md").read_text()) == expected_widths(100)
        wait_until(lambda: _open_fds() <= before + 2)
