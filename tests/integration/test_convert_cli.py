"""`docling-hybrid-ocr convert` end to end: the real CLI against the project's mock vLLM server."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from pdfgen import make_pdf
from typer.testing import CliRunner, Result

from docling_hybrid_cli.cli import app
from docling_hybrid_cli.sim import MockConfig, MockServer

CORPUS_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"
ENCRYPTED = "libreoffice-writer-password.pdf"
CORPUS_PDFS = (
    sorted(p.name for p in CORPUS_DIR.glob("*.pdf") if p.name != ENCRYPTED)
    if CORPUS_DIR.is_dir()
    else []
)
PAGE_SIZE = re.compile(r"^# Page (\d+)x(\d+)$", re.MULTILINE)

Invoke = Callable[..., Result]


@pytest.fixture
def server(mock_server: MockServer) -> MockServer:
    """The conftest's healthy mock vLLM, typed."""
    return mock_server


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Invoke:
    """Run the CLI in-process from tmp_path; retries do not back off, so failures stay fast."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_INITIAL_S", "0")
    monkeypatch.setenv("DOCLING_HYBRID_RETRY__BACKOFF_MAX_S", "0")

    def run(*args: str | Path) -> Result:
        return CliRunner().invoke(app, [str(a) for a in args])

    return run


def convert_args(server: MockServer, *extra: str | Path, url_suffix: str = "/v1") -> list[str]:
    """The usual command line pointed at ``server``."""
    return [
        "convert",
        *map(str, extra),
        "--base-url",
        f"{server.url}{url_suffix}",
        "--backend",
        "deepseek-vllm",
    ]


def page_sizes(markdown: str) -> list[tuple[int, int]]:
    """The pixel sizes the mock read from each page image, in file order."""
    return [(int(w), int(h)) for w, h in PAGE_SIZE.findall(markdown)]


def page_widths(markdown: str) -> list[int]:
    """Widths of a make_pdf document's pages, in file order (their height is always 800)."""
    sizes = page_sizes(markdown)
    assert all(h == 800 for _, h in sizes), sizes
    return [w for w, _ in sizes]


def widths_of(pages: list[int]) -> list[int]:
    """At 144 dpi page n of a make_pdf document is 600 + 2n px wide."""
    return [600 + 2 * n for n in pages]


@pytest.fixture
def pdf12(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "doc.pdf", 12)


@pytest.fixture
def pdf3(tmp_path: Path) -> Path:
    return make_pdf(tmp_path / "small.pdf", 3)


# --------------------------------------------------------------------------- happy paths


def test_twelve_pages_in_order_with_figures(
    invoke: Invoke, server: MockServer, pdf12: Path, tmp_path: Path
) -> None:
    """A 12-page PDF: every page once, in order, tags gone, figures written and linked, exit 0."""
    result = invoke(*convert_args(server, pdf12))
    assert result.exit_code == 0, result.output
    markdown = (tmp_path / "doc.md").read_text("utf-8")
    assert page_widths(markdown) == widths_of(list(range(1, 13)))
    for tag in ("<|ref|>", "<|/ref|>", "<|det|>", "<|/det|>"):
        assert tag not in markdown
    links = re.findall(
        r"!\[Figure 1: the picture of page \d+x\d+\]\((doc_images/[^)]+)\)", markdown
    )
    assert len(links) == 12
    for link in links:
        assert (tmp_path / link).is_file()
    assert server.stats.chat_ok == 12
    assert "12/12 pages converted" in result.stderr
    assert not list(tmp_path.glob(".*.partial"))


def test_requests_are_concurrent(invoke: Invoke, pdf12: Path, tmp_path: Path) -> None:
    """With --concurrency 4 and a slow server, several requests are in flight at once."""
    with MockServer(MockConfig(latency_s=0.2)) as slow:
        result = invoke(*convert_args(slow, pdf12, "--concurrency", "4"))
        stats = slow.stats
    assert result.exit_code == 0, result.output
    assert stats.max_in_flight > 1
    assert stats.max_in_flight <= 4
    assert page_widths((tmp_path / "doc.md").read_text("utf-8")) == widths_of(list(range(1, 13)))


def test_pages_option_converts_only_those(
    invoke: Invoke, server: MockServer, pdf12: Path, tmp_path: Path
) -> None:
    """--pages 2-3 sends and writes pages 2 and 3 only."""
    result = invoke(*convert_args(server, pdf12, "--pages", "2-3"))
    assert result.exit_code == 0, result.output
    assert page_widths((tmp_path / "doc.md").read_text("utf-8")) == widths_of([2, 3])
    assert server.stats.chat_requests == 2


def test_seed_full_url_form(invoke: Invoke, server: MockServer, pdf3: Path, tmp_path: Path) -> None:
    """--base-url .../v1/chat/completions (the seed's form) works like the API root."""
    result = invoke(*convert_args(server, pdf3, url_suffix="/v1/chat/completions"))
    assert result.exit_code == 0, result.output
    assert page_widths((tmp_path / "small.md").read_text("utf-8")) == widths_of([1, 2, 3])


def test_output_path_option(invoke: Invoke, server: MockServer, pdf3: Path, tmp_path: Path) -> None:
    """-o writes the Markdown (and its figures dir) where asked, creating directories."""
    out = tmp_path / "out" / "sub" / "result.md"
    result = invoke(*convert_args(server, pdf3, "-o", out))
    assert result.exit_code == 0, result.output
    assert page_widths(out.read_text("utf-8")) == widths_of([1, 2, 3])
    assert "](result_images/" in out.read_text("utf-8")
    assert len(list((out.parent / "result_images").iterdir())) == 3
    assert not (tmp_path / "small.md").exists()


def test_report_has_per_page_records(
    invoke: Invoke, server: MockServer, pdf3: Path, tmp_path: Path
) -> None:
    """--report writes JSON with one record per page, backend and tokens included."""
    report = tmp_path / "reports" / "run.json"
    result = invoke(*convert_args(server, pdf3, "--report", report))
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text("utf-8"))
    [document] = data["documents"]
    records = document["page_results"]
    assert [r["page"] for r in records] == [1, 2, 3]
    for record in records:
        assert record["status"] == "converted"
        assert record["backend"] == "deepseek-vllm"
        assert record["completion_tokens"] > 0
        assert record["errors"] == []
        assert record["figures"] == [f"page-{record['page']:04d}-fig-1.jpg"]
        assert record["response_id"].startswith("chatcmpl-")
    assert data["chain"][0]["name"] == "deepseek-vllm"
    assert data["chain"][0]["base_url"] == f"{server.url}/v1"


def test_json_summary_on_stdout(
    invoke: Invoke, server: MockServer, pdf3: Path, tmp_path: Path
) -> None:
    """--json prints a parseable summary on stdout; progress stays on stderr."""
    result = invoke(*convert_args(server, pdf3, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    [document] = summary["documents"]
    assert document["pages"] == 3
    assert document["converted"] == 3
    assert document["failed"] == 0
    assert document["by_backend"] == {"deepseek-vllm": 3}
    assert summary["exit_code"] == 0


def test_installed_console_script(server: MockServer, pdf3: Path, tmp_path: Path) -> None:
    """The installed docling-hybrid-ocr script runs a conversion in a real subprocess."""
    script = shutil.which("docling-hybrid-ocr") or str(
        Path(sys.executable).parent / "docling-hybrid-ocr"
    )
    out = tmp_path / "sub.md"
    proc = subprocess.run(
        [script, *convert_args(server, pdf3, "-o", out, "--json")],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["documents"][0]["converted"] == 3
    assert page_widths(out.read_text("utf-8")) == widths_of([1, 2, 3])
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("name", CORPUS_PDFS)
def test_corpus_pdf_converts(
    invoke: Invoke, server: MockServer, corpus: Path, tmp_path: Path, name: str
) -> None:
    """Every real-world corpus PDF converts with exit 0, one answer per page."""
    out = tmp_path / f"{Path(name).stem}.md"
    result = invoke(*convert_args(server, corpus / name, "-o", out, "--json"))
    assert result.exit_code == 0, result.output
    [document] = json.loads(result.stdout)["documents"]
    assert document["converted"] == document["pages"] >= 1
    assert len(page_sizes(out.read_text("utf-8"))) == document["pages"]


def test_encrypted_corpus_pdf_with_password(
    invoke: Invoke, server: MockServer, corpus: Path, tmp_path: Path
) -> None:
    """The encrypted corpus PDF converts when given its user password."""
    out = tmp_path / "secret.md"
    result = invoke(
        *convert_args(server, corpus / ENCRYPTED, "--password", "openpassword", "-o", out)
    )
    assert result.exit_code == 0, result.output
    assert len(page_sizes(out.read_text("utf-8"))) == 1
    assert "openpassword" not in result.output


def test_password_from_an_environment_variable(
    invoke: Invoke,
    server: MockServer,
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--password-env keeps the password out of ps and the shell history."""
    monkeypatch.setenv("PDF_PASSWORD", "openpassword")
    out = tmp_path / "secret.md"
    args = convert_args(server, corpus / ENCRYPTED, "--password-env", "PDF_PASSWORD", "-o", out)
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert len(page_sizes(out.read_text("utf-8"))) == 1


def test_password_dash_reads_it_once_from_stdin(
    server: MockServer, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--password - asks for it (a piped stdin gives it, as a script would)."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "secret.md"
    args = [str(a) for a in convert_args(server, corpus / ENCRYPTED, "--password", "-", "-o", out)]
    result = CliRunner().invoke(app, args, input="openpassword\n")
    assert result.exit_code == 0, result.output
    assert "openpassword" not in result.output


@pytest.mark.parametrize(
    ("flags", "env", "message"),
    [
        (["--password-env", "NOPE"], {}, "--password-env NOPE: the variable is not set"),
        (["--password", "x", "--password-env", "V"], {"V": "y"}, "not both"),
    ],
)
def test_password_flag_errors_exit_2(
    invoke: Invoke,
    server: MockServer,
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = invoke(*convert_args(server, corpus / ENCRYPTED, *flags))
    assert result.exit_code == 2
    assert message in result.output


# --------------------------------------------------------------------------- bad inputs


def _missing(tmp: Path) -> list[str]:
    return ["convert", str(tmp / "missing.pdf")]


def _directory(tmp: Path) -> list[str]:
    (tmp / "empty_dir").mkdir()
    return ["convert", str(tmp / "empty_dir")]


def _text_named_pdf(tmp: Path) -> list[str]:
    (tmp / "x.pdf").write_text("this is not a PDF\n", encoding="utf-8")
    return ["convert", str(tmp / "x.pdf")]


def _empty(tmp: Path) -> list[str]:
    (tmp / "empty.pdf").write_bytes(b"")
    return ["convert", str(tmp / "empty.pdf")]


def _truncated(tmp: Path) -> list[str]:
    whole = make_pdf(tmp / "whole.pdf", 3).read_bytes()
    (tmp / "cut.pdf").write_bytes(whole[: len(whole) // 3])
    return ["convert", str(tmp / "cut.pdf")]


def _encrypted(tmp: Path) -> list[str]:
    if not (CORPUS_DIR / ENCRYPTED).is_file():
        pytest.skip("shared corpus not found")
    return ["convert", str(CORPUS_DIR / ENCRYPTED), "-o", str(tmp / "e.md")]


def _pages(spec: str) -> Callable[[Path], list[str]]:
    def build(tmp: Path) -> list[str]:
        return ["convert", str(make_pdf(tmp / "three.pdf", 3)), "--pages", spec]

    return build


def _unknown_backend(tmp: Path) -> list[str]:
    pdf = make_pdf(tmp / "three.pdf", 3)
    return ["convert", str(pdf), "--backend", "no-such-backend"]


def _bad_config(tmp: Path) -> list[str]:
    config = tmp / "bad.toml"
    config.write_text("[convert]\ndpix = 200\n", encoding="utf-8")
    return ["--config", str(config), "convert", str(make_pdf(tmp / "three.pdf", 3))]


BAD_INPUTS: dict[str, Callable[[Path], list[str]]] = {
    "missing-file": _missing,
    "directory": _directory,
    "text-file-named-pdf": _text_named_pdf,
    "empty-file": _empty,
    "truncated-pdf": _truncated,
    "encrypted-no-password": _encrypted,
    "pages-reversed": _pages("9-1"),
    "pages-zero": _pages("0"),
    "pages-beyond-end": _pages("99"),
    "pages-garbage": _pages("1-x"),
    "unknown-backend": _unknown_backend,
    "config-unknown-key": _bad_config,
}


@pytest.mark.parametrize("with_base_url", [True, False], ids=["base-url", "no-base-url"])
@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exit_2_one_line(
    invoke: Invoke, server: MockServer, tmp_path: Path, case: str, with_base_url: bool
) -> None:
    """Each bad input exits 2 with one `error:` line on stderr, no traceback, no request sent."""
    args = BAD_INPUTS[case](tmp_path)
    if with_base_url:
        args += ["--base-url", f"{server.url}/v1"]
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert lines, "nothing on stderr"
    assert lines[0].startswith("error: ")
    assert [line for line in lines if line.startswith("error:")] == [lines[0]]
    assert all(line.startswith("hint: ") for line in lines[1:]), lines
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert server.stats.chat_requests == 0


def test_bad_input_in_a_real_process(tmp_path: Path) -> None:
    """A bad input in the installed script: exit 2, one error line, no traceback."""
    script = shutil.which("docling-hybrid-ocr") or str(
        Path(sys.executable).parent / "docling-hybrid-ocr"
    )
    (tmp_path / "x.pdf").write_text("not a pdf", encoding="utf-8")
    proc = subprocess.run(
        [script, "convert", str(tmp_path / "x.pdf")],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- a dead server


@pytest.fixture
def free_port() -> Iterator[int]:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    yield port


def test_unreachable_server_exit_1_with_placeholders(
    invoke: Invoke, pdf3: Path, tmp_path: Path, free_port: int
) -> None:
    """Nothing listening: exit 1, a placeholder per page in the output, the summary names them."""
    result = invoke(
        "convert",
        pdf3,
        "--base-url",
        f"http://127.0.0.1:{free_port}/v1",
        "--backend",
        "deepseek-vllm",
    )
    assert result.exit_code == 1, result.output
    markdown = (tmp_path / "small.md").read_text("utf-8")
    for page in (1, 2, 3):
        assert f"<!-- page {page} failed: deepseek-vllm: " in markdown
    assert page_widths(markdown) == []
    assert "3 FAILED: pages 1, 2, 3" in result.stderr
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- context fitting

OCR2 = "deepseek-ai/DeepSeek-OCR-2"


@pytest.mark.parametrize(
    ("encoder", "overflows"),
    [
        pytest.param("auto", 0, id="ocr2-by-model-name"),
        # Counting OCR-2 pages as OCR-1 is 218 tokens short: the first page overflows, is
        # refitted from the server's own count, and later pages keep the wider margin.
        pytest.param("deepseek-ocr", 1, id="miscounted-then-refitted"),
    ],
)
def test_deepseek_ocr_2_pages_fit_the_context(
    invoke: Invoke,
    pdf3: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    encoder: str,
    overflows: int,
) -> None:
    monkeypatch.setenv("DOCLING_HYBRID_BACKENDS__DEEPSEEK_VLLM__VISION_ENCODER", encoder)
    with MockServer(MockConfig(model=OCR2)) as ocr2:
        result = invoke(*convert_args(ocr2, pdf3, "--model", OCR2, "--concurrency", "1"))
        stats = ocr2.stats
    assert result.exit_code == 0, result.output
    assert page_widths((tmp_path / "small.md").read_text("utf-8")) == widths_of([1, 2, 3])
    statuses = [r.status for r in stats.requests if r.path == "/v1/chat/completions"]
    assert statuses.count(400) == overflows
    assert statuses.count(200) == 3


def test_a_server_with_a_smaller_context_gets_fitted_pages(
    invoke: Invoke, pdf3: Path, tmp_path: Path
) -> None:
    """max_model_len 4096: every request fits at once (read from /models), none overflows."""
    with MockServer(MockConfig(max_model_len=4096)) as small:
        result = invoke(*convert_args(small, pdf3))
        stats = small.stats
    assert result.exit_code == 0, result.output
    assert all(r.status == 200 for r in stats.requests if r.path == "/v1/chat/completions")
